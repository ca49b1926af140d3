"""OnboardingService.Setup: the workspace and every agent are created in one transaction, or nothing is."""

from __future__ import annotations

import asyncio

import grpc

from astra.v1 import onboarding_pb2, onboarding_pb2_grpc
from server.agents.create import create_agent
from server.agents.validate import check_base_url
from server.audit.log import record
from server.context import current_principal
from server.deps import Deps
from server.errors import InvalidArgument
from server.workspaces import store as workspaces
from server.workspaces.messages import workspace_message
from server.workspaces.validate import check_settings, check_workspace_spec

MAX_AGENTS = 50


class OnboardingService(onboarding_pb2_grpc.OnboardingServiceServicer):
    def __init__(self, deps: Deps):
        self.deps = deps

    async def Setup(
        self, request: onboarding_pb2.SetupRequest, context: grpc.aio.ServicerContext
    ) -> onboarding_pb2.SetupResponse:
        user_id = current_principal().user_id
        name, plan = check_workspace_spec(request.workspace.name, request.workspace.plan)
        settings = check_settings(request.workspace.settings)
        if len(request.agents) > MAX_AGENTS:
            raise InvalidArgument(f"at most {MAX_AGENTS} agents per setup")
        seen: set[str] = set()
        for i, agent in enumerate(request.agents):
            if agent.id in seen:
                raise InvalidArgument(f"agents[{i}].id: {agent.id!r} appears twice")
            seen.add(agent.id)
        # Resolves hosts, so before a connection is held, and at once rather than one after the other.
        checks = [check_base_url(a, self.deps.settings, prefix=f"agents[{i}].") for i, a in enumerate(request.agents)]
        for outcome in await asyncio.gather(*checks, return_exceptions=True):
            if isinstance(outcome, BaseException):
                raise outcome  # the first refused agent, in request order
        async with self.deps.db.transaction() as conn:
            workspace_id = await workspaces.create_workspace(conn, name, plan, settings, user_id)
            await record(
                conn,
                actor=user_id,
                action="workspace.create",
                target_user_id=user_id,
                workspace_id=workspace_id,
                details={"name": name, "plan": plan, "via": "onboarding", "agents": len(request.agents)},
                target=workspace_id,
            )
            agents = [
                await create_agent(conn, self.deps.catalog, workspace_id, user_id, agent, prefix=f"agents[{i}].")
                for i, agent in enumerate(request.agents)
            ]
            row = await workspaces.get_workspace(conn, workspace_id, user_id)
        assert row is not None
        return onboarding_pb2.SetupResponse(workspace=workspace_message(row), agents=agents)
