"""A sliding-window rate limit shared by every replica (Postgres): WebSocket messages and chat turns per user."""

from __future__ import annotations

from typing import Any, NamedTuple

from psycopg import AsyncConnection

from server.db.database import Database
from server.errors import ResourceExhausted

# Chat turns over REST, gRPC and the OpenAI-compatible surface: ASTRA_CHAT_RATE_PER_MIN per user per window.
CHAT_WINDOW_S = 60

# Keeps the key's events inside the window and appends this one when fewer than `limit` remain. The conflicting
# row is locked and read in its latest version, so concurrent hits on one key (on any replica) are serialised.
# An admitted event is the array's last element, stamped with this transaction's now().
_HIT = (
    "INSERT INTO rate_windows AS w (key, stamps) VALUES (%(rate_key)s, ARRAY[now()])"
    " ON CONFLICT (key) DO UPDATE SET stamps = ("
    "  SELECT CASE WHEN count(*) < %(rate_limit)s THEN coalesce(array_agg(s ORDER BY s), '{}') || now()"
    "   ELSE array_agg(s ORDER BY s) END"
    "  FROM unnest(w.stamps) AS s WHERE s > now() - make_interval(secs => %(rate_window)s))"
    " RETURNING stamps[cardinality(stamps)] = now() AS admitted,"
    "  EXTRACT(EPOCH FROM (stamps[1] + make_interval(secs => %(rate_window)s) - now()))::float AS wait"
)


class Count(NamedTuple):
    """One event to count in a key's window of `window_s` seconds, which admits `limit` (`what` names the events in
    the refusal)."""

    key: str
    limit: int
    window_s: int
    what: str = "messages"

    def params(self) -> dict[str, Any]:
        return {"rate_key": self.key, "rate_limit": self.limit, "rate_window": self.window_s}

    def verdict(self, row: dict[str, Any]) -> None:
        """RESOURCE_EXHAUSTED with the wait unless the hit's row says the event was admitted."""
        if not row["admitted"]:
            raise ResourceExhausted(
                f"rate limit: {self.limit} {self.what} per {self.window_s} s",
                retry_after=max(0.001, row["wait"] or 0),
            )


async def hit(db: Database, key: str, limit: int, window_s: int, what: str = "messages") -> None:
    """Counts one event for key; RESOURCE_EXHAUSTED with the wait when the window already holds `limit`.

    It sits before a chat turn's first token, so it is one statement on an unlogged table (no WAL flush). The
    window keeps up to `limit` stamps per key and each hit reads them all: meant for limits in the hundreds."""
    count = Count(key, limit, window_s, what)
    async with db.connection() as conn:
        cur = await conn.execute(_HIT, count.params())
        row = await cur.fetchone()
    assert row is not None
    count.verdict(row)


async def counted_select(
    conn: AsyncConnection, count: Count, select: str, params: dict[str, Any]
) -> dict[str, Any] | None:
    """Counts the event and runs `select` (at most one row) in the same statement: a chat turn's count rides the
    statement that finds its session, instead of a round trip of its own before the first token. Raises as `hit`
    does; otherwise the select's row, None when it found none."""
    cur = await conn.execute(
        f"WITH hit AS ({_HIT}) SELECT hit.admitted, hit.wait, found.*"
        f" FROM hit LEFT JOIN LATERAL ({select}) found ON true",
        {**params, **count.params()},
    )
    row = await cur.fetchone()
    assert row is not None
    count.verdict(row)
    del row["admitted"], row["wait"]
    return row if any(value is not None for value in row.values()) else None


def chat_turn(user_id: str, per_min: int) -> Count | None:
    """The count of one chat turn in the user's chat window; None when there is no limit."""
    if per_min <= 0:
        return None
    return Count(f"chat:{user_id}", per_min, CHAT_WINDOW_S, "chat turns")
