"""SQL of the memory domain. Every statement is scoped by (user_id, workspace_id): one user's memory in one
workspace is never visible from another user or workspace."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from pgvector import Vector
from psycopg import AsyncConnection

from server.ids import new_id

_DAILY_COLUMNS = "id, day, idx, category, weight, content, session_id, created_at"
# The workspace's "today": daily memory is kept per day in the workspace's time zone.
_TODAY = (
    "(now() AT TIME ZONE coalesce((SELECT NULLIF(settings->>'timezone', '') FROM workspaces WHERE id = %(w)s), 'UTC'))"
    "::date"
)


# --- Tier 3: profile ---------------------------------------------------------------------------------------------


async def get_profile(conn: AsyncConnection, user_id: str, workspace_id: str) -> dict[str, Any] | None:
    cur = await conn.execute(
        "SELECT profile, updated_at FROM memory_profiles WHERE user_id = %s AND workspace_id = %s",
        (user_id, workspace_id),
    )
    return await cur.fetchone()


async def lock_profile(conn: AsyncConnection, user_id: str, workspace_id: str) -> dict[str, Any]:
    """The profile row, created if missing and locked, so concurrent merges apply one after the other."""
    await conn.execute(
        "INSERT INTO memory_profiles (user_id, workspace_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (user_id, workspace_id),
    )
    cur = await conn.execute(
        "SELECT profile, updated_at FROM memory_profiles WHERE user_id = %s AND workspace_id = %s FOR UPDATE",
        (user_id, workspace_id),
    )
    return await cur.fetchone()  # type: ignore[return-value]


def profile_item_text(key: str, value: Any) -> str:
    return f"{key}: {value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)}"


async def save_profile(
    conn: AsyncConnection, user_id: str, workspace_id: str, profile: dict[str, Any], changed: set[str]
) -> dict[str, Any]:
    """Stores the merged profile and re-renders the searchable items of the top-level keys that changed."""
    cur = await conn.execute(
        "UPDATE memory_profiles SET profile = %s, updated_at = now() WHERE user_id = %s AND workspace_id = %s"
        " RETURNING profile, updated_at",
        (profile, user_id, workspace_id),
    )
    row = await cur.fetchone()
    if changed:
        await conn.execute(
            "DELETE FROM memory_items WHERE user_id = %s AND workspace_id = %s AND tier = 'profile'"
            " AND profile_key = ANY(%s)",
            (user_id, workspace_id, sorted(changed)),
        )
        items = [
            (new_id("mem"), user_id, workspace_id, key, profile_item_text(key, profile[key]))
            for key in sorted(changed)
            if key in profile
        ]
        if items:
            async with conn.cursor() as c:
                await c.executemany(
                    "INSERT INTO memory_items (id, user_id, workspace_id, tier, profile_key, content)"
                    " VALUES (%s, %s, %s, 'profile', %s, %s)",
                    items,
                )
    return row  # type: ignore[return-value]


# --- Tier 2: daily entries ---------------------------------------------------------------------------------------


async def today(conn: AsyncConnection, workspace_id: str) -> date:
    cur = await conn.execute(f"SELECT {_TODAY} AS today", {"w": workspace_id})
    return (await cur.fetchone())["today"]  # type: ignore[index]


async def add_daily(
    conn: AsyncConnection,
    user_id: str,
    workspace_id: str,
    category: str,
    content: str,
    weight: float,
    session_id: str | None = None,
) -> dict[str, Any]:
    """Appends an entry to the workspace's today; its index comes from the day's counter (never reused)."""
    args = {"u": user_id, "w": workspace_id}
    cur = await conn.execute(
        "INSERT INTO memory_day_counters AS c (user_id, workspace_id, day, next_index)"
        f" VALUES (%(u)s, %(w)s, {_TODAY}, 1)"
        " ON CONFLICT (user_id, workspace_id, day) DO UPDATE SET next_index = c.next_index + 1"
        " RETURNING day, next_index - 1 AS idx",
        args,
    )
    slot = await cur.fetchone()
    cur = await conn.execute(
        "INSERT INTO memory_items (id, user_id, workspace_id, tier, day, idx, category, weight, content, session_id)"
        " VALUES (%s, %s, %s, 'daily', %s, %s, %s, %s, %s, %s)"
        f" RETURNING {_DAILY_COLUMNS}",
        (new_id("mem"), user_id, workspace_id, slot["day"], slot["idx"], category, weight, content, session_id),
    )
    return await cur.fetchone()  # type: ignore[return-value]


async def daily_entries(
    conn: AsyncConnection,
    user_id: str,
    workspace_id: str,
    first_day: date,
    last_day: date,
    category: str = "",
    limit_days: int = 0,
) -> list[dict[str, Any]]:
    """Entries of the days in [first_day, last_day], newest day first and in index order within a day; with
    limit_days, only the first limit_days days that have entries."""
    cur = await conn.execute(
        f"SELECT {_DAILY_COLUMNS} FROM memory_items"
        " WHERE user_id = %(u)s AND workspace_id = %(w)s AND tier = 'daily' AND day BETWEEN %(a)s AND %(b)s"
        " AND (%(c)s = '' OR category = %(c)s)"
        " AND (%(n)s = 0 OR day IN (SELECT DISTINCT day FROM memory_items WHERE user_id = %(u)s"
        "   AND workspace_id = %(w)s AND tier = 'daily' AND day BETWEEN %(a)s AND %(b)s"
        "   AND (%(c)s = '' OR category = %(c)s) ORDER BY day DESC LIMIT %(n)s))"
        " ORDER BY day DESC, idx",
        {"u": user_id, "w": workspace_id, "a": first_day, "b": last_day, "c": category, "n": limit_days},
    )
    return await cur.fetchall()


async def delete_daily(conn: AsyncConnection, user_id: str, workspace_id: str, day: date, index: int) -> bool:
    cur = await conn.execute(
        "DELETE FROM memory_items WHERE user_id = %s AND workspace_id = %s AND tier = 'daily' AND day = %s"
        " AND idx = %s",
        (user_id, workspace_id, day, index),
    )
    return cur.rowcount > 0


# --- Strategic notes ---------------------------------------------------------------------------------------------


async def notes(conn: AsyncConnection, user_id: str, workspace_id: str) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT id, content, created_at FROM memory_items WHERE user_id = %s AND workspace_id = %s"
        " AND tier = 'notes' ORDER BY created_at, id",
        (user_id, workspace_id),
    )
    return await cur.fetchall()


async def add_note(conn: AsyncConnection, user_id: str, workspace_id: str, content: str) -> dict[str, Any]:
    """Appends a note; returns it with its position (notes are ordered by creation)."""
    cur = await conn.execute(
        "WITH added AS (INSERT INTO memory_items (id, user_id, workspace_id, tier, content, created_at)"
        " VALUES (%(id)s, %(u)s, %(w)s, 'notes', %(c)s, clock_timestamp()) RETURNING id, content, created_at)"
        " SELECT a.*, (SELECT count(*) FROM memory_items n WHERE n.user_id = %(u)s AND n.workspace_id = %(w)s"
        "   AND n.tier = 'notes') AS idx FROM added a",
        {"id": new_id("mem"), "u": user_id, "w": workspace_id, "c": content},
    )
    return await cur.fetchone()  # type: ignore[return-value]


async def delete_note(conn: AsyncConnection, user_id: str, workspace_id: str, index: int) -> bool:
    cur = await conn.execute(
        "DELETE FROM memory_items WHERE id = (SELECT id FROM memory_items WHERE user_id = %s AND workspace_id = %s"
        " AND tier = 'notes' ORDER BY created_at, id OFFSET %s LIMIT 1)",
        (user_id, workspace_id, index),
    )
    return cur.rowcount > 0


# --- Search ------------------------------------------------------------------------------------------------------

RRF_K = 60
LEXICAL_CAP = 1000

# Vector (HNSW, cosine) and full-text candidates, fused by reciprocal rank in one statement. `similarity` is the
# cosine similarity to the query (NULL for a row not embedded yet, found by its words alone).
_SEARCH = """
WITH vec AS (
    SELECT id, row_number() OVER (ORDER BY dist) AS r FROM (
        SELECT id, embedding <=> %(q)s AS dist FROM memory_items
        WHERE user_id = %(u)s AND workspace_id = %(w)s AND tier = ANY(%(tiers)s) AND embedding IS NOT NULL
          AND (%(skip)s::text IS NULL OR session_id IS DISTINCT FROM %(skip)s)
        ORDER BY embedding <=> %(q)s LIMIT %(k)s
    ) v
), lex AS (
    SELECT id, row_number() OVER (ORDER BY rank DESC, id) AS r FROM (
        SELECT id, ts_rank_cd(tsv, query) AS rank FROM (
            -- At most LEXICAL_CAP matches are ranked: a rare token has few matches (all ranked), while a word
            -- common in this user's memory would otherwise cost a rank computation per matching row.
            SELECT id, tsv, query FROM memory_items, websearch_to_tsquery('english', %(text)s) query
            WHERE user_id = %(u)s AND workspace_id = %(w)s AND tier = ANY(%(tiers)s) AND tsv @@ query
              AND (%(skip)s::text IS NULL OR session_id IS DISTINCT FROM %(skip)s)
            LIMIT %(cap)s
        ) matches
        ORDER BY rank DESC LIMIT %(k)s
    ) l
), fused AS (
    SELECT id, sum(1.0 / (%(rrf)s + r)) AS score FROM (SELECT * FROM vec UNION ALL SELECT * FROM lex) c GROUP BY id
)
SELECT m.id, m.tier, m.message_id, m.day, m.idx, m.profile_key, m.content, m.created_at, f.score::float8 AS score,
       CASE WHEN m.embedding IS NULL THEN NULL ELSE 1 - (m.embedding <=> %(q)s) END AS similarity,
       CASE WHEN m.tier = 'notes' THEN (SELECT count(*) FROM memory_items n WHERE n.user_id = m.user_id
            AND n.workspace_id = m.workspace_id AND n.tier = 'notes' AND (n.created_at, n.id) < (m.created_at, m.id))
       END AS note_index
