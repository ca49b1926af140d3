"""The agent a workspace gets for an id, kept per process: a read of an agent, and the agent lookup before a
chat turn, then cost no query. Updates, deletions and grant changes fire NOTIFY astra_agents with the agent's
id (migration 0010).
"""

from __future__ import annotations

from datetime import UTC, datetime

from server.db.notified import NotifiedCache, Row


def _usable_now(row: Row) -> bool:
    # Only rows that give the workspace the agent are kept, and a grant stops being served when it lapses.
    if row["origin"] != "granted":
        return True
    expires_at = row["grant_expires_at"]
    return bool(row["live_grant"]) and (expires_at is None or expires_at > datetime.now(UTC))


def agent_cache() -> NotifiedCache:
    """Rows of `store.visible`, grouped by agent id, keyed by the workspace asking."""
    return NotifiedCache("astra_agents", keep=_usable_now)
