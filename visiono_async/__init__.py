"""visiono_async: an asyncio-first SDK for the Visiono photo-collection API.

Start with :class:`VisionoClient`; the bulk downloader is ``client.archive(...)``, webhook
helpers live in :mod:`visiono_async.webhooks` and the local emulator in
:mod:`visiono_async.testing`.
"""

from __future__ import annotations

from ._client import VisionoClient as VisionoClient
from ._config import DEFAULT_BASE_URL as DEFAULT_BASE_URL
from ._config import LEGACY_BASE_URL as LEGACY_BASE_URL
from ._config import RateLimit as RateLimit
from ._config import RetryPolicy as RetryPolicy
from ._exceptions import APIConnectionError as APIConnectionError
from ._exceptions import APIError as APIError
from ._exceptions import APITimeoutError as APITimeoutError
from ._exceptions import AuthenticationError as AuthenticationError
from ._exceptions import BadRequestError as BadRequestError
from ._exceptions import DownloadError as DownloadError
from ._exceptions import InvalidPayloadError as InvalidPayloadError
from ._exceptions import InvalidSignatureError as InvalidSignatureError
from ._exceptions import NotFoundError as NotFoundError
from ._exceptions import PermissionDeniedError as PermissionDeniedError
from ._exceptions import ProxyError as ProxyError
from ._exceptions import RateLimitError as RateLimitError
from ._exceptions import ServerError as ServerError
from ._exceptions import StaleWebhookError as StaleWebhookError
from ._exceptions import ValidationError as ValidationError
from ._exceptions import VisionoError as VisionoError
from ._extras import MissingExtraError as MissingExtraError
from ._logging import setup_logging_from_env as _setup_logging_from_env
from ._ratelimit import RateLimitInfo as RateLimitInfo
from ._ratelimit import WaitNotice as WaitNotice
from ._ratelimit import WaitReason as WaitReason
from ._response import RawResponse as RawResponse
from ._selection import Selection as Selection
from ._version import __version__ as __version__
from .resources import CreateManyError as CreateManyError

_setup_logging_from_env()

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "CreateManyError",
    "DEFAULT_BASE_URL",
    "DownloadError",
    "InvalidPayloadError",
    "InvalidSignatureError",
    "LEGACY_BASE_URL",
    "MissingExtraError",
    "NotFoundError",
    "PermissionDeniedError",
    "ProxyError",
    "RateLimit",
    "RateLimitError",
    "RateLimitInfo",
    "RawResponse",
    "RetryPolicy",
    "Selection",
    "ServerError",
    "StaleWebhookError",
    "ValidationError",
    "VisionoClient",
    "VisionoError",
    "WaitNotice",
    "WaitReason",
    "__version__",
]
