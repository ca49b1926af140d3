"""Numbered SQL migrations, each applied once in its own transaction, under an advisory lock so replicas
starting together do not race."""

from __future__ import annotations

import logging
from importlib import resources

import psycopg

log = logging.getLogger(__name__)

# Any constant works; it only has to be the same in every replica.
_LOCK_KEY = 0x41535452  # "ASTR"


def migration_files() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every shipped migration, in order."""
    found = []
    for entry in resources.files("server.db").joinpath("migrations").iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text()))
    found.sort()
    return found


async def migrate(conninfo: str) -> list[str]:
    """Applies pending migrations; returns the names applied."""
    applied: list[str] = []
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            cur = await conn.execute("SELECT version FROM schema_migrations")
            done = {row[0] for row in await cur.fetchall()}
            for version, name, sql in migration_files():
                if version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name))
                applied.append(name)
                log.info("migration applied", extra={"migration": name})
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied


async def pending(conn: psycopg.AsyncConnection) -> list[str]:
    """Names of shipped migrations the database has not applied."""
    cur = await conn.execute("SELECT version FROM schema_migrations")
    done = {row["version"] if isinstance(row, dict) else row[0] for row in await cur.fetchall()}
    return [name for version, name, _ in migration_files() if version not in done]
