"""The session_search tool's way in: full-text search over the messages of the user a turn speaks for, in its
workspace."""

from __future__ import annotations

from typing import Any

from server.db.database import Database
from server.sessions.store import search_messages


class MessageSearch:
    def __init__(self, db: Database):
        self.db = db

    async def search(self, user_id: str, workspace_id: str, query: str, limit: int) -> list[dict[str, Any]]:
        """Best first, with highlighted snippets, over every agent and role."""
        async with self.db.connection() as conn:
            return await search_messages(conn, user_id, workspace_id, query, "", "", 0, limit)
