"""SQL of sessions and their messages (the chat turn writes through here too)."""

from __future__ import annotations

import html
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection

from server.ids import new_id

SESSION_COLUMNS = (
    "id, workspace_id, user_id, agent_id, origin_agent_id, surface, surface_id, status, message_count,"
    " created_at, last_activity_at, archived_at"
)
# How a chat turn finds its session: by id (the caller's own), or the active one for (user, workspace, agent, surface).
SESSION_LOOKUPS = {
    "own": "id = %(session)s AND user_id = %(user)s AND workspace_id = %(workspace)s",
    "active": "user_id = %(user)s AND workspace_id = %(workspace)s AND origin_agent_id = %(agent)s"
    " AND surface = %(surface)s AND surface_id = %(surface_id)s AND status = 'active'",
}
MESSAGE_COLUMNS = (
    "id, seq, session_id, role, content, agent_id, tool_calls, tool_call_id, tool_name, prompt_tokens,"
    " completion_tokens, cost_usd, error, created_at"
)


async def lock_own_session(
    conn: AsyncConnection, session_id: str, user_id: str, workspace_id: str
) -> dict[str, Any] | None:
    """The caller's session in this workspace, locked for the turn; None for anyone else's."""
    return await _find(conn, "own", {"session": session_id, "user": user_id, "workspace": workspace_id}, lock=True)


async def own_session(conn: AsyncConnection, session_id: str, user_id: str, workspace_id: str) -> dict[str, Any] | None:
    return await _find(conn, "own", {"session": session_id, "user": user_id, "workspace": workspace_id})


async def active_session(
    conn: AsyncConnection,
    user_id: str,
    workspace_id: str,
    agent_id: str,
    surface: str,
    surface_id: str,
    lock: bool = False,
) -> dict[str, Any] | None:
    """The active session for the key; `lock` (in a transaction) holds it until commit."""
    params = {
        "user": user_id,
        "workspace": workspace_id,
        "agent": agent_id,
        "surface": surface,
        "surface_id": surface_id,
    }
    return await _find(conn, "active", params, lock=lock)


async def _find(
    conn: AsyncConnection, lookup: str, params: dict[str, Any], lock: bool = False
) -> dict[str, Any] | None:
    cur = await conn.execute(
        f"SELECT {SESSION_COLUMNS} FROM sessions WHERE {SESSION_LOOKUPS[lookup]}" + (" FOR UPDATE" if lock else ""),
        params,
    )
    return await cur.fetchone()


def with_history(lookup: str) -> str:
    """A query for the session `lookup` (a SESSION_LOOKUPS key) finds, with the newest %(limit)s messages of that
    session as `history` (oldest first; the fields the model's context needs): a chat turn needs both before it
    can call the model, in one statement. `history` splits them apart."""
    return (
        f"SELECT {SESSION_COLUMNS}, (SELECT coalesce(json_agg(h ORDER BY h.seq), '[]') FROM"
        "  (SELECT seq, role, content, tool_calls, tool_call_id, tool_name FROM messages"
        "   WHERE session_id = sessions.id ORDER BY seq DESC LIMIT %(limit)s) h) AS history"
        f" FROM sessions WHERE {SESSION_LOOKUPS[lookup]}"
    )


def history(row: dict[str, Any] | None) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """(the session, its history) from a `with_history` row."""
    if row is None:
        return None, []
    return row, row.pop("history")


async def open_session(
    conn: AsyncConnection, user_id: str, workspace_id: str, agent_id: str, surface: str, surface_id: str
) -> tuple[dict[str, Any], bool]:
    """The active session for the key, created when there is none; (row, created). Safe against a concurrent
    first message on another replica: the partial unique index lets only one insert win."""
    cur = await conn.execute(
        "INSERT INTO sessions (id, workspace_id, user_id, agent_id, origin_agent_id, surface, surface_id)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (user_id, workspace_id, origin_agent_id, surface, surface_id) WHERE status = 'active'"
        f" DO NOTHING RETURNING {SESSION_COLUMNS}",
        (new_id("ses"), workspace_id, user_id, agent_id, agent_id, surface, surface_id),
    )
    row = await cur.fetchone()
    if row is not None:
        return row, True
    existing = await active_session(conn, user_id, workspace_id, agent_id, surface, surface_id)
    assert existing is not None
    return existing, False


async def archive(conn: AsyncConnection, session_id: str) -> None:
    await conn.execute(
        "UPDATE sessions SET status = 'archived', archived_at = now() WHERE id = %s AND status = 'active'",
        (session_id,),
    )


async def insert_message(
    conn: AsyncConnection,
    session_id: str,
    role: str,
    content: str,
    *,
    agent_id: str = "",
    tool_calls: list[dict[str, str]] | None = None,
    tool_call_id: str = "",
    tool_name: str = "",
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    cost_usd: Decimal = Decimal(0),
    error: str = "",
) -> dict[str, Any]:
    cur = await conn.execute(
        "INSERT INTO messages (id, session_id, role, content, agent_id, tool_calls, tool_call_id, tool_name,"
        " prompt_tokens, completion_tokens, cost_usd, error) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        f" RETURNING {MESSAGE_COLUMNS}",
        (
            new_id("msg"),
            session_id,
            role,
            content,
            agent_id or None,
            {"calls": tool_calls} if tool_calls else None,
            tool_call_id or None,
            tool_name or None,
            prompt_tokens,
            completion_tokens,
            cost_usd,
            error or None,
        ),
    )
    row = await cur.fetchone()
    assert row is not None
    return row


