"""Python blocks of the docs pages, and how the tests run them.

The convention every page follows:

* a ```` ```python ```` block without a title is a script: it runs, in page order, in
  one temporary directory per page, and must exit 0;
* a block with a title, ```` ```python title="NAME.py" ````, is a file: it is written
  to ``NAME.py`` in that directory (where later scripts import it from) and compiled,
  but not run by itself. Examples that need something the suite does not have (a
  Kafka broker at a fixed address, Faust, Quix Streams) are files for that reason;
* a script followed directly by a ```` ```text title="Output" ```` block must print
  every line of that block (each as a whole line of its output, in any order).

Other languages (``bash``, ``text``, ``yaml``) are shown, never run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

_FENCE = re.compile(
    r"^(?P<indent>[ ]*)```(?P<lang>[\w-]*)(?P<attrs>[^\n]*)\n(?P<body>.*?)^(?P=indent)```[ ]*$",
    re.MULTILINE | re.DOTALL,
)
_TITLE = re.compile(r'title="([^"]+)"')


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page."""

    lang: str
    title: str | None
    body: str
    start: int
    end: int
    line: int

    @property
    def is_script(self) -> bool:
        return self.lang == "python" and self.title is None

    @property
    def is_file(self) -> bool:
        return self.lang == "python" and self.title is not None


def blocks(text: str) -> list[Block]:
    """Every fenced block of ``text``, in order (indented ones dedented)."""
    found = []
    for match in _FENCE.finditer(text):
        title = _TITLE.search(match.group("attrs"))
        body = textwrap.dedent(match.group("indent") + match.group("body")) \
            if match.group("indent") else match.group("body")
        found.append(Block(lang=match.group("lang"), title=title.group(1) if title else None,
                           body=body, start=match.start(), end=match.end(),
                           line=text.count("\n", 0, match.start()) + 1))
    return found


def expected_output(text: str, all_blocks: list[Block], index: int) -> list[str] | None:
    """The lines of the ``Output`` block right after script ``index``, if there is one."""
    if index + 1 >= len(all_blocks):
        return None
    following = all_blocks[index + 1]
    between = text[all_blocks[index].end:following.start]
    if between.strip() or following.lang != "text" or following.title != "Output":
        return None
    return [line.rstrip() for line in following.body.splitlines() if line.strip()]


def pages_with_python() -> list[Path]:
    """Docs pages that hold at least one Python block."""
    return sorted(path for path in DOCS.rglob("*.md")
                  if any(block.lang == "python" for block in blocks(path.read_text())))


def run_page(page: Path, workdir: Path, timeout: float = 180.0) -> int:
    """Write the files and run the scripts of ``page`` in ``workdir``; the scripts run.

    Fails (AssertionError) at the first script that exits non-zero or misses a line
    of its Output block, naming the page and the line the block starts at.
    """
    text = page.read_text()
    found = blocks(text)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(workdir), str(ROOT)])}
    ran = 0
    where = page.relative_to(ROOT)
    for index, block in enumerate(found):
        if block.is_file:
            assert block.title is not None
            compile(block.body, f"{where}:{block.line}", "exec")
            target = workdir / block.title
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.body)
            continue
        if not block.is_script:
            continue
        script = workdir / f"_block_{index}.py"
        script.write_text(block.body)
        done = subprocess.run([sys.executable, str(script)], cwd=workdir, env=env,
                              capture_output=True, text=True, timeout=timeout, check=False)
        assert done.returncode == 0, (
            f"{where}:{block.line}: the block failed (exit {done.returncode}):\n"
            f"{done.stdout}\n{done.stderr}")
        wanted = expected_output(text, found, index)
        if wanted is not None:
            lines = [line.rstrip() for line in done.stdout.splitlines()]
            for line in wanted:
                assert line in lines, (
                    f"{where}:{block.line}: {line!r} is not a line of the output:\n"
                    + "\n".join(lines))
        ran += 1
    return ran
