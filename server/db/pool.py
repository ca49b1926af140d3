"""The async connection pool every domain shares; rows come back as dicts."""

from __future__ import annotations

from pgvector.psycopg import register_vector_async
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import JsonbDumper
from psycopg_pool import AsyncConnectionPool

from server.config import Settings

# A query waiting longer than this for a connection fails as UNAVAILABLE instead of hanging.
POOL_TIMEOUT_S = 5.0


async def _configure(conn: AsyncConnection) -> None:
    # dicts go to jsonb columns as they are; vectors as pgvector values.
    conn.adapters.register_dumper(dict, JsonbDumper)
    await register_vector_async(conn)


def make_pool(settings: Settings, conninfo: str) -> AsyncConnectionPool:
    return AsyncConnectionPool(
        conninfo,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        open=False,
        timeout=POOL_TIMEOUT_S,
        kwargs={"autocommit": True, "row_factory": dict_row, "connect_timeout": 5},
        configure=_configure,
        name="astra",
    )
