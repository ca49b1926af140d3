"""Creating an agent of a workspace (checked against the catalog and the workspace's restrictions, stored with its
first version, audited): one code path for AgentsService.CreateAgent and onboarding."""

from __future__ import annotations

from typing import Any

from astra.v1 import common_pb2
from server.agents import store
from server.agents.resolve import agent_message
from server.agents.validate import check_id, normalise, to_document
from server.audit.log import record
from server.restrictions import enforce
from server.skills.catalog import Catalog
from server.workspaces import store as workspaces


async def default_model(conn: Any, workspace_id: str) -> str:
    cur = await conn.execute("SELECT settings->>'defaultModel' AS model FROM workspaces WHERE id = %s", (workspace_id,))
    row = await cur.fetchone()
    return (row or {}).get("model") or ""


async def create_agent(
    conn: Any, catalog: Catalog, workspace_id: str, user_id: str, agent: common_pb2.Agent, prefix: str = ""
) -> common_pb2.Agent:
    """Validates and inserts one agent of the workspace, with its first version; call inside a transaction."""
    check_id(agent.id, f"{prefix}id")
    agent = normalise(agent, catalog, await default_model(conn, workspace_id), prefix)
    enforce(agent.model, *await workspaces.restrictions(conn, workspace_id))
    await store.insert(conn, agent.id, workspace_id, agent.model, to_document(agent), user_id)
    await record(
        conn,
        actor=user_id,
        action="agent.create",
        target_user_id=user_id,
        workspace_id=workspace_id,
        details={"model": agent.model},
        target=agent.id,
    )
    row = await store.visible(conn, workspace_id, agent.id)
    assert row is not None
    return agent_message(row)
