"""A griffe extension: docstrings written with reStructuredText roles read as Markdown.

The code's docstrings name other objects the way Sphinx does (``:class:`Store```,
``:meth:`~Table.get```) and end a paragraph with ``::`` before an indented example.
mkdocstrings renders Markdown, where those would show as literal text, so this
extension rewrites each role to a code span of the name (the last dotted part when
the target starts with ``~``) and ``::`` to ``:``. The docstrings stay as they are.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|data|attr|exc|obj|const):`([^`]+)`")
LITERAL_INTRO = re.compile(r"::$", re.MULTILINE)


def _name(target: str) -> str:
    text, _, explicit = target.partition(" <")
    if explicit:
        return text.strip()
    if target.startswith("~"):
        return target[1:].rsplit(".", 1)[-1]
    return target


def to_markdown(text: str) -> str:
    """``text`` with reST roles as code spans and ``::`` introductions as ``:``."""
    text = ROLE.sub(lambda match: f"`{_name(match.group(1))}`", text)
    return LITERAL_INTRO.sub(":", text)


class RstRoles(griffe.Extension):
    """Rewrite every loaded docstring with :func:`to_markdown`."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value)
