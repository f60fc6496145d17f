"""The Visiono emulator: test your integration against a local, in-memory Visiono.

::

    from visiono_async.testing import VisionoEmulator

    async with VisionoEmulator() as emu:
        key = emu.create_api_key()
        # point your client at emu.base_url with key, then drive the recipient side:
        await emu.simulate_submission(photo_request_id)
"""

from __future__ import annotations

import typing

from ._clock import EmulatorClock as EmulatorClock
from ._emulator import VisionoEmulator as VisionoEmulator
from ._emulator import serve as serve
from ._faults import FaultInjector as FaultInjector
from ._jpeg import sample_jpeg as sample_jpeg
from ._recording import RecordedRequest as RecordedRequest
from ._storage import PhotoStorage as PhotoStorage
from ._webhooks import Delivery as Delivery
from ._webhooks import DeliveryAttempt as DeliveryAttempt

if typing.TYPE_CHECKING:
    from ._nginx import NginxStorage as NginxStorage
    from ._nginx import NginxStorageError as NginxStorageError

__all__ = [
    "Delivery",
    "DeliveryAttempt",
    "EmulatorClock",
    "FaultInjector",
    "NginxStorage",
    "NginxStorageError",
    "PhotoStorage",
    "RecordedRequest",
    "VisionoEmulator",
    "sample_jpeg",
    "serve",
]

_LAZY = frozenset({"NginxStorage", "NginxStorageError"})


def __getattr__(name: str) -> typing.Any:
    # The nginx storage is POSIX-minded (it starts nginx, may drop privileges): loaded on
    # first use, so that the emulator imports where nginx does not run (Windows).
    if name in _LAZY:
        from . import _nginx

        return getattr(_nginx, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
