"""The tool loop: what the model is asked (the context and the agent's tools), then up to MAX_TOOL_ROUNDS rounds of
streamed inference and tool calls, every chunk, call and result passed on as it comes; the round after the last
offers no tools, so the model answers. A round that calls one of the caller's client tools (the OpenAI-compatible
surface) ends the turn with those calls, for the caller to run. What each round produced goes into the turn's record
(server/chat/record.py) for saving.py to store. A provider failure is raised as ProviderError, with what was said
before it kept."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from astra.v1 import chat_pb2, common_pb2
from server.chat import presence
from server.chat.background import Background
from server.chat.context import build_context
from server.chat.progress import Progress
from server.chat.record import Round, TurnRecord, outcome_record
from server.db.database import Database
from server.providers.base import (
    CallerOptions,
    ChatMessage,
    CompletionRequest,
    Finish,
    StreamEvent,
    TextDelta,
    ToolCallEvent,
    ToolSchema,
)
from server.providers.registry import Providers
from server.restrictions import split_model
from server.skills.catalog import Catalog
from server.telemetry import Phase, phase
from server.tools.catalog import ToolSpec
from server.tools.runtime import ToolContext, ToolRunner

MAX_TOOL_ROUNDS = 5


def event(**kwargs: Any) -> chat_pb2.ChatStreamResponse:
    return chat_pb2.ChatStreamResponse(**kwargs)


@dataclass
class Plan:
    """What the model is asked: the provider, its model id, the messages (growing with each tool round), the tools
    (the agent's own, then the caller's client tools, whose names are in `client_tools`) and the caller's
    options."""

    provider: str
    model_id: str
    messages: list[ChatMessage]
    tools: tuple[ToolSchema, ...]
    client_tools: frozenset[str] = frozenset()
    options: CallerOptions = field(default_factory=CallerOptions)

    @classmethod
    def of(
        cls,
        agent: common_pb2.Agent,
        catalog: Catalog,
        history: list[dict[str, Any]],
        memory: str,
        system: str = "",
        client_tools: tuple[ToolSchema, ...] = (),
        options: CallerOptions | None = None,
        workspace_tools: Sequence[ToolSpec] = (),
    ) -> Plan:
        """`workspace_tools`: the agent's tools from the workspace's MCP servers (ToolRunner.source_specs)."""
        provider, model_id = split_model(agent.model)
        messages, _ = build_context(agent, catalog, history, memory, system)
        tools = tuple(
            ToolSchema(s.name, s.description, s.parameters)
            for s in [
                *catalog.resolve_tools(list(agent.skills), list(agent.tools.allow), list(agent.tools.deny)),
                *workspace_tools,
            ]
        )
        own = {t.name for t in tools}
        client = tuple(t for t in client_tools if t.name not in own)  # the agent's own tool wins a name
        return cls(
            provider, model_id, messages, tools + client, frozenset(t.name for t in client), options or CallerOptions()
        )

    def completion(self, agent: common_pb2.Agent, round_number: int) -> CompletionRequest:
        options = self.options
        temperature = agent.temperature if agent.HasField("temperature") else None
        max_output_tokens = agent.max_output_tokens
        if options.max_output_tokens is not None:
            max_output_tokens = min(max_output_tokens, options.max_output_tokens)
        # The round after the last offers no tools, so the model answers.
        return CompletionRequest(
            model=self.model_id,
            messages=tuple(self.messages),
            tools=self.tools if round_number < MAX_TOOL_ROUNDS else (),
            temperature=options.temperature if options.temperature is not None else temperature,
            max_output_tokens=max_output_tokens,
            base_url=agent.base_url,
            stop=options.stop,
            # A forced choice holds for the first call only: on every round it would never let the model answer.
            tool_choice=options.tool_choice if round_number == 0 else None,
            response_format=options.response_format,
            user=options.user,
        )


class Prefetched:
    """A provider stream whose first event is already being fetched, on a task of its own, while the caller
    finishes other work (storing the user's message). `phase` is the first round's provider phase, started: the
    fetch runs in it (its HTTP call is the phase's child); later rounds put theirs here, and aclose ends it."""

    def __init__(self, inner: AsyncGenerator[StreamEvent, None], phase: Phase):
        self._inner = inner
        self.phase = phase
        context = phase.context()  # None with tracing off: the task copies the current context, as usual
        self._first: asyncio.Future[StreamEvent] | None = asyncio.get_running_loop().create_task(
            anext(inner), context=context
        )
        if context is not None:
            self._first.add_done_callback(self._arrived)

    def _arrived(self, first: asyncio.Future[StreamEvent]) -> None:
        if not first.cancelled() and first.exception() is None:
            self.phase.event("first_token")

    def __aiter__(self) -> Prefetched:
        return self

    async def __anext__(self) -> StreamEvent:
        if self._first is None:
            return await anext(self._inner)
        first, self._first = self._first, None
        return await first

    async def aclose(self) -> None:
        """Stops the stream and releases its connection; safe to call more than once."""
        self.phase.end()
        if self._first is not None:
            first, self._first = self._first, None
            first.cancel()
            with suppress(BaseException):
                await first
        await self._inner.aclose()


class Rounds:
    def __init__(self, db: Database, providers: Providers, tools: ToolRunner, background: Background):
        self.db = db
        self.providers = providers
        self.tools = tools
        self.background = background

    async def run(
        self, turn: TurnRecord, plan: Plan, head: Prefetched, stored: asyncio.Future[bool]
    ) -> AsyncIterator[chat_pb2.ChatStreamResponse]:
        """The rounds of inference and tool calls; `head` is the first round's stream, already started; `stored`, the
        user's message being written."""
        agent, messages = turn.agent, plan.messages
        offered = frozenset(t.name for t in plan.tools)
        p = turn.principal
        tool_context = ToolContext(p.user_id, p.workspace_id, turn.session_id, agent.id, offered=offered)
        progress = Progress(self.db, self.background, turn, stored)
        # Up to MAX_TOOL_ROUNDS rounds of tool calls; the round after the last offers no tools, so it answers.
        for round_number in range(MAX_TOOL_ROUNDS + 1):
            current = Round()
            turn.rounds.append(current)
            if round_number == 0:
                stream: AsyncIterator[StreamEvent] = head
                provider = head.phase
            else:
                stream = self.providers.stream(plan.provider, plan.completion(agent, round_number))
                # Held by `head` too, whose aclose (the turn's last step) ends a phase a closed stream left open.
                provider = head.phase = Phase("provider", {"astra.round": round_number}).start()
            started = round_number == 0  # the first round's request is already made, in its phase (Prefetched)
            first_token = True  # each round's answer says "streaming" again, after its tools' "calling_tool"
            while True:
                waited = time.perf_counter()
                try:
                    if started:
                        item = await anext(stream)
                    else:
                        with provider.current():  # the request is made in the first step: its HTTP span is the phase's
                            item = await anext(stream)
                        started = True
                        provider.event("first_token")
                except StopAsyncIteration:
                    provider.event("end")
                    provider.end()
                    break
                except BaseException as exc:
                    provider.end(exc)
                    raise
                finally:
                    turn.external_s += time.perf_counter() - waited
                if isinstance(item, TextDelta) and item.text:
                    current.text += item.text
                    progress.text()
                    yield event(stream_chunk=chat_pb2.StreamChunk(delta=item.text))
                    if first_token:
                        first_token = False
                        progress.first_token()
                        # The first token goes out now: without this, chunks that arrived with it (a burst) would
                        # all be processed before the transport got to write any of them.
                        await asyncio.sleep(0)
                elif isinstance(item, ToolCallEvent):
                    current.calls.append(item.call)
                elif isinstance(item, Finish):
                    turn.prompt_tokens += item.prompt_tokens
                    turn.completion_tokens += item.completion_tokens
            if round_number == MAX_TOOL_ROUNDS:
                current.calls.clear()  # tools were not offered: calls the model makes anyway are not run
            if not current.calls:
                break
            client = [call for call in current.calls if call.name in plan.client_tools]
            if client:
                # The caller runs these and answers in its next request, which carries the results of the calls it
                # saw only: the turn ends here, and the agent's own calls of this round are not run.
                current.calls[:] = client
                for call in client:
                    yield event(tool_call=chat_pb2.ToolCall(id=call.id, name=call.name, arguments=call.arguments))
                break
            messages.append(ChatMessage("assistant", current.text, tool_calls=tuple(current.calls)))
            await progress.tool()
            for call in current.calls:
                yield event(tool_call=chat_pb2.ToolCall(id=call.id, name=call.name, arguments=call.arguments))
                await self._advance(turn, "calling_tool", call.name)
                ran = time.perf_counter()
                with phase("tool", **{"astra.tool.name": call.name}):
                    outcome = await self.tools.run(call.name, call.arguments, tool_context)
                turn.external_s += time.perf_counter() - ran
                current.results.append(outcome_record(call, outcome))
                yield event(
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

    async def _advance(self, turn: TurnRecord, state: str, tool_name: str = "") -> None:
        p = turn.principal
        async with self.db.connection() as conn:
            await presence.advance(conn, p.user_id, p.workspace_id, turn.agent.id, turn.turn_id, state, tool_name)
