"""A sliding-window rate limit shared by every replica (Postgres): WebSocket messages and chat turns per user."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from server.db.database import Database
from server.errors import ResourceExhausted

# Chat turns over REST, gRPC and the OpenAI-compatible surface: ASTRA_CHAT_RATE_PER_MIN per user per window.
CHAT_WINDOW_S = 60

# Keeps the key's events inside the window and appends this one when fewer than `limit` remain. The conflicting
# row is locked and read in its latest version, so concurrent hits on one key (on any replica) are serialised.
# An admitted event is the array's last element, stamped with this transaction's now().
_HIT = (
    "INSERT INTO rate_windows AS w (key, stamps) VALUES (%(key)s, ARRAY[now()])"
    " ON CONFLICT (key) DO UPDATE SET stamps = ("
    "  SELECT CASE WHEN count(*) < %(limit)s THEN coalesce(array_agg(s ORDER BY s), '{}') || now()"
    "   ELSE array_agg(s ORDER BY s) END"
    "  FROM unnest(w.stamps) AS s WHERE s > now() - make_interval(secs => %(window)s))"
    " RETURNING stamps[cardinality(stamps)] = now() AS admitted,"
    "  EXTRACT(EPOCH FROM (stamps[1] + make_interval(secs => %(window)s) - now()))::float AS wait"
)


async def hit(db: Database, key: str, limit: int, window_s: int, what: str = "messages") -> None:
    """Counts one event for key; RESOURCE_EXHAUSTED with the wait when the window already holds `limit` (`what`
    names the events in its message).

    It sits before a chat turn's first token, so it is one statement on an unlogged table (no WAL flush). The
    window keeps up to `limit` stamps per key and each hit reads them all: meant for limits in the hundreds."""
    async with db.connection() as conn:
        cur = await conn.execute(_HIT, {"key": key, "limit": limit, "window": window_s})
        row = await cur.fetchone()
    assert row is not None
    if not row["admitted"]:
        raise ResourceExhausted(
            f"rate limit: {limit} {what} per {window_s} s", retry_after=max(0.001, row["wait"] or 0)
        )


def chat_turn(db: Database, user_id: str, per_min: int) -> Coroutine[Any, Any, None] | None:
    """The count of one chat turn in the user's chat window, to be awaited; None when there is no limit."""
    if per_min <= 0:
        return None
    return hit(db, f"chat:{user_id}", per_min, CHAT_WINDOW_S, "chat turns")
