"""Validation of request bodies and query strings, with Laravel-style field messages.

Every parser collects problems into a :class:`FieldErrors` so one 422 names every bad
field, the way the real API answers.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs

from ._errors import FrameworkValidationError, validation_failed
from ._models import EVENTS

__all__ = [
    "FieldErrors",
    "ItemSpec",
    "PhotoRequestSpec",
    "check_free_plan",
    "parse_bool_query",
    "parse_page",
    "parse_permanent_link",
    "parse_photo_request",
    "parse_smart_link",
    "parse_webhook",
    "raise_free_plan",
]

MAX_INSTRUCTIONS = 2000
MAX_ITEMS = 20
MAX_METADATA_KEYS = 50
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 15
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")
_SLUG = re.compile(r"^[a-z0-9-]{3,64}$")
_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


class FieldErrors:
    """Field name -> messages, in the order problems were found."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        """Record one problem with ``field``."""
        self.errors.setdefault(field, []).append(message)

    def raise_if_any(self) -> None:
        """Raise the 422 ``validation_error`` if anything was recorded."""
        if self.errors:
            raise validation_failed(self.errors)


@attrs.frozen
class ItemSpec:
    """A validated item of a create or update body."""

    instructions: str
    is_required: bool


@attrs.frozen
class PhotoRequestSpec:
    """A validated ``POST /photo-requests`` body."""

    instructions: str
    items: list[ItemSpec]
    expires_in_hours: int
    recipient_email: str | None
    send_email: bool
    require_gps: bool
    allow_submitter_notes: bool
    internal_notes: str | None
    metadata: dict[str, Any]


def _label(field: str) -> str:
    return field.replace("_", " ")


class _Reader:
    """Typed access to one JSON object's fields, recording problems instead of raising."""

    def __init__(self, body: Mapping[str, Any], errors: FieldErrors, prefix: str = "") -> None:
        self.body = body
        self.errors = errors
        self.prefix = prefix

    def key(self, name: str) -> str:
        return self.prefix + name

    def present(self, name: str) -> bool:
        return self.body.get(name) is not None

    def fail(self, name: str, message: str) -> None:
        self.errors.add(self.key(name), message.format(label=_label(self.key(name))))

    def string(self, name: str, *, required: bool = False, max_length: int = 255) -> str | None:
        value = self.body.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.fail(name, "The {label} field is required.")
            return None
        if not isinstance(value, str):
            self.fail(name, "The {label} field must be a string.")
            return None
        value = value.strip()
        if len(value) > max_length:
            self.fail(
                name, f"The {{label}} field must not be greater than {max_length} characters."
            )
            return None
        return value

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self.body.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail(name, "The {label} field must be true or false.")
            return default
        return value

    def integer(self, name: str, *, default: int, minimum: int, maximum: int) -> int:
        value = self.body.get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(name, "The {label} field must be an integer.")
            return default
        if not minimum <= value <= maximum:
            self.fail(name, f"The {{label}} field must be between {minimum} and {maximum}.")
            return default
        return value

    def email(self, name: str) -> str | None:
        value = self.string(name, max_length=255)
        if value is not None and not _EMAIL.match(value):
            self.fail(name, "The {label} field must be a valid email address.")
            return None
        return value

    def mapping(self, name: str, *, max_keys: int) -> dict[str, Any] | None:
        value = self.body.get(name)
        if value is None:
            return None
        if not isinstance(value, dict):
            self.fail(name, "The {label} field must be an object.")
            return None
        if len(value) > max_keys:
            self.fail(name, f"The {{label}} field must not have more than {max_keys} keys.")
            return None
        return dict(value)

    def string_list(self, name: str, *, max_items: int, max_length: int) -> list[str] | None:
        value = self.body.get(name)
        if value is None:
            return None
        if not isinstance(value, list):
            self.fail(name, "The {label} field must be an array.")
            return None
        if len(value) > max_items:
            self.fail(name, f"The {{label}} field must not have more than {max_items} items.")
            return None
        result: list[str] = []
        for index, entry in enumerate(value):
            if not isinstance(entry, str) or not entry.strip() or len(entry) > max_length:
                self.errors.add(
                    f"{self.key(name)}.{index}",
                    f"Each {_label(name)} entry must be a string of 1 to {max_length} characters.",
                )
                continue
            if entry.strip() not in result:
                result.append(entry.strip())
        return result

    def items(self, name: str = "items") -> list[ItemSpec] | None:
        value = self.body.get(name)
        if value is None:
            return None
        if not isinstance(value, list):
            self.fail(name, "The {label} field must be an array.")
            return None
        if not value:
            self.fail(name, "The {label} field must have at least 1 items.")
            return None
        if len(value) > MAX_ITEMS:
            self.fail(name, f"The {{label}} field must not have more than {MAX_ITEMS} items.")
            return None
        specs: list[ItemSpec] = []
        for index, entry in enumerate(value):
            field = f"{self.key(name)}.{index}"
            if not isinstance(entry, dict):
                self.errors.add(field, f"The {_label(field)} field must be an object.")
                continue
            reader = _Reader(entry, self.errors, prefix=field + ".")
            instructions = reader.string("instructions", required=True, max_length=500)
            is_required = reader.boolean("is_required", default=True)
            if instructions is not None:
                specs.append(ItemSpec(instructions, is_required))
        return specs


