"""Turns a crash cut off, closed as interrupted instead of left as a user message with no answer and no reason.

A turn stamps itself in `turns_in_flight` with its process's instance id in the statement that stores the user's
message, and the statement that stores the reply (complete, failed or cancelled) deletes the stamp
(server/chat/writes.py). A stamp left
behind is a turn that ended without a reply: its process died, or it failed while the database was away.

Whose turns may be closed is Postgres's word, not a clock's: every process holds an advisory lock keyed by its
instance id while it lives (server/db/lease.py). Recovery closes the turns of an instance only in a transaction
that holds that lock itself (`pg_try_advisory_xact_lock`), which it cannot get while the instance lives, and which
keeps any other replica's recovery off the same instance meanwhile. A turn running on another live replica is
therefore never touched. One exception is guarded separately: a database restart drops every lock until each live
instance takes its own again, so right after one an instance counts as gone only if it took its lock after the
restart and lost it since, or once the restart is GRACE_S old.

A process also closes its own orphans: stamps of its instance whose turn is no longer running here, seen on two
sweeps in a row (a turn whose save failed while the database was down).

Closing a turn, in one transaction: an assistant message with the text the turn had said (kept in its stamp at
most once a second, server/chat/progress.py) and a notice that the reply was interrupted (`error` set), the
session's activity, the agent's
presence back to idle, an `agent.failed` event with `interrupted: true` for webhooks, and the stamp deleted. The
dead instance's running Idempotency-Keys are released, so a retry with the same key runs the turn again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from psycopg import AsyncConnection

from server import events
from server.chat import presence
from server.db.lease import LEASE_LOCK_SPACE, Lease
from server.db.outage import Outage
from server.sessions import store as sessions

if TYPE_CHECKING:
    from server.db.database import Database
    from server.health import HealthState

log = logging.getLogger(__name__)

INTERRUPTED_ERROR = "interrupted: the gateway stopped before this reply was finished"
INTERRUPTED_NOTICE = (
    "[This reply was interrupted: the gateway stopped before it was finished. Send your message again for an answer.]"
)
# After a database restart, how long live instances have to take their lease again before they may count as gone.
GRACE_S = 15.0
SWEEP_S = 30.0

# Instances with something left in flight, or a row, other than this one.
_CANDIDATES = """
SELECT id FROM (
    SELECT instance_id AS id FROM turns_in_flight
    UNION SELECT instance_id FROM idempotency_keys WHERE state = 'running' AND instance_id IS NOT NULL
    UNION SELECT id FROM gateway_instances
) c WHERE id <> %(me)s
"""

# True when the instance is gone: its lease lock is free (and now held by this transaction until it ends), and it
# was not merely dropped by a recent database restart.
_GONE = """
SELECT pg_try_advisory_xact_lock(%(space)s, hashtext(%(id)s))
   AND (coalesce((SELECT leased_at FROM gateway_instances WHERE id = %(id)s) > pg_postmaster_start_time(), false)
        OR now() - pg_postmaster_start_time() > make_interval(secs => %(grace)s)) AS gone
