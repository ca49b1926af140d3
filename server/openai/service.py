"""OpenAIService: the caller's agents as OpenAI models, a chat completion as one turn of the same TurnEngine every
other surface runs (surface `openai`), so the turn has the agent's memory, tools and skills and lands in a session,
in /costs and in the agent's events like any other; and embeddings of the memory embedding model."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing

import grpc

from astra.v1 import openai_pb2, openai_pb2_grpc
from server.agents import store as agents
from server.agents.resolve import resolve_cached
from server.audit.log import record
from server.chat import idempotency, ratelimit
from server.chat.reply import stream_error
from server.chat.turn import TurnEngine, TurnRequest
from server.context import Principal, current_principal
from server.deps import Deps
from server.errors import InvalidArgument, NotFound, PermissionDenied, Unavailable
from server.interceptors.base import add_trailers, metadata_value
from server.memory.search import embedder_for
from server.openai import embeddings, messages
from server.restrictions import restriction_error
from server.workspaces.cache import workspace_view

log = logging.getLogger(__name__)

SURFACE = "openai"
SESSION_HEADER = "x-astra-session-id"  # request: continue this session; response: the session the turn ran in
LIST_PAGE = 500
# owned_by for agents the caller's workspace does not own: a shared agent does not name the workspace that shared it.
_OWNERS = {"global": "system", "granted": "shared"}


def _no_such_model(model: str) -> NotFound:
    # OpenAI's words; one answer for an unknown agent and for one the caller may not use.
    return NotFound(f"The model '{model}' does not exist or you do not have access to it.")


class OpenAIService(openai_pb2_grpc.OpenAIServiceServicer):
    def __init__(self, deps: Deps):
        self.deps = deps
        self.engine = TurnEngine(deps, deps.providers, deps.tools)

    async def ListModels(
        self, request: openai_pb2.ListModelsRequest, context: grpc.aio.ServicerContext
    ) -> openai_pb2.ListModelsResponse:
        principal = current_principal()
        workspace_id = principal.workspace_id
        rows = []
        async with self.deps.db.connection() as conn:
            workspace = await workspace_view(self.deps.workspace_views, conn, workspace_id)
            while True:
                after = rows[-1]["id"] if rows else ""
                page = await agents.list_visible(conn, workspace_id, "", after, LIST_PAGE)
                rows.extend(page)
                if len(page) < LIST_PAGE:
                    break
        restrictions = (workspace.allowed_providers, workspace.allowed_models)
        return openai_pb2.ListModelsResponse(
            object="list",
            data=[
                openai_pb2.OpenAIModel(
                    id=row["id"],
                    object="model",
                    created=int(row["created_at"].timestamp()),
                    owned_by=_OWNERS[row["origin"]] if row["origin"] != "own" else workspace_id,
                )
                for row in rows
                # Only agents this workspace may chat with: no read-only grant, none its restrictions rule out.
                if not (row["origin"] == "granted" and row["readonly"])
                and not restriction_error(row["model"], *restrictions)
            ],
        )

    async def _check_model(self, principal: Principal, model: str) -> set[str]:
        """404 (OpenAI's model_not_found) for an agent this workspace may not chat with; the names of its own tools
        otherwise, which client tools may not take."""
        if not model:
            raise InvalidArgument("model is required (an agent id; GET /v1/models lists them)")
        try:
            resolved = await resolve_cached(self.deps.visible_agents, self.deps.db, principal.workspace_id, model)
            workspace = await workspace_view(self.deps.workspace_views, self.deps.db, principal.workspace_id)
        except (NotFound, PermissionDenied):
            raise _no_such_model(model) from None
        if (resolved.origin == "granted" and resolved.readonly) or restriction_error(
            resolved.agent.model, workspace.allowed_providers, workspace.allowed_models
        ):
            raise _no_such_model(model)
        agent = resolved.agent
        specs = self.deps.catalog.resolve_tools(list(agent.skills), list(agent.tools.allow), list(agent.tools.deny))
        return {spec.name for spec in specs}

    async def _turn(
        self, principal: Principal, request: openai_pb2.CreateChatCompletionRequest, session_id: str
    ) -> TurnRequest:
        own_tools = await self._check_model(principal, request.model)
        conversation = messages.conversation(request.messages)
        tools = messages.client_tools(request)
        taken = sorted(own_tools & {t.name for t in tools})
        if taken:
            raise InvalidArgument(f"tools: {', '.join(taken)} is a tool of the agent itself; name client tools apart")
        return TurnRequest(
            agent_id=request.model,
            message=conversation.message,
            surface=SURFACE,
            surface_id=request.user,
            session_id=session_id,
            # A continued session answers from its own history; otherwise the caller's conversation is the history.
            history=None if session_id else conversation.history,
            tool_results=conversation.tool_results,
            system=conversation.system,
            client_tools=tools,
            options=messages.caller_options(request),
        )

    def _admission(self, principal: Principal) -> ratelimit.Count | None:
        """The user's chat window, counted in the statement that finds the turn's session (ChatService._admission)."""
        return ratelimit.chat_turn(principal.user_id, self.deps.settings.chat_rate_per_min)

    async def _answer(
        self,
        principal: Principal,
        turn: TurnRequest,
        request: openai_pb2.CreateChatCompletionRequest,
        context: grpc.aio.ServicerContext,
        answer: messages.Answer,
    ) -> AsyncIterator[openai_pb2.CreateChatCompletionResponse]:
        """The turn's chunks (stream) or its one completion."""
        client_tools = {t.name for t in turn.client_tools}
        started = False
        stream = self.engine.stream(principal, turn, self._admission(principal))
        try:
            async with aclosing(stream) as events:
                async for event in events:
                    kind = event.WhichOneof("event")
                    if kind == "session_resolved":
                        started = True
                        answer.session_id = event.session_resolved.session_id
                        await _name_session(context, answer.session_id)
                        if event.session_resolved.created:  # audited beside the turn, not before its first token
                            self.engine.hold(asyncio.ensure_future(self._audit_session(principal, turn, answer)))
                        if request.stream:
                            yield answer.role()
                    elif kind == "stream_chunk":
                        if request.stream:
                            yield answer.text(event.stream_chunk.delta)
                    elif kind == "tool_call" and event.tool_call.name in client_tools:
                        chunk = answer.tool_call(event.tool_call)
                        if request.stream:
                            yield chunk
                    elif kind == "stream_done":
                        if request.stream:
                            for chunk in answer.last_chunks(event.stream_done):
                                yield chunk
                        else:
                            yield answer.completion(event.stream_done)
                    elif kind == "error":
                        raise stream_error(event.error)
                    # The agent's own tool calls and results run server-side: the client sees only the answer.
        except NotFound as exc:
            if turn.session_id and not started:
                raise InvalidArgument(f"X-Astra-Session-Id: {exc.message}") from None
            raise

    async def _audit_session(self, principal: Principal, turn: TurnRequest, answer: messages.Answer) -> None:
        """An OpenAI client's conversation in the audit log: the session it opened, with the key that opened it."""
        async with self.deps.db.transaction() as conn:
            await record(
                conn,
                actor=principal.user_id,
                action="openai.session.create",
                target_user_id=principal.user_id,
                workspace_id=principal.workspace_id,
                details={"agentId": turn.agent_id, "surfaceId": turn.surface_id},
                target=answer.session_id,
            )

    async def CreateChatCompletion(
        self, request: openai_pb2.CreateChatCompletionRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[openai_pb2.CreateChatCompletionResponse]:
        principal = current_principal()
        session_id = metadata_value(context, SESSION_HEADER)
        turn = await self._turn(principal, request, session_id)
        answer = messages.Answer(request.model, request.stream_options.include_usage)
        key = metadata_value(context, "idempotency-key") if not request.stream else ""
        if not key:
            async with aclosing(self._answer(principal, turn, request, context, answer)) as answers:
                async for answer in answers:
                    yield answer
            return
        # As on /agent/chat: the same key and body replay the stored completion; another body is 422.
        idempotency.check_key(key)
        body = request.SerializeToString(deterministic=True) + b"\0" + session_id.encode()
        digest = idempotency.request_hash(principal.workspace_id, body)
        stored = await idempotency.begin(self.deps.db, principal.user_id, key, digest)
        if stored is not None:
            session, _, completion = stored.partition(b"\n")
            await _name_session(context, session.decode())
            add_trailers(context, ("idempotent-replayed", "true"))
            yield openai_pb2.CreateChatCompletionResponse.FromString(completion)
            return
        try:
            async with aclosing(self._answer(principal, turn, request, context, answer)) as answers:
                completion = await anext(answers)
        except BaseException:
            await idempotency.abandon(self.deps.db, principal.user_id, key)
            raise
        # Stored with the session it ran in (ids have no newline), which a replay names as well.
        stored = answer.session_id.encode() + b"\n" + completion.SerializeToString()
        await idempotency.finish(self.deps.db, principal.user_id, key, stored)
        yield completion

    async def CreateEmbeddings(
        self, request: openai_pb2.CreateEmbeddingsRequest, context: grpc.aio.ServicerContext
    ) -> openai_pb2.CreateEmbeddingsResponse:
        current_principal()  # any member: embedding reads nothing of the workspace
        texts = embeddings.inputs(request)
        embedder = embedder_for(self.deps.settings)
        try:
            vectors = await embedder.embed(texts)
        except Exception as exc:  # the operator's embeddings endpoint (ASTRA_EMBEDDING_PROVIDER=openai) failed
            log.warning("embeddings failed", extra={"error": str(exc)})
            raise Unavailable("the embedding model is unavailable") from None
        model = embedder.name.partition(":")[2] or embedder.name  # "local:all-MiniLM-L6-v2" -> all-MiniLM-L6-v2
        return embeddings.answer(texts, vectors, model, request.encoding_format)


async def _name_session(context: grpc.aio.ServicerContext, session_id: str) -> None:
    """The session in the call's trailers, and in its initial metadata when that is still the handler's to send (the
    edge's calls: it answers with the header before the first chunk); another network caller has had the request id
    there already and reads the session from the trailers."""
    add_trailers(context, (SESSION_HEADER, session_id))
    try:
        await context.send_initial_metadata(((SESSION_HEADER, session_id),))
    except grpc.aio.UsageError:
        pass
