"""A griffe extension for the docs build: the package's reST habits, shown as Markdown.

Docstrings in the package use Sphinx roles (``:class:`RetryPolicy```) and ``::`` before a
literal block; mkdocstrings renders Markdown, where both would show as typed. A role
becomes inline code (``~a.b.C`` shows ``C``, as in Sphinx), and a ``::`` that introduces an
indented block becomes ``:`` (the block is already Markdown's indented code).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:meth|class|func|attr|mod|exc|data|obj|const):`(~?)([^`]+)`")
BARE_MARKER = re.compile(r"^[ \t]*::[ \t]*$", re.M)
EXAMPLE_MARKER = re.compile(r"^([ \t]*)Example::[ \t]*$", re.M)
TRAILING_MARKER = re.compile(r"(\S)::[ \t]*$", re.M)


def _role(match: re.Match[str]) -> str:
    target = match.group(2)
    return f"`{target.rsplit('.', 1)[-1] if match.group(1) else target}`"


def markdown_of(text: str) -> str:
    """The docstring text with Sphinx roles and literal-block markers made Markdown."""
    text = ROLE.sub(_role, text)
    text = BARE_MARKER.sub("", text)
    text = EXAMPLE_MARKER.sub(r"\1For example:", text)  # not a Google "Example:" section
    return TRAILING_MARKER.sub(r"\1:", text)


class RstRoles(griffe.Extension):
    """Rewrite each docstring as it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown_of(obj.docstring.value)