FROM fused f JOIN memory_items m ON m.id = f.id
ORDER BY f.score DESC, m.created_at DESC
LIMIT %(limit)s
"""


async def search(
    conn: AsyncConnection,
    user_id: str,
    workspace_id: str,
    query_vector: Any,
    text: str,
    tiers: list[str],
    limit: int,
    skip_session: str | None = None,
) -> list[dict[str, Any]]:
    """Hybrid search; run it inside a transaction so the SET LOCALs apply (ef_search, iterative scan keeps
    filtered HNSW scans from coming back short)."""
    await conn.execute(
        "SELECT set_config('hnsw.ef_search', '100', true), set_config('hnsw.iterative_scan', 'relaxed_order', true)"
    )
    cur = await conn.execute(
        _SEARCH,
        {
            "q": Vector(query_vector),
            "u": user_id,
            "w": workspace_id,
            "tiers": tiers,
            "text": text,
            "k": max(limit, 40),
            "rrf": RRF_K,
            "cap": LEXICAL_CAP,
            "limit": limit,
            "skip": skip_session,
        },
    )
    return await cur.fetchall()


# --- Indexer -----------------------------------------------------------------------------------------------------

MAX_EMBED_ATTEMPTS = 5


async def claim_pending(conn: AsyncConnection, limit: int) -> list[dict[str, Any]]:
    """Rows waiting for an embedding, locked for this transaction; other replicas skip them."""
    cur = await conn.execute(
        "SELECT id, content FROM memory_items WHERE embedding IS NULL AND embed_attempts < %s"
        " ORDER BY created_at LIMIT %s FOR UPDATE SKIP LOCKED",
        (MAX_EMBED_ATTEMPTS, limit),
    )
    return await cur.fetchall()


async def set_embeddings(conn: AsyncConnection, rows: list[tuple[str, Any]]) -> None:
    async with conn.cursor() as c:
        await c.executemany(
            "UPDATE memory_items SET embedding = %s WHERE id = %s", [(Vector(v), item_id) for item_id, v in rows]
        )


async def count_failed_attempt(conn: AsyncConnection, ids: list[str]) -> None:
    await conn.execute("UPDATE memory_items SET embed_attempts = embed_attempts + 1 WHERE id = ANY(%s)", (ids,))
