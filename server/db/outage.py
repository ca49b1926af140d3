"""How a background loop rides out a database outage: one warning when the database is lost, one info line when it
is back, no traceback per attempt, and retries spaced by exponential backoff up to 30 s (cut short as soon as
health sees the database again, so work resumes without waiting out a long step).

    outage = Outage("webhooks", deps.health)
    while not stop.is_set():
        try:
            done = await one_round()
        except Exception as exc:
            if await outage.wait_out(exc, stop):
                continue
            log.exception("round failed")  # a real failure: reported as before
        else:
            outage.over()
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

import psycopg
import psycopg_pool

from server.errors import Unavailable

if TYPE_CHECKING:
    from server.health import HealthState

log = logging.getLogger(__name__)

FIRST_DELAY_S = 0.5
MAX_DELAY_S = 30.0
# The database is down or restarting, or no connection could be had: a reason to wait, not a bug to report.
# (Database.connection raises Unavailable at once while health says the database is down.)
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (Unavailable, psycopg.OperationalError, psycopg_pool.PoolTimeout)


class Outage:
    def __init__(self, name: str, health: HealthState | None = None):
        self.name = name
        self.health = health
        self.lost_at: float | None = None
        self.delay = FIRST_DELAY_S

    async def wait_out(self, exc: BaseException, stop: asyncio.Event) -> bool:
        """False when exc is not about the database being unreachable (the caller reports it as before). Otherwise
        the loss is logged once, and this waits the next backoff step, or until stop, or until health sees the
        database again; True then."""
        if not isinstance(exc, OUTAGE_ERRORS):
            return False
        if self.lost_at is None:
            self.lost_at = time.monotonic()
            self.delay = FIRST_DELAY_S
            log.warning(
                "database unreachable; retrying with backoff",
                extra={"worker": self.name, "error": f"{type(exc).__name__}: {exc}".strip()},
            )
        waits = [asyncio.ensure_future(stop.wait())]
        if self.health is not None and not self.health.reachable().is_set():
            waits.append(asyncio.ensure_future(self.health.reachable().wait()))
        try:
            await asyncio.wait(waits, timeout=self.delay, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waits:
                waiter.cancel()
        self.delay = min(self.delay * 2, MAX_DELAY_S)
        return True

    def over(self) -> None:
        """A round reached the database: logs the return once, after a loss."""
        if self.lost_at is not None:
            log.info(
                "database reachable again; resuming",
                extra={"worker": self.name, "down_s": round(time.monotonic() - self.lost_at, 3)},
            )
            self.lost_at = None
            self.delay = FIRST_DELAY_S
