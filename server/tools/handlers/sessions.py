"""session_search: full-text search over the calling user's earlier conversations in the current workspace."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from server.sessions.store import snippet_marked
from server.tools.runtime import ToolContext, ToolInputError

DEFAULT_LIMIT = 10
# Hits from the conversation that is calling the tool are left out (the model already has it); fetching a few
# more than asked keeps the answer full when some of them are.
OVERFETCH = 20


async def session_search(arguments: dict[str, Any], context: ToolContext) -> str:
    if context.messages is None:
        raise ToolInputError("session_search is not available here")
    query, limit = arguments["query"].strip(), arguments.get("limit", DEFAULT_LIMIT)
    if not query:
        raise ToolInputError("query must not be blank")
    rows = await context.messages.search(context.user_id, context.workspace_id, query, limit + OVERFETCH)
    hits = [r for r in rows if r["session_id"] != context.session_id][:limit]
    if not hits:
        return f"No earlier messages match {query!r}."
    lines = [f"{len(hits)} earlier message(s) matching {query!r}:"]
    for r in hits:
        snippet = snippet_marked(" ".join(r["snippet"].split()), "**", "**")
        lines.append(
            f"- {r['created_at'].astimezone(UTC):%Y-%m-%d %H:%M} UTC, session {r['session_id']}, {r['role']}"
            f" ({r['agent_id'] or 'unknown agent'}): {snippet}"
        )
    return "\n".join(lines)
