"""SQL of the diagnostics domain: stored runs for /diagnostics/history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

KEEP_RUNS = 100  # older runs are pruned; history shows 10


async def save_run(
    conn: AsyncConnection, run_id: str, kind: str, status: str, started_at: datetime, run: dict[str, Any]
) -> None:
    await conn.execute(
        "INSERT INTO diagnostic_runs (id, kind, status, started_at, run) VALUES (%s, %s, %s, %s, %s)",
        (run_id, kind, status, started_at, run),
    )
    await conn.execute(
        "DELETE FROM diagnostic_runs WHERE id NOT IN"
        " (SELECT id FROM diagnostic_runs ORDER BY started_at DESC, id DESC LIMIT %s)",
        (KEEP_RUNS,),
    )


async def recent_runs(conn: AsyncConnection, limit: int) -> list[dict[str, Any]]:
    cur = await conn.execute("SELECT run FROM diagnostic_runs ORDER BY started_at DESC, id DESC LIMIT %s", (limit,))
    return [row["run"] for row in await cur.fetchall()]
