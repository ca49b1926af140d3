"""AgentsService: CRUD on the workspace's agents, listing with origins, capabilities."""

from __future__ import annotations

import grpc
from google.protobuf import struct_pb2

from astra.v1 import agents_pb2, agents_pb2_grpc, common_pb2
from server.agents import store
from server.agents.create import create_agent, default_model
from server.agents.resolve import ResolvedAgent, agent_message, resolve, resolve_cached
from server.agents.validate import check_base_url, normalise, to_document
from server.audit.log import record
from server.context import Principal, current_principal
from server.deps import Deps
from server.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from server.interceptors.base import add_trailers, metadata_value
from server.mcp import names as mcp_names
from server.paging import page_limit
from server.providers.availability import provider_configured
from server.restrictions import enforce, restriction_error, split_model
from server.workspaces import store as workspaces
from server.workspaces.access import require_writer

ORIGINS = ("", "own", "granted", "global")
READONLY_GRANT = "the agent is granted read-only to this workspace: it can be seen, not chatted with"


def _set_etag(context: grpc.aio.ServicerContext, etag: str) -> None:
    add_trailers(context, ("etag", etag))


def _writable(resolved: ResolvedAgent, principal: Principal, action: str) -> None:
    if resolved.origin == "global":
        raise PermissionDenied(
            f"agent {resolved.agent.id} is global (managed by ASTRA_AGENTS_FILE) and cannot be {action}"
        )
    if resolved.origin == "granted":
        raise PermissionDenied(f"agent {resolved.agent.id} is granted to this workspace and cannot be {action} here")
    require_writer(principal.role, f"{action.removesuffix('d')} agents")


