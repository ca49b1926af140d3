"""Opening a turn, before the provider is called: the request checked; the session the turn goes on in (found by id
or by its key, continued, archived and replaced when it was idle too long, or created) with its recent history; the
agent that answers in it, and whether this workspace may chat with it now (grants, restrictions, a configured
provider). The common case (a session that goes on, agent and workspace cached) is one round trip."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, NamedTuple

from psycopg import AsyncConnection

from server.agents.resolve import ResolvedAgent, resolve_cached
from server.chat import ratelimit
from server.chat.context import session_expired
from server.context import Principal
from server.db.database import Database
from server.db.notified import NotifiedCache
from server.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from server.providers.base import CallerOptions, ChatMessage, ToolSchema
from server.providers.registry import Providers
from server.restrictions import enforce, split_model
from server.sessions import store as sessions
from server.workspaces.cache import WorkspaceView, workspace_view

MAX_MESSAGE_CHARS = 32_000
HISTORY_LIMIT = 200


@dataclass(frozen=True)
class TurnRequest:
    agent_id: str
    message: str
    surface: str = ""
    surface_id: str = ""
    session_id: str = ""
    # A caller that holds the conversation itself (the OpenAI-compatible surface) may also give:
    # the conversation before this turn, in place of the session's stored history;
    history: tuple[ChatMessage, ...] | None = None
    # results of the model's calls of client tools, which the turn answers in place of a new message (`message`
    # then only says what the turn is about, for memory; it is not stored again);
    tool_results: tuple[ChatMessage, ...] = ()
    # text added to the agent's system prompt;
    system: str = ""
    # tools of its own, offered to the model beside the agent's: a round that calls one ends the turn there;
    client_tools: tuple[ToolSchema, ...] = ()
    # and settings for the model over the agent's own.
    options: CallerOptions = field(default_factory=CallerOptions)


def check_request(principal: Principal, request: TurnRequest) -> TurnRequest:
    """The request with its defaults, once the caller may chat and every field is within bounds."""
    if principal.role == "viewer":
        raise PermissionDenied("viewers cannot chat with agents")
    if not request.message.strip() and not request.tool_results:
        raise InvalidArgument("message must not be empty")
    if len(request.message) > MAX_MESSAGE_CHARS:
        raise InvalidArgument(f"message must be at most {MAX_MESSAGE_CHARS} characters")
    surface = request.surface or "api"
    if len(surface) > 64 or len(request.surface_id) > 256:
        raise InvalidArgument("surface must be at most 64 and surfaceId at most 256 characters")
    if not request.session_id and not request.agent_id:
        raise InvalidArgument("agentId (or sessionId) is required")
    return replace(request, surface=surface)


class Opened(NamedTuple):
    session: dict[str, Any]
    created: bool
    resolved: ResolvedAgent
    history: list[dict[str, Any]]


class Opening:
    def __init__(
        self, db: Database, visible_agents: NotifiedCache, workspace_views: NotifiedCache, providers: Providers
    ):
        self.db = db
        self.visible_agents = visible_agents
        self.workspace_views = workspace_views
        self.providers = providers

    async def open(self, principal: Principal, request: TurnRequest, counted: ratelimit.Count | None) -> Opened:
        """The session (found, continued or created), the agent answering in it and the session's recent history,
        with every check that must pass before the provider is called. `counted`: a rate limit's event, counted in
        the statement that finds the session, before any check or write."""
        session, history = await self._find(principal, request, counted)
        # The agent and the workspace come from per-process caches: a connection is taken only on a miss (and below,
        # to archive or open a session), not on every turn.
        if request.session_id:
            if session is None:
                raise NotFound(f"session {request.session_id} not found")
            if session["status"] != "active":
                raise FailedPrecondition(f"session {request.session_id} is archived; start a new one", http_status=409)
            if request.agent_id and request.agent_id not in (session["agent_id"], session["origin_agent_id"]):
                raise InvalidArgument(f"session {request.session_id} belongs to agent {session['agent_id']}")
            resolved, _ = await self._usable(self.db, principal, session["agent_id"])
            return Opened(session, False, resolved, history)
        # After a handoff the session's current agent keeps answering on this surface.
        agent_id = session["agent_id"] if session else request.agent_id
        resolved, workspace = await self._usable(self.db, principal, agent_id)
        if session is not None and not session_expired(
            session["last_activity_at"], datetime.now(UTC), workspace.settings
        ):
            return Opened(session, False, resolved, history)
        async with self.db.connection() as conn:
            if session is not None:
                await sessions.archive(conn, session["id"])
                if session["agent_id"] != request.agent_id:
                    resolved, _ = await self._usable(conn, principal, request.agent_id)
            key = (principal.user_id, principal.workspace_id, request.agent_id, request.surface, request.surface_id)
            session, created = await sessions.open_session(conn, *key)
            return Opened(session, created, resolved, [])

    async def _find(
        self, principal: Principal, request: TurnRequest, counted: ratelimit.Count | None
    ) -> tuple[dict | None, list[dict[str, Any]]]:
        """The session the turn goes on in, by id or by its key, with its recent history (and the rate limit's
        count): one round trip."""
        ids = {"user": principal.user_id, "workspace": principal.workspace_id}
        if request.session_id:
            lookup, params = "own", {**ids, "session": request.session_id}
        else:
            params = {**ids, "agent": request.agent_id, "surface": request.surface, "surface_id": request.surface_id}
            lookup = "active"
        # A turn that brings its own history needs none of the session's.
        params["limit"] = HISTORY_LIMIT if request.history is None else 0
        select = sessions.with_history(lookup)
        async with self.db.connection() as conn:
            if counted is not None:
                return sessions.history(await ratelimit.counted_select(conn, counted, select, params))
            cur = await conn.execute(select, params)
            return sessions.history(await cur.fetchone())

    async def _usable(
        self, source: Database | AsyncConnection, principal: Principal, agent_id: str
    ) -> tuple[ResolvedAgent, WorkspaceView]:
        """The agent if this workspace may chat with it now: 404/403 and restriction and provider checks."""
        resolved = await resolve_cached(self.visible_agents, source, principal.workspace_id, agent_id)
        workspace = await workspace_view(self.workspace_views, source, principal.workspace_id)
        if resolved.origin == "granted" and resolved.readonly:
            raise PermissionDenied(
                f"agent {agent_id} is granted read-only to this workspace: it cannot be chatted with"
            )
        enforce(resolved.agent.model, workspace.allowed_providers, workspace.allowed_models)
        provider, _ = split_model(resolved.agent.model)
        configured, why = self.providers.configured(provider, resolved.agent.base_url)
        if not configured:
            raise FailedPrecondition(why)
        return resolved, workspace
