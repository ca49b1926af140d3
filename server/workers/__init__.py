"""Background workers (webhook delivery, heartbeat runs). Each module here defines
`async def run(deps: Deps, stop: asyncio.Event) -> None`, which returns soon after `stop` is set; every
replica runs every worker, and the workers coordinate through Postgres (FOR UPDATE SKIP LOCKED). While the database
is unreachable each backs off through `outage.Outage` (one warning, one info line, no traceback per attempt)."""

from __future__ import annotations

import asyncio
import importlib
import logging
import pkgutil
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from server.deps import Deps

log = logging.getLogger(__name__)

Worker = Callable[["Deps", asyncio.Event], Awaitable[None]]


def discover() -> dict[str, Worker]:
    found: dict[str, Worker] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        run = getattr(module, "run", None)
        if run is not None:
            found[info.name] = run
    return found


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