"""


async def _close(conn: AsyncConnection, turn: dict[str, Any]) -> bool:
    """Closes one stamped turn as interrupted (when its user message is still the session's last word) and drops
    the stamp; True when a turn was closed."""
    cur = await conn.execute(
        "SELECT role, created_at FROM messages WHERE session_id = %s ORDER BY seq DESC LIMIT 1", (turn["session_id"],)
    )
    last = await cur.fetchone()
    await conn.execute("DELETE FROM turns_in_flight WHERE turn_id = %s", (turn["turn_id"],))
    # Nothing to close when the conversation has gone on since (or the user message is gone with its session).
    if last is None or last["role"] != "user" or last["created_at"] < turn["started_at"]:
        return False
    said = turn["partial"]
    row = sessions.message_row(
        turn["session_id"],
        "assistant",
        f"{said}\n\n{INTERRUPTED_NOTICE}" if said else INTERRUPTED_NOTICE,
        turn["agent_id"],
        error=INTERRUPTED_ERROR,
    )
    await sessions.append_messages(conn, [row])
    await sessions.touch(conn, turn["session_id"], 1)
    await presence.advance(conn, turn["user_id"], turn["workspace_id"], turn["agent_id"], turn["turn_id"], "idle")
    await events.emit(
        conn,
        turn["workspace_id"],
        "agent.failed",
        {
            "agentId": turn["agent_id"],
            "sessionId": turn["session_id"],
            "userId": turn["user_id"],
            "messageId": row["id"],
            "content": said,
            "toolsUsed": [],
            "usage": {"promptTokens": 0, "completionTokens": 0, "costUsd": 0.0},
            "error": INTERRUPTED_ERROR,
            "interrupted": True,
        },
    )
    return True


class Recovery:
    def __init__(self, db: Database, lease: Lease, health: HealthState | None = None):
        self.db = db
        self.lease = lease
        self.health = health
        # Own stamps and keys seen as orphans on the previous sweep: closed if they still are on this one.
        self._suspect_turns: set[str] = set()
        self._suspect_keys: set[tuple[str, str]] = set()
        self._task: asyncio.Task[None] | None = None

    async def sweep(self) -> int:
        """Closes what dead instances left in flight, and this instance's own orphans; the turns closed."""
        async with self.db.connection() as conn:
            cur = await conn.execute(_CANDIDATES, {"me": self.lease.instance_id})
            others = [row["id"] for row in await cur.fetchall()]
        closed = 0
        for instance in others:
            closed += await self._close_instance(instance)
        return closed + await self._close_orphans()

    async def _close_instance(self, instance: str) -> int:
        closed = 0
        async with self.db.transaction() as conn:
            cur = await conn.execute(_GONE, {"space": LEASE_LOCK_SPACE, "id": instance, "grace": GRACE_S})
            row = await cur.fetchone()
            if not (row and row["gone"]):
                return 0
            cur = await conn.execute("SELECT * FROM turns_in_flight WHERE instance_id = %s FOR UPDATE", (instance,))
            for turn in await cur.fetchall():
                closed += await _close(conn, turn)
            cur = await conn.execute(
                "DELETE FROM idempotency_keys WHERE state = 'running' AND instance_id = %s", (instance,)
            )
            keys = cur.rowcount
            await conn.execute("DELETE FROM gateway_instances WHERE id = %s", (instance,))
        if closed or keys:
            log.warning(
                "closed work a stopped gateway left in flight",
                extra={"instance": instance, "turns_interrupted": closed, "idempotency_keys_released": keys},
            )
        return closed

    async def _close_orphans(self) -> int:
        me = self.lease.instance_id
        async with self.db.connection() as conn:
            cur = await conn.execute("SELECT turn_id FROM turns_in_flight WHERE instance_id = %s", (me,))
            turns = {row["turn_id"] for row in await cur.fetchall()} - self.lease.live_turns
            cur = await conn.execute(
                "SELECT user_id, key FROM idempotency_keys WHERE state = 'running' AND instance_id = %s", (me,)
            )
            keys = {(row["user_id"], row["key"]) for row in await cur.fetchall()} - self.lease.live_keys
        due_turns, self._suspect_turns = turns & self._suspect_turns, turns - self._suspect_turns
        due_keys, self._suspect_keys = keys & self._suspect_keys, keys - self._suspect_keys
        closed = 0
        if due_turns or due_keys:
            async with self.db.transaction() as conn:
                cur = await conn.execute(
                    "SELECT * FROM turns_in_flight WHERE turn_id = ANY(%s) FOR UPDATE SKIP LOCKED", (list(due_turns),)
                )
                for turn in await cur.fetchall():
                    closed += await _close(conn, turn)
                for user_id, key in due_keys:
                    await conn.execute(
                        "DELETE FROM idempotency_keys WHERE user_id = %s AND key = %s AND state = 'running'"
                        " AND instance_id = %s",
                        (user_id, key, me),
                    )
            if closed or due_keys:
                log.warning(
                    "closed turns that ended without a reply",
                    extra={"turns_interrupted": closed, "idempotency_keys_released": len(due_keys)},
                )
        return closed

    async def start(self) -> None:
        """The first sweep (before the process serves), then one every SWEEP_S in the background."""
        try:
            await self.sweep()
        except Exception:
            log.warning("crash recovery failed; retrying in the background", exc_info=True)
        self._task = asyncio.create_task(self._run(), name="turn-recovery")

    async def _run(self) -> None:
        outage = Outage("turn_recovery", self.health)
        never = asyncio.Event()
        while True:
            await asyncio.sleep(SWEEP_S)
            try:
                await self.sweep()
            except Exception as exc:
                if not await outage.wait_out(exc, never):
                    log.warning("crash recovery sweep failed", exc_info=True)
            else:
                outage.over()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
