"""Anthropic Messages API over SSE."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from server.providers.base import (
    ChatMessage,
    CompletionRequest,
    Finish,
    ProviderError,
    StreamEvent,
    TextDelta,
    ToolCallEvent,
    ToolCallRequest,
    feed_all,
    joined,
    upstream_error,
)
from server.providers.endpoints import AgentEndpoints
from server.providers.openai import HttpClient, in_stream_message, redact, retryable_status, stream_cut_error

DEFAULT_ANTHROPIC_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"

_STOP_REASONS = {"tool_use": "tool_calls", "end_turn": "stop", "max_tokens": "length", "stop_sequence": "stop"}
# Statuses Anthropic documents for each error type, for errors that arrive inside a 200 stream.
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


class AnthropicProvider:
    name = "anthropic"

    def __init__(
        self,
        api_key: str,
        base_url: str = "",
        connect_timeout: float = 10,
        read_timeout: float = 120,
        agent_endpoints: AgentEndpoints | None = None,
    ):
        self._api_key = api_key
        self._base_url = (base_url or DEFAULT_ANTHROPIC_BASE_URL).rstrip("/")
        self._http = HttpClient(connect_timeout, read_timeout)
        self._agent_endpoints = agent_endpoints or AgentEndpoints()

    async def close(self) -> None:
        await self._http.close()

    @staticmethod
    def _headers(key: str) -> dict[str, str]:
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream",
            "anthropic-version": ANTHROPIC_VERSION,
        }
        if key:
            headers["x-api-key"] = key
        return headers

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        route = self._agent_endpoints.route(request.base_url, self._base_url, self._api_key)
        state = _MessageStream(route.key)
        lines = self._http.post_sse(
            self.name,
            f"{route.base_url}/v1/messages",
            self._headers(route.key),
            request_body(request),
            route.key,
            state,
            self._agent_endpoints if route.guarded else None,
        )
        async with aclosing(lines):
            async for batch in lines:
                events, error = feed_all(state, batch)
                for event in joined(events):
                    yield event
                if error is not None:
                    raise error  # after what came before it in the same read
                if state.over:
                    break
        yield state.finish()


def request_body(request: CompletionRequest) -> dict[str, Any]:
    system = "\n\n".join(m.content for m in request.messages if m.role == "system" and m.content)
    body: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_output_tokens,
        "stream": True,
        "messages": wire_messages(request.messages),
    }
    if system:
        body["system"] = system
    if request.temperature is not None:
        # Anthropic accepts 0..1 where OpenAI accepts 0..2; clamp rather than fail the turn with a 400.
        body["temperature"] = min(max(request.temperature, 0.0), 1.0)
    if request.tools:
        body["tools"] = [
            {"name": t.name, "description": t.description, "input_schema": t.parameters} for t in request.tools
        ]
        choice = _tool_choice(request.tool_choice)
        if choice is not None:
            body["tool_choice"] = choice
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    if request.user:
        body["metadata"] = {"user_id": request.user}
    return body


def _tool_choice(choice: str | dict[str, Any] | None) -> dict[str, Any] | None:
    """OpenAI's tool_choice in Anthropic's words; None for a form it has no word for (the default applies)."""
    if choice in ("auto", "none"):
        return {"type": choice}
    if choice == "required":
        return {"type": "any"}
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if isinstance(name, str) and name:
            return {"type": "tool", "name": name}
    return None


def wire_messages(messages: tuple[ChatMessage, ...]) -> list[dict[str, Any]]:
    """Maps chat history to content blocks. Anthropic wants user and assistant turns to alternate, so consecutive
    same-role messages (notably several tool results, which are user turns) are merged into one."""
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks: list[dict[str, Any]] = []
        if message.role == "tool":
            blocks.append({"type": "tool_result", "tool_use_id": message.tool_call_id, "content": message.content})
        elif message.content:  # empty text blocks are rejected with a 400
            blocks.append({"type": "text", "text": message.content})
        if message.role == "assistant":
            blocks.extend(
                {"type": "tool_use", "id": c.id, "name": c.name, "input": _tool_input(c.arguments)}
                for c in message.tool_calls
            )
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    return out


def _tool_input(arguments: str) -> dict[str, Any]:
    try:
        value = json.loads(arguments) if arguments else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class _MessageStream:
    """Turns message_start / content_block_* / message_delta / message_stop events into stream events."""

    def __init__(self, secret: str = "") -> None:
        self._secret = secret  # kept out of error excerpts
        self.tool_blocks: dict[int, dict[str, Any]] = {}
        self.input_tokens = 0
        self.output_tokens = 0
        self.stop_reason = ""
        self.stopped = False  # saw message_stop
        self.yielded = False

    @property
    def complete(self) -> bool:
        return self.stopped

    @property
    def over(self) -> bool:
        return self.stopped

    def feed(self, line: str) -> list[StreamEvent]:
        # Every data payload repeats its event name in "type", so `event:` lines need no tracking.
        if not line.startswith("data:") or self.stopped:
            return []
        try:
            data = json.loads(line[5:].strip())
        except ValueError:
            return []
        if not isinstance(data, dict):
            return []
        events = self._handle(data.get("type", ""), data)
        self.yielded = self.yielded or bool(events)
        return events

    def _handle(self, kind: str, data: dict[str, Any]) -> list[StreamEvent]:
        if kind == "message_start":
            self._usage((data.get("message") or {}).get("usage"))
        elif kind == "content_block_start":
            block = data.get("content_block") or {}
            if block.get("type") == "tool_use":
                start_input = block.get("input")
                self.tool_blocks[data.get("index", 0)] = {
                    "id": block.get("id", ""),
                    "name": block.get("name", ""),
                    "json": [],
                    "start_input": start_input if isinstance(start_input, dict) else {},
                }
            elif block.get("type") == "text" and block.get("text"):
                return [TextDelta(block["text"])]
        elif kind == "content_block_delta":
            delta = data.get("delta") or {}
            if delta.get("type") == "text_delta" and delta.get("text"):
                return [TextDelta(delta["text"])]
            if delta.get("type") == "input_json_delta":
                block = self.tool_blocks.get(data.get("index", 0))
                if block is not None:
                    block["json"].append(delta.get("partial_json", ""))
        elif kind == "content_block_stop":
            block = self.tool_blocks.pop(data.get("index", 0), None)
            if block is not None:
                arguments = "".join(block["json"])
                if not arguments:
                    arguments = json.dumps(block["start_input"]) if block["start_input"] else "{}"
                return [ToolCallEvent(ToolCallRequest(id=block["id"], name=block["name"], arguments=arguments))]
        elif kind == "message_delta":
            self._usage(data.get("usage"))
            reason = (data.get("delta") or {}).get("stop_reason")
            if reason:
                self.stop_reason = _STOP_REASONS.get(reason, reason)
        elif kind == "message_stop":
            self.stopped = True
        elif kind == "error":
            raise _stream_error(data.get("error") or {}, self._secret)
        return []  # ping and event types added after this was written

    def _usage(self, usage: Any) -> None:
        if not isinstance(usage, dict):
            return
        # Counts are cumulative; message_delta may repeat input_tokens, and repeats never lower them.
        if usage.get("input_tokens"):
            self.input_tokens = int(usage["input_tokens"])
        if usage.get("output_tokens"):
            self.output_tokens = int(usage["output_tokens"])

    def finish(self) -> Finish:
        if not self.stopped:
            raise stream_cut_error("anthropic", self.yielded)
        return Finish(self.input_tokens, self.output_tokens, self.stop_reason or "stop")


def _stream_error(error: dict[str, Any], secret: str = "") -> ProviderError:
    kind = str(error.get("type") or "error")
    status = _ERROR_STATUS.get(kind, 500)
    return upstream_error(
        "anthropic",
        in_stream_message(status),
        redact(f"{kind}: {error.get('message') or ''}".rstrip(": "), secret),
        status=status,
        retryable=retryable_status(status),
        details={"type": kind},
    )
