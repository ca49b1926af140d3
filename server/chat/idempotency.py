"""Idempotency-Key for /agent/chat, in Postgres so every replica agrees: the same key and body within 24 h
replays the stored reply; the same key with another body is 422; a duplicate of a running request is 409."""

from __future__ import annotations

import hashlib

from server.db.database import Database
from server.errors import Aborted, InvalidArgument

TTL_HOURS = 24


def check_key(key: str) -> str:
    if not 1 <= len(key) <= 255 or not all(33 <= ord(c) <= 126 for c in key):
        raise InvalidArgument("Idempotency-Key must be 1 to 255 visible ASCII characters")
    return key


def request_hash(workspace_id: str, body: bytes) -> str:
    return hashlib.sha256(workspace_id.encode() + b"\0" + body).hexdigest()


async def begin(db: Database, user_id: str, key: str, digest: str) -> bytes | None:
    """None when this request should run now (the key is claimed); the stored reply when it already ran.

    A claimed key names this process's instance: if the process dies before `finish` or `abandon`, recovery
    (server/chat/recovery.py) releases it, so the client's retry runs again."""
    instance = db.lease.instance_id if db.lease is not None else None
    async with db.transaction() as conn:
        cur = await conn.execute(
            "INSERT INTO idempotency_keys (user_id, key, request_hash, state, instance_id)"
            " VALUES (%s, %s, %s, 'running', %s)"
            " ON CONFLICT (user_id, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, state = 'running',"
            "   response = NULL, created_at = now(), instance_id = EXCLUDED.instance_id"
            "   WHERE idempotency_keys.created_at < now() - make_interval(hours => %s)"
            " RETURNING 1",
            (user_id, key, digest, instance, TTL_HOURS),
        )
        if await cur.fetchone() is not None:
            if db.lease is not None:
                db.lease.live_keys.add((user_id, key))
            return None
        cur = await conn.execute(
            "SELECT request_hash, state, response FROM idempotency_keys WHERE user_id = %s AND key = %s",
            (user_id, key),
        )
        row = await cur.fetchone()
    assert row is not None
    if row["request_hash"] != digest:
        raise InvalidArgument("this Idempotency-Key was used with a different request body", http_status=422)
    if row["state"] == "running":
        raise Aborted("a request with this Idempotency-Key is still running")
    return bytes(row["response"])


async def finish(db: Database, user_id: str, key: str, response: bytes) -> None:
    try:
        async with db.connection() as conn:
            await conn.execute(
                "UPDATE idempotency_keys SET state = 'done', response = %s WHERE user_id = %s AND key = %s",
                (response, user_id, key),
            )
    finally:
        _settled(db, user_id, key)


async def abandon(db: Database, user_id: str, key: str) -> None:
    """A request that failed releases its key, so the client's retry runs again."""
    try:
        async with db.connection() as conn:
            await conn.execute(
                "DELETE FROM idempotency_keys WHERE user_id = %s AND key = %s AND state = 'running'", (user_id, key)
            )
    finally:
        # Even when the database could not be told: recovery then releases the key as an orphan of this process.
        _settled(db, user_id, key)


def _settled(db: Database, user_id: str, key: str) -> None:
    if db.lease is not None:
        db.lease.live_keys.discard((user_id, key))
