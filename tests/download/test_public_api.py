"""The public surface of ``visiono_async.download``."""

from __future__ import annotations

import inspect
import types

import visiono_async.download as download


def test_all_is_sorted_and_exported() -> None:
    """``__all__`` is sorted and names exactly the public attributes."""
    assert sorted(download.__all__) == download.__all__
    public = {n for n in vars(download) if not n.startswith("_")} - {"annotations"}
    assert set(download.__all__) == public


def test_archive_options_are_keyword_only() -> None:
    """Identifiers positional, options keyword-only."""
    params = inspect.signature(download.archive).parameters
    positional = [p.name for p in params.values() if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert ["client", "dest", "selection"] == positional
    assert 16 == params["concurrency"].default
    assert "original" == params["variant"].default
    assert download.DEFAULT_TEMPLATE == params["template"].default


def test_every_public_name_has_a_docstring() -> None:
    """Docstrings on every public class and function."""
    checked = 0
    for name in download.__all__:
        obj = getattr(download, name)
        if isinstance(obj, types.GenericAlias):
            continue  # a type alias (ProgressCallback): Python 3.10 calls it a class
        if inspect.isclass(obj) or inspect.isfunction(obj):
            checked += 1
            assert inspect.getdoc(obj), name
    assert checked >= 20  # the skip above must not swallow the classes and functions
