"""The one cattrs converter that turns Visiono JSON into models and back.

Every wire-format quirk lives here: ISO 8601 datetimes in their several spellings, enum
values the SDK does not know yet, ``null`` where a list or mapping is expected, booleans
sent as strings, and keys the models do not declare (kept in each model's ``extra``).
"""

from __future__ import annotations

import enum
import functools
import re
import types
import typing
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._exceptions import APIError

if TYPE_CHECKING:
    from ._session import APIResponse

__all__ = [
    "EXTRA_FIELD",
    "converter",
    "invalid_response",
    "parse_datetime",
    "structure",
    "structure_response",
    "unstructure",
]

T = TypeVar("T")
_UNSET: Any = object()

EXTRA_FIELD = "extra"
"""The name of the field in which every model keeps the JSON keys it does not declare."""

converter = cattrs.Converter()
"""The converter for every model of visiono_async."""

# ---------------------------------------------------------------------------------------
# Datetimes: always timezone-aware, in UTC.

_ISO_8601 = re.compile(
    r"""
    ^\s*
    (?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})
    (?:[Tt\x20]
        (?P<hour>\d{2}):(?P<minute>\d{2})
        (?::(?P<second>\d{2})(?:[.,](?P<fraction>\d{1,9}))?)?
    )?
    \s*
    (?P<tz>[Zz]|[+-]\d{2}(?::?\d{2})?)?
    \s*$
    """,
    re.VERBOSE,
)


def _offset(tz: str) -> timezone:
    if tz in ("Z", "z"):
        return timezone.utc
    sign = -1 if tz[0] == "-" else 1
    digits = tz[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or "0")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def parse_datetime(value: object) -> datetime:
    """Parse a datetime from the API into an aware ``datetime`` in UTC.

    Accepts ISO 8601 strings with ``Z``, ``+00:00``, ``+0000`` or no offset (naive values are
    taken as UTC), with or without fractional seconds, a bare date (midnight UTC), unix
    seconds as a number, and ``datetime`` objects.

    Args:
        value: The JSON value.

    Returns:
        An aware ``datetime`` in UTC.

    Raises:
        ValueError: The value is not a datetime in any of those forms.
    """
    if isinstance(value, datetime):
        return _in_utc(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, tz=timezone.utc)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValueError(f"invalid datetime {value!r}: unix seconds out of range") from exc
    if isinstance(value, str):
        return _parse_iso_8601_utc(value)
    raise ValueError(
        f"invalid datetime {value!r}: expected an ISO 8601 string, got {type(value).__name__}"
    )


def _in_utc(parsed: datetime) -> datetime:
    """Aware and in UTC (a naive value is taken as UTC)."""
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


@functools.lru_cache(maxsize=1024)
def _parse_iso_8601_utc(text: str) -> datetime:
    """``parse_datetime`` of a string (cached: a batch's URLs share their expiry; the
    result is immutable)."""
    return _in_utc(_parse_iso_8601(text))


def _parse_iso_8601(text: str) -> datetime:
    match = _ISO_8601.match(text)
    if match is None:
        raise ValueError(
            f"invalid datetime {text!r}: expected ISO 8601 such as '2024-12-10T12:00:00+00:00'"
        )
    parts = match.groupdict()
    fraction = (parts["fraction"] or "").ljust(6, "0")[:6]
    try:
        return datetime(
            int(parts["year"]),
            int(parts["month"]),
            int(parts["day"]),
            int(parts["hour"] or 0),
            int(parts["minute"] or 0),
            int(parts["second"] or 0),
            int(fraction),
            tzinfo=_offset(parts["tz"]) if parts["tz"] else timezone.utc,
        )
    except ValueError as exc:
        raise ValueError(f"invalid datetime {text!r}: {exc}") from exc


converter.register_structure_hook(datetime, lambda value, _: parse_datetime(value))
converter.register_unstructure_hook(datetime, lambda value: parse_datetime(value).isoformat())

# ---------------------------------------------------------------------------------------
# Booleans: ``bool("false")`` is True, so be explicit.

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def _structure_bool(value: object, _: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"invalid boolean {value!r}")


converter.register_structure_hook(bool, _structure_bool)

# ---------------------------------------------------------------------------------------
# Tolerant enums: every enum field is typed ``SomeEnum | str``; a value the SDK knows
# becomes the member, any other string is kept as it came.


def _union_args(tp: Any) -> tuple[Any, ...]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return typing.get_args(tp)
    return ()


def _tolerant_enum(tp: Any) -> type[enum.Enum] | None:
    args = _union_args(tp)
    if str not in args:
        return None
    enums = [a for a in args if isinstance(a, type) and issubclass(a, enum.Enum)]
    return enums[0] if len(enums) == 1 else None


def _is_tolerant_enum(tp: Any) -> bool:
    return _tolerant_enum(tp) is not None


def _make_tolerant_enum_hook(tp: Any) -> Callable[[object, object], object]:
    enum_cls = _tolerant_enum(tp)
    assert enum_cls is not None
    optional = type(None) in _union_args(tp)

    def structure(value: object, _: object) -> object:
        if value is None and optional:
            return None
        try:
            return enum_cls(value)
        except ValueError:
            if isinstance(value, str):
                return value
            raise ValueError(f"invalid {enum_cls.__name__} {value!r}: expected a string") from None

    return structure


converter.register_structure_hook_factory(_is_tolerant_enum, _make_tolerant_enum_hook)


