"""What the model sees: system prompt, active skills' prompt context, and as much history as fits the budget."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from astra.v1 import common_pb2
from server.providers.base import ChatMessage, ToolCallRequest
from server.skills.catalog import Catalog

PER_MESSAGE_OVERHEAD = 4


def estimate_tokens(text: str) -> int:
    """About four characters per token for English: the budget only needs to be roughly right."""
    return math.ceil(len(text) / 4) + PER_MESSAGE_OVERHEAD


def system_prompt(agent: common_pb2.Agent, catalog: Catalog) -> str:
    parts = [agent.system_prompt.strip()] if agent.system_prompt.strip() else []
    for skill_id in agent.skills:
        skill = catalog.skills.get(skill_id)
        if skill and skill.prompt_context:
            parts.append(f"## Skill: {skill.display_name}\n{skill.prompt_context}")
    return "\n\n".join(parts)


def _as_message(row: dict[str, Any]) -> ChatMessage:
    calls = tuple(
        ToolCallRequest(c["id"], c["name"], c["arguments"]) for c in ((row["tool_calls"] or {}).get("calls") or [])
    )
    return ChatMessage(
        role=row["role"],
        content=row["content"],
        tool_calls=calls,
        tool_call_id=row["tool_call_id"] or "",
        name=row["tool_name"] or "",
    )


def as_row(message: ChatMessage) -> dict[str, Any]:
    """A message the caller brought (not stored), in the shape of a history row."""
    calls = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in message.tool_calls]
    return {
        "role": message.role,
        "content": message.content,
        "tool_calls": {"calls": calls} if calls else None,
        "tool_call_id": message.tool_call_id or None,
        "tool_name": message.name or None,
    }


def build_context(
    agent: common_pb2.Agent, catalog: Catalog, history: list[dict[str, Any]], memory: str = "", extra_system: str = ""
) -> tuple[list[ChatMessage], int]:
    """(messages for the model, how many history messages were left out). Oldest turns go first; a tool result
    is never kept without the assistant message that asked for it. `extra_system` (the caller's own system
    messages), then `memory` (profile and recalled memories), are appended to the system prompt."""
    parts = (system_prompt(agent, catalog), extra_system, memory)
    system = "\n\n".join(part for part in parts if part)
    budget = agent.max_context_tokens - agent.max_output_tokens - (estimate_tokens(system) if system else 0)
    kept: list[ChatMessage] = []
    for row in reversed(history):
        cost = estimate_tokens(row["content"]) + sum(estimate_tokens(c.arguments) for c in _as_message(row).tool_calls)
        if cost > budget and kept:
            break
        budget -= cost
        kept.append(_as_message(row))
    kept.reverse()
    while kept and kept[0].role == "tool":
        kept.pop(0)
    dropped = len(history) - len(kept)
    messages = [ChatMessage("system", system)] if system else []
    if dropped:
        messages.append(ChatMessage("system", f"[{dropped} earlier messages of this conversation are omitted]"))
    return messages + kept, dropped


def session_expired(last_activity: datetime, now: datetime, settings: dict[str, Any]) -> bool:
    """Whether the workspace's idle timeout or daily reset hour has ended this session."""
    idle = settings.get("sessionIdleTimeoutMinutes")
    if idle and now - last_activity > timedelta(minutes=int(idle)):
        return True
    hour = settings.get("dailyResetHour")
    if hour is None:
        return False
    try:
        zone = ZoneInfo(settings.get("timezone") or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local_now = now.astimezone(zone)
    boundary = local_now.replace(hour=int(hour), minute=0, second=0, microsecond=0)
    if boundary > local_now:
        boundary -= timedelta(days=1)
    return last_activity < boundary
