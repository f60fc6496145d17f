"""The event-store contract, run against every backend: memory, SQLite and a real Redis."""

from __future__ import annotations

from datetime import timezone

import anyio
import attrs
import pytest

from tests.webhooks.conftest import Backend
from tests.webhooks.helpers import make_event, minutes_ago
from visiono_async.webhooks import (
    PhotoRequestCreated,
    PhotoRequestSubmitted,
    PhotoSubmissionCreated,
    StoredEvent,
)
from visiono_async.webhooks.stores import UNSCOPED, EventStatus

# Marked here, not only by the root conftest: its marker arrives after collection, too late
# for the parametrized ``backend`` fixture.
pytestmark = pytest.mark.anyio


class TestAdd:
    async def test_a_new_event_is_stored_under_its_photo_request(self, backend: Backend) -> None:
        """add() stores a new event, pending, with an aware received time."""
        store = backend.store()
        event = make_event("pr_1", delivery_id="dlv_1")
        result = await store.add(event)
        assert result.created
        assert result.stored is not None
        assert "pr_1" == result.stored.request_id
        assert EventStatus.PENDING == result.stored.status
        assert timezone.utc == result.stored.received_at.tzinfo
        assert [event.digest] == [s.digest for s in await store.list_events("pr_1")]

    async def test_a_stored_event_comes_back_typed_and_whole(self, backend: Backend) -> None:
        """What list_events returns is the same typed event, with its delivery headers."""
        store = backend.store()
        event = make_event("pr_1", "photo_submission.created", delivery_id="dlv_9", note="a")
        await store.add(event)
        [stored] = await store.list_events("pr_1")
        assert isinstance(stored.event, PhotoSubmissionCreated)
        assert event == stored.event
        assert "dlv_9" == stored.event.delivery_id
        assert "tenant_test" == stored.event.tenant_id

    async def test_the_same_delivery_id_is_a_duplicate(self, backend: Backend) -> None:
        """A second delivery with a seen delivery id is not stored, whatever its body."""
        store = backend.store()
        first = await store.add(make_event(delivery_id="dlv_1", note="first"))
        again = await store.add(make_event(delivery_id="dlv_1", note="second"))
        assert again.duplicate
        assert again.stored is not None
        assert first.stored is not None
        assert first.stored.digest == again.stored.digest
        assert 1 == len(await store.list_events("pr_1"))

    async def test_the_same_body_under_a_fresh_delivery_id_is_a_duplicate(
        self, backend: Backend
    ) -> None:
        """The delivery id is not signed: a replayed body with a new id is caught by digest."""
        store = backend.store()
        event = make_event(delivery_id="dlv_1")
        replay = make_event(data=event.data, timestamp=event.timestamp, delivery_id="dlv_2")
        assert event.raw_body == replay.raw_body
        await store.add(event)
        assert (await store.add(replay)).duplicate
        assert 1 == len(await store.list_events("pr_1"))

    async def test_events_without_a_delivery_id_are_deduplicated_by_body(
        self, backend: Backend
    ) -> None:
        """With no X-Visiono-Delivery header the body digest still de-duplicates."""
        store = backend.store()
        event = make_event()
        assert (await store.add(attrs.evolve(event, delivery_id=None))).created
        assert (await store.add(event)).duplicate

    async def test_requests_are_namespaced(self, backend: Backend) -> None:
        """Events of one photo request never show up under another."""
        store = backend.store()
        await store.add(make_event("pr_1", note="a"))
        await store.add(make_event("pr_2", note="b"))
        await store.add(make_event("pr_2", note="c"))
        assert 1 == len(await store.list_events("pr_1"))
        assert 2 == len(await store.list_events("pr_2"))
        assert [] == await store.list_events("pr_3")

    async def test_workflow_and_unscoped_events(self, backend: Backend) -> None:
        """A smart-link event is filed under the smart link; one naming nothing, UNSCOPED."""
        store = backend.store()
        workflow = make_event(
            event="submission.created",
            data={"submission": {"id": "pls_1", "smart_link_id": "sl_7"}},
        )
        await store.add(workflow)
        await store.add(make_event(None, "account.updated"))
        assert [workflow.digest] == [s.digest for s in await store.list_events("sl_7")]
        assert 1 == len(await store.list_events(UNSCOPED))

    async def test_at_most_max_events_per_request_oldest_dropped(self, backend: Backend) -> None:
        """Past max_events the oldest events of that request are dropped, others untouched."""
        store = backend.store(max_events=3)
        events = [make_event("pr_1", note=str(i)) for i in range(5)]
        other = make_event("pr_2")
        await store.add(other)
        for event in events:
            await store.add(event)
        kept = await store.list_events("pr_1")
        assert [e.digest for e in events[2:]] == [s.digest for s in kept]
        assert 1 == len(await store.list_events("pr_2"))

    async def test_deduplication_outlives_eviction(self, backend: Backend) -> None:
        """An event dropped for max_events is still recognised as a duplicate."""
        store = backend.store(max_events=1)
        first = make_event(note="first")
        await store.add(first)
        await store.add(make_event(note="second"))
        again = await store.add(first)
        assert again.duplicate
        assert again.stored is None

    async def test_events_and_marks_expire_after_the_ttl(self, backend: Backend) -> None:
        """After ttl seconds an event is gone and the same body counts as new again."""
        store = backend.store(ttl=0.3)
        event = make_event(delivery_id="dlv_ttl")
        await store.add(event)
        await backend.advance(0.6)
        assert [] == await store.list_events("pr_1")
        assert [] == await store.pending()
        assert (await store.add(event)).created

    async def test_a_hundred_concurrent_deliveries_store_one_event(self, backend: Backend) -> None:
        """100 concurrent adds of one event (mixed delivery ids) create it exactly once."""
        store = backend.store()
        event = make_event(delivery_id="dlv_same")
        copies = [
            event if i % 2 else make_event(data=event.data, timestamp=event.timestamp)
            for i in range(100)
        ]
        created: list[bool] = []

        async def deliver(copy: object) -> None:
            created.append((await store.add(copy)).created)  # type: ignore[arg-type]

        async with anyio.create_task_group() as tg:
            for copy in copies:
                tg.start_soon(deliver, copy)
        assert 1 == created.count(True)
        assert 1 == len(await store.list_events("pr_1"))


