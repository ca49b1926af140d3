"""The membership row that authenticates a call, kept per process so most calls skip that query.

Only rows that grant a role are kept, so a new member or workspace is seen at once. Whatever takes access away
(logout, a role change, a removal) fires NOTIFY astra_auth with the user's id from a trigger (migration 0009).
"""

from __future__ import annotations

from server.db.notified import NotifiedCache


def membership_cache() -> NotifiedCache:
    """Rows grouped by user id, keyed by the workspace id the call named (None for the personal workspace)."""
    return NotifiedCache("astra_auth", keep=lambda row: row["role"] is not None)
