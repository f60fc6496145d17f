"""File naming: the template, sanitisation of every component, and containment in ``dest``.

Whatever ids or names a server sends (``..``, absolute paths, NUL, control characters,
reserved device names, 300-character names), the path produced here is relative, made of
safe components, and stays inside the destination.
"""

from __future__ import annotations

import functools
import hashlib
import os
import posixpath
import re
import string
import unicodedata
from collections.abc import Mapping, Sequence

__all__ = [
    "DEFAULT_TEMPLATE",
    "MAX_COMPONENT_BYTES",
    "TEMPLATE_FIELDS",
    "PathOutsideDestinationError",
    "extension_for",
    "is_inside",
    "mime_for_url",
    "render_path",
    "sanitize_component",
    "template_fields",
    "validate_template",
]

DEFAULT_TEMPLATE = "{photo_request_id}/{item_id}_{submission_id}{ext}"
"""The default naming template: one folder per photo request (or smart link)."""

TEMPLATE_FIELDS = (
    "photo_request_id",
    "smart_link_id",
    "item_id",
    "submission_id",
    "unique_value",
    "full_name",
    "variant",
    "id",
    "ext",
)
"""The fields a naming template may use for Visiono photos, in the order docs list them."""

MAX_COMPONENT_BYTES = 240
"""UTF-8 bytes per path component: below the usual 255, leaving room for a dedup suffix."""

_FORBIDDEN = re.compile(r'[\\/:*?"<>|]')
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"COM{i}" for i in range(10)}
    | {f"LPT{i}" for i in range(10)}
    | {f"COM{c}" for c in "¹²³"}
    | {f"LPT{c}" for c in "¹²³"}
)
_MIME_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/jpg": ".jpg",
    "image/pjpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/heic": ".heic",
    "image/heif": ".heif",
    "image/avif": ".avif",
    "image/tiff": ".tiff",
    "image/bmp": ".bmp",
    "application/pdf": ".pdf",
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
}
_EXT_RE = re.compile(r"^\.[A-Za-z0-9]{1,10}$")


# Ids and ordinary names: nothing to normalise or replace (the common, fast case).
_PLAIN = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_\-.]*[A-Za-z0-9_\-]|[A-Za-z0-9_\-]")


def _reserved(text: str) -> bool:
    return text.split(".", 1)[0].rstrip(" ").upper() in _WINDOWS_RESERVED


class PathOutsideDestinationError(ValueError):
    """A computed path would have left the destination folder."""


def sanitize_component(value: str, *, max_bytes: int = MAX_COMPONENT_BYTES) -> str:
    """Make one path component safe on POSIX and Windows file systems.

    NFC-normalises, replaces separators, NUL, control and format characters and characters
    Windows forbids with ``_``, neutralises leading dots (so ``..`` and hidden names cannot
    occur), trailing dots and spaces, and reserved device names (``CON``, ``NUL.txt``), and
    truncates to ``max_bytes`` UTF-8 bytes, keeping a short extension and adding a hash of
    the original so that distinct long names stay distinct.

    Args:
        value: The raw component (an id, a name, a rendered template segment).
        max_bytes: The maximum UTF-8 length of the result.

    Returns:
        A non-empty component without separators.
    """
    return _sanitize(value, max_bytes)


@functools.lru_cache(maxsize=4096)
def _sanitize(value: str, max_bytes: int) -> str:
    # Cached: the ids of a photo request repeat in every one of its paths.
    if _PLAIN.fullmatch(value) and len(value) <= max_bytes and not _reserved(value):
        return value
    text = unicodedata.normalize("NFC", value)
    text = "".join(
        "_" if unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Zl", "Zp"} else ch for ch in text
    )
    text = _FORBIDDEN.sub("_", text)
    text = text.strip(" ")
    text = text.rstrip(". ")
    if text.startswith("."):
        text = "_" + text[1:]
    if not text:
        text = "_"
    if _reserved(text):
        text = "_" + text
    if len(text.encode("utf-8")) > max_bytes:
        text = _truncate(text, value, max_bytes)
    return text