class TestWaitFor:
    async def test_an_event_already_stored_is_returned_at_once(self, backend: Backend) -> None:
        """wait_for returns a matching stored event without waiting."""
        store = backend.store()
        event = make_event()
        await store.add(event)
        assert event.digest == (await store.wait_for("pr_1", timeout=5)).digest

    async def test_it_wakes_when_a_matching_event_arrives(self, backend: Backend) -> None:
        """A waiter blocks until an add for its request, then gets that event."""
        store = backend.store()
        submitted = make_event("pr_1", "photo_request.submitted")
        found: list[StoredEvent] = []

        async def wait() -> None:
            found.append(await store.wait_for("pr_1", events=[PhotoRequestSubmitted], timeout=10))

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            await anyio.wait_all_tasks_blocked()
            await store.add(make_event("pr_2", "photo_request.submitted"))
            await store.add(make_event("pr_1", "photo_request.created"))
            await anyio.wait_all_tasks_blocked()
            assert [] == found
            await store.add(submitted)
        assert [submitted.digest] == [s.digest for s in found]

    async def test_events_filter_by_name_or_class(self, backend: Backend) -> None:
        """events= accepts event names and event classes."""
        store = backend.store()
        created = make_event("pr_1", "photo_request.created")
        submitted = make_event("pr_1", "photo_request.submitted")
        await store.add(created)
        await store.add(submitted)
        by_name = await store.wait_for("pr_1", events=["photo_request.submitted"], timeout=5)
        by_class = await store.wait_for("pr_1", events=[PhotoRequestCreated], timeout=5)
        assert (submitted.digest, created.digest) == (by_name.digest, by_class.digest)

    async def test_events_older_than_after_are_ignored(self, backend: Backend) -> None:
        """after= skips events signed before it (the vendor's rule for old events)."""
        store = backend.store()
        stale = make_event("pr_1", "photo_request.submitted", timestamp=minutes_ago(30))
        fresh = make_event("pr_1", "photo_request.submitted", timestamp=minutes_ago(1))
        await store.add(stale)
        await store.add(fresh)
        found = await store.wait_for("pr_1", after=minutes_ago(10), timeout=5)
        assert fresh.digest == found.digest
        assert [fresh.digest] == [
            s.digest for s in await store.list_events("pr_1", after=minutes_ago(10))
        ]

    async def test_a_naive_after_is_refused(self, backend: Backend) -> None:
        """after= must be aware; a naive datetime would compare against the wrong zone."""
        store = backend.store()
        await store.add(make_event())
        with pytest.raises(ValueError, match="aware"):
            await store.list_events("pr_1", after=minutes_ago(1).replace(tzinfo=None))

    async def test_it_times_out(self, backend: Backend) -> None:
        """Without a matching event, wait_for raises TimeoutError after timeout seconds."""
        store = backend.store()
        await store.add(make_event("pr_1", "photo_request.created"))
        with pytest.raises(TimeoutError):
            await store.wait_for("pr_1", events=["photo_request.expired"], timeout=0.2)

    async def test_every_waiter_is_woken(self, backend: Backend) -> None:
        """Several waiters on one request all receive the event."""
        store = backend.store()
        event = make_event()
        found: list[str] = []

        async def wait() -> None:
            found.append((await store.wait_for("pr_1", timeout=10)).digest)

        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(wait)
            await anyio.wait_all_tasks_blocked()
            await store.add(event)
        assert [event.digest] * 5 == found


