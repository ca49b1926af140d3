"""The SQL of a turn's two writes, each one statement (data-modifying CTEs): the user's message when the turn starts,
the reply when it ends. One statement instead of a pipeline of six to eight is what the reply costs the gateway's
CPU (psycopg spends about as much per statement as PostgreSQL does running it here), and a single statement in
autocommit is its own transaction: all of it is stored or none."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection

from server.events import EVENT_TYPES, envelope
from server.ids import new_id

_USER_MESSAGE = """
WITH s AS (UPDATE sessions SET message_count = message_count + %(added)s, last_activity_at = now()
           WHERE id = %(session)s AND status = 'active' RETURNING id),
 m AS (INSERT INTO messages (id, session_id, role, content, agent_id)
       SELECT %(message)s, s.id, 'user', %(content)s, %(agent)s FROM s WHERE %(store)s),
 p AS (INSERT INTO presence (user_id, workspace_id, agent_id, state, session_id, tool_name, turn_id)
       SELECT %(user)s, %(ws)s, %(agent)s, 'thinking', s.id, '', %(turn)s FROM s
       ON CONFLICT (user_id, workspace_id, agent_id) DO UPDATE SET state = 'thinking',
         session_id = EXCLUDED.session_id, tool_name = '', turn_id = EXCLUDED.turn_id, since = now()),
 f AS (INSERT INTO turns_in_flight (turn_id, instance_id, session_id, user_id, workspace_id, agent_id)
       SELECT %(turn)s, %(instance)s, s.id, %(user)s, %(ws)s, %(agent)s FROM s WHERE %(instance)s::text IS NOT NULL)
SELECT count(*) AS active FROM s
"""

# Messages keep the order of the list (seq is assigned in the SELECT's order); the payloads are JSON documents read
# into each table's own row type, so a turn with any number of messages and tool calls is still one statement.
_REPLY = """
WITH m AS (INSERT INTO messages (id, session_id, role, content, agent_id, tool_calls, tool_call_id, tool_name,
                                 prompt_tokens, completion_tokens, cost_usd, error)
           SELECT r.id, r.session_id, r.role, r.content, r.agent_id, r.tool_calls, r.tool_call_id, r.tool_name,
                  r.prompt_tokens, r.completion_tokens, r.cost_usd, r.error
           FROM jsonb_array_elements(%(messages)s::jsonb) WITH ORDINALITY AS e(doc, n),
                jsonb_populate_record(NULL::messages, e.doc) AS r
           ORDER BY e.n),
 t AS (INSERT INTO tool_calls (id, workspace_id, session_id, agent_id, tool, status, duration_ms, cost_usd)
       SELECT r.id, r.workspace_id, r.session_id, r.agent_id, r.tool, r.status, r.duration_ms, r.cost_usd
       FROM jsonb_populate_recordset(NULL::tool_calls, %(tool_calls)s::jsonb) AS r),
 u AS (INSERT INTO usage_records (id, workspace_id, user_id, agent_id, session_id, provider, model, prompt_tokens,
                                  completion_tokens, cost_usd, api_key_id)
       VALUES (%(usage)s, %(ws)s, %(user)s, %(agent)s, %(session)s, %(provider)s, %(model)s, %(prompt)s,
               %(completion)s, %(cost)s, %(key)s)),
 s AS (UPDATE sessions SET message_count = message_count + %(added)s, last_activity_at = now()
       WHERE id = %(session)s),
 p AS (UPDATE presence SET state = 'idle', tool_name = '', since = now()
       WHERE user_id = %(user)s AND workspace_id = %(ws)s AND agent_id = %(agent)s AND turn_id = %(turn)s
         AND state <> 'idle'),
 f AS (DELETE FROM turns_in_flight WHERE turn_id = %(turn)s)
INSERT INTO events (id, workspace_id, type, payload) VALUES (%(event)s, %(ws)s, %(event_type)s, %(payload)s)
"""


async def user_message(
    conn: AsyncConnection,
    *,
    session_id: str,
    user_id: str,
    workspace_id: str,
    agent_id: str,
    content: str,
    turn_id: str,
    instance_id: str | None,
    store: bool = True,
) -> bool:
    """The user's message, the session's activity, the agent's presence ('thinking') and, with an `instance_id`, the
    turn's in-flight stamp (server/chat/recovery.py), only while the session is still active: False when it was
    archived in the meantime. With `store` false, no message (a turn that brings none: it answers tool calls)."""
    cur = await conn.execute(
        _USER_MESSAGE,
        {
            "added": int(store),
            "store": store,
            "session": session_id,
            "message": new_id("msg"),
            "content": content,
            "agent": agent_id,
            "user": user_id,
            "ws": workspace_id,
            "turn": turn_id,
            "instance": instance_id,
        },
    )
    row = await cur.fetchone()
    return bool(row and row["active"])


async def reply(
    conn: AsyncConnection,
    *,
    turn_id: str,
    session_id: str,
    user_id: str,
    workspace_id: str,
    agent_id: str,
    messages: list[dict[str, Any]],
    tool_calls: list[dict[str, Any]],
    usage: dict[str, Any],
    event_type: str,
    event: dict[str, Any],
) -> None:
    """The reply's messages (rows of sessions.message_row, in order), its tool calls, its usage record, the session's
    activity, presence back to idle (unless a newer turn took over), the in-flight stamp dropped, and its event."""
    assert event_type in EVENT_TYPES, event_type
    await conn.execute(
        _REPLY,
        {
            "messages": json.dumps(messages, default=_plain),
            "tool_calls": json.dumps([{"id": new_id("tc"), **call} for call in tool_calls], default=_plain),
            "usage": new_id("use"),
            "ws": workspace_id,
            "user": user_id,
            "agent": agent_id,
            "session": session_id,
            "provider": usage["provider"],
            "model": usage["model"],
            "prompt": usage["prompt_tokens"],
            "completion": usage["completion_tokens"],
            "cost": usage["cost_usd"],
            "key": usage["api_key_id"] or None,
            "added": len(messages),
            "turn": turn_id,
            "event": new_id("evt"),
            "event_type": event_type,
            "payload": envelope(event_type, event),
        },
    )


def _plain(value: Any) -> Any:
    """Decimals as exact strings (numeric columns read them back unchanged)."""
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
