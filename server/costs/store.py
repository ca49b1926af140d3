"""Cost queries over usage_records (one row per turn: tokens, their price and the personal API key it was run with)
and tool_calls (one row per tool call, with the tool's own price if it has one). Periods are UTC months and days."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

# The personal API key of a priced tool call: its turn's (same session, same transaction time; see spend_by_tool).
_TOOL_KEY = (
    "(SELECT u.api_key_id FROM usage_records u WHERE u.workspace_id = t.workspace_id"
    " AND u.session_id = t.session_id AND u.created_at = t.created_at LIMIT 1)"
)
# Spend rows of a workspace in [start, end): turns, and tool calls that cost something on their own.
_SPEND = (
    "SELECT agent_id, provider, model, api_key_id, created_at, cost_usd, prompt_tokens, completion_tokens,"
    "  1 AS requests"
    " FROM usage_records"
    " WHERE workspace_id = %(ws)s AND created_at >= %(start)s AND created_at < %(end)s"
    "  AND (%(agent)s = '' OR agent_id = %(agent)s) AND (%(key)s = '' OR api_key_id = %(key)s)"
    " UNION ALL"
    " SELECT * FROM ("
    "  SELECT agent_id, NULL AS provider, NULL AS model, " + _TOOL_KEY + " AS api_key_id, created_at, cost_usd, 0, 0, 0"
    "  FROM tool_calls t"
    "  WHERE workspace_id = %(ws)s AND created_at >= %(start)s AND created_at < %(end)s"
    "   AND (%(agent)s = '' OR agent_id = %(agent)s) AND cost_usd <> 0) tools"
    " WHERE %(key)s = '' OR api_key_id = %(key)s"
)
# GROUPING(agent_id, provider, model, api_key_id, period): a bit is set for each column a row is NOT grouped by.
_GROUPS = {31: "total", 15: "agent", 23: "provider", 27: "model", 29: "api_key", 30: "period"}


async def spend(
    conn: AsyncConnection,
    workspace_id: str,
    start: datetime,
    end: datetime,
    period_format: str,
    agent_id: str = "",
    api_key_id: str = "",
) -> dict[str, list[dict[str, Any]]]:
    """Sums in one pass, keyed by grouping ("total", "agent", "provider", "model", "api_key", "period"); each row has
    key, cost_usd, prompt_tokens, completion_tokens, requests. Provider and model cover turns only (tool prices have
    neither); api_key covers what was run with a personal API key."""
    cur = await conn.execute(
        f"WITH spend AS ({_SPEND}),"
        " keyed AS (SELECT *, to_char(created_at AT TIME ZONE 'UTC', %(fmt)s) AS period FROM spend)"
        " SELECT GROUPING(agent_id, provider, model, api_key_id, period) AS grouping,"
        "  coalesce(agent_id, provider, model, api_key_id, period) AS key, coalesce(sum(cost_usd), 0) AS cost_usd,"
        "  coalesce(sum(prompt_tokens), 0) AS prompt_tokens, coalesce(sum(completion_tokens), 0) AS completion_tokens,"
        "  coalesce(sum(requests), 0) AS requests"
        " FROM keyed GROUP BY GROUPING SETS ((), (agent_id), (provider), (model), (api_key_id), (period))"
        " ORDER BY cost_usd DESC, key",
        {
            "ws": workspace_id,
            "start": start,
            "end": end,
            "agent": agent_id,
            "key": api_key_id,
            "fmt": period_format,
        },
    )
    groups: dict[str, list[dict[str, Any]]] = {name: [] for name in _GROUPS.values()}
    for row in await cur.fetchall():
        name = _GROUPS[row["grouping"]]
        if row["key"] is None and name != "total":
            continue  # tool-call spend has no provider or model, and spend without a key no key
        groups[name].append(row)
    return groups


async def spend_by_tool(
    conn: AsyncConnection, workspace_id: str, start: datetime, end: datetime, agent_id: str = "", api_key_id: str = ""
) -> list[dict[str, Any]]:
    """Per tool: the spend of the turns that called it (a turn calling two tools counts under both) plus the tool's
    own price. A turn's tool calls and its usage row are written in one transaction, so they share created_at
    (the transaction's now()) and session_id: that is how they are matched (and how a tool call gets its turn's
    personal API key, for `api_key_id`)."""
    cur = await conn.execute(
        "WITH calls AS ("
        "  SELECT tool, session_id, created_at, sum(cost_usd) AS tool_cost FROM tool_calls"
        "  WHERE workspace_id = %(ws)s AND created_at >= %(start)s AND created_at < %(end)s"
        "   AND (%(agent)s = '' OR agent_id = %(agent)s)"
        "  GROUP BY tool, session_id, created_at)"
        " SELECT c.tool AS key, sum(coalesce(u.cost_usd, 0) + c.tool_cost) AS cost_usd,"
        "  coalesce(sum(u.prompt_tokens), 0) AS prompt_tokens,"
        "  coalesce(sum(u.completion_tokens), 0) AS completion_tokens,"
        "  count(u.id) AS requests"
        " FROM calls c LEFT JOIN usage_records u"
        "  ON u.workspace_id = %(ws)s AND u.session_id = c.session_id AND u.created_at = c.created_at"
        " WHERE %(key)s = '' OR u.api_key_id = %(key)s"
        " GROUP BY c.tool ORDER BY cost_usd DESC, key",
        {"ws": workspace_id, "start": start, "end": end, "agent": agent_id, "key": api_key_id},
    )
    return await cur.fetchall()
