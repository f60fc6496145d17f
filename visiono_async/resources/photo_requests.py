"""``client.photo_requests``: one-off, expiring photo requests (``/photo-requests``)."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from .._converter import invalid_response, structure
from .._exceptions import VisionoError
from .._pagination import AsyncPaginator, Page
from .._response import raw_response_wrapper
from ..models import DownloadURLs, PhotoRequest, PhotoRequestStatus, Submission
from ._common import UploadCollection, request_model_or_none

if TYPE_CHECKING:
    from .._session import APIResponse, Session

__all__ = [
    "BATCH_SIZE",
    "CLIENT_REF",
    "CreateManyError",
    "PhotoRequests",
    "PhotoRequestsWithRawResponse",
]

CLIENT_REF = "visiono_client_ref"
"""The ``metadata`` key under which ``create`` stores its reference (its idempotency key),
so that after an ambiguous failure the request can be found instead of created twice."""
_CLOCK_SKEW = timedelta(minutes=10)  # how far the API's clock may be behind ours

BATCH_SIZE = 10
"""The most photo requests ``POST /photo-requests/batch`` accepts at once."""

_DEFAULT_CONCURRENCY = 4
_PHOTO_REQUESTS = UploadCollection("/photo-requests", PhotoRequest, id_name="photo_request_id")


class CreateManyError(VisionoError):
    """Some batches of :meth:`PhotoRequests.create_many` failed; the others were created.

    Every batch is sent even when another fails, so one bad spec costs only its own batch.
    A batch is created or rejected as a whole.

    Attributes:
        results: One entry per input spec, in input order: the created ``PhotoRequest``, or
            None when the spec's batch failed.
        errors: The input index of every spec that was not created, mapped to the error
            of its batch (the specs of one batch share one error object).
    """

    def __init__(
        self, results: Sequence[PhotoRequest | None], errors: Mapping[int, VisionoError]
    ) -> None:
        self.results = list(results)
        self.errors = dict(sorted(errors.items()))
        distinct = list({id(e): e for e in self.errors.values()}.values())
        super().__init__(
            f"created {len(self.created)} of {len(self.results)} photo requests; "
            f"{len(distinct)} batch(es) failed, covering specs {self.failed_indexes}; "
            f"first error: {distinct[0] if distinct else None}"
        )

    @property
    def created(self) -> list[PhotoRequest]:
        """The photo requests that were created, in input order."""
        return [r for r in self.results if r is not None]

    @property
    def failed_indexes(self) -> list[int]:
        """The input indexes of the specs that were not created, ascending."""
        return list(self.errors)


class PhotoRequests:
    """Photo requests: ask one recipient for a set of photos before a deadline.

    Reached as ``client.photo_requests``.
    """

    def __init__(self, session: Session) -> None:
        self._session = session

    @property
    def with_raw_response(self) -> PhotoRequestsWithRawResponse:
        """The same methods, answering with a :class:`~visiono_async.RawResponse`.

        ``raw = await client.photo_requests.with_raw_response.get(...)``; ``raw.request_id``,
        ``raw.headers`` and ``raw.status_code`` describe the answer, ``raw.parse()`` is
        what the method returns."""
        return PhotoRequestsWithRawResponse(self)

    def list(
        self,
        *,
        status: PhotoRequestStatus | str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        per_page: int | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> AsyncPaginator[PhotoRequest]:
        """Every photo request matching the filters, fetched lazily page by page.

        ``async for pr in client.photo_requests.list(status="submitted"): ...``

        Args:
            status: Only requests in this state.
            created_after: Only requests created after this time (naive means UTC).
            created_before: Only requests created before this time (naive means UTC).
            per_page: The page size to ask for.
            timeout: Seconds for each page's call; the client's default when None.
            max_retries: Retries of a failed call, for this call only; the client's when None.

        Returns:
            An async iterable of ``PhotoRequest``; nothing is sent until it is iterated.
        """
        params = _list_params(status, created_after, created_before, per_page)
        return _PHOTO_REQUESTS.list(self._session.for_call(max_retries), params, timeout=timeout)

    async def list_page(
        self,
        *,
        page: int = 1,
        per_page: int | None = None,
        status: PhotoRequestStatus | str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> Page[PhotoRequest]:
        """One page of photo requests.

        Args:
            page: The page number, from 1.
            per_page: The page size to ask for.
            status: Only requests in this state.
            created_after: Only requests created after this time (naive means UTC).
            created_before: Only requests created before this time (naive means UTC).
            timeout: Seconds for the call; the client's default when None.
            max_retries: Retries of a failed call, for this call only; the client's when None.

        Returns:
            The page, with its items and pagination details.

        Raises:
            APIError: The API refused the call.
            APIConnectionError: The call could not be completed.
        """
        params = _list_params(status, created_after, created_before, per_page)
        return await _PHOTO_REQUESTS.list_page(
            self._session.for_call(max_retries), page, params, timeout=timeout
        )

    async def create(
        self,
        *,
        instructions: str,
        items: Iterable[Mapping[str, Any]] | None = None,
        recipient_email: str | None = None,
        send_email: bool | None = None,
        expires_in_hours: int | None = None,
        require_gps: bool | None = None,
        allow_submitter_notes: bool | None = None,
        internal_notes: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        **extra: Any,
    ) -> PhotoRequest:
        """Create a photo request. Only the options given are sent.

        Args:
            instructions: What the recipient is asked for.
            items: The photos to ask for, ``{"instructions": ..., "is_required": ...}`` each.
            recipient_email: Who receives the request.
            send_email: Whether Visiono e-mails the recipient (not on the free plan).
            expires_in_hours: Hours until the request expires.
            require_gps: Whether photos must carry GPS data.
            allow_submitter_notes: Whether the recipient may add a note.
            internal_notes: Notes for your team, never shown to the recipient.
            metadata: Your own key/value data, returned on the request and in webhooks. The
                SDK adds ``visiono_client_ref`` to it (see below).
            idempotency_key: A key of your own for this create (default: a new random
                one), sent as ``Idempotency-Key`` and stored as ``visiono_client_ref`` in
                ``metadata``. After an ambiguous failure (a 5xx, a timeout or a reset once
                the request was sent) the SDK looks for a request carrying that reference
                before sending again, so a retried create never makes a second request (or
                a second email) even if the API ignores ``Idempotency-Key``, which Visiono
                does not document. Reusing a key across runs makes a rerun safe too.
            timeout: Seconds for the call; the client's default when None.
            max_retries: Retries of a failed call, for this call only; the client's when None.
            **extra: Further body fields, sent as given (for API options newer than the SDK).

        Returns:
            The created photo request.

        Raises:
            ValidationError: The API rejected a field (``.errors`` maps fields to messages).
            APIError: The API refused the call for another reason.
            APIConnectionError: The call could not be completed.
        """
        ref = idempotency_key or f"vsdk_{uuid.uuid4().hex}"
        sent_at = datetime.now(timezone.utc)
        fields = {
            "instructions": instructions,
            "items": [dict(item) for item in items] if items is not None else None,
            "recipient_email": recipient_email,
            "send_email": send_email,
            "expires_in_hours": expires_in_hours,
            "require_gps": require_gps,
            "allow_submitter_notes": allow_submitter_notes,
            "internal_notes": internal_notes,
            "metadata": {**(metadata or {}), CLIENT_REF: ref},
        }

        async def recover() -> APIResponse | None:
            found = await _PHOTO_REQUESTS.find(
                self._session.for_call(max_retries),
                lambda pr: pr.metadata.get(CLIENT_REF) == ref,
                params={"created_after": sent_at - _CLOCK_SKEW},
                timeout=timeout,
            )
            if found is None:
                return None
            return await self._session.for_call(max_retries).request(
                "GET", _PHOTO_REQUESTS.item_path(found.id), timeout=timeout
            )

        return await _PHOTO_REQUESTS.create(
            self._session.for_call(max_retries),
            fields,
            extra,
            idempotency_key=ref,
            timeout=timeout,
            recover=recover,
        )

    async def create_many(
        self,
        specs: Iterable[Mapping[str, Any]],
        *,
        idempotency_key_prefix: str | None = None,
        concurrency: int | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> builtins.list[PhotoRequest]:
        """Create any number of photo requests, in batches of 10 sent concurrently.

        Each spec is the body :meth:`create` would send (``{"instructions": ..., ...}``).
        Batches go to ``POST /photo-requests/batch``, at most ``concurrency`` at a time; the
        client's rate limiting paces them.

        Every batch is sent even when another fails. If any fails, :class:`CreateManyError`
        is raised once all are done: its ``results`` hold what was created, in input order,
        and its ``errors`` say which specs were not created and why, so that exactly those
        can be sent again. If ``create_many`` itself is cancelled, batches in flight may or
        may not have been created: an ``idempotency_key_prefix`` makes a rerun safe.

        Args:
            specs: The photo requests to create.
            idempotency_key_prefix: When given, batch ``n`` (from 0) is sent with the
                ``Idempotency-Key`` ``f"{prefix}-{n}"``, which makes it safe to retry and
                to call ``create_many`` again with the same specs after a failure.
            concurrency: The most batches in flight at once (default 4).
            timeout: Seconds for each batch's call; the client's default when None.
            max_retries: Retries of a failed call, for this call only; the client's when None.

        Returns:
            The created photo requests, in the order of ``specs``.

        Raises:
            CreateManyError: At least one batch failed (see above).
            TypeError: A spec is not a mapping (raised before anything is sent).
            ValueError: ``concurrency`` is less than 1.
        """
        if concurrency is not None and concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency!r}")
        bodies: builtins.list[dict[str, Any]] = []
        for index, spec in enumerate(specs):
            if not isinstance(spec, Mapping):
                raise TypeError(f"specs[{index}] must be a mapping, got {type(spec).__name__}")
            bodies.append(dict(spec))
        results: builtins.list[PhotoRequest | None] = [None] * len(bodies)
        errors: dict[int, VisionoError] = {}
        limiter = anyio.CapacityLimiter(concurrency or _DEFAULT_CONCURRENCY)

        async def send(number: int, start: int) -> None:
            batch = bodies[start : start + BATCH_SIZE]
            key = f"{idempotency_key_prefix}-{number}" if idempotency_key_prefix else None
            async with limiter:
                try:
                    created = await self._create_batch(batch, key, timeout, max_retries)
                except VisionoError as exc:
                    errors.update(dict.fromkeys(range(start, start + len(batch)), exc))
                    return
            results[start : start + len(batch)] = created

        async with anyio.create_task_group() as tg:
            for number, start in enumerate(range(0, len(bodies), BATCH_SIZE)):
                tg.start_soon(send, number, start)
        if errors:
            raise CreateManyError(results, errors)
        return [r for r in results if r is not None]

    async def _create_batch(
        self,
        batch: builtins.list[dict[str, Any]],
        idempotency_key: str | None,
        timeout: float | None,
        max_retries: int | None,
    ) -> builtins.list[PhotoRequest]:
        path = f"{_PHOTO_REQUESTS.path}/batch"
        key = idempotency_key or f"vsdk_{uuid.uuid4().hex}"
        refs = [f"{key}-{index}" for index in range(len(batch))]
        sent = [
            {**spec, "metadata": {**(spec.get("metadata") or {}), CLIENT_REF: ref}}
            for spec, ref in zip(batch, refs, strict=True)
        ]
        sent_at = datetime.now(timezone.utc)

        async def recover() -> APIResponse | None:
            # The batch is created or rejected as a whole: all its references, or none.
            found: dict[str, str] = {}
            async for pr in self.list(
                created_after=sent_at - _CLOCK_SKEW, timeout=timeout, max_retries=max_retries
            ):
                ref = pr.metadata.get(CLIENT_REF)
                if ref in refs:
                    found[ref] = pr.id
            if not found:
                return None
            if len(found) < len(refs):
                raise VisionoError(
                    f"{len(found)} of the {len(refs)} photo requests of a failed batch exist; "
                    "not resending it (their ids: " + ", ".join(sorted(found.values())) + ")"
                )
            items = []
            for ref in refs:
                one = await self._session.for_call(max_retries).request(
                    "GET", _PHOTO_REQUESTS.item_path(found[ref]), timeout=timeout
                )
                items.append(one.data)
            return attrs.evolve(one, data=items, body={"data": items})

        response = await self._session.for_call(max_retries).request(
            "POST",
            path,
            json={"requests": sent},
            timeout=timeout,
            idempotency_key=key,
            recover=recover,
        )
        data = response.data
        if not isinstance(data, list) or len(data) != len(batch):
            got = f"{len(data)} items" if isinstance(data, list) else type(data).__name__
            message = f"expected a list of {len(batch)} photo requests, got {got}"
            raise invalid_response(response, message, method="POST", path=path)
        try:
            return [structure(item, PhotoRequest) for item in data]
        except ValueError as exc:
            raise invalid_response(response, str(exc), method="POST", path=path) from exc

    async def get(
        self, id_or_code: str, *, timeout: float | None = None, max_retries: int | None = None
    ) -> PhotoRequest:
        """Fetch one photo request by its id (``pr_...``) or its unique code.

        Args:
            id_or_code: The id or the unique code.
            timeout: Seconds for the call; the client's default when None.
            max_retries: Retries of a failed call, for this call only; the client's when None.

        Returns:
            The photo request.

        Raises:
            ValueError: ``id_or_code`` cannot be an id (nothing is sent).
            NotFoundError: No such photo request.
            APIError: The API refused the call for another reason.
            APIConnectionError: The call could not be completed.
        """
        return await _PHOTO_REQUESTS.get(
            self._session.for_call(max_retries), id_or_code, timeout=timeout, id_name="id_or_code"
        )

    async def cancel(
        self, photo_request_id: str, *, timeout: float | None = None, max_retries: int | None = None
    ) -> PhotoRequest | None:
        """Cancel a photo request (``DELETE /photo-requests/{id}``).

        Args:
            photo_request_id: The id (``pr_...``).
            timeout: Seconds for the call; the client's default when None.
            max_retries: Retries of a failed call, for this call only; the client's when None.

        Returns:
            The photo request as the API answers it (status ``cancelled``), or ``None``
            when the API confirms without it (204, or an empty body: Visiono does not
            document which); the request is cancelled either way.

        Raises:
            ValueError: ``photo_request_id`` cannot be an id (nothing is sent).
            NotFoundError: No such photo request.
            APIError: The API refused the call for another reason.
            APIConnectionError: The call could not be completed.
        """
        path = _PHOTO_REQUESTS.item_path(photo_request_id)
        return await request_model_or_none(
            self._session.for_call(max_retries), "DELETE", path, PhotoRequest, timeout=timeout
        )

    async def submissions(
        self, photo_request_id: str, *, timeout: float | None = None, max_retries: int | None = None
    ) -> builtins.list[Submission]:
        """Every photo uploaded to a photo request (all pages, if the API pages them).

        Args:
            photo_request_id: The id (``pr_...``).
            timeout: Seconds for each call; the client's default when None.
            max_retries: Retries of a failed call, for this call only; the client's when None.

        Returns:
            The submissions.

        Raises:
            ValueError: ``photo_request_id`` cannot be an id (nothing is sent).
            NotFoundError: No such photo request.
            APIError: The API refused the call for another reason.
            APIConnectionError: The call could not be completed.
        """
        return await _PHOTO_REQUESTS.submissions(
            self._session.for_call(max_retries), photo_request_id, timeout=timeout
        )

    async def download_urls(
        self, photo_request_id: str, *, timeout: float | None = None, max_retries: int | None = None
    ) -> DownloadURLs:
        """Signed download URLs for every photo of a photo request.

        The URLs expire (24 hours by the docs); ``expires_at`` says when, and
        ``expires_within(seconds)`` whether to fetch fresh ones first.

        Args:
            photo_request_id: The id (``pr_...``).
            timeout: Seconds for the call; the client's default when None.
            max_retries: Retries of a failed call, for this call only; the client's when None.

        Returns:
            The URLs, with their expiry.

        Raises:
            ValueError: ``photo_request_id`` cannot be an id (nothing is sent).
            NotFoundError: No such photo request.
            APIError: The API refused the call for another reason.
            APIConnectionError: The call could not be completed.
        """
        return await _PHOTO_REQUESTS.download_urls(
            self._session.for_call(max_retries), photo_request_id, timeout=timeout
        )

    async def qrcode(
        self, photo_request_id: str, *, timeout: float | None = None, max_retries: int | None = None
    ) -> str:
        """The URL of a QR code image that opens the photo request (use it in ``<img>``).

        Args:
            photo_request_id: The id (``pr_...``).
            timeout: Seconds for the call; the client's default when None.
            max_retries: Retries of a failed call, for this call only; the client's when None.

        Returns:
            The image URL.

        Raises:
            ValueError: ``photo_request_id`` cannot be an id (nothing is sent).
            NotFoundError: No such photo request.
            APIError: The API refused the call for another reason.
            APIConnectionError: The call could not be completed.
        """
        return await _PHOTO_REQUESTS.qrcode(
            self._session.for_call(max_retries), photo_request_id, timeout=timeout
        )


def _list_params(
    status: PhotoRequestStatus | str | None,
    created_after: datetime | str | None,
    created_before: datetime | str | None,
    per_page: int | None,
) -> dict[str, Any]:
    return {
        "status": status,
        "created_after": created_after,
        "created_before": created_before,
        "per_page": per_page,
    }


class PhotoRequestsWithRawResponse:
    """``client.photo_requests.with_raw_response``: each method answers with a
    :class:`~visiono_async.RawResponse` around what ``client.photo_requests``'s returns."""

    def __init__(self, resource: PhotoRequests) -> None:
        self.list_page = raw_response_wrapper(resource.list_page)
        self.create = raw_response_wrapper(resource.create)
        self.create_many = raw_response_wrapper(resource.create_many)
        self.get = raw_response_wrapper(resource.get)
        self.cancel = raw_response_wrapper(resource.cancel)
        self.submissions = raw_response_wrapper(resource.submissions)
        self.download_urls = raw_response_wrapper(resource.download_urls)
        self.qrcode = raw_response_wrapper(resource.qrcode)
