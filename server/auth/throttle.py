"""Login throttling per account and per client address, counted in Postgres so every replica agrees."""

from __future__ import annotations

from psycopg import AsyncConnection


class LoginThrottle:
    def __init__(self, max_failures: int = 10, window_s: int = 600):
        self.max_failures = max_failures
        self.window_s = window_s

    async def retry_after(self, conn: AsyncConnection, keys: list[str]) -> float | None:
        """Seconds until one more attempt is allowed, or None when none of the keys is over the limit."""
        # A key is blocked until its max_failures-th most recent failure leaves the window.
        cur = await conn.execute(
            "SELECT EXTRACT(EPOCH FROM (failed_at + make_interval(secs => %(w)s) - now()))::float AS wait"
            " FROM (SELECT failed_at, row_number() OVER (PARTITION BY key ORDER BY failed_at DESC) AS rn"
            "       FROM login_failures"
            "       WHERE key = ANY(%(keys)s) AND failed_at > now() - make_interval(secs => %(w)s)) recent"
            " WHERE rn = %(max)s",
            {"w": self.window_s, "keys": keys, "max": self.max_failures},
        )
        waits = [row["wait"] for row in await cur.fetchall()]
        return max(1.0, max(waits)) if waits else None

    async def record_failure(self, conn: AsyncConnection, keys: list[str]) -> None:
        await conn.execute("INSERT INTO login_failures (key) SELECT unnest(%s::text[])", (keys,))
        # Old rows are only noise for the window query.
        await conn.execute(
            "DELETE FROM login_failures WHERE key = ANY(%s) AND failed_at < now() - make_interval(secs => %s)",
            (keys, self.window_s),
        )

    async def clear(self, conn: AsyncConnection, key: str) -> None:
        await conn.execute("DELETE FROM login_failures WHERE key = %s", (key,))
