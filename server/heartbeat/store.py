"""SQL of the heartbeat domain: configs, runs, seen feed items and the scheduler's claims."""

from __future__ import annotations

import json
from typing import Any

from psycopg import AsyncConnection

from server.ids import new_id

_COLUMNS = (
    "id, workspace_id, owner_id, type, url, keywords, method, expect_status, expect_contains, timeout_ms,"
    " interval_seconds, agent_id, prompt, enabled, state, last_run_at, next_run_at, created_at, updated_at,"
    " api_key_id"
)
_RUN_COLUMNS = "id, heartbeat_id, started_at, finished_at, status, items, status_code, error, duration_ms, session_id"
SEEN_KEPT = 2000  # feed item keys remembered per config


async def create(
    conn: AsyncConnection, workspace_id: str, owner_id: str, api_key_id: str, fields: dict[str, Any]
) -> dict[str, Any]:
    """A new config; `api_key_id` is the personal API key it was made with ("" for an access token)."""
    cur = await conn.execute(
        "INSERT INTO heartbeats (id, workspace_id, owner_id, type, url, keywords, method, expect_status,"
        " expect_contains, timeout_ms, interval_seconds, agent_id, prompt, enabled, next_run_at, api_key_id)"
        " VALUES (%(id)s, %(workspace_id)s, %(owner_id)s, %(type)s, %(url)s, %(keywords)s, %(method)s,"
        " %(expect_status)s, %(expect_contains)s, %(timeout_ms)s, %(interval_seconds)s, %(agent_id)s, %(prompt)s,"
        f" %(enabled)s, CASE WHEN %(enabled)s THEN now() END, %(api_key_id)s) RETURNING {_COLUMNS}",
        {
            "id": new_id("hb"),
            "workspace_id": workspace_id,
            "owner_id": owner_id,
            "api_key_id": api_key_id or None,
            **fields,
        },
    )
    return await cur.fetchone()  # type: ignore[return-value]


async def get(conn: AsyncConnection, workspace_id: str, heartbeat_id: str) -> dict[str, Any] | None:
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM heartbeats WHERE id = %s AND workspace_id = %s", (heartbeat_id, workspace_id)
    )
    return await cur.fetchone()


async def list_page(
    conn: AsyncConnection, workspace_id: str, agent_id: str, after: tuple[str, str] | None, limit: int
) -> list[dict[str, Any]]:
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM heartbeats WHERE workspace_id = %s AND (%s = '' OR agent_id = %s)"
        " AND (%s::timestamptz IS NULL OR (created_at, id) > (%s::timestamptz, %s))"
        " ORDER BY created_at, id LIMIT %s",
        (workspace_id, agent_id, agent_id, *_keyset(after), limit),
    )
    return await cur.fetchall()


async def set_enabled(
    conn: AsyncConnection, workspace_id: str, heartbeat_id: str, enabled: bool, api_key_id: str
) -> dict | None:
    """Enables or disables a config; whoever writes it becomes whom its runs act for: the personal API key it was
    written with, or ("") its owner alone."""
    cur = await conn.execute(
        "UPDATE heartbeats SET enabled = %s, updated_at = now(), api_key_id = %s,"
        " next_run_at = CASE WHEN NOT %s THEN NULL WHEN enabled THEN next_run_at ELSE now() END"
        f" WHERE id = %s AND workspace_id = %s RETURNING {_COLUMNS}",
        (enabled, api_key_id or None, enabled, heartbeat_id, workspace_id),
    )
    return await cur.fetchone()


async def pause_for_key(conn: AsyncConnection, heartbeat_id: str, api_key_id: str) -> None:
    """Disables a config whose key can never act again, unless it was written anew (by someone else) meanwhile."""
    await conn.execute(
        "UPDATE heartbeats SET enabled = false, next_run_at = NULL, updated_at = now()"
        " WHERE id = %s AND api_key_id = %s",
        (heartbeat_id, api_key_id),
    )


async def delete(conn: AsyncConnection, workspace_id: str, heartbeat_id: str) -> bool:
    cur = await conn.execute("DELETE FROM heartbeats WHERE id = %s AND workspace_id = %s", (heartbeat_id, workspace_id))
    return cur.rowcount > 0


async def runs_page(
    conn: AsyncConnection, heartbeat_id: str, status: str, before: tuple[str, str] | None, limit: int
) -> list[dict[str, Any]]:
    cur = await conn.execute(
        f"SELECT {_RUN_COLUMNS} FROM heartbeat_runs WHERE heartbeat_id = %s AND (%s = '' OR status = %s)"
        " AND (%s::timestamptz IS NULL OR (started_at, id) < (%s::timestamptz, %s))"
        " ORDER BY started_at DESC, id DESC LIMIT %s",
        (heartbeat_id, status, status, *_keyset(before), limit),
    )
    return await cur.fetchall()


