"""Live work this process is doing for clients (chat turns), which CPU-heavy background work gives way to.

Background CPU work on the same cores slows a turn even at the lowest OS priority (measured: a numpy loop on the
other core, nice 19 or SCHED_IDLE, added ~0.8 ms to the first token), because a turn also wakes PostgreSQL, the
provider and the client, which then find both cores taken. So the background work paces itself instead."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# A turn that ended this recently still counts: a client's next turn usually follows within milliseconds.
LINGER_S = 1.0
# How often a pause checks whether the turns it gives way to are over.
_CHECK_S = 0.1


class Foreground:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.active = 0
        self._last_end = float("-inf")

    @contextmanager
    def hold(self) -> Iterator[None]:
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1
            self._last_end = self._clock()

    def busy(self) -> bool:
        return self.active > 0 or self._clock() - self._last_end < LINGER_S


class Pacer:
    """Holds background work to `share` of its wall time while the foreground is busy: after a batch that took
    `spent` seconds, wait spent * (1 / share - 1), or less if the foreground goes idle first. When nothing live is
    running the work goes at full speed."""

    def __init__(self, foreground: Foreground, share: float) -> None:
        self.foreground = foreground
        self.share = share

    def pause(self, spent: float) -> float:
        if self.share >= 1 or not self.foreground.busy():
            return 0.0
        return spent * (1 / self.share - 1)

    async def give_way(self, spent: float, stop: asyncio.Event) -> float:
        """Waits as `pause` says, ending early when the foreground goes idle or `stop` is set; the seconds waited."""
        pause = self.pause(spent)
        if not pause:
            return 0.0
        started = time.monotonic()
        until = started + pause
        while not stop.is_set() and self.foreground.busy() and (left := until - time.monotonic()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=min(left, _CHECK_S))
        return time.monotonic() - started
