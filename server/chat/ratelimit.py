"""A sliding-window rate limit shared by every replica (Postgres), e.g. WebSocket messages per user."""

from __future__ import annotations

from server.db.database import Database
from server.errors import ResourceExhausted


async def hit(db: Database, key: str, limit: int, window_s: int) -> None:
    """Counts one event for key; RESOURCE_EXHAUSTED with the wait when the window already holds `limit`."""
    async with db.transaction() as conn:
        # Serialises the count-then-insert per key across replicas.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('rate:' || %s))", (key,))
        await conn.execute(
            "DELETE FROM rate_events WHERE key = %s AND at < now() - make_interval(secs => %s)", (key, window_s)
        )
        cur = await conn.execute(
            "SELECT count(*) AS n, EXTRACT(EPOCH FROM (min(at) + make_interval(secs => %s) - now()))::float AS wait"
            " FROM rate_events WHERE key = %s",
            (window_s, key),
        )
        row = await cur.fetchone()
        assert row is not None
        if row["n"] >= limit:
            raise ResourceExhausted(
                f"rate limit: {limit} messages per {window_s} s", retry_after=max(0.001, row["wait"] or 0)
            )
        await conn.execute("INSERT INTO rate_events (key) VALUES (%s)", (key,))
