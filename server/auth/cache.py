"""The rows that authenticate a call, kept per process so most calls skip those queries.

Memberships: only rows that grant a role are kept, so a new member or workspace is seen at once. Whatever takes
access away (logout, a role change, a removal) fires NOTIFY astra_auth with the user's id from a trigger (migration
0009). Personal API keys: only live keys are kept (an expired one stops being served when it expires); a revocation
fires NOTIFY astra_api_keys with the secret's hash (migration 0015).
"""

from __future__ import annotations

from server.auth.keys import live
from server.db.notified import NotifiedCache


def membership_cache() -> NotifiedCache:
    """Rows grouped by user id, keyed by the workspace id the call named (None for the personal workspace)."""
    return NotifiedCache("astra_auth", keep=lambda row: row["role"] is not None)


def api_key_cache() -> NotifiedCache:
    """Key rows grouped by the hash of their secret (one row per group)."""
    return NotifiedCache("astra_api_keys", keep=live)
