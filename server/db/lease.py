"""This process's identity in the database, and Postgres's word on whether it is still alive.

Each Core takes a random instance id and holds a session-level advisory lock keyed by it, on a connection of its own,
for as long as it runs. Postgres releases the lock when that connection ends: at once when the process dies
(SIGKILL or OOM included: the kernel closes its sockets), or when TCP keepalives give up on a vanished host. So
"the lock is free" means "that process is gone", with no heartbeat to tune and no clock to trust. Work a process
leaves in flight is stamped with its id (chat turns, running idempotency keys), and another process closes it
once that lock is free (server/chat/recovery.py).

A database restart drops every lock too, until each live process takes its own again (within a second of the
database accepting connections). `gateway_instances.leased_at` says when a process last took its lock, so recovery
can tell "lost its lock in a restart and has not taken it back yet" from "died".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import psycopg

from server.ids import new_id

log = logging.getLogger(__name__)

# The first key of the two-key advisory lock space for instance leases (the second is hashtext(instance id)); the
# migration lock uses the one-key space, so the two never meet.
LEASE_LOCK_SPACE = 0x41535449  # "ASTI"
RETRY_S = 0.5
# Server-side keepalives on the lease connection: a host that vanished without closing it frees its lock in about
# a minute instead of the server's default two hours.
_KEEPALIVES = "-c tcp_keepalives_idle=30 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=3"


class Lease:
    def __init__(self, conninfo: str):
        self.conninfo = conninfo
        self.instance_id = new_id("inst")
        self.held = asyncio.Event()
        # Turns and idempotency keys this process is running now: its own stamps outside these sets are orphans
        # (their turn ended without storing a reply, e.g. while the database was down).
        self.live_turns: set[str] = set()
        self.live_keys: set[tuple[str, str]] = set()
        self._task: asyncio.Task[None] | None = None

    async def start(self, wait_s: float = 10.0) -> None:
        """Starts holding the lease; returns once it is held (or after wait_s: it keeps trying in the background)."""
        self._task = asyncio.create_task(self._hold(), name="instance-lease")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.held.wait(), wait_s)

    async def _take(self, conn: psycopg.AsyncConnection) -> None:
        while True:
            cur = await conn.execute(
                "SELECT pg_try_advisory_lock(%s, hashtext(%s)) AS taken", (LEASE_LOCK_SPACE, self.instance_id)
            )
            row = await cur.fetchone()
            if row is not None and row[0]:
                break
            # Held elsewhere: a sweeper checking this instance holds it for a moment, or (once in four billion)
            # another instance's id hashes alike; before the first lease, a new id settles the latter.
            if not self.held.is_set() and not self.live_turns and not self.live_keys:
                self.instance_id = new_id("inst")
            await asyncio.sleep(0.05)
        await conn.execute(
            "INSERT INTO gateway_instances (id) VALUES (%s) ON CONFLICT (id) DO UPDATE SET leased_at = now()",
            (self.instance_id,),
        )

    async def _hold(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.conninfo, autocommit=True, connect_timeout=5, options=_KEEPALIVES
                ) as conn:
                    await self._take(conn)
                    self.held.set()
                    # Returns (or raises) only when the connection ends.
                    async for _ in conn.notifies():
                        pass
            except (psycopg.Error, OSError):
                pass  # the database is down: health and the workers say so; this just keeps trying
            finally:
                self.held.clear()
            await asyncio.sleep(RETRY_S)

    async def close(self) -> None:
        """Stops holding the lease (its lock goes with the connection) and forgets this instance."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        with contextlib.suppress(psycopg.Error, OSError):
            async with await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True, connect_timeout=2) as conn:
                await conn.execute("DELETE FROM gateway_instances WHERE id = %s", (self.instance_id,))
