"""``Selection``: which photo requests and smart links an archive run takes.

One frozen value, checked when it is made, that ``archive()``, ``VisionoClient.archive()``,
``VisionoSource`` and ``visiono archive`` all take, so the seven ways of choosing are
spelled, validated and described in one place.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from typing import Any

import attrs

from ._converter import parse_datetime
from ._ids import validate_id

__all__ = ["Selection", "resolve_selection"]

_SHOWN_IDS = 5
"""Ids a selection's description lists before it says "and N more"."""


def _id_tuple(name: str, value: Iterable[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes)):
        raise TypeError(
            f"{name} must be a list of ids, not a single {type(value).__name__}: "
            f"write {name}=[{value!r}]"
        )
    try:
        items = list(value)
    except TypeError:
        raise TypeError(f"{name} must be a list of ids, got {type(value).__name__}") from None
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"{name} must hold str ids, got {type(item).__name__} {item!r}")
        validate_id(item, name=name)
    return tuple(dict.fromkeys(items))  # each once, in the order given


def _photo_request_ids(value: Iterable[str] | None) -> tuple[str, ...]:
    return _id_tuple("photo_requests", value)


def _smart_link_ids(value: Iterable[str] | None) -> tuple[str, ...]:
    return _id_tuple("smart_links", value)


def _status(value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"status must be a str, got {type(value).__name__} {value!r}")
    text = str(value.value) if isinstance(value, enum.Enum) else value
    if not text.strip():
        raise ValueError("status must not be empty (None archives any status)")
    return text


def _when(name: str, value: dt.datetime | dt.date | str | None) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.timezone.utc)
    if not isinstance(value, (dt.datetime, str)):
        raise TypeError(
            f"{name} must be a datetime or an ISO 8601 string, got {type(value).__name__} {value!r}"
        )
    try:
        return parse_datetime(value)  # aware, in UTC; a naive value is taken as UTC
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def _created_after(value: dt.datetime | dt.date | str | None) -> dt.datetime | None:
    return _when("created_after", value)


def _created_before(value: dt.datetime | dt.date | str | None) -> dt.datetime | None:
    return _when("created_before", value)


def _is_active(value: bool | None) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise TypeError(f"is_active must be True, False or None, got {value!r}")
    return value


def _tags(value: Iterable[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes)):
        raise TypeError(
            f"tags must be a list of tags, not a single {type(value).__name__}: "
            f"write tags=[{value!r}]"
        )
    try:
        items = list(value)
    except TypeError:
        raise TypeError(f"tags must be a list of tags, got {type(value).__name__}") from None
    for tag in items:
        if not isinstance(tag, str):
            raise TypeError(f"tags must hold str tags, got {type(tag).__name__} {tag!r}")
        if not tag.strip():
            raise ValueError("tags must not hold an empty tag")
        if "," in tag:
            # The API takes tags comma-joined: "a,b" would be two tags.
            raise ValueError(f"a tag must not contain ',', got {tag!r}")
    if not items:
        raise ValueError(
            "tags must name at least one tag (None archives smart links whatever their tags)"
        )
    return tuple(dict.fromkeys(items))


