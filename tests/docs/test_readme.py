"""The README's Python blocks run as written and print what the prose promises.

A block whose first line is ``# file: NAME.py`` is written to that file (a module the
next blocks import); every other block runs as its own script, in order, in one
temporary directory.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
FILE_MARK = re.compile(r"# file: (\S+\.py)\n")

# A distinctive line of each script block -> lines its output must contain.
EXPECTED = {
    'pipe = Pipe("wordcount")': [
        "Pipe('wordcount': parse:local -> size:router; outputs=['long', 'short'])",
        "{'long': [5], 'short': [1], 'default': []}",
    ],
}
README_LIMIT = 10 * 1024
"""Bytes: the README is a front page; the long material lives in docs/."""


def test_readme_python_blocks_run_and_print_what_they_promise(tmp_path: Path) -> None:
    blocks = BLOCK.findall(README.read_text())
    scripts = [block for block in blocks if not FILE_MARK.match(block)]
    assert len(scripts) == len(EXPECTED), "README blocks and EXPECTED are out of step"
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    checked = 0
    for index, block in enumerate(blocks):
        named = FILE_MARK.match(block)
        if named:
            (tmp_path / named.group(1)).write_text(block)
            continue
        script = tmp_path / f"block_{index}.py"
        script.write_text(block)
        done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=180, check=False)
        assert done.returncode == 0, f"README block {index} failed:\n{done.stderr}"
        marker = next(key for key in EXPECTED if key in block)
        lines = done.stdout.splitlines()
        for expected in EXPECTED[marker]:
            assert expected in lines, f"block {index}: {expected!r} not in {lines}"
        checked += 1
    assert checked == len(EXPECTED)


def test_readme_is_a_front_page() -> None:
    size = len(README.read_bytes())
    assert size <= README_LIMIT, f"README.md is {size} bytes; move material to docs/"
