"""Memory before inference: the profile in full and the best hits for the user's message, within the agent's
memory settings. The cost on the time to first token is one query embedding (started while the turn's own
database work runs) and one transaction."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from astra.v1 import common_pb2
from server.memory import store
from server.memory.search import Hit, _source_id

if TYPE_CHECKING:
    from server.deps import Deps

DEFAULT_CHUNKS = 5
MAX_PROFILE_CHARS = 8000


@dataclass
class Recall:
    profile: dict[str, Any] | None = None
    hits: list[Hit] = field(default_factory=list)

    def render(self) -> str:
        """The memory section of the system prompt; empty when there is nothing to say."""
        parts = []
        if self.profile:
            text = json.dumps(self.profile, ensure_ascii=False, indent=1)[:MAX_PROFILE_CHARS]
            parts.append(f"## What you know about the user (profile)\n{text}")
        if self.hits:
            lines = [f"- [{h.tier} {h.created_at.date().isoformat()}] {h.content}" for h in self.hits]
            parts.append("## Relevant memories\n" + "\n".join(lines))
        return "\n\n".join(parts)


def wanted(memory: common_pb2.MemoryConfig) -> bool:
    return bool(memory.tiers)


async def recall(
    deps: Deps,
    user_id: str,
    workspace_id: str,
    memory: common_pb2.MemoryConfig,
    text: str,
    vector: np.ndarray,
    session_id: str,
) -> Recall:
    tiers = [t for t in memory.tiers if t != "profile"]  # the profile goes in whole, not as hits
    limit = memory.max_context_chunks or DEFAULT_CHUNKS
    result = Recall()
    async with deps.db.transaction() as conn:
        if "profile" in memory.tiers:
            row = await store.get_profile(conn, user_id, workspace_id)
            result.profile = row["profile"] if row else None
        if tiers:
            # The current session is already in the history: its messages are not memories here.
            rows = await store.search(conn, user_id, workspace_id, vector, text, tiers, limit, session_id)
            for r in rows:
                if r["similarity"] is not None and r["similarity"] < memory.min_relevance:
                    continue
                result.hits.append(
                    Hit(r["tier"], _source_id(r), r["content"], r["score"], r["created_at"], r["similarity"])
                )
    return result
