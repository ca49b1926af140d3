"""`astra doctor`: the checks of GET /diagnostics, run from a terminal against the database `astra serve` would
use (DATABASE_URL, or the embedded one under ASTRA_DATA_DIR)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, replace

import psycopg
from psycopg.rows import dict_row

from server.config import ConfigError, Settings, with_jwt_secret
from server.diagnostics import checks


def _env(settings: Settings, conninfo: str) -> checks.Env:
    generated = not settings.jwt_secret and settings.embedded_db
    try:
        settings = with_jwt_secret(settings)
    except ConfigError:
        settings = replace(settings, jwt_secret="")  # security.secrets reports it

    @asynccontextmanager
    async def connection() -> AsyncIterator[psycopg.AsyncConnection]:
        async with await psycopg.AsyncConnection.connect(
            conninfo, autocommit=True, row_factory=dict_row, connect_timeout=5
        ) as conn:
            yield conn

    return checks.Env(settings=settings, connection=connection, generated_secret=generated)


async def doctor(settings: Settings, quick: bool = False) -> checks.Run:
    embedded, conninfo = None, settings.database_url
    if settings.embedded_db:
        from server.db.embedded import start_embedded

        embedded, conninfo = await asyncio.to_thread(start_embedded, settings.data_dir)
    try:
        return await checks.run_all(_env(settings, conninfo), quick=quick)
    finally:
        if embedded is not None:
            # Stops the server only if no other process (a running `astra serve`) holds it.
            await asyncio.to_thread(embedded.cleanup)


def main(settings: Settings, quick: bool, as_json: bool) -> int:
    """Prints the report; exit status 1 when any check fails."""
    run = asyncio.run(doctor(settings, quick))
    if as_json:
        print(json.dumps({"kind": run.kind, "status": run.status, "checks": [asdict(r) for r in run.results]}))
    else:
        print(checks.format_table(run))
    return 1 if run.status == checks.FAIL else 0
