"""A sliding-window rate limit shared by every replica (Postgres), e.g. WebSocket messages per user."""

from __future__ import annotations

from server.db.database import Database
from server.errors import ResourceExhausted

# Counts the window and records the event only when it is admitted, in one statement.
_ADMIT = (
    "WITH w AS (SELECT count(*) AS n, min(at) AS first FROM rate_events"
    "           WHERE key = %(key)s AND at >= now() - make_interval(secs => %(window)s)),"
    " added AS (INSERT INTO rate_events (key) SELECT %(key)s FROM w WHERE w.n < %(limit)s RETURNING 1)"
    " SELECT (SELECT count(*) FROM added) AS admitted,"
    "  EXTRACT(EPOCH FROM (w.first + make_interval(secs => %(window)s) - now()))::float AS wait FROM w"
)


async def hit(db: Database, key: str, limit: int, window_s: int) -> None:
    """Counts one event for key; RESOURCE_EXHAUSTED with the wait when the window already holds `limit`.

    It sits before a WebSocket turn's first token, so it is one pipelined round trip, and its commit does not
    wait for the WAL flush: losing the last events to a Postgres crash only lets a few messages more through."""
    params = {"key": key, "limit": limit, "window": window_s}
    async with db.connection() as conn, conn.pipeline(), conn.transaction():
        await conn.execute("SET LOCAL synchronous_commit TO off")
        # Serialises the count-then-insert per key across replicas.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('rate:' || %s))", (key,))
        await conn.execute(
            "DELETE FROM rate_events WHERE key = %s AND at < now() - make_interval(secs => %s)", (key, window_s)
        )
        cur = await conn.execute(_ADMIT, params)
        row = await cur.fetchone()
    assert row is not None
    if not row["admitted"]:
        raise ResourceExhausted(
            f"rate limit: {limit} messages per {window_s} s", retry_after=max(0.001, row["wait"] or 0)
        )