class AgentsService(agents_pb2_grpc.AgentsServiceServicer):
    def __init__(self, deps: Deps):
        self.deps = deps

    async def CreateAgent(
        self, request: agents_pb2.CreateAgentRequest, context: grpc.aio.ServicerContext
    ) -> agents_pb2.CreateAgentResponse:
        principal = current_principal()
        require_writer(principal.role, "create agents")
        await check_base_url(request.agent, self.deps.settings)  # resolves the host: before holding a connection
        async with self.deps.db.transaction() as conn:
            agent = await create_agent(
                conn, self.deps.catalog, principal.workspace_id, principal.user_id, request.agent
            )
        _set_etag(context, agent.etag)
        return agents_pb2.CreateAgentResponse(agent=agent)

    async def ListAgents(
        self, request: agents_pb2.ListAgentsRequest, context: grpc.aio.ServicerContext
    ) -> agents_pb2.ListAgentsResponse:
        principal = current_principal()
        if request.origin not in ORIGINS:
            raise InvalidArgument("origin must be own, granted or global")
        limit = page_limit(request.limit)
        scope = f"agents:{principal.workspace_id}:{request.origin}"
        cursor = self.deps.pages.decode(scope, request.page_token)
        async with self.deps.db.connection() as conn:
            rows = await store.list_visible(
                conn, principal.workspace_id, request.origin, cursor["id"] if cursor else "", limit + 1
            )
        rows, token = self.deps.pages.page(scope, rows, limit, lambda last: {"id": last["id"]})
        return agents_pb2.ListAgentsResponse(agents=[agent_message(r) for r in rows], next_page_token=token)

    async def GetAgent(
        self, request: agents_pb2.GetAgentRequest, context: grpc.aio.ServicerContext
    ) -> agents_pb2.GetAgentResponse:
        principal = current_principal()
        resolved = await resolve_cached(
            self.deps.visible_agents, self.deps.db, principal.workspace_id, request.agent_id
        )
        _set_etag(context, resolved.etag)
        return agents_pb2.GetAgentResponse(agent=resolved.agent)

    async def UpdateAgent(
        self, request: agents_pb2.UpdateAgentRequest, context: grpc.aio.ServicerContext
    ) -> agents_pb2.UpdateAgentResponse:
        principal = current_principal()
        if request.agent.id and request.agent.id != request.agent_id:
            raise InvalidArgument("agent.id cannot be changed")
        # If-Match (REST) or agent.etag (gRPC): update only the version the caller read.
        expected = metadata_value(context, "if-match").strip() or request.agent.etag
        await check_base_url(request.agent, self.deps.settings)  # resolves the host: before holding a connection
        async with self.deps.db.transaction() as conn:
            resolved = await resolve(conn, principal.workspace_id, request.agent_id, lock=True)
            _writable(resolved, principal, "changed")
            if expected and expected not in (resolved.etag, "*"):
                raise FailedPrecondition(
                    f"agent {request.agent_id} changed since it was read (current ETag {resolved.etag})",
                    http_status=412,
                )
            agent = common_pb2.Agent()
            agent.CopyFrom(request.agent)
            agent.id = request.agent_id
            agent = normalise(agent, self.deps.catalog, await default_model(conn, principal.workspace_id))
            enforce(agent.model, *await workspaces.restrictions(conn, principal.workspace_id))
            await store.update(conn, agent.id, agent.model, to_document(agent), principal.user_id)
            await record(
                conn,
                actor=principal.user_id,
                action="agent.update",
                target_user_id=principal.user_id,
                workspace_id=principal.workspace_id,
                details={"model": agent.model, "previousVersion": resolved.version},
                target=agent.id,
            )
            updated = await resolve(conn, principal.workspace_id, agent.id)
        self.deps.visible_agents.forget(agent.id)
        _set_etag(context, updated.etag)
        return agents_pb2.UpdateAgentResponse(agent=updated.agent)

    async def DeleteAgent(
        self, request: agents_pb2.DeleteAgentRequest, context: grpc.aio.ServicerContext
    ) -> agents_pb2.DeleteAgentResponse:
        principal = current_principal()
        async with self.deps.db.transaction() as conn:
            resolved = await resolve(conn, principal.workspace_id, request.agent_id, lock=True)
            _writable(resolved, principal, "deleted")
            await store.delete(conn, request.agent_id)
            await record(
                conn,
                actor=principal.user_id,
                action="agent.delete",
                target_user_id=principal.user_id,
                workspace_id=principal.workspace_id,
                details={"model": resolved.agent.model},
                target=request.agent_id,
            )
        self.deps.visible_agents.forget(request.agent_id)
        return agents_pb2.DeleteAgentResponse()

    async def GetAgentCapabilities(
        self, request: agents_pb2.GetAgentCapabilitiesRequest, context: grpc.aio.ServicerContext
    ) -> agents_pb2.GetAgentCapabilitiesResponse:
        principal = current_principal()
        async with self.deps.db.connection() as conn:
            resolved = await resolve(conn, principal.workspace_id, request.agent_id)
            providers, models = await workspaces.restrictions(conn, principal.workspace_id)
        agent, catalog = resolved.agent, self.deps.catalog
        provider, model_id = split_model(agent.model)
        available, why_unavailable = provider_configured(self.deps.settings, provider, agent.base_url)
        reasons = [
            "viewers cannot chat with agents" if principal.role == "viewer" else "",
            READONLY_GRANT if resolved.origin == "granted" and resolved.readonly else "",
            restriction_error(agent.model, providers, models),
            why_unavailable,
        ]
        reason = next((r for r in reasons if r), "")
        tools = []
        # The tools of the workspace's MCP servers that the agent names (exactly or as mcp__<server>__*).
        requested = catalog.requested(list(agent.skills), list(agent.tools.allow))
        remote = await self.deps.tools.source_specs(principal.workspace_id, requested, list(agent.tools.deny))
        own = catalog.resolve_tools(list(agent.skills), list(agent.tools.allow), list(agent.tools.deny))
        for spec in [*own, *remote]:
            parameters = struct_pb2.Struct()
            parameters.update(spec.parameters)
            owner = next(
                (
                    s
                    for s in agent.skills
                    if s in catalog.skills and any(mcp_names.matches(n, spec.name) for n in catalog.skills[s].tools)
                ),
                "",
            )
            tools.append(
                common_pb2.ToolDefinition(
                    name=spec.name, description=spec.description, parameters=parameters, skill_id=owner
                )
            )
        skills = [
            agents_pb2.ActiveSkill(
                id=s.id, display_name=s.display_name, prompt_context=s.prompt_context, tool_names=list(s.tools)
            )
            for s in (catalog.skills[skill_id] for skill_id in agent.skills if skill_id in catalog.skills)
        ]
        model = agents_pb2.ModelConfig(
            provider=provider,
            model=model_id,
            max_output_tokens=agent.max_output_tokens,
            max_context_tokens=agent.max_context_tokens,
            provider_available=available,
        )
        if agent.HasField("temperature"):
            model.temperature = agent.temperature
        return agents_pb2.GetAgentCapabilitiesResponse(
            agent_id=agent.id,
            origin=resolved.origin,
            tools=tools,
            skills=skills,
            spawn=agent.spawn,
            model=model,
            memory=agent.memory,
            can_chat=not reason,
            cannot_chat_reason=reason,
        )
