"""What the models promise beyond their fields: immutability, expiry maths, safe reprs."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import attrs
import pytest

import visiono_async.models as models
from visiono_async.models import (
    DownloadURLs,
    PhotoRequest,
    PhotoRequestStatus,
    WebhookEndpoint,
)

FETCHED = datetime(2024, 12, 10, 12, tzinfo=timezone.utc)


class TestPublicSurface:
    """``visiono_async.models`` exports every model, and only through a sorted ``__all__``."""

    def test_all_is_sorted_and_complete(self) -> None:
        """``__all__`` is sorted and names every public class of the package."""
        public = sorted(
            name
            for name, value in vars(models).items()
            if isinstance(value, type) and not name.startswith("_")
        )
        assert (sorted(models.__all__), public) == (models.__all__, sorted(models.__all__))

    @pytest.mark.parametrize("name", [n for n in models.__all__ if attrs.has(getattr(models, n))])
    def test_every_model_is_frozen_and_keeps_extra(self, name: str) -> None:
        """Each attrs model is frozen and has an ``extra`` field for unknown keys."""
        cls = getattr(models, name)
        assert (True, True) == (
            "extra" in attrs.fields_dict(cls),
            cls.__setattr__ is not object.__setattr__,
        )


class TestFrozen:
    """Models cannot be changed in place; ``attrs.evolve`` makes changed copies."""

    def test_assignment_is_refused(self) -> None:
        """Setting a field raises ``FrozenInstanceError``."""
        pr = PhotoRequest(id="pr_1")
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            pr.status = "cancelled"  # type: ignore[misc]

    def test_only_id_is_required(self) -> None:
        """Partial payloads (webhook events) need only the id."""
        assert PhotoRequest(id="pr_1") == PhotoRequest("pr_1", metadata={}, items=[], extra={})


class TestPhotoRequestStatus:
    """Statuses compare and print as their wire values."""

    @pytest.mark.parametrize("status", list(PhotoRequestStatus), ids=str)
    def test_str_and_equality(self, status: PhotoRequestStatus) -> None:
        """``str(status)`` and ``status == value`` both use the wire value."""
        assert (status.value, True) == (str(status), status == status.value)

    def test_documented_values(self) -> None:
        """The five documented states, in life-cycle order."""
        expected = ["pending", "in_progress", "submitted", "expired", "cancelled"]
        assert expected == [s.value for s in PhotoRequestStatus]


class TestDownloadURLsExpiry:
    """``expires_at`` and ``expires_within`` count from when the URLs were fetched."""

    def test_expires_at(self) -> None:
        """``fetched_at + expires_in_seconds``."""
        urls = DownloadURLs(expires_in_seconds=86400, fetched_at=FETCHED)
        assert FETCHED + timedelta(days=1) == urls.expires_at

    @pytest.mark.parametrize(
        ("margin", "now", "expected"),
        [
            (60, FETCHED, False),
            (60, FETCHED + timedelta(seconds=86340), True),
            (59, FETCHED + timedelta(seconds=86340), False),
            (0, FETCHED + timedelta(days=2), True),
            (60, (FETCHED + timedelta(seconds=86340)).replace(tzinfo=None), True),
        ],
        ids=["fresh", "at-margin", "before-margin", "expired", "naive-now-is-utc"],
    )
    def test_expires_within(self, margin: float, now: datetime, expected: bool) -> None:
        """True once ``now + margin`` reaches ``expires_at``."""
        urls = DownloadURLs(expires_in_seconds=86400, fetched_at=FETCHED)
        assert expected is urls.expires_within(margin, now=now)

    def test_unknown_expiry(self) -> None:
        """Without ``expires_in_seconds`` the expiry is unknown, never "within"."""
        urls = DownloadURLs(photo_request_id="pr_1", fetched_at=FETCHED)
        assert (None, False) == (urls.expires_at, urls.expires_within(10**9))


class TestSecretRepr:
    """A webhook secret never shows in a repr."""

    def test_secret_hidden(self) -> None:
        """The secret is on the object but not in its repr, nor a ``*secret*`` extra key."""
        secret = "whsec_" + "k" * 24
        endpoint = WebhookEndpoint(
            id="wh_1", secret=secret, extra={"previous_secret": secret, "note": "kept"}
        )
        text = repr(endpoint)
        assert (secret, False, True) == (
            endpoint.secret,
            secret in text,
            bool(re.search(r"'note': 'kept'", text)),
        )
