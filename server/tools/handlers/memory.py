"""memory_search and memory_write: the agent reads and writes the memory of the user it is talking to, in the
turn's workspace."""

from __future__ import annotations

import json
from typing import Any

from server.memory import binding
from server.memory.search import TIERS, search
from server.memory.writes import DEFAULT_WEIGHT, MemoryInputError, write_daily, write_note
from server.tools.registry import handler
from server.tools.runtime import ToolContext, ToolInputError


@handler("memory_search")
async def memory_search(arguments: dict[str, Any], context: ToolContext) -> str:
    query = arguments["query"].strip()
    if not query or "\x00" in query:
        raise ToolInputError("query must be non-empty text without NUL characters")
    tiers = arguments.get("tiers") or list(TIERS)
    hits = await search(
        binding.bound(), context.user_id, context.workspace_id, query, tiers, int(arguments.get("limit") or 10)
    )
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


@handler("memory_write")
async def memory_write(arguments: dict[str, Any], context: ToolContext) -> str:
    deps = binding.bound()
    try:
        async with deps.db.transaction() as conn:
            if arguments["kind"] == "note":
                row = await write_note(conn, context.user_id, context.workspace_id, arguments["content"], "tool")
                return json.dumps({"written": "note", "index": row["idx"]})
            row = await write_daily(
                conn,
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
