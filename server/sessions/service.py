"""SessionsService: the caller's sessions, their messages, full-text search, and handoff to another agent."""

from __future__ import annotations

import grpc

from astra.v1 import sessions_pb2, sessions_pb2_grpc
from server import events
from server.agents.resolve import resolve
from server.context import current_principal
from server.deps import Deps
from server.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from server.paging import after, keyset, page_limit
from server.restrictions import enforce
from server.sessions import store
from server.sessions.messages import message_message, session_message
from server.timestamps import to_timestamp
from server.workspaces import store as workspaces

STATUSES = ("", "active", "archived")
ROLES = ("", "user", "assistant", "tool", "system")


class SessionsService(sessions_pb2_grpc.SessionsServiceServicer):
    def __init__(self, deps: Deps):
        self.deps = deps

    async def ListSessions(
        self, request: sessions_pb2.ListSessionsRequest, context: grpc.aio.ServicerContext
    ) -> sessions_pb2.ListSessionsResponse:
        principal = current_principal()
        if request.status not in STATUSES:
            raise InvalidArgument("status must be active or archived")
        limit = page_limit(request.limit)
        filters = f"{request.status}:{request.agent_id}:{request.surface}"
        scope = f"sessions:{principal.user_id}:{principal.workspace_id}:{filters}"
        cursor = self.deps.pages.decode(scope, request.page_token)
        async with self.deps.db.connection() as conn:
            rows = await store.list_sessions(
                conn,
                principal.user_id,
                principal.workspace_id,
                request.status,
                request.agent_id,
                request.surface,
                after(cursor),
                limit + 1,
            )
        rows, token = self.deps.pages.page(scope, rows, limit, keyset("last_activity_at"))
        return sessions_pb2.ListSessionsResponse(sessions=[session_message(r) for r in rows], next_page_token=token)

    async def GetSession(
        self, request: sessions_pb2.GetSessionRequest, context: grpc.aio.ServicerContext
    ) -> sessions_pb2.GetSessionResponse:
        principal = current_principal()
        limit = page_limit(request.limit)
        scope = f"messages:{request.session_id}"
        cursor = self.deps.pages.decode(scope, request.page_token)
        async with self.deps.db.connection() as conn:
            session = await store.own_session(conn, request.session_id, principal.user_id, principal.workspace_id)
            if session is None:
                raise NotFound(f"session {request.session_id} not found")
            rows = await store.messages_page(conn, request.session_id, cursor["seq"] if cursor else None, limit + 1)
        token = ""
        if len(rows) > limit:
            rows = rows[1:]  # the extra row is the oldest: it opens the next (older) page
            token = self.deps.pages.encode(scope, {"seq": rows[0]["seq"]})
        return sessions_pb2.GetSessionResponse(
            session=session_message(session), messages=[message_message(r) for r in rows], next_page_token=token
        )

    async def SearchMessages(
        self, request: sessions_pb2.SearchMessagesRequest, context: grpc.aio.ServicerContext
    ) -> sessions_pb2.SearchMessagesResponse:
        principal = current_principal()
        query = request.q.strip()
        if not query:
            raise InvalidArgument("q is required")
        if len(query) > 500:
            raise InvalidArgument("q must be at most 500 characters")
        if request.role not in ROLES:
            raise InvalidArgument("role must be user, assistant, tool or system")
        limit = page_limit(request.limit)
        scope = f"search:{principal.user_id}:{principal.workspace_id}:{query}:{request.agent_id}:{request.role}"
        cursor = self.deps.pages.decode(scope, request.page_token)
        offset = cursor["offset"] if cursor else 0
        async with self.deps.db.connection() as conn:
            rows = await store.search_messages(
                conn,
                principal.user_id,
                principal.workspace_id,
                query,
                request.agent_id,
                request.role,
                offset,
                limit + 1,
            )
        rows, token = self.deps.pages.page(scope, rows, limit, lambda last: {"offset": offset + limit})
        return sessions_pb2.SearchMessagesResponse(
            hits=[
                sessions_pb2.MessageSearchHit(
                    session_id=r["session_id"],
                    message_id=r["id"],
                    agent_id=r["agent_id"] or "",
                    role=r["role"],
                    snippet=store.snippet_html(r["snippet"]),
                    score=float(r["score"]),
                    created_at=to_timestamp(r["created_at"]),
                )
                for r in rows
            ],
            next_page_token=token,
        )

    async def HandoffSession(
        self, request: sessions_pb2.HandoffSessionRequest, context: grpc.aio.ServicerContext
    ) -> sessions_pb2.HandoffSessionResponse:
        principal = current_principal()
        if not request.target_agent_id:
            raise InvalidArgument("targetAgentId is required")
        if len(request.note) > 2000:
            raise InvalidArgument("note must be at most 2000 characters")
        async with self.deps.db.transaction() as conn:
            session = await store.lock_own_session(conn, request.session_id, principal.user_id, principal.workspace_id)
            if session is None:
                raise NotFound(f"session {request.session_id} not found")
            if session["status"] != "active":
                raise FailedPrecondition(f"session {request.session_id} is archived", http_status=409)
            previous = session["agent_id"]
            if request.target_agent_id == previous:
                raise InvalidArgument(f"session {request.session_id} is already with agent {previous}")
            target = await resolve(conn, principal.workspace_id, request.target_agent_id)
            if target.origin == "granted" and target.readonly:
                raise PermissionDenied(f"agent {target.agent.id} is granted read-only to this workspace")
            enforce(target.agent.model, *await workspaces.restrictions(conn, principal.workspace_id))
            marker = f"Handoff from {previous} to {target.agent.id}" + (f": {request.note}" if request.note else "")
            row = await store.insert_message(conn, session["id"], "system", marker, agent_id=target.agent.id)
            await store.set_agent(conn, session["id"], target.agent.id)
            await store.touch(conn, session["id"], 1)
            await events.emit(
                conn,
                principal.workspace_id,
                "session.handoff",
                {
                    "sessionId": session["id"],
                    "fromAgentId": previous,
                    "toAgentId": target.agent.id,
                    "note": request.note,
                    "userId": principal.user_id,
                },
            )
            updated = await store.own_session(conn, session["id"], principal.user_id, principal.workspace_id)
        assert updated is not None
        return sessions_pb2.HandoffSessionResponse(
            session=session_message(updated), previous_agent_id=previous, handoff_message_id=row["id"]
        )
