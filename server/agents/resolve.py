"""Which agent a workspace gets for an id: its own, one granted to it and not expired, or a global one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from psycopg import AsyncConnection

from astra.v1 import common_pb2
from server.agents import store
from server.db.database import Database
from server.db.notified import NotifiedCache
from server.errors import NotFound, PermissionDenied
from server.timestamps import to_timestamp


@dataclass(frozen=True)
class ResolvedAgent:
    agent: common_pb2.Agent
    origin: str  # own, granted or global
    readonly: bool  # a granted agent the receiver may not change (receivers never may; see service)
    version: int

    @property
    def etag(self) -> str:
        return f'"v{self.version}"'


# Parsing an agent's JSON config is most of the CPU a read of it costs, and a version never changes once written:
# messages are kept by (id, version, updated_at, origin). updated_at tells a deleted-and-recreated agent apart.
_PARSED: dict[tuple[Any, ...], common_pb2.Agent] = {}
_PARSED_MAX = 2048


def agent_message(row: dict[str, Any]) -> common_pb2.Agent:
    key = (row["id"], row["version"], row["updated_at"], row["origin"])
    parsed = _PARSED.get(key)
    if parsed is None:
        parsed = json_format.ParseDict(row["config"], common_pb2.Agent(), ignore_unknown_fields=True)
        parsed.id = row["id"]
        parsed.workspace_id = row["workspace_id"] or ""
        parsed.model = row["model"]
        parsed.origin = row["origin"]
        parsed.etag = f'"v{row["version"]}"'
        parsed.created_at.CopyFrom(to_timestamp(row["created_at"]))
        parsed.updated_at.CopyFrom(to_timestamp(row["updated_at"]))
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[key] = parsed
    agent = common_pb2.Agent()
    agent.CopyFrom(parsed)  # callers may change their copy
    return agent


def _available(row: dict[str, Any] | None, agent_id: str) -> ResolvedAgent:
    """NOT_FOUND for an unknown id; PERMISSION_DENIED for an agent that exists but is not available here."""
    if row is None or row["id"] is None:
        raise NotFound(f"agent {agent_id} not found")
    if row["origin"] == "granted" and not row["live_grant"]:
        raise PermissionDenied(f"agent {agent_id} is not available to this workspace")
    return ResolvedAgent(agent_message(row), row["origin"], bool(row["readonly"]), row["version"])


async def resolve(conn: AsyncConnection, workspace_id: str, agent_id: str, lock: bool = False) -> ResolvedAgent:
    return _available(await store.visible(conn, workspace_id, agent_id, lock=lock), agent_id)


async def resolve_cached(
    cache: NotifiedCache, source: Database | AsyncConnection, workspace_id: str, agent_id: str
) -> ResolvedAgent:
    """`resolve` answered from the per-process cache when it can be; for reads only (writers lock the row)."""
    row = await cache.read(agent_id, workspace_id, source, lambda conn: store.visible(conn, workspace_id, agent_id))
    return _available(row, agent_id)