def _default_items() -> list[ItemSpec]:
    return [ItemSpec("Photo", is_required=True)]


def check_free_plan(body: Mapping[str, Any], prefix: str = "") -> dict[str, list[str]]:
    """The framework-shape errors a free-plan key gets for email fields (empty when fine)."""
    errors: dict[str, list[str]] = {}
    if body.get("recipient_email") not in (None, ""):
        errors[prefix + "recipient_email"] = [
            "Email features are not available on the free plan. "
            "Upgrade to send photo requests via email."
        ]
    if body.get("send_email") not in (None, "", False):
        errors[prefix + "send_email"] = [
            "Email features are not available on the free plan. "
            "Upgrade to send photo requests via email."
        ]
    return errors


def raise_free_plan(errors: Mapping[str, list[str]]) -> None:
    """Raise the framework-shape 422 for :func:`check_free_plan` errors, if any."""
    if not errors:
        return
    first = next(iter(errors)).rsplit(".", 1)[-1]
    message = f"The {_label(first)} field is prohibited."
    if len(errors) > 1:
        more = len(errors) - 1
        message += f" (and {more} more error{'s' if more > 1 else ''})"
    raise FrameworkValidationError(message, errors)


def parse_photo_request(
    body: Mapping[str, Any], errors: FieldErrors, prefix: str = ""
) -> PhotoRequestSpec | None:
    """Validate one photo request body; ``None`` when ``errors`` got entries."""
    before = len(errors.errors)
    reader = _Reader(body, errors, prefix)
    instructions = reader.string("instructions", required=True, max_length=MAX_INSTRUCTIONS)
    items = reader.items()
    expires_in_hours = reader.integer("expires_in_hours", default=48, minimum=1, maximum=720)
    recipient_email = reader.email("recipient_email")
    send_email = reader.boolean("send_email")
    require_gps = reader.boolean("require_gps")
    allow_submitter_notes = reader.boolean("allow_submitter_notes")
    internal_notes = reader.string("internal_notes", max_length=MAX_INSTRUCTIONS)
    metadata = reader.mapping("metadata", max_keys=MAX_METADATA_KEYS)
    if (
        send_email
        and recipient_email is None
        and reader.key("recipient_email") not in errors.errors
    ):
        reader.fail("recipient_email", "The {label} field is required when send email is true.")
    if len(errors.errors) != before or instructions is None:
        return None
    return PhotoRequestSpec(
        instructions=instructions,
        items=items if items is not None else _default_items(),
        expires_in_hours=expires_in_hours,
        recipient_email=recipient_email,
        send_email=send_email,
        require_gps=require_gps,
        allow_submitter_notes=allow_submitter_notes,
        internal_notes=internal_notes,
        metadata=metadata or {},
    )


def parse_smart_link(
    body: Mapping[str, Any], errors: FieldErrors, *, partial: bool
) -> dict[str, Any]:
    """Validate a smart link create (``partial=False``) or update body.

    Returns:
        The given fields, cleaned, keyed by :class:`~._models.SmartLink` attribute name
        (``items`` as a list of :class:`ItemSpec`). A create gets defaults for absent fields.
    """
    reader = _Reader(body, errors)
    fields: dict[str, Any] = {}
    if not partial or "instructions" in body:
        fields["instructions"] = reader.string(
            "instructions", required=True, max_length=MAX_INSTRUCTIONS
        )
    if "custom_slug" in body:
        fields["custom_slug"] = _slug(reader, "custom_slug")
    for name in ("name", "unique_field_label"):
        if name in body:
            fields[name] = reader.string(name)
    for name in ("show_full_name_field", "full_name_required", "require_gps", "is_active"):
        if name in body or (not partial and name != "is_active"):
            fields[name] = reader.boolean(name, default=name == "is_active")
    if "tags" in body or not partial:
        fields["tags"] = reader.string_list("tags", max_items=20, max_length=50) or []
    if "items" in body or not partial:
        fields["items"] = reader.items() or _default_items()
    return fields