class TestHandlingState:
    async def test_a_claim_is_exclusive(self, backend: Backend) -> None:
        """Only one claim on an event holds at a time."""
        store = backend.store()
        stored = (await store.add(make_event())).stored
        assert stored is not None
        assert await store.claim(stored, lease=60)
        assert not await store.claim(stored, lease=60)

    async def test_add_with_a_lease_claims_the_new_event(self, backend: Backend) -> None:
        """add(lease=...) claims a new event in the same atomic step."""
        store = backend.store()
        stored = (await store.add(make_event(), lease=60)).stored
        assert stored is not None
        assert not await store.claim(stored, lease=60)
        assert [] == await store.pending()

    async def test_a_failed_event_stays_pending_until_handled(self, backend: Backend) -> None:
        """mark_failed releases the claim and keeps the event pending, with the error."""
        store = backend.store()
        stored = (await store.add(make_event(), lease=60)).stored
        assert stored is not None
        await store.mark_failed(stored, RuntimeError("boom"))
        [pending] = await store.pending()
        assert (EventStatus.FAILED, 1, "RuntimeError: boom") == (
            pending.status,
            pending.attempts,
            pending.last_error,
        )
        assert await store.claim(pending, lease=60)
        await store.mark_handled(pending)
        [handled] = await store.list_events("pr_1")
        assert (EventStatus.HANDLED, 2) == (handled.status, handled.attempts)
        assert [] == await store.pending()
        assert not await store.claim(handled, lease=60)

    async def test_an_expired_lease_can_be_claimed_again(self, backend: Backend) -> None:
        """A claim whose holder vanished runs out after its lease."""
        store = backend.store()
        stored = (await store.add(make_event(), lease=0.2)).stored
        assert stored is not None
        await backend.advance(0.5)
        assert [stored.digest] == [s.digest for s in await store.pending()]
        assert await store.claim(stored, lease=60)

    async def test_pending_lists_every_request_oldest_first(self, backend: Backend) -> None:
        """pending() spans requests, oldest first, up to limit."""
        store = backend.store()
        events = [make_event(f"pr_{i}", note=str(i)) for i in range(4)]
        for event in events:
            await store.add(event)
            await backend.advance(0.01)
        assert [e.digest for e in events] == [s.digest for s in await store.pending()]
        assert [e.digest for e in events[:2]] == [s.digest for s in await store.pending(limit=2)]

    async def test_marks_on_a_vanished_event_are_ignored(self, backend: Backend) -> None:
        """Marking an event that expired meanwhile does not resurrect it."""
        store = backend.store(ttl=0.2)
        stored = (await store.add(make_event())).stored
        assert stored is not None
        await backend.advance(0.5)
        await store.mark_failed(stored, "late")
        await store.mark_handled(stored)
        assert [] == await store.list_events("pr_1")
        assert not await store.claim(stored, lease=1)
