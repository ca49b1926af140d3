"""The tool result cache, in Postgres so that every replica reads the same entries and counters: a clear or a
stats call answered by one replica is true for all of them, with no broadcast to get lost.

An entry is keyed by tool and a SHA-256 of the canonical arguments (plus the caller's workspace or user for
tools whose results are private); only successful results are stored, for the tool's cache_ttl_s.
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

from server.db.database import Database
from server.tools.catalog import ToolSpec

# Rows per tool the counters are spread over, so concurrent calls of one tool do not wait on one row lock.
COUNTER_SHARDS = 8
# Expired entries removed per write: bounded, so a write never turns into a long sweep.
PRUNE_BATCH = 100


def cache_key(spec: ToolSpec, arguments: dict[str, Any], user_id: str, workspace_id: str) -> str:
    scope = {"global": "", "workspace": f"ws:{workspace_id}", "user": f"user:{workspace_id}:{user_id}"}
    canonical = json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{scope[spec.cache_scope]}\n{canonical}".encode()).hexdigest()


class ToolCache:
    def __init__(self, db: Database):
        self.db = db

    async def get(self, tool: str, key: str) -> str | None:
        """The live entry's value (counted as a hit) or None (counted as a miss), in one round trip."""
        async with self.db.connection() as conn:
            cur = await conn.execute(
                "WITH hit AS ("
                "  UPDATE tool_cache SET hits = hits + 1"
                "  WHERE tool = %(tool)s AND key = %(key)s AND expires_at > now() RETURNING value),"
                " counted AS ("
                "  INSERT INTO tool_cache_counters AS c (tool, shard, hits, misses)"
                "  SELECT %(tool)s, %(shard)s, count(*), 1 - count(*) FROM hit"
                "  ON CONFLICT (tool, shard) DO UPDATE"
                "  SET hits = c.hits + EXCLUDED.hits, misses = c.misses + EXCLUDED.misses)"
                " SELECT value FROM hit",
                {"tool": tool, "key": key, "shard": random.randrange(COUNTER_SHARDS)},
            )
            row = await cur.fetchone()
        return row["value"] if row else None

    async def put(self, tool: str, key: str, value: str, ttl_s: int) -> None:
        """Stores (or refreshes) an entry, and drops a bounded batch of expired ones on the way."""
        async with self.db.connection() as conn:
            await conn.execute(
                "WITH pruned AS ("
                "  DELETE FROM tool_cache WHERE ctid = ANY(ARRAY("
                "    SELECT ctid FROM tool_cache WHERE expires_at <= now()"
                "    AND NOT (tool = %(tool)s AND key = %(key)s) LIMIT %(batch)s FOR UPDATE SKIP LOCKED)))"
                " INSERT INTO tool_cache AS t (tool, key, value, bytes, expires_at)"
                " VALUES (%(tool)s, %(key)s, %(value)s, %(bytes)s, now() + %(ttl)s * interval '1 second')"
                " ON CONFLICT (tool, key) DO UPDATE SET value = EXCLUDED.value, bytes = EXCLUDED.bytes, hits = 0,"
                "  created_at = now(), expires_at = EXCLUDED.expires_at",
                {
                    "tool": tool,
                    "key": key,
                    "value": value,
                    "bytes": len(value.encode()),
                    "ttl": ttl_s,
                    "batch": PRUNE_BATCH,
                },
            )

    async def stats(self) -> list[dict[str, Any]]:
        """Per tool that has entries or counters: live entries, their bytes, hits and misses since the last clear."""
        async with self.db.connection() as conn:
            cur = await conn.execute(
                "SELECT t.tool, coalesce(e.entries, 0) AS entries, coalesce(e.bytes, 0) AS bytes,"
                "  coalesce(c.hits, 0) AS hits, coalesce(c.misses, 0) AS misses"
                " FROM (SELECT tool FROM tool_cache UNION SELECT tool FROM tool_cache_counters) t"
                " LEFT JOIN (SELECT tool, count(*) AS entries, sum(bytes) AS bytes FROM tool_cache"
                "            WHERE expires_at > now() GROUP BY tool) e USING (tool)"
                " LEFT JOIN (SELECT tool, sum(hits) AS hits, sum(misses) AS misses FROM tool_cache_counters"
                "            GROUP BY tool) c USING (tool)"
                " ORDER BY t.tool"
            )
            return await cur.fetchall()

    async def clear(self, tool: str = "") -> int:
        """Drops the entries and counters of one tool, or of all; returns how many live entries went."""
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "WITH gone AS (DELETE FROM tool_cache WHERE %(tool)s = '' OR tool = %(tool)s RETURNING expires_at)"
                " SELECT count(*) FILTER (WHERE expires_at > now()) AS live FROM gone",
                {"tool": tool},
            )
            row = await cur.fetchone()
            await conn.execute("DELETE FROM tool_cache_counters WHERE %(tool)s = '' OR tool = %(tool)s", {"tool": tool})
        return int(row["live"]) if row else 0