@attrs.frozen(kw_only=True, repr=False)
class Selection:
    """Which photo requests and smart links to archive.

    ::

        Selection(photo_requests=["pr_1", "pr_2"])
        Selection(status="submitted", created_after="2024-01-01")
        Selection(smart_links=["sl_1"], tags=["fleet"])
        Selection()                                   # everything

    The ids are archived, and besides them the photo requests the photo-request filters
    (``status``, ``created_after``, ``created_before``) list and the smart links the
    smart-link filters (``is_active``, ``tags``) list, each at most once. With no ids and
    no filters at all (:attr:`everything`), every photo request and every smart link is.
    Values are checked when the selection is made, before anything is sent.

    Attributes:
        photo_requests: Photo request ids, each once, in the order given.
        smart_links: Smart link ids, each once, in the order given.
        status: List the photo requests with this status (``"submitted"``, or a
            ``PhotoRequestStatus``, kept as its value).
        created_after: List the photo requests created after this moment: an aware
            ``datetime``, an ISO 8601 string or a ``date`` (midnight); a naive value is
            taken as UTC. Kept as an aware ``datetime`` in UTC.
        created_before: List the photo requests created before this moment (the same forms).
        is_active: List the smart links that are active (True) or archived (False).
        tags: List the smart links with any of these tags.

    Raises:
        TypeError: A single string where a list of ids or tags belongs (it would be
            taken apart character by character), or a value of the wrong type.
        ValueError: An id that is not one (empty, ``/``, whitespace, ...), a date that is
            not ISO 8601, ``created_after`` not before ``created_before``, an empty
            ``status``, or an empty list of ``tags``, an empty tag or one with a comma.
    """

    photo_requests: tuple[str, ...] = attrs.field(default=(), converter=_photo_request_ids)
    smart_links: tuple[str, ...] = attrs.field(default=(), converter=_smart_link_ids)
    status: str | None = attrs.field(default=None, converter=_status)
    created_after: dt.datetime | None = attrs.field(default=None, converter=_created_after)
    created_before: dt.datetime | None = attrs.field(default=None, converter=_created_before)
    is_active: bool | None = attrs.field(default=None, converter=_is_active)
    tags: tuple[str, ...] | None = attrs.field(default=None, converter=_tags)

    def __attrs_post_init__(self) -> None:
        after, before = self.created_after, self.created_before
        if after is not None and before is not None and after >= before:
            raise ValueError(
                f"created_after ({after.isoformat()}) must be before created_before "
                f"({before.isoformat()}): no photo request is in that range"
            )

    @property
    def photo_request_filters(self) -> dict[str, Any]:
        """The keyword arguments of ``client.photo_requests.list`` (the filters set)."""
        return {
            name: value
            for name, value in (
                ("status", self.status),
                ("created_after", self.created_after),
                ("created_before", self.created_before),
            )
            if value is not None
        }

    @property
    def smart_link_filters(self) -> dict[str, Any]:
        """The keyword arguments of ``client.smart_links.list`` (the filters set)."""
        return {
            name: value
            for name, value in (("is_active", self.is_active), ("tags", self.tags))
            if value is not None
        }

    @property
    def everything(self) -> bool:
        """No ids and no filters: every photo request and every smart link."""
        return not (
            self.photo_requests
            or self.smart_links
            or self.photo_request_filters
            or self.smart_link_filters
        )

    @property
    def lists_photo_requests(self) -> bool:
        """Whether photo requests are listed (a photo-request filter, or everything)."""
        return self.everything or bool(self.photo_request_filters)

    @property
    def lists_smart_links(self) -> bool:
        """Whether smart links are listed (a smart-link filter, or everything)."""
        return self.everything or bool(self.smart_link_filters)

    def __repr__(self) -> str:
        # Only what was chosen, and dates as the ISO strings the constructor takes back.
        shown = []
        for field in attrs.fields(Selection):
            value = getattr(self, field.name)
            if value == field.default:
                continue
            if isinstance(value, dt.datetime):
                value = value.isoformat()
            shown.append(f"{field.name}={value!r}")
        return f"Selection({', '.join(shown)})"

    def __str__(self) -> str:
        """What is archived, for humans: ``photo requests pr_1, pr_2; smart links tagged fleet``."""
        if self.everything:
            return "every photo request and smart link"
        parts = []
        if self.photo_requests:
            parts.append(f"photo requests {_listed(self.photo_requests)}")
        if self.smart_links:
            parts.append(f"smart links {_listed(self.smart_links)}")
        if self.photo_request_filters:
            found = []
            if self.status is not None:
                found.append(f"with status {self.status}")
            if self.created_after is not None:
                found.append(f"created after {self.created_after.isoformat()}")
            if self.created_before is not None:
                found.append(f"created before {self.created_before.isoformat()}")
            parts.append("photo requests " + ", ".join(found))
        if self.smart_link_filters:
            found = []
            if self.is_active is not None:
                found.append("active" if self.is_active else "archived")
            if self.tags is not None:
                found.append("tagged " + " or ".join(self.tags))
            parts.append("smart links " + ", ".join(found))
        return "; ".join(parts)


def _listed(ids: tuple[str, ...]) -> str:
    shown = ", ".join(ids[:_SHOWN_IDS])
    more = len(ids) - _SHOWN_IDS
    return f"{shown} and {more} more" if more > 0 else shown


def resolve_selection(
    selection: Selection | None,
    *,
    photo_requests: Iterable[str] | None = None,
    smart_links: Iterable[str] | None = None,
    status: str | None = None,
    created_after: dt.datetime | dt.date | str | None = None,
    created_before: dt.datetime | dt.date | str | None = None,
    is_active: bool | None = None,
    tags: Iterable[str] | None = None,
) -> Selection:
    """``selection``, or one made from the flat keywords (their shorthand).

    Raises:
        TypeError: ``selection`` is not a ``Selection``, or comes with a flat keyword.
        ValueError: As for ``Selection``.
    """
    if selection is None:
        return Selection(
            photo_requests=photo_requests,
            smart_links=smart_links,
            status=status,
            created_after=created_after,
            created_before=created_before,
            is_active=is_active,
            tags=tags,
        )
    flat = {
        "photo_requests": photo_requests,
        "smart_links": smart_links,
        "status": status,
        "created_after": created_after,
        "created_before": created_before,
        "is_active": is_active,
        "tags": tags,
    }
    given = [f"{name}=" for name, value in flat.items() if value is not None]
    if not isinstance(selection, Selection):
        raise TypeError(
            f"selection must be a Selection, got {type(selection).__name__} {selection!r}"
        )
    if given:
        raise TypeError(
            f"pass selection=Selection(...) or the keywords {', '.join(given)}, not both "
            "(they are its shorthand)"
        )
    return selection
