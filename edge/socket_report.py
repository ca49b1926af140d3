"""This edge's open /ws sockets, reported to the core, which counts them across every edge for AdminService
(server/system/sockets.py): an edge holds no database, and a core in another process cannot see its sockets.

The count is read every POLL_S and sent when it changes, and again every REFRESH_S while sockets are open (the
core forgets a report after 15 s, so an edge that dies drops out). A report is a SystemService.Readiness call
carrying this process's id and the count in metadata; a report that fails is sent again on the next change or
refresh.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from contract.metadata import EDGE_INSTANCE, WS_SOCKETS
from contract.services import find_method
from contract.stubs import message_class, stub
from edge.channel import CoreChannel

log = logging.getLogger(__name__)

READINESS = "astra.v1.SystemService.Readiness"
POLL_S = 1.0
REFRESH_S = 5.0


class SocketReport:
    def __init__(self, channel: CoreChannel, count: Callable[[], int]):
        method = find_method(READINESS)
        self._call = stub(channel, method)
        self._request = message_class(method.input_type)
        self._count = count
        self.instance = uuid.uuid4().hex
        self._sent, self._sent_at = 0, 0.0  # nothing is open yet: nothing to report
        self._sending: asyncio.Task[None] | None = None
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:  # built outside an event loop: nothing runs to report from
            self._loop = None
            log.warning("open /ws sockets will not be reported: the edge was built outside an event loop")
            return
        self._loop.call_later(POLL_S, self._tick)

    def _tick(self) -> None:
        assert self._loop is not None
        self._loop.call_later(POLL_S, self._tick)
        if self._sending is not None:
            return
        count = self._count()
        if count == self._sent and (count == 0 or time.monotonic() - self._sent_at < REFRESH_S):
            return
        self._sending = self._loop.create_task(self._send(count))

    async def _send(self, count: int) -> None:
        metadata: Any = ((EDGE_INSTANCE, self.instance), (WS_SOCKETS, str(count)))
        try:
            await self._call(self._request(), metadata=metadata, timeout=REFRESH_S)
            self._sent, self._sent_at = count, time.monotonic()
        except Exception as exc:  # the core is away or stopping: reported again on the next tick
            log.debug("socket report failed", extra={"error": str(exc)})
        finally:
            self._sending = None
