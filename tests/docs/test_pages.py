"""Every Python block of the docs pages runs as written (see ``blocks.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.blocks import DOCS, blocks, expected_output, pages_with_python, run_page

PAGES = pages_with_python()


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(DOCS)) for p in PAGES])
def test_page_blocks_run_and_print_their_output(page: Path, tmp_path: Path) -> None:
    assert run_page(page, tmp_path) >= 0


@pytest.mark.parametrize("name", ["faust", "quix"])
def test_the_migration_pages_check_the_output_of_our_side(name: str) -> None:
    """The peer's app is a file (not run here); ours runs and its output is checked."""
    text = (DOCS / "migrating" / f"{name}.md").read_text()
    found = blocks(text)
    checked = [block for index, block in enumerate(found)
               if block.is_script and "slither_stream" in block.body
               and expected_output(text, found, index)]
    assert checked, f"migrating/{name}.md runs no slither block with an Output block"
    peers = [block for block in found if block.is_file and block.title == f"{name}_app.py"]
    assert peers, f"migrating/{name}.md shows no {name}_app.py"
