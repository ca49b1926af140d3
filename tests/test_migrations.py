"""Migrations: applied once, in order, in one transaction each, safe when replicas start together."""

from __future__ import annotations

import asyncio
import uuid

import psycopg

from server.db.migrate import migrate, migration_files
from tests.helpers.db import Postgres


def empty_database(postgres: Postgres) -> str:
    name = f"empty_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres.uri("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return postgres.uri(name)


async def test_replicas_starting_together_apply_each_migration_once(postgres: Postgres) -> None:
    url = empty_database(postgres)
    results = await asyncio.gather(*(migrate(url) for _ in range(4)))
    # Exactly one replica applied the migrations; the others found nothing left to do.
    applied = [names for names in results if names]
    assert len(applied) == 1
    assert applied[0] == [name for _, name, _ in migration_files()]
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute("SELECT version, count(*) FROM schema_migrations GROUP BY version ORDER BY version")
        rows = await cur.fetchall()
        assert [v for v, _ in rows] == [v for v, _, _ in migration_files()]
        assert all(count == 1 for _, count in rows)
        cur = await conn.execute("SELECT extname FROM pg_extension WHERE extname = 'vector'")
        assert await cur.fetchone() == ("vector",)
    assert await migrate(url) == []


async def test_a_failing_migration_leaves_nothing_half_applied(postgres: Postgres, monkeypatch) -> None:
    url = empty_database(postgres)
    broken = [*migration_files(), (9999, "9999_broken.sql", "CREATE TABLE half_done (id int); SELECT 1/0;")]
    monkeypatch.setattr("server.db.migrate.migration_files", lambda: broken)
    try:
        await migrate(url)
    except psycopg.errors.DivisionByZero:
        pass
    else:
        raise AssertionError("the broken migration should have failed")
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute("SELECT to_regclass('half_done')")
        assert (await cur.fetchone())[0] is None
        cur = await conn.execute("SELECT max(version) FROM schema_migrations")
        assert (await cur.fetchone())[0] == migration_files()[-1][0]
