"""memory_search and memory_write: the agent reads and writes the memory of the user it is talking to, in the
turn's workspace."""

from __future__ import annotations

import json
from typing import Any

from server.memory.access import MemoryAccess
from server.memory.search import TIERS
from server.memory.writes import DEFAULT_WEIGHT, MemoryInputError
from server.tools.runtime import ToolContext, ToolInputError


def _memory(context: ToolContext) -> MemoryAccess:
    if context.memory is None:
        raise ToolInputError("memory is not available here")
    return context.memory


async def memory_search(arguments: dict[str, Any], context: ToolContext) -> str:
    query = arguments["query"].strip()
    if not query or "\x00" in query:
        raise ToolInputError("query must be non-empty text without NUL characters")
    tiers = arguments.get("tiers") or list(TIERS)
    limit = int(arguments.get("limit") or 10)
    hits = await _memory(context).search(context.user_id, context.workspace_id, query, tiers, limit)
    return json.dumps(
        [
            {
                "tier": h.tier,
                "sourceId": h.source_id,
                "content": h.content,
                "score": round(h.score, 6),
                "createdAt": h.created_at.isoformat(),
            }
            for h in hits
        ],
        ensure_ascii=False,
    )


async def memory_write(arguments: dict[str, Any], context: ToolContext) -> str:
    memory = _memory(context)
    try:
        if arguments["kind"] == "note":
            row = await memory.write_note(context.user_id, context.workspace_id, arguments["content"], "tool")
            return json.dumps({"written": "note", "index": row["idx"]})
        row = await memory.write_daily(
            context.user_id,
            context.workspace_id,
            arguments.get("category") or "note",
            arguments["content"],
            float(arguments.get("weight", DEFAULT_WEIGHT)),
            context.session_id or None,
            "tool",
        )
        return json.dumps({"written": "daily", "date": row["day"].isoformat(), "index": row["idx"]})
    except MemoryInputError as exc:
        raise ToolInputError(str(exc)) from None
