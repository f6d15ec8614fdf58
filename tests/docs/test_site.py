"""The docs site builds with ``mkdocs build --strict``: no broken link or anchor, no
page left out of the navigation, no reference entry that fails to render."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.docs.blocks import ROOT


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stderr}"
    for page in ("index.html", "reference/cli/index.html", "reference/api/pipe/index.html"):
        assert (site / page).is_file(), page
    cli = (site / "reference/cli/index.html").read_text()
    assert "slither worker" in cli and "--drain-timeout" in cli
