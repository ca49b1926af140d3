"""Background workers (webhook delivery, heartbeat runs, memory indexing), listed in WORKERS. Each defines
`async def run(deps: Deps, stop: asyncio.Event) -> None`, which returns soon after `stop` is set; every
replica runs every worker, and the workers coordinate through Postgres (FOR UPDATE SKIP LOCKED). While the database
is unreachable each backs off through `server.db.outage.Outage` (one warning, one info line, no traceback per
attempt). A new worker is a module here and a line in WORKERS."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from server.workers import heartbeat, memory_indexer, webhooks

if TYPE_CHECKING:
    from server.deps import Deps

log = logging.getLogger(__name__)

Worker = Callable[["Deps", asyncio.Event], Awaitable[None]]


WORKERS: dict[str, Worker] = {
    "heartbeat": heartbeat.run,
    "memory_indexer": memory_indexer.run,
    "webhooks": webhooks.run,
}


async def supervise(name: str, worker: Worker, deps: Deps, stop: asyncio.Event) -> None:
    """Runs a worker until stop, restarting it after a crash (with a pause), so one bug cannot stop delivery."""
    while not stop.is_set():
        try:
            await worker(deps, stop)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("worker crashed; restarting", extra={"worker": name})
            try:
                await asyncio.wait_for(stop.wait(), timeout=5)
            except TimeoutError:
                pass
        else:
            return
