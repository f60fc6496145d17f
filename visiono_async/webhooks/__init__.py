"""Receiving Visiono: verified webhooks, typed events, event stores and Workflow Mode links.

::

    from visiono_async.webhooks import construct_event
    event = construct_event(raw_body, headers, secret)  # verified and typed

Frameworks: :mod:`visiono_async.integrations.fastapi` and
:mod:`visiono_async.integrations.aiohttp` wrap :class:`WebhookReceiver`.
"""

from __future__ import annotations

import typing

from .._exceptions import InvalidSignatureError as InvalidSignatureError
from .._exceptions import StaleWebhookError as StaleWebhookError
from ._construct import DEFAULT_TOLERANCE as DEFAULT_TOLERANCE
from ._construct import DELIVERY_HEADER as DELIVERY_HEADER
from ._construct import EVENT_HEADER as EVENT_HEADER
from ._construct import TENANT_HEADER as TENANT_HEADER
from ._construct import construct_event as construct_event
from ._delivery import Delivery as Delivery
from ._delivery import build_delivery as build_delivery
from ._errors import InvalidPayloadError as InvalidPayloadError
from ._events import EVENT_TYPES as EVENT_TYPES
from ._events import PhotoRequestCreated as PhotoRequestCreated
from ._events import PhotoRequestEvent as PhotoRequestEvent
from ._events import PhotoRequestExpired as PhotoRequestExpired
from ._events import PhotoRequestFirstViewed as PhotoRequestFirstViewed
from ._events import PhotoRequestSubmitted as PhotoRequestSubmitted
from ._events import PhotoSubmissionCreated as PhotoSubmissionCreated
from ._events import SubmissionCreated as SubmissionCreated
from ._events import UnknownEvent as UnknownEvent
from ._events import WebhookEvent as WebhookEvent
from ._receiver import DEFAULT_MAX_BODY_SIZE as DEFAULT_MAX_BODY_SIZE
from ._receiver import Handler as Handler
from ._receiver import Reception as Reception
from ._receiver import WebhookReceiver as WebhookReceiver
from ._signature import SIGNATURE_HEADER as SIGNATURE_HEADER
from ._signature import compute_signature as compute_signature
from ._signature import verify_signature as verify_signature
from ._workflow import WorkflowLink as WorkflowLink
from ._workflow import WorkflowRedirect as WorkflowRedirect
from ._workflow import verify_workflow_link as verify_workflow_link
from ._workflow import verify_workflow_redirect as verify_workflow_redirect
from ._workflow import workflow_link as workflow_link
from .stores import AddResult as AddResult
from .stores import EventStatus as EventStatus
from .stores import EventStore as EventStore
from .stores import MemoryEventStore as MemoryEventStore
from .stores import SQLiteEventStore as SQLiteEventStore
from .stores import StoredEvent as StoredEvent

if typing.TYPE_CHECKING:
    from .stores import RedisEventStore as RedisEventStore

__all__ = [
    "AddResult",
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_TOLERANCE",
    "DELIVERY_HEADER",
    "Delivery",
    "EVENT_HEADER",
    "EVENT_TYPES",
    "EventStatus",
    "EventStore",
    "Handler",
    "InvalidPayloadError",
    "InvalidSignatureError",
    "MemoryEventStore",
    "PhotoRequestCreated",
    "PhotoRequestEvent",
    "PhotoRequestExpired",
    "PhotoRequestFirstViewed",
    "PhotoRequestSubmitted",
    "PhotoSubmissionCreated",
    "Reception",
    "RedisEventStore",
    "SIGNATURE_HEADER",
    "SQLiteEventStore",
    "StaleWebhookError",
    "StoredEvent",
    "SubmissionCreated",
    "TENANT_HEADER",
    "UnknownEvent",
    "WebhookEvent",
    "WebhookReceiver",
    "WorkflowLink",
    "WorkflowRedirect",
    "build_delivery",
    "compute_signature",
    "construct_event",
    "verify_signature",
    "verify_workflow_link",
    "verify_workflow_redirect",
    "workflow_link",
]


def __getattr__(name: str) -> typing.Any:
    # RedisEventStore needs the redis extra: imported on first use, with a clear error
    # (MissingExtraError, an ImportError) when the extra is not installed.
    if name == "RedisEventStore":
        from .stores import RedisEventStore

        return RedisEventStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