def _truncate(text: str, original: str, max_bytes: int) -> str:
    digest = hashlib.sha256(original.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    stem, dot, ext = text.rpartition(".")
    suffix = f".{ext}" if dot and stem and _EXT_RE.match(f".{ext}") else ""
    head = stem if suffix else text
    budget = max(1, max_bytes - len(suffix.encode()) - len(digest) - 1)
    cut = head.encode("utf-8")[:budget].decode("utf-8", "ignore").rstrip(". ")
    return f"{cut or '_'}~{digest}{suffix}"


def extension_for(mime_type: str | None, url: str | None = None) -> str:
    """The file extension (with its dot) for a MIME type, else from the URL's path, else ``""``."""
    if mime_type:
        ext = _MIME_EXTENSIONS.get(mime_type.split(";", 1)[0].strip().lower())
        if ext:
            return ext
    if url:
        path = url.split("?", 1)[0].split("#", 1)[0]
        ext = posixpath.splitext(path.rsplit("/", 1)[-1])[1].lower()
        if _EXT_RE.match(ext):
            return ".jpg" if ext == ".jpeg" else ext
    return ""


def mime_for_url(url: str) -> str | None:
    """The image MIME type a URL's file extension implies, or ``None``."""
    ext = extension_for(None, url)
    for mime, known in _MIME_EXTENSIONS.items():
        if known == ext and mime.startswith("image/"):
            return mime
    return None


class _Fields(dict[str, str]):
    """Template values; unknown names render empty rather than failing mid-run."""

    def __missing__(self, key: str) -> str:
        return ""


_FORMATTER = string.Formatter()


def template_fields(template: str) -> set[str]:
    """The field names a template refers to.

    Raises:
        ValueError: The template is not a valid ``str.format`` template of plain field names
            (``{a.b}``, ``{a[0]}``, ``{}`` and unbalanced braces are refused).
    """
    return set(_parse_template(template))


@functools.lru_cache(maxsize=64)
def _parse_template(template: str) -> frozenset[str]:
    # Cached: a run renders one template for every file.
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise ValueError(f"invalid naming template {template!r}: {exc}") from None
    names = set()
    for _, name, spec, _ in parsed:
        if name is None:
            continue
        if not name.isidentifier() or (spec and "{" in spec):
            raise ValueError(
                f"invalid naming template {template!r}: {{{name}}} is not a plain field name"
            )
        names.add(name)
    return frozenset(names)


def validate_template(template: str, fields: Sequence[str] = TEMPLATE_FIELDS) -> None:
    """Refuse a naming template before anything is downloaded.

    Args:
        template: The naming template.
        fields: The field names the files will carry (for Visiono photos,
            :data:`TEMPLATE_FIELDS`).

    Raises:
        ValueError: The template is malformed, or uses a field not in ``fields``; the
            message names the unknown fields and lists the valid ones.
    """
    unknown = sorted(template_fields(template) - set(fields))
    if unknown:
        names = ", ".join("{" + name + "}" for name in unknown)
        valid = ", ".join("{" + name + "}" for name in fields)
        word = "field" if len(unknown) == 1 else "fields"
        raise ValueError(
            f"unknown naming template {word} {names} in {template!r}; valid fields: {valid}"
        )


def render_path(template: str, fields: Mapping[str, str]) -> str:
    """Render a naming template into a safe relative POSIX path.

    Each field value is sanitised before substitution (a value can never add a separator),
    then every ``/``-separated component of the result is sanitised again, so a hostile
    template segment cannot climb out either. The ``ext`` field is kept verbatim when it is a
    plain extension and dropped otherwise.

    Args:
        template: A ``str.format`` template with ``/`` as separator.
        fields: The values; missing ones render as empty strings.

    Returns:
        A relative path such as ``"pr_1/pri_1_ps_1.jpg"``, never empty, never with ``..``.
    """
    safe = _Fields()
    for key in _parse_template(template):
        value = fields.get(key)
        if not value:
            continue
        if key == "ext":
            safe[key] = value if _EXT_RE.match(value) else ""
        else:
            safe[key] = _sanitize(value, MAX_COMPONENT_BYTES)
    try:
        rendered = template.format_map(safe)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"invalid naming template {template!r}: {exc}") from None
    parts = [p for p in rendered.replace("\\", "/").split("/") if p not in {"", "."}]
    if not parts:
        parts = ["_"]
    return "/".join([_sanitize(p, MAX_COMPONENT_BYTES) for p in parts])


def is_inside(root: str, path: str, *, real_root: str | None = None) -> bool:
    """Whether ``path`` (resolved, symlinks followed) is ``root`` or inside it.

    ``real_root`` is ``root`` already resolved, when the caller keeps it.
    """
    if real_root is None:
        real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    try:
        return os.path.commonpath([real_root, real]) == real_root
    except ValueError:
        return False
