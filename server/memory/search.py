"""Hybrid memory search: one query embedding, then one SQL statement fusing HNSW and full-text ranks (RRF)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from server.memory import store
from server.memory.embeddings import Embedder, get_embedder

if TYPE_CHECKING:
    from server.config import Settings
    from server.db.database import Database

TIERS = ("session", "daily", "profile", "notes")


def embedder_for(settings: Settings) -> Embedder:
    return get_embedder(
        settings.embedding_provider,
        settings.embedding_base_url or settings.openai_base_url,
        settings.embedding_api_key or settings.openai_api_key,
        settings.embedding_model,
    )


@dataclass(frozen=True)
class Hit:
    tier: str
    source_id: str
    content: str
    score: float
    created_at: datetime
    # Cosine similarity to the query; None while the item is not embedded yet (found by its words).
    similarity: float | None


def _source_id(row: dict[str, Any]) -> str:
    tier = row["tier"]
    if tier == "session":
        return row["message_id"] or ""
    if tier == "daily":
        return f"{row['day'].isoformat()}/{row['idx']}"
    if tier == "profile":
        return row["profile_key"] or ""
    return str(row["note_index"])


async def search(
    db: Database,
    embedder: Embedder,
    user_id: str,
    workspace_id: str,
    text: str,
    tiers: list[str] | tuple[str, ...] = TIERS,
    limit: int = 50,
    skip_session: str | None = None,
) -> list[Hit]:
    """The caller's memories in the workspace that best match `text`, best first."""
    vectors = await embedder.embed([text])
    async with db.transaction() as conn:
        rows = await store.search(conn, user_id, workspace_id, vectors[0], text, list(tiers), limit, skip_session)
    return [Hit(r["tier"], _source_id(r), r["content"], r["score"], r["created_at"], r["similarity"]) for r in rows]
