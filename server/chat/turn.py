"""The agent turn (DESIGN.md §5): session → user message committed → context → streamed inference → tool loop
→ assistant/tool messages, usage and cost committed in one transaction. Every transport consumes the same
event stream this produces."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from contextlib import aclosing, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from astra.v1 import chat_pb2, common_pb2
from server import events
from server.agents.resolve import ResolvedAgent, resolve_cached
from server.chat import presence, recovery
from server.chat.context import build_context, session_expired
from server.chat.pricing import cost_usd
from server.context import Principal
from server.deps import Deps
from server.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from server.ids import new_id
from server.memory import recall as memory_recall
from server.memory.extract import extract as memory_extract
from server.memory.search import embedder_for
from server.metrics import CHAT_OVERHEAD, TURNS
from server.providers.base import (
    ChatMessage,
    CompletionRequest,
    Finish,
    ProviderError,
    StreamEvent,
    TextDelta,
    ToolCallEvent,
    ToolCallRequest,
    ToolSchema,
)
from server.providers.registry import Providers
from server.restrictions import enforce, split_model
from server.sessions import store as sessions
from server.tools.runtime import ToolContext, ToolOutcome, ToolRunner
from server.workspaces.cache import WorkspaceView, workspace_view

log = logging.getLogger(__name__)

MAX_TOOL_ROUNDS = 5
MAX_MESSAGE_CHARS = 32_000
HISTORY_LIMIT = 200


@dataclass(frozen=True)
class TurnRequest:
    agent_id: str
    message: str
    surface: str = ""
    surface_id: str = ""
    session_id: str = ""


class ToolRecord(NamedTuple):
    call: ToolCallRequest
    result: str
    error: str
    duration_ms: float
    cost_usd: Decimal


def outcome_record(call: ToolCallRequest, outcome: ToolOutcome) -> ToolRecord:
    return ToolRecord(call, outcome.result, outcome.error, outcome.duration_ms, outcome.cost_usd)


@dataclass
class _Round:
    text: str = ""
    calls: list[ToolCallRequest] = field(default_factory=list)
    results: list[ToolRecord] = field(default_factory=list)


@dataclass
class _Turn:
    """What a turn has produced so far: persisted at the end, or when it fails or is cancelled."""

    principal: Principal
    agent: common_pb2.Agent
    session_id: str
    turn_id: str
    started: float = field(default_factory=time.perf_counter)
    external_s: float = 0.0  # time waiting on the provider and running tools
    rounds: list[_Round] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str = ""
    saved: bool = False
    user_message: str = ""

    @property
    def content(self) -> str:
        return "".join(r.text for r in self.rounds)

    @property
    def tools_used(self) -> list[str]:
        return [call.name for r in self.rounds for call in r.calls]

    def overhead_ms(self) -> float:
        return round(max(0.0, time.perf_counter() - self.started - self.external_s) * 1000, 3)


@dataclass
class _Plan:
    """What the model is asked: the provider, its model id, the messages (growing with each tool round), the tools."""

    provider: str
    model_id: str
    messages: list[ChatMessage]
    tools: tuple[ToolSchema, ...]

    def completion(self, agent: common_pb2.Agent, round_number: int) -> CompletionRequest:
        # The round after the last offers no tools, so the model answers.
        return CompletionRequest(
            model=self.model_id,
            messages=tuple(self.messages),
            tools=self.tools if round_number < MAX_TOOL_ROUNDS else (),
            temperature=agent.temperature if agent.HasField("temperature") else None,
            max_output_tokens=agent.max_output_tokens,
            base_url=agent.base_url,
        )


class _Prefetched:
    """A provider stream whose first event is already being fetched, on a task of its own, while the caller
    finishes other work (storing the user's message)."""

    def __init__(self, inner: AsyncGenerator[StreamEvent, None]):
        self._inner = inner
        self._first: asyncio.Future[StreamEvent] | None = asyncio.ensure_future(anext(inner))

    def __aiter__(self) -> _Prefetched:
        return self

    async def __anext__(self) -> StreamEvent:
        if self._first is None:
            return await anext(self._inner)
        first, self._first = self._first, None
        return await first

    async def aclose(self) -> None:
        """Stops the stream and releases its connection; safe to call more than once."""
        if self._first is not None:
            first, self._first = self._first, None
            first.cancel()
            with suppress(BaseException):
                await first
        await self._inner.aclose()


def _check(request: TurnRequest) -> TurnRequest:
    if not request.message.strip():
        raise InvalidArgument("message must not be empty")
    if len(request.message) > MAX_MESSAGE_CHARS:
        raise InvalidArgument(f"message must be at most {MAX_MESSAGE_CHARS} characters")
    surface = request.surface or "api"
    if len(surface) > 64 or len(request.surface_id) > 256:
        raise InvalidArgument("surface must be at most 64 and surfaceId at most 256 characters")
    if not request.session_id and not request.agent_id:
        raise InvalidArgument("agentId (or sessionId) is required")
    return TurnRequest(request.agent_id, request.message, surface, request.surface_id, request.session_id)


def _event(**kwargs: Any) -> chat_pb2.ChatStreamResponse:
    return chat_pb2.ChatStreamResponse(**kwargs)


class TurnEngine:
    def __init__(self, deps: Deps, providers: Providers, tools: ToolRunner):
        self.deps = deps
        self.providers = providers
        self.tools = tools
        self._background: set[asyncio.Future[Any]] = set()

    async def _usable(self, conn: Any, principal: Principal, agent_id: str) -> tuple[ResolvedAgent, WorkspaceView]:
        """The agent if this workspace may chat with it now: 404/403 and restriction and provider checks."""
        resolved = await resolve_cached(self.deps.visible_agents, conn, principal.workspace_id, agent_id)
        workspace = await workspace_view(self.deps.workspace_views, conn, principal.workspace_id)
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

    async def _find(self, principal: Principal, request: TurnRequest) -> tuple[dict | None, list[dict[str, Any]]]:
        """The session the turn goes on in, by id or by its key, with its recent history: one round trip."""
        ids = {"user": principal.user_id, "workspace": principal.workspace_id}
        if request.session_id:
            lookup, params = "own", {**ids, "session": request.session_id}
        else:
            params = {**ids, "agent": request.agent_id, "surface": request.surface, "surface_id": request.surface_id}
            lookup = "active"
        async with self.deps.db.connection() as conn:
            return await sessions.with_history(conn, lookup, params, HISTORY_LIMIT)

    async def _open(
        self, principal: Principal, request: TurnRequest, admitted: Awaitable[None] | None
    ) -> tuple[dict, bool, ResolvedAgent, list[dict[str, Any]]]:
        """The session (found, continued or created), the agent answering in it and the session's recent history,
        with every check that must pass before the provider is called. `admitted` (a rate limit's verdict, counted
        meanwhile on a connection of its own) is awaited after the lookup and before any check or write, with no
        connection held: waiting for a second connection while holding one can starve the pool. The common case
        (a session that goes on, agent and workspace cached) is one round trip."""
        session, history = await self._find(principal, request)
        if admitted is not None:
            await admitted
        async with self.deps.db.connection() as conn:
            if request.session_id:
                if session is None:
                    raise NotFound(f"session {request.session_id} not found")
                if session["status"] != "active":
                    raise FailedPrecondition(
                        f"session {request.session_id} is archived; start a new one", http_status=409
                    )
                if request.agent_id and request.agent_id not in (session["agent_id"], session["origin_agent_id"]):
                    raise InvalidArgument(f"session {request.session_id} belongs to agent {session['agent_id']}")
                resolved, _ = await self._usable(conn, principal, session["agent_id"])
                return session, False, resolved, history
            # After a handoff the session's current agent keeps answering on this surface.
            agent_id = session["agent_id"] if session else request.agent_id
            resolved, workspace = await self._usable(conn, principal, agent_id)
            if session is not None:
                if not session_expired(session["last_activity_at"], datetime.now(UTC), workspace.settings):
                    return session, False, resolved, history
                await sessions.archive(conn, session["id"])
                if session["agent_id"] != request.agent_id:
                    resolved, _ = await self._usable(conn, principal, request.agent_id)
            key = (principal.user_id, principal.workspace_id, request.agent_id, request.surface, request.surface_id)
            session, created = await sessions.open_session(conn, *key)
            return session, created, resolved, []

    async def _store_user_message(
        self, principal: Principal, session_id: str, agent_id: str, text: str, turn_id: str
    ) -> bool:
        lease = self.deps.db.lease
        async with self.deps.db.connection() as conn:
            if lease is None:
                return await sessions.add_user_message(
                    conn, session_id, principal.user_id, principal.workspace_id, agent_id, text, turn_id
                )
            # The in-flight stamp (server/chat/recovery.py) and the message share one implicit transaction: if the
            # process dies before the reply is stored, another one closes the turn as interrupted.
            async with conn.pipeline():
                await recovery.stamp(conn, lease, turn_id, principal, session_id, agent_id)
                return await sessions.add_user_message(
                    conn, session_id, principal.user_id, principal.workspace_id, agent_id, text, turn_id
                )

    def _settled(self, turn_id: str) -> None:
        """The turn is over in this process (its stamp, if still there, is an orphan for recovery to close)."""
        if self.deps.db.lease is not None:
            self.deps.db.lease.live_turns.discard(turn_id)

    async def stream(
        self, principal: Principal, request: TurnRequest, admitted: Awaitable[None] | None = None
    ) -> AsyncIterator[chat_pb2.ChatStreamResponse]:
        """The turn's events; the first is session_resolved, the last stream_done or error. `admitted`: see _open."""
        if principal.role == "viewer":
            raise PermissionDenied("viewers cannot chat with agents")
        request = _check(request)
        # Counted from here, not from the first event: the work before it is what the first token waits for.
        with self.deps.foreground.hold():
            turn_id = new_id("turn")
            session, created, resolved, history = await self._open(principal, request, admitted)
            agent = resolved.agent
            # The query embedding runs on its own thread while the message is stored and memory is searched.
            embedding = (
                asyncio.ensure_future(embedder_for(self.deps.settings).embed([request.message]))
                if memory_recall.wanted(agent.memory)
                else None
            )
            if self.deps.db.lease is not None:
                self.deps.db.lease.live_turns.add(turn_id)  # until _settled: its stamp is not an orphan
            # The user's message is committed before any of the reply reaches the client, so it survives whatever
            # happens next; the provider is already called while the commit is under way, which takes the commit off
            # the time to first token. Shielded: a client that goes away does not cut the write short.
            stored = asyncio.ensure_future(
                self._store_user_message(principal, session["id"], agent.id, request.message, turn_id)
            )
            turn = _Turn(principal, agent, session["id"], turn_id, user_message=request.message)
            history.append(sessions.message_row(session["id"], "user", request.message, agent.id))
            head: _Prefetched | None = None
            try:
                memory = await self._recall(principal, agent, request.message, embedding, session["id"])
                plan = self._plan(agent, history, memory)
                head = _Prefetched(self.providers.stream(plan.provider, plan.completion(agent, 0)))
                if not await asyncio.shield(stored):
                    raise FailedPrecondition(f"session {session['id']} was archived; start a new one", http_status=409)
            except BaseException:
                self._settled(turn_id)
                if head is not None:
                    await head.aclose()
                self.hold(stored)
                raise
            try:
                resolved_event = chat_pb2.SessionResolved(session_id=session["id"], agent_id=agent.id, created=created)
                yield _event(session_resolved=resolved_event)
                async with aclosing(self._converse(turn, plan, head)) as events:
                    async for event in events:
                        yield event
            except (asyncio.CancelledError, GeneratorExit):
                # The client went away: keep what was said so far, then let the cancellation through. A call cancelled
                # while this stream waited at a `yield` (its reader behind) closes the stream instead (GeneratorExit);
                # the save is held apart, so it completes whatever becomes of this frame.
                if not turn.saved:
                    turn.error = "cancelled by the client"
                    saving = asyncio.ensure_future(self._save(turn))
                    self.hold(saving)
                    TURNS.labels("cancelled").inc()
                    await asyncio.shield(saving)
                raise
            finally:
                self._settled(turn_id)
                await head.aclose()

    def hold(self, task: asyncio.Future[Any]) -> None:
        """Keeps a task that outlives its turn referenced until it ends (so it is not garbage-collected mid-flight);
        its failure was reported where it happened, or is of no further interest."""
        self._background.add(task)
        task.add_done_callback(self._release)

    def _release(self, task: asyncio.Future[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio does not log it a second time

    async def _recall(
        self, principal: Principal, agent: common_pb2.Agent, message: str, embedding: Any, session_id: str
    ) -> str:
        """The memory section of the context; a memory failure costs the turn its memories, not the turn."""
        if embedding is None:
            return ""
        try:
            vector = (await embedding)[0]
            found = await memory_recall.recall(
                self.deps, principal.user_id, principal.workspace_id, agent.memory, message, vector, session_id
            )
            return found.render()
        except Exception:
            log.warning("memory recall failed", exc_info=True)
            return ""

    def _extract_later(self, turn: _Turn) -> None:
        """memory.autoExtract after a completed turn, in the background: the reply is not held back by it."""

        async def run() -> None:
            p = turn.principal
            try:
                await memory_extract(
                    self.deps, turn.agent, p.user_id, p.workspace_id, turn.session_id, turn.user_message, turn.content
                )
            except Exception:
                log.warning("memory extraction failed", exc_info=True)

        self.hold(asyncio.create_task(run()))

    def _plan(self, agent: common_pb2.Agent, history: list[dict[str, Any]], memory: str) -> _Plan:
        catalog = self.deps.catalog
        provider, model_id = split_model(agent.model)
        messages, _ = build_context(agent, catalog, history, memory)
        tools = tuple(
            ToolSchema(s.name, s.description, s.parameters)
            for s in catalog.resolve_tools(list(agent.skills), list(agent.tools.allow), list(agent.tools.deny))
        )
        return _Plan(provider, model_id, messages, tools)

    async def _converse(
        self, turn: _Turn, plan: _Plan, head: AsyncIterator[StreamEvent]
    ) -> AsyncIterator[chat_pb2.ChatStreamResponse]:
        """The rounds of inference and tool calls; `head` is the first round's stream, already started."""
        agent, messages = turn.agent, plan.messages
        tool_context = ToolContext(turn.principal.user_id, turn.principal.workspace_id, turn.session_id, agent.id)
        first_token = True
        try:
            # Up to MAX_TOOL_ROUNDS rounds of tool calls; the round after the last offers no tools, so it answers.
            for round_number in range(MAX_TOOL_ROUNDS + 1):
                current = _Round()
                turn.rounds.append(current)
                stream = (
                    head
                    if round_number == 0
                    else self.providers.stream(plan.provider, plan.completion(agent, round_number))
                )
                while True:
                    waited = time.perf_counter()
                    try:
                        event = await anext(stream)
                    except StopAsyncIteration:
                        break
                    finally:
                        turn.external_s += time.perf_counter() - waited
                    if isinstance(event, TextDelta) and event.text:
                        if first_token:
                            first_token = False
                            self._advance_later(turn, "streaming")
                        current.text += event.text
                        yield _event(stream_chunk=chat_pb2.StreamChunk(delta=event.text))
                    elif isinstance(event, ToolCallEvent):
                        current.calls.append(event.call)
                    elif isinstance(event, Finish):
                        turn.prompt_tokens += event.prompt_tokens
                        turn.completion_tokens += event.completion_tokens
                if round_number == MAX_TOOL_ROUNDS:
                    current.calls.clear()  # tools were not offered: calls the model makes anyway are not run
                if not current.calls:
                    break
                messages.append(ChatMessage("assistant", current.text, tool_calls=tuple(current.calls)))
                for call in current.calls:
                    yield _event(tool_call=chat_pb2.ToolCall(id=call.id, name=call.name, arguments=call.arguments))
                    await self._advance(turn, "calling_tool", call.name)
                    ran = time.perf_counter()
                    outcome = await self.tools.run(call.name, call.arguments, tool_context)
                    turn.external_s += time.perf_counter() - ran
                    current.results.append(outcome_record(call, outcome))
                    yield _event(
                        tool_result=chat_pb2.ToolResult(
                            id=call.id,
                            name=call.name,
                            result=outcome.result,
                            error=outcome.error,
                            duration_ms=outcome.duration_ms,
                        )
                    )
                    content = outcome.result if not outcome.error else json.dumps({"error": outcome.error})
                    messages.append(ChatMessage("tool", content, tool_call_id=call.id, name=call.name))
                await self._advance(turn, "thinking")
        except ProviderError as exc:
            # What was said before the failure is kept; the error is recorded with it.
            turn.error = str(exc)
            await asyncio.shield(self._save(turn))
            TURNS.labels("provider_error").inc()
            log.warning("provider error", extra={"provider": exc.provider, "status": exc.status, "error": exc.message})
            yield _event(error=_provider_error_event(exc))
            return
        # Shielded: a client that goes away while the turn is being stored must not leave it half-written (or leave
        # the connection mid-pipeline for the next borrower).
        message_id = await asyncio.shield(self._save(turn))
        if agent.memory.auto_extract:
            self._extract_later(turn)
        overhead = turn.overhead_ms()
        CHAT_OVERHEAD.observe(overhead / 1000)
        TURNS.labels("ok").inc()
        yield _event(
            stream_done=chat_pb2.StreamDone(
                content=turn.content,
                session_id=turn.session_id,
                message_id=message_id,
                tools_used=turn.tools_used,
                usage=self._usage(turn),
                model=agent.model,
                overhead_ms=overhead,
            )
        )

    def _usage(self, turn: _Turn) -> common_pb2.Usage:
        return common_pb2.Usage(
            prompt_tokens=turn.prompt_tokens,
            completion_tokens=turn.completion_tokens,
            total_tokens=turn.prompt_tokens + turn.completion_tokens,
            cost_usd=float(self._cost(turn)),
        )

    @staticmethod
    def _cost(turn: _Turn) -> Decimal:
        return cost_usd(turn.agent.model, turn.prompt_tokens, turn.completion_tokens)

    async def _advance(self, turn: _Turn, state: str, tool_name: str = "") -> None:
        p = turn.principal
        async with self.deps.db.connection() as conn:
            await presence.advance(conn, p.user_id, p.workspace_id, turn.agent.id, turn.turn_id, state, tool_name)

    def _advance_later(self, turn: _Turn, state: str) -> None:
        """Presence off the hot path: the first token is not held back by a database write."""

        async def run() -> None:
            try:
                await self._advance(turn, state)
            except Exception:  # presence is advisory; a failed update must not disturb the turn
                log.warning("presence update failed", exc_info=True)

        self.hold(asyncio.create_task(run()))

    async def _save(self, turn: _Turn) -> str:
        """Assistant and tool messages, usage and tool-call records, in one transaction sent as one pipeline;
        returns the id of the final assistant message."""
        p, agent = turn.principal, turn.agent
        provider, _ = split_model(agent.model)
        cost = self._cost(turn)
        turn.saved = True
        rows: list[dict[str, Any]] = []
        tool_rows: list[dict[str, Any]] = []
        for i, current in enumerate(turn.rounds):
            last = i == len(turn.rounds) - 1
            if not (current.text or current.calls or last):
                continue
            calls = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in current.calls]
            rows.append(
                sessions.message_row(
                    turn.session_id,
                    "assistant",
                    current.text,
                    agent.id,
                    tool_calls={"calls": calls} if calls else None,
                    prompt_tokens=turn.prompt_tokens if last else 0,
                    completion_tokens=turn.completion_tokens if last else 0,
                    cost_usd=cost if last else Decimal(0),
                    error=(turn.error or None) if last else None,
                )
            )
            for call, result, error, duration_ms, tool_cost in current.results:
                content = result if not error else json.dumps({"error": error})
                rows.append(
                    sessions.message_row(
                        turn.session_id, "tool", content, agent.id, tool_call_id=call.id, tool_name=call.name
                    )
                )
                tool_rows.append(
                    {
                        "workspace_id": p.workspace_id,
                        "session_id": turn.session_id,
                        "agent_id": agent.id,
                        "tool": call.name,
                        "ok": not error,
                        "duration_ms": duration_ms,
                        "cost_usd": tool_cost,
                    }
                )
        message_id = next(r["id"] for r in reversed(rows) if r["role"] == "assistant")
        async with self.deps.db.connection() as conn, conn.pipeline(), conn.transaction():
            await sessions.append_messages(conn, rows)
            for tool_row in tool_rows:
                await sessions.record_tool_call(conn, **tool_row)
            await sessions.record_usage(
                conn,
                workspace_id=p.workspace_id,
                user_id=p.user_id,
                agent_id=agent.id,
                session_id=turn.session_id,
                provider=provider,
                model=agent.model,
                prompt_tokens=turn.prompt_tokens,
                completion_tokens=turn.completion_tokens,
                cost_usd=cost,
            )
            await sessions.touch(conn, turn.session_id, len(rows))
            await presence.advance(conn, p.user_id, p.workspace_id, agent.id, turn.turn_id, "idle")
            if self.deps.db.lease is not None:
                await recovery.unstamp(conn, turn.turn_id)
            await events.emit(
                conn,
                p.workspace_id,
                "agent.failed" if turn.error else "agent.completed",
                {
                    "agentId": agent.id,
                    "sessionId": turn.session_id,
                    "userId": p.user_id,
                    "messageId": message_id,
                    "content": turn.content,
                    "toolsUsed": turn.tools_used,
                    "usage": {
                        "promptTokens": turn.prompt_tokens,
                        "completionTokens": turn.completion_tokens,
                        "costUsd": float(cost),
                    },
                    **({"error": turn.error} if turn.error else {}),
                },
            )
        return message_id


def _provider_error_event(exc: ProviderError) -> chat_pb2.StreamError:
    if exc.status == 429:
        return chat_pb2.StreamError(code="rate_limited", message=str(exc), retry_after_ms=(exc.retry_after or 1) * 1000)
    if exc.retryable or exc.status == 503:  # 503 also covers an open circuit breaker, which says when to retry
        return chat_pb2.StreamError(
            code="provider_unavailable", message=str(exc), retry_after_ms=(exc.retry_after or 0) * 1000
        )
    return chat_pb2.StreamError(code="provider_error", message=str(exc))
