"""The API's resources, one class per module, each holding only the session.

``VisionoClient`` builds them and exposes them as ``client.photo_requests``,
``client.smart_links``, ``client.permanent_links`` and ``client.webhooks``;
``client.stats()`` and ``client.status()`` delegate to :class:`Account`.
"""

from __future__ import annotations

from .account import Account as Account
from .permanent_links import PermanentLinks as PermanentLinks
from .photo_requests import CLIENT_REF as CLIENT_REF
from .photo_requests import CreateManyError as CreateManyError
from .photo_requests import PhotoRequests as PhotoRequests
from .smart_links import SmartLinks as SmartLinks
from .webhook_endpoints import WebhookEndpoints as WebhookEndpoints

__all__ = [
    "CLIENT_REF",
    "Account",
    "CreateManyError",
    "PermanentLinks",
    "PhotoRequests",
    "SmartLinks",
    "WebhookEndpoints",
]
