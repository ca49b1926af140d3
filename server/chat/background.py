"""Tasks that outlive the turn that started them: a presence update off the hot path, memory extraction after the
reply, a rate-limit verdict a failed turn never read, a save a cancelled turn must finish."""

from __future__ import annotations

import asyncio
from typing import Any


class Background:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Future[Any]] = set()

    def hold(self, task: asyncio.Future[Any]) -> None:
        """Keeps a task that outlives its turn referenced until it ends (so it is not garbage-collected mid-flight);
        its failure was reported where it happened, or is of no further interest."""
        self._tasks.add(task)
        task.add_done_callback(self._release)

    def _release(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio does not log it a second time
