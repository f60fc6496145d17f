"""The public surface of ``visiono_async.download``."""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

import visiono_async.download as download
from visiono_async import VisionoClient


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


def _options(func: Callable[..., Any]) -> tuple[list[tuple[str, object, object, object]], object]:
    """A function's parameters (but the client) as name, kind, default, evaluated type."""
    # The client module imports the download names for its annotations only when type
    # checking: they are evaluated here with the download package's names at hand.
    signature = inspect.signature(func, eval_str=True, locals=dict(vars(download)))
    params = [
        (p.name, p.kind, p.default, p.annotation)
        for p in signature.parameters.values()
        if p.name not in ("self", "client")
    ]
    return params, signature.return_annotation


def test_the_client_method_takes_exactly_archives_options() -> None:
    """``VisionoClient.archive`` and ``download.archive``: the same names, kinds, defaults
    and types, in the same order, so that neither can grow an option the other lacks."""
    expected, returns = _options(download.archive)
    actual, client_returns = _options(VisionoClient.archive)

    assert [name for name, *_ in expected] == [name for name, *_ in actual]
    assert expected == actual
    assert returns == client_returns
    assert len(expected) >= 30  # every option is listed, none hidden behind **kwargs
    assert all(kind is not inspect.Parameter.VAR_KEYWORD for _, kind, _, _ in actual)


def test_iter_archive_takes_archives_options_but_on_progress() -> None:
    """``iter_archive`` lists ``archive``'s options (names, kinds, defaults, types, order)
    but ``on_progress``, which its events replace, plus ``buffer``: a new ``archive``
    option it does not list fails here instead of being unreachable from it."""
    expected, _ = _options(download.archive)
    actual, _ = _options(download.iter_archive)

    assert [o for o in expected if o[0] != "on_progress"] == [o for o in actual if o[0] != "buffer"]
    known = {name for name, *_ in expected}
    assert ["buffer"] == [name for name, *_ in actual if name not in known]
    assert all(kind is not inspect.Parameter.VAR_KEYWORD for _, kind, _, _ in actual)
    doc = inspect.getdoc(download.iter_archive) or ""
    assert [] == [name for name, *_ in actual if f"\n    {name}: " not in doc]


def test_the_client_method_documents_every_option() -> None:
    """Each option of ``VisionoClient.archive`` has its line in the docstring's Args."""
    doc = inspect.getdoc(VisionoClient.archive) or ""
    params, _ = _options(VisionoClient.archive)

    assert [] == [name for name, *_ in params if f"\n    {name}: " not in doc]


async def test_a_template_of_none_is_a_clear_error(client: VisionoClient, tmp_path: Path) -> None:
    """``client.archive(template=None)`` once meant the default: now a TypeError saying so."""
    with pytest.raises(TypeError, match=r"^template must be a str, got NoneType: leave it out"):
        await client.archive(tmp_path / "a", template=None)  # type: ignore[arg-type]
    assert not await anyio.Path(tmp_path / "a").exists()