# --- the scheduler ----------------------------------------------------------------------------------------------

# Beyond its fetch timeout, how long a run may stay 'running' (parsing its feed, which has a deadline of
# server.net.feeds.PARSE_TIMEOUT_S, and storing its outcome) before it counts as lost.
RUN_GRACE_S = 60


async def claim_due(conn: AsyncConnection, limit: int) -> list[dict[str, Any]]:
    """Due configs, each with its next run moved one interval on and a 'running' run opened, in one transaction:
    another replica skips the locked rows and, after the commit, no longer sees them as due. A config whose run is
    still in flight (younger than its timeout plus RUN_GRACE_S) waits for it instead of overlapping it; a run left
    'running' longer than that, by a worker that died, is closed as an error here."""
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM heartbeats WHERE enabled AND next_run_at <= now()"
        " AND NOT EXISTS (SELECT 1 FROM heartbeat_runs r WHERE r.heartbeat_id = heartbeats.id AND r.status = 'running'"
        "  AND r.started_at > now() - make_interval(secs => heartbeats.timeout_ms / 1000.0 + %s))"
        " ORDER BY next_run_at LIMIT %s FOR UPDATE SKIP LOCKED",
        (RUN_GRACE_S, limit),
    )
    rows = await cur.fetchall()
    for row in rows:
        await conn.execute(
            "UPDATE heartbeat_runs SET status = 'error', finished_at = now(),"
            " error = 'the run did not finish (its worker stopped or crashed)',"
            " duration_ms = extract(epoch FROM now() - started_at) * 1000"
            " WHERE heartbeat_id = %s AND status = 'running'",
            (row["id"],),
        )
        await conn.execute(
            "UPDATE heartbeats SET last_run_at = now(), next_run_at = now() + make_interval(secs => %s) WHERE id = %s",
            (row["interval_seconds"], row["id"]),
        )
        run_id = new_id("run")
        await conn.execute("INSERT INTO heartbeat_runs (id, heartbeat_id) VALUES (%s, %s)", (run_id, row["id"]))
        row["run_id"] = run_id
    return rows


async def unseen(conn: AsyncConnection, heartbeat_id: str, keys: list[str]) -> set[str]:
    cur = await conn.execute(
        "SELECT k FROM unnest(%s::text[]) AS k WHERE NOT EXISTS"
        " (SELECT 1 FROM heartbeat_seen s WHERE s.heartbeat_id = %s AND s.item_key = k)",
        (keys, heartbeat_id),
    )
    return {row["k"] for row in await cur.fetchall()}


async def mark_seen(conn: AsyncConnection, heartbeat_id: str, keys: list[str]) -> None:
    if not keys:
        return
    await conn.execute(
        "INSERT INTO heartbeat_seen (heartbeat_id, item_key) SELECT %s, k FROM unnest(%s::text[]) AS k"
        " ON CONFLICT DO NOTHING",
        (heartbeat_id, keys),
    )
    await conn.execute(
        "DELETE FROM heartbeat_seen WHERE heartbeat_id = %s AND item_key IN (SELECT item_key FROM heartbeat_seen"
        " WHERE heartbeat_id = %s ORDER BY seen_at DESC OFFSET %s)",
        (heartbeat_id, heartbeat_id, SEEN_KEPT),
    )


async def finish_run(
    conn: AsyncConnection,
    run_id: str,
    status: str,
    items: list[dict[str, Any]],
    status_code: int,
    error: str,
    duration_ms: float,
) -> bool:
    """Closes a run; False when it was already closed (as an error, by a later claim)."""
    cur = await conn.execute(
        "UPDATE heartbeat_runs SET status = %s, items = %s::jsonb, status_code = %s, error = %s, duration_ms = %s,"
        " finished_at = now() WHERE id = %s AND status = 'running'",
        (status, json.dumps(items), status_code, error, duration_ms, run_id),
    )
    return cur.rowcount > 0


async def set_state(conn: AsyncConnection, heartbeat_id: str, state: str) -> None:
    await conn.execute("UPDATE heartbeats SET state = %s WHERE id = %s", (state, heartbeat_id))


async def set_run_session(conn: AsyncConnection, run_id: str, session_id: str, error: str) -> None:
    await conn.execute(
        "UPDATE heartbeat_runs SET session_id = %s, error = CASE WHEN %s = '' THEN error ELSE %s END WHERE id = %s",
        (session_id, error, error, run_id),
    )


def _keyset(cursor: tuple[str, str] | None) -> tuple[str | None, str | None, str | None]:
    """Parameters of the "(t, id) beyond the cursor" condition; all None for the first page."""
    return (cursor[0], cursor[0], cursor[1]) if cursor else (None, None, None)
