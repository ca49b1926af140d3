"""The agent turn (ARCHITECTURE.md, "The path of one streamed chat turn"): session → user message committed →
context → streamed inference → tool loop → assistant/tool messages, usage and cost committed in one transaction.
Every transport consumes the same event stream this produces.

Each phase has a module of its own, and TurnEngine.stream runs them in order: opening.py (the request, the session,
the agent and the workspace's policy), memories.py (recall before the first round, extraction after), rounds.py
(the rounds of inference and tool calls) and saving.py (the user's message, then the reply's rows and events). The
order in stream is what the time to first token rests on (README, "What the profiles showed"): the provider is
called while the user's message commits, and text streams meanwhile; anything else waits for that commit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from astra.v1 import chat_pb2
from contract.errors import ErrorCode
from server.chat import ratelimit
from server.chat.background import Background
from server.chat.context import as_row
from server.chat.memories import Memories
from server.chat.opening import Opening, TurnRequest, check_request
from server.chat.record import TurnRecord
from server.chat.rounds import Plan, Prefetched, Rounds, event
from server.chat.saving import Saving
from server.context import Principal
from server.deps import Deps
from server.errors import FailedPrecondition
from server.ids import new_id
from server.metrics import CHAT_OVERHEAD, TURNS
from server.providers.base import ProviderError
from server.providers.registry import Providers
from server.sessions import store as sessions
from server.telemetry import Phase, phase, timed
from server.tools.runtime import ToolRunner

__all__ = ["TurnEngine", "TurnRequest"]

log = logging.getLogger(__name__)


class TurnEngine:
    def __init__(self, deps: Deps, providers: Providers, tools: ToolRunner):
        self.deps = deps
        self.providers = providers
        self.background = Background()
        self.opening = Opening(deps.db, deps.visible_agents, deps.workspace_views, providers)
        self.memories = Memories(deps, self.background)
        self.rounds = Rounds(deps.db, providers, tools, self.background)
        self.saving = Saving(deps.db, deps.prices)

    def hold(self, task: asyncio.Future[Any]) -> None:
        """Keeps a task that outlives its turn referenced until it ends (server/chat/background.py)."""
        self.background.hold(task)

    async def stream(
        self, principal: Principal, request: TurnRequest, counted: ratelimit.Count | None = None
    ) -> AsyncIterator[chat_pb2.ChatStreamResponse]:
        """The turn's events; the first is session_resolved, the last stream_done or error. `counted`: see
        Opening.open."""
        request = check_request(principal, request)
        # Counted from here, not from the first event: the work before it is what the first token waits for.
        with self.deps.foreground.hold():
            turn_id = new_id("turn")
            with phase("open"):
                session, created, resolved, history = await self.opening.open(principal, request, counted)
            if request.history is not None:
                history = [as_row(m) for m in request.history]
            agent = resolved.agent
            # The query embedding runs on its own thread while the message is stored and memory is searched.
            embedding = self.memories.embed(agent, request.message)
            self.saving.begin(turn_id)
            # The user's message commits while the provider is already called, and its first words stream out: the
            # commit is off the time to first token. A tool runs, and the reply is stored, only once the message is
            # (_committed); a commit that fails ends the turn with an error and cancels the provider call.
            answered = request.tool_results

            def store() -> asyncio.Future[bool]:
                write = self.saving.user_message(
                    principal, session["id"], agent.id, request.message, turn_id, store=not answered
                )
                task = asyncio.ensure_future(timed("user_message", write))
                # Held and reported at once: a turn that fails before it waits for the commit never reads it.
                task.add_done_callback(_report)
                self.hold(task)
                return task

            # A turn that recalls memory waits for its embedding: the commit runs meanwhile. Otherwise nothing waits
            # before the provider is called, and the commit starts just after the call, so that the request leaves
            # first: a statement sent first hands this core to PostgreSQL before the request is out.
            stored = store() if embedding is not None else None
            turn = TurnRecord(principal, agent, session["id"], turn_id, user_message=request.message, answered=answered)
            if answered:
                history.extend(as_row(m) for m in answered)
            else:
                history.append(sessions.message_row(session["id"], "user", request.message, agent.id))
            head: Prefetched | None = None
            try:
                memory = await self.memories.recall(principal, agent, request.message, embedding, session["id"])
                # MCP servers' tools the agent names; nothing is awaited for an agent that names none.
                requested = self.deps.catalog.requested(list(agent.skills), list(agent.tools.allow))
                remote = await self.rounds.tools.source_specs(principal.workspace_id, requested, agent.tools.deny)
                with phase("history"):  # the context: system prompt, memory and history within the budget
                    plan = Plan.of(
                        agent,
                        self.deps.catalog,
                        history,
                        memory,
                        request.system,
                        request.client_tools,
                        request.options,
                        workspace_tools=remote,
                    )
                head = Prefetched(
                    self.providers.stream(plan.provider, plan.completion(agent, 0)),
                    Phase("provider", {"astra.round": 0}).start(),  # started once the call is made
                )
                if stored is None:
                    stored = store()
            except BaseException:
                self.saving.settled(turn_id)
                if head is not None:
                    await head.aclose()
                raise
            try:
                resolved_event = chat_pb2.SessionResolved(session_id=session["id"], agent_id=agent.id, created=created)
                yield event(session_resolved=resolved_event)
                try:
                    async with aclosing(self.rounds.run(turn, plan, head, stored)) as events:
                        async for item in events:
                            # Text goes out while the user's message commits; anything else waits for the commit:
                            # a tool runs, and the reply is stored, only once the message is (a failed commit ends
                            # the turn here, and the provider call with it).
                            if stored.done() or not item.HasField("stream_chunk"):
                                await _committed(stored, session["id"])
                            yield item
                except ProviderError as exc:
                    # What was said before the failure is kept; the error is recorded with it.
                    await _committed(stored, session["id"])
                    yield await self._failed(turn, exc)
                    return
                await _committed(stored, session["id"])
                yield await self._done(turn)
            except (asyncio.CancelledError, GeneratorExit):
                # The client went away: keep what was said so far (once the user's message is stored), then let the
                # cancellation through. A call cancelled while this stream waited at a `yield` (its reader behind)
                # closes the stream instead (GeneratorExit); the save is held apart, so it completes whatever becomes
                # of this frame.
                if not turn.saved:
                    turn.error = "cancelled by the client"
                    await head.aclose()  # the provider stops now, not once the (possibly slow) commit is done
                    saving = asyncio.ensure_future(self._keep(turn, stored))
                    self.hold(saving)
                    TURNS.labels("cancelled").inc()
                    await asyncio.shield(saving)
                raise
            finally:
                self.saving.settled(turn_id)
                await head.aclose()

    async def _keep(self, turn: TurnRecord, stored: asyncio.Future[bool]) -> None:
        """What a turn the client left had said, stored after its user's message (not at all if that failed)."""
        try:
            if not await stored:
                return
        except Exception:  # reported by _report; the reply cannot be stored after a message that was not
            return
        await timed("save", self.saving.reply(turn))

    async def _done(self, turn: TurnRecord) -> chat_pb2.ChatStreamResponse:
        """The reply stored, then its stream_done."""
        # Shielded: a client that goes away while the turn is being stored must not leave it half-written (or leave
        # the connection mid-pipeline for the next borrower).
        message_id = await asyncio.shield(timed("save", self.saving.reply(turn)))
        agent = turn.agent
        if agent.memory.auto_extract:
            self.memories.extract_later(turn)
        overhead = turn.overhead_ms()
        CHAT_OVERHEAD.observe(overhead / 1000)
        TURNS.labels("ok").inc()
        return event(
            stream_done=chat_pb2.StreamDone(
                content=turn.content,
                session_id=turn.session_id,
                message_id=message_id,
                tools_used=turn.tools_used,
                usage=self.saving.usage(turn),
                model=agent.model,
                overhead_ms=overhead,
            )
        )

    async def _failed(self, turn: TurnRecord, exc: ProviderError) -> chat_pb2.ChatStreamResponse:
        """What was said stored with the provider's failure, then the turn's error event."""
        turn.error = str(exc)
        await asyncio.shield(timed("save", self.saving.reply(turn)))
        TURNS.labels("provider_error").inc()
        log.warning("provider error", extra={"provider": exc.provider, "status": exc.status, "error": exc.message})
        return event(error=_provider_error_event(exc))


def _report(stored: asyncio.Future[bool]) -> None:
    if not stored.cancelled() and (exc := stored.exception()) is not None:
        log.warning("user message not stored", exc_info=exc)


async def _committed(stored: asyncio.Future[bool], session_id: str) -> None:
    """Waits for the user's message to be stored (shielded: a client that goes away does not cut the write short);
    raises if it was not."""
    if not await asyncio.shield(stored):
        raise FailedPrecondition(f"session {session_id} was archived; start a new one", http_status=409)


def _provider_error_event(exc: ProviderError) -> chat_pb2.StreamError:
    if exc.status == 429:
        return chat_pb2.StreamError(
            code=ErrorCode.RATE_LIMITED.wire, message=str(exc), retry_after_ms=(exc.retry_after or 1) * 1000
        )
    if exc.retryable or exc.status == 503:  # 503 also covers an open circuit breaker, which says when to retry
        return chat_pb2.StreamError(
            code=ErrorCode.PROVIDER_UNAVAILABLE.wire, message=str(exc), retry_after_ms=(exc.retry_after or 0) * 1000
        )
    return chat_pb2.StreamError(code=ErrorCode.PROVIDER_ERROR.wire, message=str(exc))
