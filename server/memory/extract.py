"""memory.autoExtract: after a turn, the agent's own model lists what is worth remembering from the exchange,
and each item becomes a daily entry (with a memory.written event). The local provider extracts nothing."""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING, Any

from server.memory.writes import CATEGORIES, MemoryInputError, write_daily
from server.providers.base import ChatMessage, CompletionRequest, TextDelta
from server.restrictions import split_model

if TYPE_CHECKING:
    from astra.v1 import common_pb2
    from server.deps import Deps

log = logging.getLogger(__name__)

MAX_ENTRIES = 5
MAX_EXCHANGE_CHARS = 8000
PROMPT = (
    "You maintain a long-term memory about the user. From the exchange below, list the facts worth remembering "
    "later: decisions made, outcomes, strategies, notable notes or interactions. Never record secrets. Answer with "
    'only a JSON array (empty if nothing is worth keeping) of objects {"category": one of '
    + ", ".join(CATEGORIES)
    + ', "content": one short sentence, "weight": importance 0..1}.'
)


def parse_entries(text: str) -> list[dict[str, Any]]:
    """The JSON array in the model's answer (code fences and chatter around it tolerated), checked item by item."""
    match = re.search(r"\[.*\]", text, re.S)
    if not match:
        return []
    try:
        items = json.loads(match.group(0))
    except ValueError:
        return []
    entries = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or item.get("category") not in CATEGORIES:
            continue
        content = item.get("content")
        if not isinstance(content, str) or not content.strip():
            continue
        weight = item.get("weight", 0.5)
        weight = min(1.0, max(0.0, float(weight))) if isinstance(weight, int | float) else 0.5
        entries.append({"category": item["category"], "content": content.strip()[:4000], "weight": weight})
    return entries[:MAX_ENTRIES]


async def extract(
    deps: Deps, agent: common_pb2.Agent, user_id: str, workspace_id: str, session_id: str, user: str, reply: str
) -> int:
    """Runs the extraction; returns how many entries were written."""
    provider, model_id = split_model(agent.model)
    if provider == "local":
        return 0
    exchange = f"User: {user}\n\nAssistant: {reply}"[:MAX_EXCHANGE_CHARS]
    request = CompletionRequest(
        model=model_id,
        messages=(ChatMessage("system", PROMPT), ChatMessage("user", exchange)),
        temperature=0.0,
        max_output_tokens=512,
        base_url=agent.base_url,
    )
    text = ""
    async for event in deps.providers.stream(provider, request):
        if isinstance(event, TextDelta):
            text += event.text
    entries = parse_entries(text)
    if not entries:
        return 0
    async with deps.db.transaction() as conn:
        for entry in entries:
            try:
                await write_daily(
                    conn,
                    user_id,
                    workspace_id,
                    entry["category"],
                    entry["content"],
                    entry["weight"],
                    session_id,
                    "extract",
                )
            except MemoryInputError:
                continue
    return len(entries)
