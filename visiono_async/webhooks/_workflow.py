"""Workflow Mode: signed links into a smart link, and the signed redirect back.

A link ``{base}/s/{slug}?uv&src&ref&ts&sig`` carries
``sig = hex HMAC-SHA256("{uv}|{src}|{ref}|{ts}", workflow_secret)`` and is valid for an hour;
the redirect back carries ``sub, uv, ref, cnt, ts, sig`` with
``sig = hex HMAC-SHA256("{sub}|{uv}|{ref}|{cnt}|{ts}", workflow_secret)``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import attrs

from .._exceptions import InvalidSignatureError
from ._errors import InvalidPayloadError
from ._signature import _key
from ._time import to_unix

__all__ = [
    "WorkflowLink",
    "WorkflowRedirect",
    "verify_workflow_link",
    "verify_workflow_redirect",
    "workflow_link",
]

DEFAULT_BASE = "https://visiono.io"
DEFAULT_MAX_AGE = 3600.0
_SIG_HEX_LEN = 64


@attrs.frozen
class WorkflowRedirect:
    """A verified redirect back from a Workflow Mode submission.

    Attributes:
        submission_id: The submission's id (``sub``).
        unique_value: The unique value the link carried (``uv``).
        reference: Your reference from the link (``ref``).
        photo_count: How many photos were submitted (``cnt``).
        timestamp: When Visiono signed the redirect (``ts``), aware UTC.
    """

    submission_id: str
    unique_value: str
    reference: str
    photo_count: int
    timestamp: datetime


@attrs.frozen
class WorkflowLink:
    """The verified parameters of a Workflow Mode link (what Visiono checks on arrival).

    Attributes:
        unique_value: ``uv``.
        source: ``src``.
        reference: ``ref``.
        timestamp: ``ts``, aware UTC.
    """

    unique_value: str
    source: str
    reference: str
    timestamp: datetime


def _sign(fields: tuple[str, ...], secret: str | bytes) -> str:
    return hmac.new(_key(secret), "|".join(fields).encode("utf-8"), hashlib.sha256).hexdigest()


def _check_field(name: str, value: object, error: type[Exception]) -> str:
    if not isinstance(value, str):
        raise error(f"Workflow Mode parameter {name!r} must be a string")
    # The signed message joins fields with '|', so a '|' inside one would let a link holder
    # move text between fields without changing the signature.
    if "|" in value:
        raise error(f"Workflow Mode parameter {name!r} must not contain '|'")
    return value


def workflow_link(
    slug: str,
    unique_value: str,
    source: str,
    reference: str,
    secret: str | bytes,
    timestamp: datetime | float | None = None,
    base: str = DEFAULT_BASE,
) -> str:
    """Build a signed Workflow Mode link into the smart link ``slug``.

    Args:
        slug: The smart link's slug (or unique code).
        unique_value: The value that identifies the subject (``uv``), e.g. a licence plate.
        source: Where the link is sent from (``src``), e.g. ``"crm"``.
        reference: Your own reference (``ref``), returned on the redirect back.
        secret: The workflow secret.
        timestamp: The signing time (datetime or unix seconds); now when ``None``.
        base: The site's origin.

    Returns:
        ``{base}/s/{slug}?uv=...&src=...&ref=...&ts=...&sig=...``.

    Raises:
        ValueError: ``slug`` is empty, or a value contains ``'|'`` (which would make the
            signed message ambiguous).
    """
    if not slug:
        raise ValueError("slug must not be empty")
    if not secret:
        raise ValueError("the workflow secret is empty")
    fields = tuple(
        _check_field(name, value, ValueError)
        for name, value in (("uv", unique_value), ("src", source), ("ref", reference))
    )
    ts = str(to_unix(timestamp))
    query = urlencode(
        {
            "uv": fields[0],
            "src": fields[1],
            "ref": fields[2],
            "ts": ts,
            "sig": _sign((*fields, ts), secret),
        },
        quote_via=quote,
    )
    return f"{base.rstrip('/')}/s/{quote(slug, safe='')}?{query}"


def _as_params(params: Mapping[str, str] | str) -> dict[str, str]:
    if isinstance(params, Mapping):
        return {str(k): v for k, v in params.items()}
    query = urlsplit(params).query if "?" in params or "://" in params else params
    parsed = parse_qs(query, keep_blank_values=True)
    repeated = sorted(name for name, values in parsed.items() if len(values) > 1)
    if repeated:
        raise InvalidPayloadError(f"Workflow Mode parameter {repeated[0]!r} appears more than once")
    return {name: values[0] for name, values in parsed.items()}


def _verify(
    params: Mapping[str, str] | str,
    secret: str | bytes,
    names: tuple[str, ...],
    max_age: float | None,
    now: float | None = None,
) -> dict[str, str]:
    """The named fields after checking ``sig`` over them and the age of ``ts``."""
    if not secret:
        raise ValueError("the workflow secret is empty")
    values = _as_params(params)
    sig = values.get("sig")
    if not sig:
        raise InvalidSignatureError("the Workflow Mode 'sig' parameter is missing")
    missing = [name for name in names if name not in values]
    if missing:
        raise InvalidPayloadError(f"Workflow Mode parameter {missing[0]!r} is missing")
    fields = {name: _check_field(name, values[name], InvalidPayloadError) for name in names}
    sig = sig.strip().lower()
    if len(sig) != _SIG_HEX_LEN or any(c not in "0123456789abcdef" for c in sig):
        raise InvalidSignatureError("the Workflow Mode 'sig' parameter is malformed")
    expected = _sign(tuple(fields[name] for name in names), secret)
    if not hmac.compare_digest(expected, sig):
        raise InvalidSignatureError("the Workflow Mode signature does not match")
    if not fields["ts"].isdigit():
        raise InvalidPayloadError("Workflow Mode parameter 'ts' is not unix seconds")
    current = time.time() if now is None else now
    if max_age is not None and abs(current - int(fields["ts"])) > max_age:
        raise InvalidSignatureError(
            f"the Workflow Mode signature is stale (older than {max_age:g} seconds)"
        )
    return fields


def verify_workflow_redirect(
    params: Mapping[str, str] | str,
    secret: str | bytes,
    max_age: float | None = None,
) -> WorkflowRedirect:
    """Verify the signed redirect Visiono sends back after a Workflow Mode submission.

    Args:
        params: The query parameters (any mapping, e.g. ``request.query_params``), or the
            redirect URL or its query string.
        secret: The workflow secret.
        max_age: Seconds a signature stays valid (either side of now). ``None`` (the
            default) checks the signature alone: Visiono documents no age limit for the
            redirect back (only for the link into Visiono). Pass one to add your own.

    Returns:
        The submission id, unique value, reference, photo count and signing time.

    Raises:
        InvalidSignatureError: ``sig`` is missing, malformed or wrong, or ``ts`` is older
            than ``max_age``.
        InvalidPayloadError: Another parameter is missing or malformed.
    """
    fields = _verify(params, secret, ("sub", "uv", "ref", "cnt", "ts"), max_age)
    if not fields["cnt"].isdigit():
        raise InvalidPayloadError("Workflow Mode parameter 'cnt' is not a whole number")
    return WorkflowRedirect(
        submission_id=fields["sub"],
        unique_value=fields["uv"],
        reference=fields["ref"],
        photo_count=int(fields["cnt"]),
        timestamp=datetime.fromtimestamp(int(fields["ts"]), tz=timezone.utc),
    )


def verify_workflow_link(
    params: Mapping[str, str] | str,
    secret: str | bytes,
    max_age: float | None = DEFAULT_MAX_AGE,
    *,
    now: float | None = None,
) -> WorkflowLink:
    """Verify a Workflow Mode link's signature, as Visiono does when the link is opened.

    Useful in tests and in emulators; the arguments and errors are those of
    :func:`verify_workflow_redirect`, except that the documented one-hour expiry applies
    by default, measured at ``now`` (unix seconds; the real clock when ``None``).
    """
    fields = _verify(params, secret, ("uv", "src", "ref", "ts"), max_age, now)
    return WorkflowLink(
        unique_value=fields["uv"],
        source=fields["src"],
        reference=fields["ref"],
        timestamp=datetime.fromtimestamp(int(fields["ts"]), tz=timezone.utc),
    )
