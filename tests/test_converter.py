"""The converter: datetimes, tolerant enums, unknown keys and round trips of every model."""

from __future__ import annotations

import json
import typing
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from visiono_async._converter import parse_datetime, structure, unstructure
from visiono_async.models import (
    DownloadURL,
    DownloadURLs,
    PermanentLink,
    PhotoRequest,
    PhotoRequestItem,
    PhotoRequestStatus,
    SmartLink,
    Stats,
    StatsPlan,
    StatsRateLimit,
    StatsUsage,
    Status,
    Submission,
    WebhookEndpoint,
    WebhookEventInfo,
    WebhookTestResult,
)

UTC = timezone.utc
MODELS: list[type[Any]] = [
    DownloadURL,
    DownloadURLs,
    PermanentLink,
    PhotoRequest,
    PhotoRequestItem,
    SmartLink,
    Stats,
    StatsPlan,
    StatsRateLimit,
    StatsUsage,
    Status,
    Submission,
    WebhookEndpoint,
    WebhookEventInfo,
    WebhookTestResult,
]

json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=10)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)
offsets = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
aware_datetimes = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(9998, 12, 31), timezones=offsets
)


def extra_for(model: type[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Unknown keys: any JSON under names the model does not declare."""
    declared = {f.name for f in attrs.fields(model)}
    keys = st.text(min_size=1, max_size=12).filter(lambda k: k not in declared)
    return st.dictionaries(keys, json_values, max_size=3)


def strategy_for(tp: Any) -> st.SearchStrategy[Any]:
    """Values of a model field's type, every optional field included."""
    if attrs.has(tp):
        hints = typing.get_type_hints(tp)
        fields = {name: strategy_for(hint) for name, hint in hints.items() if name != "extra"}
        return st.builds(tp, **fields, extra=extra_for(tp))
    args = typing.get_args(tp)
    if PhotoRequestStatus in args:
        return st.none() | st.sampled_from(PhotoRequestStatus) | st.text()
    if type(None) in args:
        (inner,) = (a for a in args if a is not type(None))
        return st.none() | strategy_for(inner)
    if typing.get_origin(tp) is list:
        return st.lists(strategy_for(args[0]), max_size=3)
    if typing.get_origin(tp) is dict:
        return st.dictionaries(st.text(max_size=8), json_values, max_size=3)
    simple: dict[Any, st.SearchStrategy[Any]] = {
        str: st.text(max_size=20),
        int: st.integers(),
        bool: st.booleans(),
        float: st.floats(allow_nan=False, allow_infinity=False),
        datetime: aware_datetimes,
    }
    return simple[tp]


@st.composite
def any_model(draw: st.DrawFn) -> Any:
    return draw(strategy_for(draw(st.sampled_from(MODELS))))


def through_json(data: Any) -> Any:
    return json.loads(json.dumps(data))


class TestRoundTrip:
    """structure(unstructure(model)) gives the model back, through real JSON."""

    @given(any_model())
    def test_every_model_round_trips_through_json(self, model: Any) -> None:
        """Every field, nested models and unknown keys survive a JSON round trip."""
        assert model == structure(through_json(unstructure(model)), type(model))

    @given(strategy_for(PhotoRequest))
    def test_unknown_keys_are_written_back_at_the_top_level(self, pr: PhotoRequest) -> None:
        """``extra`` is flattened into the JSON object, not nested under a key."""
        data = unstructure(pr)
        assert "extra" not in data or "extra" in pr.extra
        for key, value in pr.extra.items():
            assert value == data[key]


class TestUnknownKeys:
    """Keys the models do not declare are kept in ``extra``."""

    @given(st.dictionaries(st.text(min_size=1).filter(lambda k: k != "id"), json_values))
    def test_kept_in_extra(self, unknown: dict[str, Any]) -> None:
        """Every undeclared key of the object lands in ``extra`` with its value."""
        declared = {f.name for f in attrs.fields(Submission)}
        unknown = {k: v for k, v in unknown.items() if k not in declared}
        assert unknown == structure({"id": "ps_1", **unknown}, Submission).extra

    def test_kept_in_nested_models(self) -> None:
        """Unknown keys of an item inside a photo request stay on the item."""
        pr = structure(
            {"id": "pr_1", "items": [{"id": "pri_1", "camera": "rear"}], "priority": 2},
            PhotoRequest,
        )
        assert ({"priority": 2}, {"camera": "rear"}) == (pr.extra, pr.items[0].extra)

    def test_a_key_named_extra_is_an_unknown_key(self) -> None:
        """The server's own ``extra`` key cannot overwrite the model's ``extra`` field."""
        assert {"extra": {"a": 1}} == structure(
            {"id": "pr_1", "extra": {"a": 1}}, PhotoRequest
        ).extra

    def test_absent_fields_default_to_none_or_empty(self) -> None:
        """Only ``id`` is required; lists and mappings default to empty."""
        pr = structure({"id": "pr_1"}, PhotoRequest)
        assert (None, None, [], {}, {}) == (
            pr.status,
            pr.expires_at,
            pr.items,
            pr.metadata,
            pr.extra,
        )

    def test_null_list_or_mapping_means_empty(self) -> None:
        """``null`` where a list or an object is expected reads as empty."""
        pr = structure({"id": "pr_1", "items": None, "metadata": None}, PhotoRequest)
        assert ([], {}) == (pr.items, pr.metadata)

    def test_missing_id_is_a_clear_error(self) -> None:
        """A model without its id fails with the path of the problem."""
        with pytest.raises(ValueError, match=r"required field missing @ \$\.items\[0\]\.id"):
            structure({"id": "pr_1", "items": [{"instructions": "x"}]}, PhotoRequest)

    def test_non_object_is_a_clear_error(self) -> None:
        """A list where an object is expected names the model."""
        with pytest.raises(ValueError, match="expected a JSON object for PhotoRequest"):
            structure(["pr_1"], PhotoRequest)


class TestEnums:
    """Known enum values become members; unknown strings are kept as they came."""

    @pytest.mark.parametrize("status", list(PhotoRequestStatus), ids=lambda s: s.value)
    def test_known_values_become_members(self, status: PhotoRequestStatus) -> None:
        """Every documented status is a ``PhotoRequestStatus`` member."""
        actual = structure({"id": "pr_1", "status": status.value}, PhotoRequest).status
        assert status is actual

    @given(st.text().filter(lambda s: s not in {m.value for m in PhotoRequestStatus}))
    def test_unknown_values_are_kept_as_strings(self, value: str) -> None:
        """A status this SDK does not know does not crash parsing."""
        actual = structure({"id": "pr_1", "status": value}, PhotoRequest).status
        assert (value, str) == (actual, type(actual))

    def test_members_compare_equal_to_their_wire_values(self) -> None:
        """``PhotoRequestStatus.SUBMITTED == "submitted"`` and ``str()`` gives the value."""
        member: object = PhotoRequestStatus.SUBMITTED
        assert ("submitted", True) == (str(member), member == "submitted")

    def test_a_non_string_status_is_a_clear_error(self) -> None:
        """A number is not a status."""
        with pytest.raises(
            ValueError, match=r"invalid PhotoRequestStatus 3: expected a string @ \$\.status"
        ):
            structure({"id": "pr_1", "status": 3}, PhotoRequest)


class TestDatetimes:
    """Datetimes are always aware and in UTC."""

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("2024-12-10T12:00:00Z", datetime(2024, 12, 10, 12, tzinfo=UTC)),
            ("2024-12-10T12:00:00z", datetime(2024, 12, 10, 12, tzinfo=UTC)),
            ("2024-12-10T12:00:00+00:00", datetime(2024, 12, 10, 12, tzinfo=UTC)),
            ("2024-12-10T14:00:00+02:00", datetime(2024, 12, 10, 12, tzinfo=UTC)),
            ("2024-12-10T07:30:00-0430", datetime(2024, 12, 10, 12, tzinfo=UTC)),
            ("2024-12-10T12:00:00", datetime(2024, 12, 10, 12, tzinfo=UTC)),
            ("2024-12-10 12:00:00", datetime(2024, 12, 10, 12, tzinfo=UTC)),
            ("2024-12-10T12:00:00.5Z", datetime(2024, 12, 10, 12, 0, 0, 500000, tzinfo=UTC)),
            (
                "2024-12-10T12:00:00.123456789Z",
                datetime(2024, 12, 10, 12, 0, 0, 123456, tzinfo=UTC),
            ),
            ("2024-12-10T12:00Z", datetime(2024, 12, 10, 12, tzinfo=UTC)),
            ("2024-12-10", datetime(2024, 12, 10, tzinfo=UTC)),
            (1733832000, datetime(2024, 12, 10, 12, tzinfo=UTC)),
        ],
        ids=[
            "Z",
            "lower-z",
            "+00:00",
            "+02:00",
            "-0430",
            "naive",
            "space",
            "fraction",
            "nanoseconds",
            "no-seconds",
            "date",
            "unix",
        ],
    )
    def test_accepted_forms(self, text: str | int, expected: datetime) -> None:
        """ISO 8601 in its common spellings, naive as UTC, and unix seconds."""
        actual = parse_datetime(text)
        assert (expected, UTC) == (actual, actual.tzinfo)

    @given(aware_datetimes)
    def test_isoformat_round_trips(self, value: datetime) -> None:
        """Whatever Python writes, the parser reads back as the same instant, in UTC."""
        actual = parse_datetime(value.isoformat())
        assert (value, UTC) == (actual, actual.tzinfo)

    @given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9998, 12, 31)))
    def test_naive_is_utc(self, value: datetime) -> None:
        """A value without an offset is taken as UTC."""
        assert value.replace(tzinfo=UTC) == parse_datetime(value.isoformat())

    @pytest.mark.parametrize(
        "text",
        ["soon", "", "2024-13-01T00:00:00Z", "2024-12-10T25:00:00Z", "12/10/2024", True],
        ids=["word", "empty", "month-13", "hour-25", "us-date", "bool"],
    )
    def test_unparseable_is_a_clear_error(self, text: object) -> None:
        """The error names the value and where it was found."""
        with pytest.raises(ValueError, match=r"invalid datetime .*@ \$\.created_at"):
            structure({"id": "pr_1", "created_at": text}, PhotoRequest)


class TestBooleans:
    """Booleans are read strictly: the string ``"false"`` is False."""

    @pytest.mark.parametrize(
        ("raw", "expected"), [(True, True), ("false", False), ("true", True), (0, False), (1, True)]
    )
    def test_accepted(self, raw: object, expected: bool) -> None:
        """Booleans, their string spellings and 0/1."""
        assert expected is structure({"id": "ps_1", "has_gps_data": raw}, Submission).has_gps_data

    def test_other_values_are_a_clear_error(self) -> None:
        """Anything else names the field."""
        with pytest.raises(ValueError, match=r"invalid boolean 'maybe' @ \$\.has_gps_data"):
            structure({"id": "ps_1", "has_gps_data": "maybe"}, Submission)


class TestSecrets:
    """A webhook secret never appears in a repr."""

    @given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=16, max_size=40))
    def test_secret_not_in_repr(self, secret: str) -> None:
        """Neither the secret field nor an unknown ``*secret*`` key shows its value."""
        endpoint = structure(
            {"id": "wh_1", "secret": f"whsec_{secret}", "signing_secret": f"whsec_{secret}"},
            WebhookEndpoint,
        )
        assert (f"whsec_{secret}", False) == (endpoint.secret, secret in repr(endpoint))
