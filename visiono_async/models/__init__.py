"""The models of visiono_async: frozen attrs classes built from the API's JSON.

Each model keeps the JSON keys it does not declare in ``extra``, and fields typed
``SomeEnum | str`` hold the raw string for values this version of the SDK does not know.
"""

from __future__ import annotations

from ._base import Model as Model
from .account import Stats as Stats
from .account import StatsPlan as StatsPlan
from .account import StatsRateLimit as StatsRateLimit
from .account import StatsUsage as StatsUsage
from .account import Status as Status
from .download_urls import DownloadURL as DownloadURL
from .download_urls import DownloadURLs as DownloadURLs
from .permanent_links import PermanentLink as PermanentLink
from .photo_requests import PhotoRequest as PhotoRequest
from .photo_requests import PhotoRequestItem as PhotoRequestItem
from .photo_requests import PhotoRequestStatus as PhotoRequestStatus
from .smart_links import PermanentLinkSubmission as PermanentLinkSubmission
from .smart_links import SmartLink as SmartLink
from .submissions import Submission as Submission
from .webhooks import WebhookEndpoint as WebhookEndpoint
from .webhooks import WebhookEventInfo as WebhookEventInfo
from .webhooks import WebhookTestResult as WebhookTestResult

__all__ = [
    "DownloadURL",
    "DownloadURLs",
    "Model",
    "PermanentLink",
    "PermanentLinkSubmission",
    "PhotoRequest",
    "PhotoRequestItem",
    "PhotoRequestStatus",
    "SmartLink",
    "Stats",
    "StatsPlan",
    "StatsRateLimit",
    "StatsUsage",
    "Status",
    "Submission",
    "WebhookEndpoint",
    "WebhookEventInfo",
    "WebhookTestResult",
]
