"""Appending to the audit log and verifying its hash chain.

Each entry's hash is sha256(prev_hash || canonical JSON of the entry), so editing, removing or reordering a row
breaks every later link. Appends take a transaction-scoped advisory lock: the chain stays linear across replicas,
and the entry commits (or rolls back) with the change it records."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection

from server.context import principal_var, request_id_var

GENESIS = "0" * 64
# Any constant works; it only has to be the same in every replica (and differ from the migrations' key).
_LOCK_KEY = 0x41554454  # "AUDT"
API_KEY_ACTOR = "api-key"
ANONYMOUS_ACTOR = "anonymous"


def canonical(entry: dict[str, Any]) -> str:
    """The entry as hashed: sorted keys, no whitespace, UTC timestamp with microseconds."""
    at = entry["at"]
    body = {
        "id": int(entry["id"]),
        "at": at.astimezone(UTC).isoformat(timespec="microseconds") if isinstance(at, datetime) else at,
        "actor": entry["actor"],
        "action": entry["action"],
        "target_user_id": entry["target_user_id"],
        "target": entry["target"],
        "workspace_id": entry["workspace_id"],
        "request_id": entry["request_id"],
        "details": entry["details"],
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(prev_hash: str, entry: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical(entry)).encode()).hexdigest()


async def record(
    conn: AsyncConnection,
    *,
    actor: str,
    action: str,
    target_user_id: str | None,
    workspace_id: str | None,
    details: dict[str, Any] | None = None,
    target: str = "",
) -> None:
    """Appends one entry; call inside the transaction of the change it records. A change made with a personal API
    key names the key in details.apiKeyId."""
    principal = principal_var.get()
    if principal is not None and principal.api_key_id:
        details = {**(details or {}), "apiKeyId": principal.api_key_id}
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
    cur = await conn.execute(
        "SELECT nextval(pg_get_serial_sequence('audit_log', 'id')) AS id,"
        " (SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1) AS prev"
    )
    row = await cur.fetchone()  # rows are dicts (the pool's row factory)
    assert row is not None
    prev = row["prev"]
    entry = {
        "id": row["id"],
        "at": datetime.now(UTC),
        "actor": actor,
        "action": action,
        "target_user_id": target_user_id or None,
        "target": target,
        "workspace_id": workspace_id or None,
        "request_id": request_id_var.get(),
        # A JSON round trip, so what is hashed is exactly what jsonb gives back.
        "details": json.loads(json.dumps(details or {}, default=str)),
    }
    prev_hash = prev or GENESIS
    await conn.execute(
        "INSERT INTO audit_log (id, at, actor, action, target_user_id, target, workspace_id, request_id, details,"
        " prev_hash, hash) VALUES (%(id)s, %(at)s, %(actor)s, %(action)s, %(target_user_id)s, %(target)s,"
        " %(workspace_id)s, %(request_id)s, %(details)s::jsonb, %(prev_hash)s, %(hash)s)",
        {
            **entry,
            "details": json.dumps(entry["details"]),
            "prev_hash": prev_hash,
            "hash": chain_hash(prev_hash, entry),
        },
    )


@dataclass(frozen=True)
class ChainReport:
    entries: int
    broken_at: int | None  # id of the first entry whose link or hash does not match
    reason: str = ""


async def verify(conn: AsyncConnection, batch: int = 1000) -> ChainReport:
    """Walks the whole chain in id order, recomputing every hash."""
    expected_prev, count, after = GENESIS, 0, 0
    while True:
        cur = await conn.execute(
            "SELECT id, at, actor, action, target_user_id, target, workspace_id, request_id, details, prev_hash, hash"
            " FROM audit_log WHERE id > %s ORDER BY id LIMIT %s",
            (after, batch),
        )
        rows = await cur.fetchall()
        if not rows:
            return ChainReport(count, None)
        for entry in rows:
            if entry["prev_hash"] != expected_prev:
                return ChainReport(count, entry["id"], "prev_hash does not match the previous entry (removed row?)")
            if chain_hash(entry["prev_hash"], entry) != entry["hash"]:
                return ChainReport(count, entry["id"], "hash does not match the entry's content (edited row?)")
            expected_prev, after = entry["hash"], entry["id"]
            count += 1
