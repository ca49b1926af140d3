"""Login throttling per account and per client address, counted in Postgres so every replica agrees.

An attempt is counted before its password is checked, not after: the check takes tens of milliseconds, and
counting afterwards let any number of concurrent guesses pass a check of the count that none of them had added
to yet. So a login first reserves one failure per key, serialised per key across replicas, and gives the
reservation back only when the password was right.
"""

from __future__ import annotations

from psycopg import AsyncConnection

from server.errors import ResourceExhausted

# Advisory-lock namespace of login keys (two-key form; the migrations' lock uses the one-key space, apart).
_LOCK_SPACE = 0x4C4F47  # "LOG"

# Locks in one order (by hash, so two keys sharing a hash cannot deadlock two attempts), so that the next statement,
# which takes its snapshot after the locks, sees every attempt committed before it on any replica.
_LOCK = (
    "SELECT pg_advisory_xact_lock(%(space)s, h)"
    " FROM (SELECT DISTINCT hashtext(k) AS h FROM unnest(%(keys)s::text[]) AS k) AS hashes ORDER BY h"
)

# A key is blocked until its max-th most recent failure leaves the window; when no key is, one failure is
# reserved for each key in the same statement.
_RESERVE = (
    "WITH blocked AS ("
    "  SELECT max(EXTRACT(EPOCH FROM (failed_at + make_interval(secs => %(w)s) - now())))::float AS wait"
    "  FROM (SELECT failed_at, row_number() OVER (PARTITION BY key ORDER BY failed_at DESC) AS rn"
    "        FROM login_failures"
    "        WHERE key = ANY(%(keys)s) AND failed_at > now() - make_interval(secs => %(w)s)) AS recent"
    "  WHERE rn = %(max)s),"
    " reserved AS ("
    "  INSERT INTO login_failures (key) SELECT unnest(%(keys)s::text[]) WHERE (SELECT wait FROM blocked) IS NULL"
    "  RETURNING id)"
    " SELECT (SELECT wait FROM blocked) AS wait, ARRAY(SELECT id FROM reserved) AS ids"
)


class LoginThrottle:
    def __init__(self, max_failures: int = 10, window_s: int = 600):
        self.max_failures = max_failures
        self.window_s = window_s

    async def reserve(self, conn: AsyncConnection, keys: list[str]) -> list[int]:
        """Counts one failed attempt against every key and returns the rows to give back if it succeeds;
        RESOURCE_EXHAUSTED with the wait, counting nothing, when a key is at its limit. Commit right after:
        the keys stay locked until then."""
        async with conn.transaction():
            await conn.execute(_LOCK, {"space": _LOCK_SPACE, "keys": keys})
            cur = await conn.execute(_RESERVE, {"w": self.window_s, "keys": keys, "max": self.max_failures})
            row = await cur.fetchone()
        assert row is not None
        if row["wait"] is not None:
            raise ResourceExhausted("too many failed logins, try again later", retry_after=max(1.0, row["wait"]))
        return list(row["ids"])

    async def succeeded(self, conn: AsyncConnection, reserved: list[int], account_key: str) -> None:
        """The password was right: the reservation is given back and the account's count starts over (the
        address keeps its earlier failures)."""
        await conn.execute("DELETE FROM login_failures WHERE id = ANY(%s) OR key = %s", (reserved, account_key))

    async def failed(self, conn: AsyncConnection, keys: list[str]) -> None:
        """The reservation stands as the failure; older rows of these keys are only noise for the window query."""
        await conn.execute(
            "DELETE FROM login_failures WHERE key = ANY(%s) AND failed_at < now() - make_interval(secs => %s)",
            (keys, self.window_s),
        )
