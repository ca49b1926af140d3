"""Personal API keys on the call path: the secret's form and hash, and how a presented key becomes the call's
Principal (the auth interceptor asks; server/auth/key_service.py manages the keys).

A key is its owner acting in the key's one workspace with the owner's current role there: the role comes from the
same per-process membership cache as an access token's, which NOTIFY keeps current, and the key row itself is
cached under its secret's hash and dropped on every replica when it is revoked (migration 0015). The key's own
limits are checked on every call: calls per minute in the shared sliding window (server/chat/ratelimit.py), and
this month's spend against its budget.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from server.auth import key_store, store
from server.chat import ratelimit
from server.context import Principal
from server.db.database import Database
from server.db.notified import NotifiedCache
from server.errors import NotFound, ResourceExhausted, Unauthenticated

log = logging.getLogger(__name__)

PREFIX = "ak_"
PREFIX_CHARS = 8  # of the secret after "ak_", shown in lists
# 32 random bytes, URL-safe base64 without padding.
_SECRET = re.compile(r"ak_[A-Za-z0-9_-]{43}")
TOUCH_EVERY_S = 60
RATE_WINDOW_S = 60
BUDGET_SPENT = "the API key's monthly budget is spent"
_MAX_TOUCHED = 50_000


def new_secret() -> tuple[str, str, str]:
    """A fresh secret, its prefix and the hash stored in its place. 256 random bits: a plain SHA-256 is enough to
    store it (nothing to guess from), and lets a call find its key by one indexed lookup."""
    secret = PREFIX + secrets.token_urlsafe(32)
    return secret, secret[len(PREFIX) : len(PREFIX) + PREFIX_CHARS], hash_secret(secret)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def is_key(token: str) -> bool:
    """Whether a bearer token is meant as an API key (access tokens are JWTs, which start with "ey")."""
    return token.startswith(PREFIX)


def live(row: dict[str, Any]) -> bool:
    """Not revoked and not expired; only such rows are cached (server/auth/cache.py)."""
    return row["revoked_at"] is None and (row["expires_at"] is None or row["expires_at"] > datetime.now(UTC))


def lapse(row: dict[str, Any]) -> str:
    """Why the key may never act again: "revoked" or "expired"; "" while it is live."""
    if row["revoked_at"] is not None:
        return "revoked"
    return "" if live(row) else "expired"


async def budget_spent(db: Database, row: dict[str, Any]) -> bool:
    """Whether the key has a monthly budget and this month's spend with it has reached it."""
    if not row["max_cost_usd"]:
        return False
    async with db.connection() as conn:
        spent = await key_store.month_spend(conn, row["id"])
    return spent >= row["max_cost_usd"]


# Why work done later on a key's authority (a heartbeat run) may not spend with it: see refusal().
KEY_REVOKED, KEY_EXPIRED, KEY_BUDGET_EXCEEDED = "api_key_revoked", "api_key_expired", "budget_exceeded"


async def refusal(db: Database, key_id: str) -> str:
    """For background work a key set up (no call presents its secret): "" when the key may spend now, otherwise
    why not, by the rules a call with the key obeys (its rate aside: background work is not a request). Read from
    the database, not the per-process cache, so a revocation on any replica is seen at once."""
    async with db.connection() as conn:
        row = await key_store.by_id(conn, key_id)
    if row is None or lapse(row) == "revoked":
        return KEY_REVOKED
    if lapse(row):
        return KEY_EXPIRED
    return KEY_BUDGET_EXCEEDED if await budget_spent(db, row) else ""


def _until_next_month(now: datetime) -> float:
    first = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)
    return (first - now).total_seconds()


class KeyAuthenticator:
    def __init__(self, db: Database, rows: NotifiedCache, memberships: NotifiedCache):
        self.db = db
        self.rows = rows
        self.memberships = memberships
        # When this process last stamped each key's last_used_at: most calls need not even try.
        self._touched: dict[str, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def principal(self, secret: str, workspace_id: str | None, count: bool = True) -> Principal:
        """The Principal of a call presenting `secret` (with x-workspace-id `workspace_id`, if any), once the key's
        limits admit it; `count=False` checks the key without counting the call against its rate."""
        if not _SECRET.fullmatch(secret):
            raise Unauthenticated("invalid API key")
        presented = hash_secret(secret)
        row = await self.rows.read(presented, "key", self.db, lambda conn: key_store.by_hash(conn, presented))
        # Found by its hash already; compared again in constant time so no lookup path is timing-dependent.
        if row is None or not hmac.compare_digest(row["secret_hash"], presented):
            raise Unauthenticated("invalid API key")
        lapsed = lapse(row)
        if lapsed:
            raise Unauthenticated(f"API key {lapsed}")
        key_id, owner, home = row["id"], row["user_id"], row["workspace_id"]
        if workspace_id and workspace_id != home:
            # The same answer as for a workspace the caller is not in: the key reaches no other.
            raise NotFound(f"workspace {workspace_id} not found")
        member = await self.memberships.read(owner, home, self.db, lambda conn: store.membership(conn, owner, home))
        if member is None or member["role"] is None:
            raise Unauthenticated("API key no longer valid: its owner is not a member of its workspace")
        # The budget first: a call refused for it does not use up the rate window. Spend is counted when a turn
        # is saved, so turns already in flight when the budget runs out may take it past by their own cost.
        if await budget_spent(self.db, row):
            raise ResourceExhausted(BUDGET_SPENT, http_status=402, retry_after=_until_next_month(datetime.now(UTC)))
        if count and row["max_requests_per_minute"]:
            await ratelimit.hit(
                self.db, f"apikey:{key_id}", row["max_requests_per_minute"], RATE_WINDOW_S, "requests with this API key"
            )
        self._touch(key_id)
        expires = row["expires_at"]
        return Principal(
            user_id=owner,
            workspace_id=home,
            role=member["role"],
            token_expires_at=expires.timestamp() if expires else 0.0,
            api_key_id=key_id,
        )

    def _touch(self, key_id: str) -> None:
        """Stamps last_used_at in the background (at most once a minute per key, across replicas by the UPDATE's
        own condition), so the call does not wait for a write."""
        now = time.monotonic()
        last = self._touched.get(key_id)
        if last is not None and now - last < TOUCH_EVERY_S:
            return
        if len(self._touched) >= _MAX_TOUCHED:
            self._touched.clear()
        self._touched[key_id] = now
        task = asyncio.create_task(self._stamp(key_id), name="api-key-last-used")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _stamp(self, key_id: str) -> None:
        try:
            async with self.db.connection() as conn:
                await key_store.touch(conn, key_id, TOUCH_EVERY_S)
        except Exception as exc:  # a lost stamp is only a stale lastUsedAt; the next minute tries again
            self._touched.pop(key_id, None)
            log.warning("could not stamp an API key's last use", extra={"key_id": key_id, "error": str(exc)})
