"""Memory writes shared by the API, the memory_write tool and auto-extraction: checked, stored, and announced
with a memory.written event in the same transaction."""

from __future__ import annotations

import json
from typing import Any

from psycopg import AsyncConnection

from server import events
from server.memory import store

CATEGORIES = ("decision", "outcome", "strategy", "note", "interaction")
MAX_CONTENT_CHARS = 4000
MAX_PROFILE_BYTES = 64 * 1024
DEFAULT_WEIGHT = 0.5


class MemoryInputError(ValueError):
    """What was asked to be stored is not acceptable; the message says why."""


def check_content(content: str) -> str:
    content = content.strip()
    if not 1 <= len(content) <= MAX_CONTENT_CHARS:
        raise MemoryInputError(f"content must be 1 to {MAX_CONTENT_CHARS} characters")
    if "\x00" in content:
        raise MemoryInputError("content must not contain NUL characters")  # PostgreSQL text cannot hold them
    return content


def check_category(category: str) -> str:
    if category not in CATEGORIES:
        raise MemoryInputError(f"category must be one of {', '.join(CATEGORIES)}")
    return category


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON Merge Patch: objects merge recursively, null removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def profile_size(profile: dict[str, Any]) -> int:
    return len(json.dumps(profile, ensure_ascii=False, separators=(",", ":")).encode())


def has_nul(value: Any) -> bool:
    """Whether a JSON value holds a NUL character anywhere (jsonb cannot store one)."""
    return "\\u0000" in json.dumps(value)


async def write_daily(
    conn: AsyncConnection,
    user_id: str,
    workspace_id: str,
    category: str,
    content: str,
    weight: float = DEFAULT_WEIGHT,
    session_id: str | None = None,
    source: str = "api",
) -> dict[str, Any]:
    row = await store.add_daily(
        conn, user_id, workspace_id, check_category(category), check_content(content), weight, session_id
    )
    await events.emit(
        conn,
        workspace_id,
        "memory.written",
        {
            "userId": user_id,
            "tier": "daily",
            "date": row["day"].isoformat(),
            "index": row["idx"],
            "category": row["category"],
            "content": row["content"],
            "source": source,
            **({"sessionId": session_id} if session_id else {}),
        },
    )
    return row


async def write_note(
    conn: AsyncConnection, user_id: str, workspace_id: str, content: str, source: str = "api"
) -> dict[str, Any]:
    row = await store.add_note(conn, user_id, workspace_id, check_content(content))
    await events.emit(
        conn,
        workspace_id,
        "memory.written",
        {"userId": user_id, "tier": "notes", "index": row["idx"], "content": row["content"], "source": source},
    )
    return row
