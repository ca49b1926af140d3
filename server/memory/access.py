"""The memory tools' way in (memory_search, memory_write): search and writes for the user a turn speaks for, in its
workspace, and nothing else of the process."""

from __future__ import annotations

from typing import Any

from server.db.database import Database
from server.memory.embeddings import Embedder
from server.memory.search import Hit, search
from server.memory.writes import write_daily, write_note


class MemoryAccess:
    def __init__(self, db: Database, embedder: Embedder):
        self.db = db
        self.embedder = embedder

    async def search(self, user_id: str, workspace_id: str, text: str, tiers: list[str], limit: int) -> list[Hit]:
        return await search(self.db, self.embedder, user_id, workspace_id, text, tiers, limit)

    async def write_note(self, user_id: str, workspace_id: str, content: str, source: str) -> dict[str, Any]:
        async with self.db.transaction() as conn:
            return await write_note(conn, user_id, workspace_id, content, source)

    async def write_daily(
        self,
        user_id: str,
        workspace_id: str,
        category: str,
        content: str,
        weight: float,
        session_id: str | None,
        source: str,
    ) -> dict[str, Any]:
        async with self.db.transaction() as conn:
            return await write_daily(conn, user_id, workspace_id, category, content, weight, session_id, source)