def parse_permanent_link(
    body: Mapping[str, Any], errors: FieldErrors, *, partial: bool
) -> dict[str, Any]:
    """Validate a permanent link body (``name``, ``slug``, ...) as smart link fields."""
    reader = _Reader(body, errors)
    fields: dict[str, Any] = {}
    if not partial or "name" in body:
        fields["name"] = reader.string("name", required=True)
    if not partial:
        instructions = reader.string("instructions", max_length=MAX_INSTRUCTIONS)
        fields["instructions"] = instructions or fields["name"]
    elif "instructions" in body:
        fields["instructions"] = reader.string(
            "instructions", required=True, max_length=MAX_INSTRUCTIONS
        )
    if "slug" in body:
        fields["custom_slug"] = _slug(reader, "slug")
    for name in ("require_gps", "is_active"):
        if name in body or (not partial and name == "require_gps"):
            fields[name] = reader.boolean(name, default=name == "is_active")
    if "tags" in body or not partial:
        fields["tags"] = reader.string_list("tags", max_items=20, max_length=50) or []
    if "items" in body or not partial:
        fields["items"] = reader.items() or _default_items()
    return fields


def _slug(reader: _Reader, name: str) -> str | None:
    value = reader.body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not _SLUG.match(value):
        reader.fail(
            name,
            "The {label} field format is invalid: use 3 to 64 lowercase letters, digits or '-'.",
        )
        return None
    return value


def parse_webhook(
    body: Mapping[str, Any], errors: FieldErrors, *, partial: bool, allow_http: bool
) -> dict[str, Any]:
    """Validate a webhook create (``partial=False``) or update body."""
    reader = _Reader(body, errors)
    fields: dict[str, Any] = {}
    if not partial or "url" in body:
        url = reader.string("url", required=True, max_length=2048)
        if url is not None:
            problem = _webhook_url_problem(url, allow_http=allow_http)
            if problem:
                reader.fail("url", problem)
        fields["url"] = url
    if not partial or "events" in body:
        fields["events"] = _events(reader)
    if "description" in body:
        fields["description"] = reader.string("description", max_length=500)
    if partial and "is_active" in body:
        fields["is_active"] = reader.boolean("is_active", default=True)
    return fields


def _webhook_url_problem(url: str, *, allow_http: bool) -> str | None:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        return "The {label} field must be a valid URL."
    if parts.scheme == "http" and not (allow_http and _is_loopback(host)):
        return "The {label} field must use https."
    return None


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _events(reader: _Reader) -> list[str] | None:
    value = reader.body.get("events")
    if value is None or value == []:
        reader.fail("events", "The {label} field is required.")
        return None
    if not isinstance(value, list):
        reader.fail("events", "The {label} field must be an array.")
        return None
    events: list[str] = []
    for index, name in enumerate(value):
        if not isinstance(name, str) or name not in EVENTS:
            reader.errors.add(
                f"events.{index}",
                f"The selected events.{index} is invalid. Known events: {', '.join(EVENTS)}.",
            )
        elif name not in events:
            events.append(name)
    return events


def parse_page(query: Mapping[str, str]) -> tuple[int, int]:
    """``(page, per_page)`` from a list query; 422 when either is not a valid number."""
    errors = FieldErrors()
    page = _positive_int(query, "page", 1, errors, maximum=None)
    per_page = _positive_int(query, "per_page", DEFAULT_PER_PAGE, errors, maximum=MAX_PER_PAGE)
    errors.raise_if_any()
    return page, per_page


def _positive_int(
    query: Mapping[str, str], name: str, default: int, errors: FieldErrors, *, maximum: int | None
) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        errors.add(name, f"The {_label(name)} field must be an integer.")
        return default
    if value < 1 or (maximum is not None and value > maximum):
        upper = f" and not greater than {maximum}" if maximum is not None else ""
        errors.add(name, f"The {_label(name)} field must be at least 1{upper}.")
        return default
    return value


def parse_bool_query(query: Mapping[str, str], name: str, errors: FieldErrors) -> bool | None:
    """A ``true``/``false``/``1``/``0`` query parameter, or ``None`` when absent."""
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    lowered = raw.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    errors.add(name, f"The {_label(name)} field must be true or false.")
    return None
