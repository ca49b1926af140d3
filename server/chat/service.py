"""ChatService: one turn as a reply (Chat) or as a stream (ChatStream, SSE, /ws); reset, presence, health."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing

import grpc

from astra.v1 import chat_pb2, chat_pb2_grpc
from server.chat import idempotency, presence, ratelimit
from server.chat.reply import run_to_end
from server.chat.turn import TurnEngine, TurnRequest
from server.context import Principal, current_principal
from server.deps import Deps
from server.errors import InvalidArgument, NotFound
from server.interceptors.base import add_trailers, metadata_value
from server.providers.registry import NAMES
from server.sessions import store as sessions
from server.timestamps import to_timestamp

# /ws message frames per user across sockets and replicas (the README's WebSocket paragraph).
WS_MESSAGES_PER_WINDOW, WS_WINDOW_S = 30, 60


def _turn_request(request: chat_pb2.ChatRequest | chat_pb2.ChatStreamRequest) -> TurnRequest:
    return TurnRequest(request.agent_id, request.message, request.surface, request.surface_id, request.session_id)


class ChatService(chat_pb2_grpc.ChatServiceServicer):
    def __init__(self, deps: Deps):
        self.deps = deps
        self.engine = TurnEngine(deps, deps.providers, deps.tools)

    def _admission(self, principal: Principal, context: grpc.aio.ServicerContext) -> ratelimit.Count | None:
        """The caller's rate-limit count, made in the statement that finds the turn's session; None when no limit
        applies.

        A /ws message counts in the /ws window only, every other turn in the chat window: one window per turn, so
        a user may have both windows' worth. The transport is the caller's word, but claiming /ws only trades the
        chat window for the /ws one, which that user can reach through /ws anyway."""
        user = principal.user_id
        if metadata_value(context, "x-astra-transport") == "ws":
            return ratelimit.Count(f"ws:{user}", WS_MESSAGES_PER_WINDOW, WS_WINDOW_S)
        return ratelimit.chat_turn(user, self.deps.settings.chat_rate_per_min)

    async def _reply(
        self, principal: Principal, request: chat_pb2.ChatRequest, context: grpc.aio.ServicerContext
    ) -> chat_pb2.ChatResponse:
        counted = self._admission(principal, context)
        return chat_pb2.ChatResponse(**await run_to_end(self.engine, principal, _turn_request(request), counted))

    async def Chat(self, request: chat_pb2.ChatRequest, context: grpc.aio.ServicerContext) -> chat_pb2.ChatResponse:
        principal = current_principal()
        key = metadata_value(context, "idempotency-key")
        if not key:
            response = await self._reply(principal, request, context)
            add_trailers(context, ("x-astra-overhead-ms", f"{response.overhead_ms:.3f}"))
            return response
        idempotency.check_key(key)
        digest = idempotency.request_hash(principal.workspace_id, request.SerializeToString(deterministic=True))
        stored = await idempotency.begin(self.deps.db, principal.user_id, key, digest)
        if stored is not None:
            replayed = chat_pb2.ChatResponse.FromString(stored)
            add_trailers(
                context, ("idempotent-replayed", "true"), ("x-astra-overhead-ms", f"{replayed.overhead_ms:.3f}")
            )
            return replayed
        try:
            response = await self._reply(principal, request, context)  # a replay above is not counted
        except BaseException:
            await idempotency.abandon(self.deps.db, principal.user_id, key)
            raise
        await idempotency.finish(self.deps.db, principal.user_id, key, response.SerializeToString())
        add_trailers(context, ("x-astra-overhead-ms", f"{response.overhead_ms:.3f}"))
        return response

    async def ChatStream(
        self, request: chat_pb2.ChatStreamRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[chat_pb2.ChatStreamResponse]:
        principal = current_principal()
        counted = self._admission(principal, context)
        async with aclosing(self.engine.stream(principal, _turn_request(request), counted)) as events:
            async for event in events:
                if event.HasField("stream_done"):
                    add_trailers(context, ("x-astra-overhead-ms", f"{event.stream_done.overhead_ms:.3f}"))
                yield event

    async def ResetSession(
        self, request: chat_pb2.ResetSessionRequest, context: grpc.aio.ServicerContext
    ) -> chat_pb2.ResetSessionResponse:
        principal = current_principal()
        async with self.deps.db.transaction() as conn:
            if request.session_id:
                session = await sessions.lock_own_session(
                    conn, request.session_id, principal.user_id, principal.workspace_id
                )
                if session is None:
                    raise NotFound(f"session {request.session_id} not found")
            elif request.agent_id:
                session = await sessions.active_session(
                    conn,
                    principal.user_id,
                    principal.workspace_id,
                    request.agent_id,
                    request.surface or "api",
                    request.surface_id,
                    lock=True,
                )
            else:
                raise InvalidArgument("sessionId, or agentId with surface and surfaceId, is required")
            if session is None or session["status"] != "active":
                return chat_pb2.ResetSessionResponse(reset=False, session_id=session["id"] if session else "")
            await sessions.archive(conn, session["id"])
        return chat_pb2.ResetSessionResponse(reset=True, session_id=session["id"])

    async def GetPresence(
        self, request: chat_pb2.GetPresenceRequest, context: grpc.aio.ServicerContext
    ) -> chat_pb2.GetPresenceResponse:
        principal = current_principal()
        async with self.deps.db.connection() as conn:
            rows = await presence.current(conn, principal.user_id, principal.workspace_id, request.agent_id)
        return chat_pb2.GetPresenceResponse(
            agents=[
                chat_pb2.AgentPresence(
                    agent_id=r["agent_id"],
                    state=r["state"],
                    session_id=r["session_id"] or "",
                    tool_name=r["tool_name"],
                    since=to_timestamp(r["since"]),
                )
                for r in rows
            ]
        )

    async def GetAgentHealth(
        self, request: chat_pb2.GetAgentHealthRequest, context: grpc.aio.ServicerContext
    ) -> chat_pb2.GetAgentHealthResponse:
        providers = []
        for name in NAMES:
            configured, _ = self.deps.providers.configured(name)
            breaker = self.deps.providers.breakers[name]
            health = chat_pb2.ProviderHealth(
                provider=name,
                configured=configured,
                circuit_state=breaker.state,
                consecutive_failures=breaker.consecutive_failures,
                last_error=breaker.last_error or "",
            )
            if breaker.last_error_at:
                health.last_error_at.FromSeconds(int(breaker.last_error_at))
            providers.append(health)
        degraded = any(p.configured and p.circuit_state != "closed" for p in providers)
        return chat_pb2.GetAgentHealthResponse(
            status="degraded" if degraded else "ok", providers=providers, turns_in_flight=self.deps.foreground.active
        )
