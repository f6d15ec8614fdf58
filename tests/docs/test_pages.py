"""Every Python block of the docs pages runs as written (see ``blocks.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.blocks import DOCS, pages_with_python, run_page

PAGES = pages_with_python()


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(DOCS)) for p in PAGES])
def test_page_blocks_run_and_print_their_output(page: Path, tmp_path: Path) -> None:
    run_page(page, tmp_path)


def test_the_migration_pages_run_our_side() -> None:
    for name in ("faust", "quix"):
        page = DOCS / "migrating" / f"{name}.md"
        assert page in PAGES, f"{page} has no Python block"
