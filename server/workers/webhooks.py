"""Webhook dispatcher: claims due delivery attempts (FOR UPDATE SKIP LOCKED), sends them concurrently and records
the outcomes in the same transaction that holds the claim. Until that commit no other replica can take the rows,
and a crash before it rolls the claim back, so an attempt whose outcome was not recorded is sent again
(at-least-once), never lost."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from server.db.outage import Outage
from server.webhooks import delivery, store

if TYPE_CHECKING:
    from server.deps import Deps

log = logging.getLogger(__name__)

BATCH = 64


async def dispatch_once(deps: Deps, limit: int = BATCH) -> int:
    """One claim-send-record round; the number of attempts made."""
    allow_private = deps.settings.allow_private_urls
    async with deps.db.transaction() as conn:
        rows = await store.claim_due(conn, limit)
        if not rows:
            return 0
        attempts = await asyncio.gather(
            *(
                delivery.send(
                    r["url"],
                    r["secret"],
                    r["event_id"],
                    r["payload"],
                    allow_private,
                    webhook_id=r["webhook_id"],
                    attempt=r["attempt"],
                )
                for r in rows
            )
        )
        now = datetime.now(UTC)
        async with conn.pipeline():  # one round trip for the batch's records, not one per statement
            for row, attempt in zip(rows, attempts, strict=True):
                await store.record_attempt(conn, row, attempt, deps.settings.webhook_retry_schedule, now)
    return len(rows)


async def run(deps: Deps, stop: asyncio.Event) -> None:
    outage = Outage("webhooks", deps.health)
    while not stop.is_set():
        try:
            sent = await dispatch_once(deps)
        except Exception as exc:
            # The claim rolled back: the same attempts are sent again on a later round.
            if await outage.wait_out(exc, stop):
                continue
            log.exception("webhook dispatch failed")
            sent = 0
        else:
            outage.over()
        if sent:
            continue
        try:
            await asyncio.wait_for(stop.wait(), timeout=deps.settings.worker_poll_s)
        except TimeoutError:
            pass
