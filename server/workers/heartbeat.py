"""Heartbeat scheduler: claims due configs (FOR UPDATE SKIP LOCKED, next_run_at advanced in the same transaction,
so each due run happens once across replicas) and runs them concurrently."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from server.db.outage import Outage
from server.heartbeat import runner, store

if TYPE_CHECKING:
    from server.deps import Deps

log = logging.getLogger(__name__)

BATCH = 16


async def run(deps: Deps, stop: asyncio.Event) -> None:
    running: set[asyncio.Task[None]] = set()
    outage = Outage("heartbeat", deps.health)
    try:
        while not stop.is_set():
            claimed = 0
            if len(running) < BATCH:
                try:
                    async with deps.db.transaction() as conn:
                        configs = await store.claim_due(conn, BATCH - len(running))
                except Exception as exc:
                    if await outage.wait_out(exc, stop):
                        continue
                    log.exception("heartbeat claim failed")
                    configs = []
                else:
                    outage.over()
                for config in configs:
                    task = asyncio.create_task(runner.run_claimed(deps, config), name=f"heartbeat:{config['id']}")
                    running.add(task)
                    task.add_done_callback(_done(running))
                claimed = len(configs)
            if claimed:
                continue
            try:
                await asyncio.wait_for(stop.wait(), timeout=deps.settings.worker_poll_s)
            except TimeoutError:
                pass
    finally:
        # Runs cut off here stay 'running' and are recorded as errors by the next claim of their config.
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)


def _done(running: set[asyncio.Task[None]]):  # type: ignore[no-untyped-def]
    def callback(task: asyncio.Task[None]) -> None:
        running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("heartbeat run failed", exc_info=task.exception())

    return callback