async def touch(conn: AsyncConnection, session_id: str, added_messages: int) -> None:
    await conn.execute(
        "UPDATE sessions SET message_count = message_count + %s, last_activity_at = now() WHERE id = %s",
        (added_messages, session_id),
    )


async def messages_page(
    conn: AsyncConnection, session_id: str, before_seq: int | None, limit: int
) -> list[dict[str, Any]]:
    """A page of history going back in time: the `limit` newest messages older than before_seq (all when None),
    oldest first."""
    cur = await conn.execute(
        f"SELECT {MESSAGE_COLUMNS} FROM (SELECT {MESSAGE_COLUMNS} FROM messages WHERE session_id = %(session)s"
        " AND (%(before)s::bigint IS NULL OR seq < %(before)s) ORDER BY seq DESC LIMIT %(limit)s) page ORDER BY seq",
        {"session": session_id, "before": before_seq, "limit": limit},
    )
    return await cur.fetchall()


async def list_sessions(
    conn: AsyncConnection,
    user_id: str,
    workspace_id: str,
    status: str,
    agent_id: str,
    surface: str,
    after: tuple[str, str] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """The caller's sessions in the workspace, most recently active first."""
    cur = await conn.execute(
        f"SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = %(user)s AND workspace_id = %(ws)s"
        " AND (%(status)s = '' OR status = %(status)s) AND (%(agent)s = '' OR agent_id = %(agent)s)"
        " AND (%(surface)s = '' OR surface = %(surface)s)"
        " AND (%(t)s::timestamptz IS NULL OR (last_activity_at, id) < (%(t)s::timestamptz, %(id)s))"
        " ORDER BY last_activity_at DESC, id DESC LIMIT %(limit)s",
        {
            "user": user_id,
            "ws": workspace_id,
            "status": status,
            "agent": agent_id,
            "surface": surface,
            "t": after[0] if after else None,
            "id": after[1] if after else None,
            "limit": limit,
        },
    )
    return await cur.fetchall()


async def search_messages(
    conn: AsyncConnection,
    user_id: str,
    workspace_id: str,
    query: str,
    agent_id: str,
    role: str,
    offset: int,
    limit: int,
) -> list[dict[str, Any]]:
    """Full-text search over the caller's messages in the workspace, best first, with highlighted snippets."""
    cur = await conn.execute(
        "SELECT m.id, m.session_id, coalesce(m.agent_id, s.agent_id) AS agent_id, m.role, m.created_at,"
        "  ts_rank_cd(m.tsv, q) AS score,"
        # Markers no message can hold (stripped from the text first), so snippet_html can escape everything else.
        "  ts_headline('english', translate(m.content, chr(2) || chr(3), ''), q,"
        "    'StartSel=' || chr(2) || ', StopSel=' || chr(3) || ', MaxWords=30, MinWords=10') AS snippet"
        " FROM messages m JOIN sessions s ON s.id = m.session_id, websearch_to_tsquery('english', %(q)s) q"
        " WHERE s.user_id = %(user)s AND s.workspace_id = %(ws)s AND m.tsv @@ q"
        " AND (%(agent)s = '' OR coalesce(m.agent_id, s.agent_id) = %(agent)s) AND (%(role)s = '' OR m.role = %(role)s)"
        " ORDER BY score DESC, m.created_at DESC, m.id OFFSET %(offset)s LIMIT %(limit)s",
        {
            "q": query,
            "user": user_id,
            "ws": workspace_id,
            "agent": agent_id,
            "role": role,
            "offset": offset,
            "limit": limit,
        },
    )
    return await cur.fetchall()


def snippet_html(snippet: str) -> str:
    """A search_messages excerpt as safe HTML: the text escaped, the matches wrapped in <mark> (the only tags)."""
    return snippet_marked(html.escape(snippet, quote=True), "<mark>", "</mark>")


def snippet_marked(snippet: str, start: str, stop: str) -> str:
    """A search_messages excerpt with its matches between `start` and `stop` (e.g. ** for a model)."""
    return snippet.replace("\x02", start).replace("\x03", stop)


async def set_agent(conn: AsyncConnection, session_id: str, agent_id: str) -> None:
    await conn.execute(
        "UPDATE sessions SET agent_id = %s, last_activity_at = now() WHERE id = %s", (agent_id, session_id)
    )


MESSAGE_INSERT = (
    "INSERT INTO messages (id, session_id, role, content, agent_id, tool_calls, tool_call_id, tool_name,"
    " prompt_tokens, completion_tokens, cost_usd, error)"
    " VALUES (%(id)s, %(session_id)s, %(role)s, %(content)s, %(agent_id)s, %(tool_calls)s, %(tool_call_id)s,"
    " %(tool_name)s, %(prompt_tokens)s, %(completion_tokens)s, %(cost_usd)s, %(error)s)"
)


def message_row(session_id: str, role: str, content: str, agent_id: str, **fields: Any) -> dict[str, Any]:
    """A row for MESSAGE_INSERT with a fresh id; unset fields take their empty values."""
    return {
        "id": new_id("msg"),
        "session_id": session_id,
        "role": role,
        "content": content,
        "agent_id": agent_id or None,
        "tool_calls": None,
        "tool_call_id": None,
        "tool_name": None,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "cost_usd": Decimal(0),
        "error": None,
        **fields,
    }


async def append_messages(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Inserts many messages in one pipelined batch."""
    if rows:
        async with conn.cursor() as cur:
            await cur.executemany(MESSAGE_INSERT, rows)
