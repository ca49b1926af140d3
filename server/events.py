"""Domain events (agent.completed, agent.failed, session.handoff, memory.written, heartbeat.fired, ...).

`emit` is one INSERT on the caller's connection, so an event commits or rolls back with its cause; delivery
(webhooks) happens later, from the table, in a background worker.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection

from server.ids import new_id

EVENT_TYPES = (
    "agent.completed",
    "agent.failed",
    "session.handoff",
    "memory.written",
    "heartbeat.fired",
    "webhook.test",
)


def envelope(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"type": event_type, "timestamp": datetime.now(UTC).isoformat(), "data": data}


async def emit(conn: AsyncConnection, workspace_id: str, event_type: str, data: dict[str, Any]) -> str:
    """Records an event for the workspace; returns its id."""
    assert event_type in EVENT_TYPES, event_type
    event_id = new_id("evt")
    await conn.execute(
        "INSERT INTO events (id, workspace_id, type, payload) VALUES (%s, %s, %s, %s)",
        (event_id, workspace_id, event_type, envelope(event_type, data)),
    )
    return event_id
