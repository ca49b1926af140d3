"""SQL of the webhooks domain: subscriptions, delivery attempts and the dispatcher's claims."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection

from server.ids import new_id

_COLUMNS = "id, workspace_id, url, events, description, enabled, secret, disabled_reason, created_at, updated_at"
_DELIVERY_COLUMNS = (
    "id, webhook_id, event_id, event_type, attempt, status, status_code, latency_ms, response_excerpt, error,"
    " next_retry_at, delivered_at, created_at"
)


async def create(
    conn: AsyncConnection,
    workspace_id: str,
    url: str,
    events: list[str],
    description: str,
    enabled: bool,
    secret: str,
    user_id: str,
) -> dict[str, Any]:
    cur = await conn.execute(
        "INSERT INTO webhooks (id, workspace_id, url, events, description, enabled, secret, created_by)"
        f" VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
        (new_id("wh"), workspace_id, url, events, description, enabled, secret, user_id or None),
    )
    return await cur.fetchone()  # type: ignore[return-value]


async def get(conn: AsyncConnection, workspace_id: str, webhook_id: str, lock: bool = False) -> dict[str, Any] | None:
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM webhooks WHERE id = %s AND workspace_id = %s" + (" FOR UPDATE" if lock else ""),
        (webhook_id, workspace_id),
    )
    return await cur.fetchone()


async def list_page(
    conn: AsyncConnection, workspace_id: str, after: tuple[str, str] | None, limit: int
) -> list[dict[str, Any]]:
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM webhooks WHERE workspace_id = %s"
        " AND (%s::timestamptz IS NULL OR (created_at, id) > (%s::timestamptz, %s))"
        " ORDER BY created_at, id LIMIT %s",
        (workspace_id, *_keyset(after), limit),
    )
    return await cur.fetchall()


async def update(
    conn: AsyncConnection,
    webhook_id: str,
    url: str,
    events: list[str],
    description: str,
    enabled: bool,
    secret: str | None,
) -> dict[str, Any]:
    cur = await conn.execute(
        "UPDATE webhooks SET url = %s, events = %s, description = %s, enabled = %s,"
        " secret = coalesce(%s, secret), updated_at = now(),"
        " disabled_reason = CASE WHEN %s THEN '' ELSE disabled_reason END"
        f" WHERE id = %s RETURNING {_COLUMNS}",
        (url, events, description, enabled, secret, enabled, webhook_id),
    )
    return await cur.fetchone()  # type: ignore[return-value]


async def delete(conn: AsyncConnection, workspace_id: str, webhook_id: str) -> bool:
    cur = await conn.execute("DELETE FROM webhooks WHERE id = %s AND workspace_id = %s", (webhook_id, workspace_id))
    return cur.rowcount > 0


async def deliveries_page(
    conn: AsyncConnection, webhook_id: str, status: str, before: tuple[str, str] | None, limit: int
) -> list[dict[str, Any]]:
    """Newest first, keyset-paged on (created_at, id)."""
    cur = await conn.execute(
        f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = %s"
        " AND (%s = '' OR status = %s)"
        " AND (%s::timestamptz IS NULL OR (created_at, id) < (%s::timestamptz, %s))"
        " ORDER BY created_at DESC, id DESC LIMIT %s",
        (webhook_id, status, status, *_keyset(before), limit),
    )
    return await cur.fetchall()


async def record_test(
    conn: AsyncConnection, webhook_id: str, event_id: str, event_type: str, attempt: Any
) -> dict[str, Any]:
    """The record of a test dispatch (sent already, never retried)."""
    cur = await conn.execute(
        "INSERT INTO webhook_deliveries (id, webhook_id, event_id, event_type, status, status_code, latency_ms,"
        " response_excerpt, error, delivered_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s,"
        f" CASE WHEN %s THEN now() END) RETURNING {_DELIVERY_COLUMNS}",
        (
            new_id("whd"),
            webhook_id,
            event_id,
            event_type,
            "delivered" if attempt.ok else "failed",
            attempt.status_code,
            attempt.latency_ms,
            attempt.excerpt,
            attempt.error,
            attempt.ok,
        ),
    )
    return await cur.fetchone()  # type: ignore[return-value]


# --- the dispatcher ---------------------------------------------------------------------------------------------


async def claim_due(conn: AsyncConnection, limit: int) -> list[dict[str, Any]]:
    """Due attempts of enabled webhooks, locked for this transaction; other replicas skip them."""
    cur = await conn.execute(
        "SELECT d.id, d.webhook_id, d.event_id, d.event_type, d.attempt, w.url, w.secret, e.payload"
        " FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id JOIN events e ON e.id = d.event_id"
        " WHERE d.status = 'pending' AND d.due_at <= now() AND w.enabled"
        " ORDER BY d.due_at LIMIT %s FOR UPDATE OF d SKIP LOCKED",
        (limit,),
    )
    return await cur.fetchall()


async def record_attempt(
    conn: AsyncConnection, row: dict[str, Any], attempt: Any, schedule: tuple[int, ...], now: datetime
) -> None:
    """Stores the attempt's outcome; a failure with retries left queues the next attempt, a 410 disables the
    webhook and fails what it still had queued."""
    retry_at = None
    if not attempt.ok and not attempt.gone and row["attempt"] <= len(schedule):
        retry_at = now + timedelta(seconds=schedule[row["attempt"] - 1])
    await conn.execute(
        "UPDATE webhook_deliveries SET status = %s, status_code = %s, latency_ms = %s, response_excerpt = %s,"
        " error = %s, next_retry_at = %s, delivered_at = CASE WHEN %s THEN now() END WHERE id = %s",
        (
            "delivered" if attempt.ok else "failed",
            attempt.status_code,
            attempt.latency_ms,
            attempt.excerpt,
            attempt.error,
            retry_at,
            attempt.ok,
            row["id"],
        ),
    )
    if retry_at is not None:
        await conn.execute(
            "INSERT INTO webhook_deliveries (id, webhook_id, event_id, event_type, attempt, due_at)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (new_id("whd"), row["webhook_id"], row["event_id"], row["event_type"], row["attempt"] + 1, retry_at),
        )
    if attempt.gone:
        await conn.execute(
            "UPDATE webhooks SET enabled = false, updated_at = now(),"
            " disabled_reason = 'the receiver answered 410 Gone' WHERE id = %s",
            (row["webhook_id"],),
        )
        await conn.execute(
            "UPDATE webhook_deliveries SET status = 'failed',"
            " error = 'webhook disabled: the receiver answered 410 Gone'"
            " WHERE id IN (SELECT id FROM webhook_deliveries WHERE webhook_id = %s AND status = 'pending' AND id <> %s"
            " FOR UPDATE SKIP LOCKED)",  # rows another replica holds are its to record; they stay paused
            (row["webhook_id"], row["id"]),
        )


def _keyset(cursor: tuple[str, str] | None) -> tuple[str | None, str | None, str | None]:
    """Parameters of the "(t, id) beyond the cursor" condition; all None for the first page."""
    return (cursor[0], cursor[0], cursor[1]) if cursor else (None, None, None)