def _unstructure_tolerant_enum(_tp: Any) -> Callable[[object], object]:
    # A member goes out as its wire value, a string the SDK did not know as it came.
    return lambda value: value.value if isinstance(value, enum.Enum) else value


converter.register_unstructure_hook_factory(_is_tolerant_enum, _unstructure_tolerant_enum)

# ---------------------------------------------------------------------------------------
# Models: unknown keys go to ``extra``; ``null`` for a field whose type does not admit
# None (a list, a mapping, a bool with a default) means "absent".


def _is_model(tp: Any) -> bool:
    return (
        isinstance(tp, type)
        and attrs.has(tp)
        and any(f.name == EXTRA_FIELD for f in attrs.fields(tp))
    )


def _admits_none(tp: Any) -> bool:
    return tp is Any or tp is None or type(None) in _union_args(tp)


def _make_model_structure_hook(cls: type[Any]) -> Callable[[object, object], Any]:
    fields = attrs.fields(cls)
    wire = frozenset(f.name for f in fields if f.name != EXTRA_FIELD)
    hints = typing.get_type_hints(cls)
    null_is_absent = frozenset(
        f.name
        for f in fields
        if f.name != EXTRA_FIELD
        and f.default is not attrs.NOTHING
        and not _admits_none(hints.get(f.name, Any))
    )
    inner = make_dict_structure_fn(cls, converter, _cattrs_forbid_extra_keys=False)

    def structure(value: object, _: object) -> Any:
        if not isinstance(value, Mapping):
            raise ValueError(
                f"expected a JSON object for {cls.__name__}, got {type(value).__name__}"
            )
        known: dict[str, Any] = {}
        unknown: dict[str, Any] = {}
        for key, item in value.items():
            if key in wire:
                if not (item is None and key in null_is_absent):
                    known[key] = item
            else:
                unknown[key] = item
        known[EXTRA_FIELD] = unknown
        return inner(known, cls)

    return structure


def _make_model_unstructure_hook(cls: type[Any]) -> Callable[[Any], dict[str, Any]]:
    inner = make_dict_unstructure_fn(cls, converter, extra=override(omit=True))

    def unstructure(obj: Any) -> dict[str, Any]:
        return {**getattr(obj, EXTRA_FIELD), **inner(obj)}

    return unstructure


converter.register_structure_hook_factory(_is_model, _make_model_structure_hook)
converter.register_unstructure_hook_factory(_is_model, _make_model_unstructure_hook)

# ---------------------------------------------------------------------------------------
# Entry points with readable errors.


def structure(data: object, cls: type[T]) -> T:
    """Build a model (or a list of models, ``list[Model]``) from JSON data.

    Args:
        data: The decoded JSON value.
        cls: The model type.

    Returns:
        The structured value.

    Raises:
        ValueError: The data does not fit the model; the message lists each problem with its
            path, e.g. ``invalid datetime 'soon' @ $.expires_at``.
    """
    try:
        return converter.structure(data, cls)
    except cattrs.BaseValidationError as exc:
        problems = "; ".join(cattrs.transform_error(exc, format_exception=_format_problem))
        raise ValueError(f"unexpected {_type_name(cls)} data from the API: {problems}") from exc
    except (ValueError, TypeError) as exc:
        raise ValueError(f"unexpected {_type_name(cls)} data from the API: {exc}") from exc


def _type_name(tp: Any) -> str:
    args = typing.get_args(tp)
    name = getattr(typing.get_origin(tp) or tp, "__name__", repr(tp))
    return f"{name}[{', '.join(_type_name(a) for a in args)}]" if args else str(name)


def _format_problem(exc: BaseException, _: type | None) -> str:
    if isinstance(exc, KeyError):
        return "required field missing"
    return str(exc) or type(exc).__name__


def unstructure(obj: object) -> Any:
    """Turn a model (or a container of models) back into JSON-compatible data.

    Unknown keys kept in ``extra`` are written back at the top level of their object.

    Args:
        obj: A model, a list of models or plain data.

    Returns:
        JSON-compatible data; datetimes as ISO 8601 strings, enums as their values.
    """
    return converter.unstructure(obj)


def structure_response(
    response: APIResponse, cls: type[T], *, method: str, path: str, data: object = _UNSET
) -> T:
    """Build a model from an API response's ``data`` (or from ``data`` when given).

    Args:
        response: The API response.
        cls: The model type.
        method: The request's HTTP method, for the error message.
        path: The request's path, for the error message.
        data: The JSON value to structure instead of ``response.data``.

    Returns:
        The model.

    Raises:
        APIError: The response does not fit the model (``code="invalid_response"``); the
            message lists each problem with its path.
    """
    try:
        return structure(response.data if data is _UNSET else data, cls)
    except ValueError as exc:
        raise invalid_response(response, str(exc), method=method, path=path) from exc


def invalid_response(response: APIResponse, message: str, *, method: str, path: str) -> APIError:
    """The error for a 2xx response whose body the SDK cannot use.

    Args:
        response: The API response.
        message: What is wrong with it.
        method: The request's HTTP method.
        path: The request's path.

    Returns:
        An ``APIError`` with ``code="invalid_response"`` (to raise).
    """
    return APIError(
        message,
        status_code=response.status,
        code="invalid_response",
        request_id=response.request_id,
        headers=dict(response.headers),
        method=method,
        path=path,
        body=response.body,
    )
