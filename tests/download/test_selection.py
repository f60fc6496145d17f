"""Selection: one checked value for what to archive, taken by archive(), the client and the source."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest
from archive_helpers import files_under, seed

import visiono_async
from visiono_async.download import (
    RemoteFile,
    Selection,
    SignedURLSource,
    VisionoSource,
    archive,
    iter_archive,
)
from visiono_async.models import PhotoRequestStatus

UTC = dt.timezone.utc


class TestConstruction:
    def test_ids_are_kept_in_order_each_once(self) -> None:
        """Any iterable of ids; duplicates dropped, order kept, stored as tuples."""
        chosen = Selection(photo_requests=(i for i in ["pr_2", "pr_1", "pr_2"]), smart_links=[])

        assert ("pr_2", "pr_1") == chosen.photo_requests
        assert () == chosen.smart_links

    @pytest.mark.parametrize(
        ("given", "expected"),
        [
            ("2024-03-01T10:00:00+02:00", dt.datetime(2024, 3, 1, 8, tzinfo=UTC)),
            ("2024-03-01T10:00:00Z", dt.datetime(2024, 3, 1, 10, tzinfo=UTC)),
            ("2024-03-01T10:00:00", dt.datetime(2024, 3, 1, 10, tzinfo=UTC)),
            ("2024-03-01", dt.datetime(2024, 3, 1, tzinfo=UTC)),
            (dt.datetime(2024, 3, 1, 10), dt.datetime(2024, 3, 1, 10, tzinfo=UTC)),
            (
                dt.datetime(2024, 3, 1, 10, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
                dt.datetime(2024, 3, 1, 15, tzinfo=UTC),
            ),
            (dt.date(2024, 3, 1), dt.datetime(2024, 3, 1, tzinfo=UTC)),
        ],
        ids=[
            "iso-offset",
            "iso-z",
            "iso-naive",
            "iso-date",
            "naive-datetime",
            "aware-datetime",
            "date",
        ],
    )
    def test_dates_become_aware_utc(self, given: Any, expected: dt.datetime) -> None:
        """Every accepted form is one aware UTC datetime; naive means UTC."""
        chosen = Selection(created_after=given, created_before="2100-01-01")

        assert expected == chosen.created_after
        assert UTC == chosen.created_after.tzinfo

    def test_a_status_enum_is_kept_as_its_value(self) -> None:
        """``PhotoRequestStatus.SUBMITTED`` and ``"submitted"`` make equal selections."""
        chosen = Selection(status=PhotoRequestStatus.SUBMITTED)

        assert "submitted" == chosen.status
        assert type(chosen.status) is str
        assert Selection(status="submitted") == chosen

    def test_tags_are_a_tuple_each_once(self) -> None:
        """A list of tags is kept as a tuple, duplicates dropped."""
        assert ("fleet", "damage") == Selection(tags=["fleet", "damage", "fleet"]).tags

    def test_equal_selections_are_one_key(self) -> None:
        """Frozen and hashable: a list and a tuple of the same ids are the same selection."""
        chosen = Selection(photo_requests=["pr_1"], tags=["a"])

        assert {chosen: 1} == {Selection(photo_requests=("pr_1",), tags=("a",)): 1}
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            chosen.status = "pending"  # type: ignore[misc]

    @pytest.mark.parametrize(
        ("fields", "error", "message"),
        [
            (
                {"photo_requests": "pr_1"},
                TypeError,
                r"photo_requests must be a list of ids, not a single str: "
                r"write photo_requests=\['pr_1'\]",
            ),
            (
                {"smart_links": "sl_1"},
                TypeError,
                r"smart_links must be a list of ids, not a single str",
            ),
            ({"photo_requests": 5}, TypeError, r"photo_requests must be a list of ids, got int"),
            (
                {"photo_requests": ["pr_1", 2]},
                TypeError,
                r"photo_requests must hold str ids, got int 2",
            ),
            (
                {"photo_requests": ["../x"]},
                ValueError,
                r"photo_requests must not contain '/', got '\.\./x'",
            ),
            ({"smart_links": [""]}, ValueError, r"smart_links must not be empty"),
            (
                {"tags": "fleet"},
                TypeError,
                r"tags must be a list of tags, not a single str: write tags=\['fleet'\]",
            ),
            ({"tags": [1]}, TypeError, r"tags must hold str tags, got int 1"),
            ({"tags": []}, ValueError, r"tags must name at least one tag \(None archives"),
            ({"tags": [" "]}, ValueError, r"tags must not hold an empty tag"),
            ({"tags": ["a,b"]}, ValueError, r"a tag must not contain ',', got 'a,b'"),
            ({"status": 3}, TypeError, r"status must be a str, got int 3"),
            ({"status": ""}, ValueError, r"status must not be empty \(None archives any status\)"),
            (
                {"created_after": "yesterday"},
                ValueError,
                r"created_after: invalid datetime 'yesterday': expected ISO 8601",
            ),
            (
                {"created_before": "2024-13-01"},
                ValueError,
                r"created_before: invalid datetime '2024-13-01'",
            ),
            (
                {"created_after": 1_700_000_000},
                TypeError,
                r"created_after must be a datetime or an ISO 8601 string, got int 1700000000",
            ),
            (
                {"created_after": "2024-02-01", "created_before": "2024-01-01"},
                ValueError,
                r"created_after \(2024-02-01T00:00:00\+00:00\) must be before created_before "
                r"\(2024-01-01T00:00:00\+00:00\)",
            ),
            (
                {"created_after": "2024-01-01", "created_before": "2024-01-01"},
                ValueError,
                r"must be before created_before",
            ),
            ({"is_active": "yes"}, TypeError, r"is_active must be True, False or None, got 'yes'"),
            ({"is_active": 1}, TypeError, r"is_active must be True, False or None, got 1"),
        ],
        ids=[
            "a-str-of-ids",
            "a-str-of-link-ids",
            "not-iterable",
            "a-non-str-id",
            "a-path-in-an-id",
            "an-empty-id",
            "a-str-of-tags",
            "a-non-str-tag",
            "no-tags",
            "a-blank-tag",
            "a-comma-in-a-tag",
            "a-non-str-status",
            "an-empty-status",
            "not-iso",
            "no-such-month",
            "unix-seconds",
            "after-past-before",
            "an-empty-range",
            "a-str-flag",
            "an-int-flag",
        ],
    )
    def test_bad_values_are_refused_with_a_sentence(
        self, fields: dict[str, Any], error: type[Exception], message: str
    ) -> None:
        """Each bad value is a TypeError or ValueError naming the field, at construction."""
        with pytest.raises(error, match=message):
            Selection(**fields)


class TestWhatIsListed:
    def test_nothing_chosen_is_everything(self) -> None:
        """``Selection()``: every photo request and every smart link is listed."""
        chosen = Selection()

        assert (True, True, True) == (
            chosen.everything,
            chosen.lists_photo_requests,
            chosen.lists_smart_links,
        )

    @pytest.mark.parametrize(
        ("fields", "lists"),
        [
            ({"photo_requests": ["pr_1"]}, (False, False)),
            ({"smart_links": ["sl_1"]}, (False, False)),
            ({"status": "submitted"}, (True, False)),
            ({"created_after": "2024-01-01"}, (True, False)),
            ({"created_before": "2024-01-01"}, (True, False)),
            ({"is_active": False}, (False, True)),
            ({"tags": ["a"]}, (False, True)),
            ({"photo_requests": ["pr_1"], "tags": ["a"]}, (False, True)),
        ],
        ids=[
            "request-ids",
            "link-ids",
            "status",
            "created_after",
            "created_before",
            "is_active",
            "tags",
            "ids-and-a-filter",
        ],
    )
    def test_each_choice_lists_only_its_kind(
        self, fields: dict[str, Any], lists: tuple[bool, bool]
    ) -> None:
        """Ids are fetched, not listed; a filter lists its own kind only."""
        chosen = Selection(**fields)

        assert not chosen.everything
        assert lists == (chosen.lists_photo_requests, chosen.lists_smart_links)

    def test_the_filters_are_the_list_calls_keywords(self) -> None:
        """Only the filters that are set, as ``list()`` takes them."""
        chosen = Selection(status="pending", created_before="2024-05-01", is_active=True)

        assert {
            "status": "pending",
            "created_before": dt.datetime(2024, 5, 1, tzinfo=UTC),
        } == chosen.photo_request_filters
        assert {"is_active": True} == chosen.smart_link_filters


class TestDescription:
    def test_repr_shows_what_was_chosen_and_reads_back(self) -> None:
        """Only the fields set, dates as ISO strings: ``eval(repr(s)) == s``."""
        chosen = Selection(photo_requests=["pr_1"], created_after=dt.datetime(2024, 1, 2, 3))

        text = repr(chosen)

        assert "Selection(photo_requests=('pr_1',), created_after='2024-01-02T03:00:00+00:00')" == (
            text
        )
        assert chosen == eval(text, {"Selection": Selection})
        assert "Selection()" == repr(Selection())

    @pytest.mark.parametrize(
        ("fields", "expected"),
        [
            ({}, "every photo request and smart link"),
            ({"photo_requests": ["pr_1", "pr_2"]}, "photo requests pr_1, pr_2"),
            (
                {"smart_links": [f"sl_{i}" for i in range(8)]},
                "smart links sl_0, sl_1, sl_2, sl_3, sl_4 and 3 more",
            ),
            (
                {"status": "submitted", "created_after": "2024-01-01"},
                "photo requests with status submitted, created after 2024-01-01T00:00:00+00:00",
            ),
            (
                {"photo_requests": ["pr_1"], "is_active": False, "tags": ["a", "b"]},
                "photo requests pr_1; smart links archived, tagged a or b",
            ),
        ],
        ids=["everything", "ids", "many-ids", "request-filters", "ids-and-link-filters"],
    )
    def test_str_says_it_in_words(self, fields: dict[str, Any], expected: str) -> None:
        """``str()`` is the sentence a report prints."""
        assert expected == str(Selection(**fields))


class TestArchiveTakesASelection:
    async def test_a_selection_archives_like_its_shorthand(
        self, client: Any, emulator: Any, tmp_path: Path
    ) -> None:
        """``archive(client, dest, Selection(...))`` and the flat keywords: the same run."""
        seeded = await seed(client, emulator, 2)
        chosen = Selection(photo_requests=[seeded.photo_request_id])

        by_selection = await archive(client, tmp_path / "a", chosen)
        by_keywords = await archive(
            client, tmp_path / "b", photo_requests=[seeded.photo_request_id]
        )

        assert (2, 2) == (by_selection.downloaded, by_keywords.downloaded)
        assert files_under(tmp_path / "a") == files_under(tmp_path / "b")
        assert chosen == by_selection.selection == by_keywords.selection

    async def test_the_client_method_takes_it(self, client: Any, emulator: Any, dest: Path) -> None:
        """``client.archive(dest, selection)``; the report says what was selected."""
        seeded = await seed(client, emulator, 2)

        report = await client.archive(dest, Selection(photo_requests=[seeded.photo_request_id]))

        assert 2 == report.downloaded
        assert Selection(photo_requests=[seeded.photo_request_id]) == report.selection

    async def test_the_filters_reach_the_listing(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """Dates in any accepted form go to the API as aware UTC; a range finds the request."""
        seeded = await seed(client, emulator, 1)
        chosen = Selection(
            status="submitted",
            created_after=dt.datetime(2000, 1, 1),  # naive: UTC
            created_before="2100-01-01T00:00:00+05:00",
        )

        report = await archive(client, dest, chosen)

        assert 1 == report.downloaded
        (listing,) = [
            r for r in emulator.requests if (r.method, r.path) == ("GET", "/photo-requests")
        ]
        assert "2000-01-01T00:00:00+00:00" == listing.query["created_after"]
        assert "2099-12-31T19:00:00+00:00" == listing.query["created_before"]
        assert [seeded.photo_request_id] == [e.split("/")[0] for e in files_under(dest)]

    async def test_a_filter_that_matches_nothing_says_so(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """Nothing archived: the summary names the selection that found nothing."""
        await seed(client, emulator, 1)

        report = await archive(client, dest, Selection(status="cancelled"))

        assert (0, 0, []) == (report.downloaded, report.skipped, report.failed)
        assert "nothing to archive (selected: photo requests with status cancelled)" in (
            report.summary().splitlines()
        )

    async def test_smart_link_filters_choose_links(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """``Selection(tags=[...])`` archives the tagged link's photos, no other's."""
        tagged = await client.smart_links.create(
            instructions="Fleet", items=[{"instructions": "Plate"}], tags=["fleet"]
        )
        other = await client.smart_links.create(
            instructions="Other", items=[{"instructions": "Plate"}], tags=["other"]
        )
        await emulator.simulate_smart_link_submission(tagged.id, unique_value="AB-1")
        await emulator.simulate_smart_link_submission(other.id, unique_value="AB-2")
        await seed(client, emulator, 1)  # a photo request: not listed by a link filter

        report = await archive(client, dest, Selection(tags=["fleet"], is_active=True))

        assert 1 == report.downloaded
        assert [tagged.id] == [path.split("/")[0] for path in files_under(dest)]

    @pytest.mark.parametrize(
        ("call", "error", "message"),
        [
            (
                {"selection": Selection(), "status": "submitted"},
                TypeError,
                r"pass selection=Selection\(\.\.\.\) or the keywords status=, not both",
            ),
            (
                {"selection": Selection(), "photo_requests": [], "tags": ["a"]},
                TypeError,
                r"or the keywords photo_requests=, tags=, not both",
            ),
            (
                {"selection": ["pr_1"]},
                TypeError,
                r"selection must be a Selection, got list \['pr_1'\]",
            ),
            (
                {"photo_requests": "pr_1"},
                TypeError,
                r"photo_requests must be a list of ids, not a single str",
            ),
            (
                {"created_after": "last week"},
                ValueError,
                r"created_after: invalid datetime 'last week'",
            ),
            (
                {"source": SignedURLSource.from_files([]), "selection": Selection()},
                TypeError,
                r"source= replaces the Visiono selection: pass one or the other, not source= "
                r"and Selection\(\)",
            ),
            (
                {"source": SignedURLSource.from_files([]), "status": "submitted"},
                TypeError,
                r"not source= and Selection\(status='submitted'\)",
            ),
        ],
        ids=[
            "selection-and-a-keyword",
            "selection-and-keywords",
            "ids-for-a-selection",
            "a-str-of-ids",
            "a-bad-date",
            "source-and-selection",
            "source-and-a-keyword",
        ],
    )
    async def test_bad_calls_are_refused_before_anything_is_sent(
        self,
        client: Any,
        emulator: Any,
        dest: Path,
        call: dict[str, Any],
        error: type[Exception],
        message: str,
    ) -> None:
        """A TypeError or ValueError naming the arguments; no call sent, ``dest`` untouched."""
        before = len(emulator.requests)

        with pytest.raises(error, match=message):
            await archive(client, dest, **call)
        with pytest.raises(error, match=message):
            await client.archive(dest, **call)

        assert before == len(emulator.requests)
        assert not await anyio.Path(dest).exists()

    async def test_iter_archive_takes_it(self, client: Any, emulator: Any, dest: Path) -> None:
        """``iter_archive(..., selection=...)`` runs the same selection."""
        seeded = await seed(client, emulator, 2)
        chosen = Selection(photo_requests=[seeded.photo_request_id])

        async with iter_archive(client, dest, selection=chosen) as events:
            kinds = [event.kind async for event in events]

        assert 2 == kinds.count("file_done")
        assert events.report is not None
        assert chosen == events.report.selection

    async def test_a_custom_source_reports_no_selection(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """A custom source is no Visiono selection: ``report.selection`` is None."""
        seeded = await seed(client, emulator, 1)
        urls = await client.photo_requests.download_urls(seeded.photo_request_id)
        files = [RemoteFile(id="a", url=urls.submissions[0].download_url)]

        report = await archive(None, dest, source=SignedURLSource.from_files(files))

        assert 1 == report.downloaded
        assert report.selection is None
        assert "selected" not in report.summary()


class TestVisionoSource:
    async def test_it_takes_a_selection(self, client: Any, emulator: Any) -> None:
        """``VisionoSource(client, selection)``: one batch per chosen id, kept as given."""
        seeded = await seed(client, emulator, 1)
        chosen = Selection(photo_requests=[seeded.photo_request_id])

        source = VisionoSource(client, chosen)

        assert chosen is source.selection
        assert [seeded.photo_request_id] == [b.key async for b in source.batches()]

    def test_its_shorthand_builds_the_same_selection(self) -> None:
        """The flat keywords are a Selection's shorthand there too."""
        source = VisionoSource(object(), status="submitted", tags=["a"])

        assert Selection(status="submitted", tags=["a"]) == source.selection

    def test_both_at_once_are_refused(self) -> None:
        """``selection`` with a flat keyword: TypeError."""
        with pytest.raises(TypeError, match=r"or the keywords smart_links=, not both"):
            VisionoSource(object(), Selection(), smart_links=["sl_1"])


def test_one_class_under_two_names() -> None:
    """``visiono_async.Selection`` is ``visiono_async.download.Selection``."""
    assert visiono_async.Selection is Selection
