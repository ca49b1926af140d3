"""OpenAI chat completions over SSE, which also serves OpenAI-compatible servers (vLLM, Ollama, llama.cpp, OpenRouter,
Groq, Mistral). The HTTP helpers at the bottom are shared with the Anthropic provider."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import aclosing
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import aiohttp

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
from server.providers.endpoints import AgentEndpoints, BaseUrlRefused

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"
STREAM_CUT_MESSAGE = "stream ended unexpectedly"


class OpenAIProvider:
    name = "openai"

    def __init__(
        self,
        api_key: str,
        base_url: str = "",
        connect_timeout: float = 10,
        read_timeout: float = 120,
        agent_endpoints: AgentEndpoints | None = None,
    ):
        self._api_key = api_key
        self._base_url = (base_url or DEFAULT_OPENAI_BASE_URL).rstrip("/")
        self._http = HttpClient(connect_timeout, read_timeout)
        self._agent_endpoints = agent_endpoints or AgentEndpoints()

    async def close(self) -> None:
        await self._http.close()

    @staticmethod
    def _headers(key: str) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if key:  # keyless local servers get no Authorization header at all
            headers["Authorization"] = f"Bearer {key}"
        return headers

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        route = self._agent_endpoints.route(request.base_url, self._base_url, self._api_key)
        state = _ChatCompletionStream(route.key)
        lines = self._http.post_sse(
            self.name,
            f"{route.base_url}/chat/completions",
            self._headers(route.key),
            request_body(request),
            route.key,
            state,
            self._agent_endpoints if route.guarded else None,
        )
        async with aclosing(lines):  # release the connection at once if the caller or a stream error stops us
            async for batch in lines:
                events, error = feed_all(state, batch)
                for event in joined(events):
                    yield event
                if error is not None:
                    raise error  # after what came before it in the same read
                if state.over:
                    break  # do not wait for the server to close the body after [DONE]
        for event in state.finish():
            yield event


def request_body(request: CompletionRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": request.model,
        "messages": [_wire_message(m) for m in request.messages],
        "stream": True,
        "stream_options": {"include_usage": True},
        # max_tokens rather than max_completion_tokens: vLLM, Ollama and llama.cpp only know the former.
        "max_tokens": request.max_output_tokens,
    }
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.tools:
        body["tools"] = [
            {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
            for t in request.tools
        ]
        if request.tool_choice is not None:  # without tools OpenAI refuses a tool_choice
            body["tool_choice"] = request.tool_choice
    if request.stop:
        body["stop"] = list(request.stop)
    if request.response_format is not None:
        body["response_format"] = request.response_format
    if request.user:
        body["user"] = request.user
    return body


def _wire_message(message: ChatMessage) -> dict[str, Any]:
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    if message.role == "assistant" and message.tool_calls:
        return {
            "role": "assistant",
            "content": message.content or None,
            "tool_calls": [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in message.tool_calls
            ],
        }
    return {"role": message.role, "content": message.content}


class _ChatCompletionStream:
    """Turns `data:` lines of chat.completion.chunk objects into events; tool calls are held until complete."""

    def __init__(self, secret: str = "") -> None:
        self._secret = secret  # kept out of error excerpts
        self.calls: list[dict[str, Any]] = []  # in the order they started
        self._by_index: dict[int, dict[str, Any]] = {}
        self.finish_reason = ""
        self.done = False  # saw data: [DONE]
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.yielded = False

    @property
    def complete(self) -> bool:
        # Some compatible servers close without [DONE]; a finish_reason is enough to know nothing was lost.
        return self.done or bool(self.finish_reason)

    @property
    def over(self) -> bool:
        return self.done

    def feed(self, line: str) -> list[StreamEvent]:
        if not line.startswith("data:") or self.done:
            return []  # comments (": keep-alive"), event:/id: fields, blank separators
        data = line[5:].strip()
        if data == "[DONE]":
            self.done = True
            return []
        try:
            chunk = json.loads(data)
        except ValueError:
            return []
        if not isinstance(chunk, dict):
            return []
        if chunk.get("error"):
            raise _stream_error(chunk["error"], self._secret)
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self.prompt_tokens = int(usage.get("prompt_tokens") or 0)
            self.completion_tokens = int(usage.get("completion_tokens") or 0)
        events: list[StreamEvent] = []
        for choice in chunk.get("choices") or []:  # vLLM sends "choices": null in its usage chunk
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if delta.get("content"):
                events.append(TextDelta(delta["content"]))
            for position, part in enumerate(delta.get("tool_calls") or []):
                self._add_tool_call_part(position, part)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
                events.extend(self._flush_calls())
        self.yielded = self.yielded or bool(events)
        return events

    def _add_tool_call_part(self, position: int, part: dict[str, Any]) -> None:
        index = part.get("index", position)
        call = self._by_index.get(index)
        # A different id at a known index is a new call: some servers send whole calls without an index.
        if call is None or (part.get("id") and call["id"] and part["id"] != call["id"]):
            call = {"id": "", "name": "", "arguments": []}
            self._by_index[index] = call
            self.calls.append(call)
        function = part.get("function") or {}
        # id and name come once (some servers repeat them): assign, never concatenate.
        if part.get("id"):
            call["id"] = part["id"]
        if function.get("name"):
            call["name"] = function["name"]
        if function.get("arguments"):
            call["arguments"].append(function["arguments"])

    def _flush_calls(self) -> list[StreamEvent]:
        events: list[StreamEvent] = [
            ToolCallEvent(
                ToolCallRequest(
                    id=call["id"] or f"call_{uuid.uuid4().hex[:24]}",
                    name=call["name"],
                    arguments="".join(call["arguments"]) or "{}",
                )
            )
            for call in self.calls
        ]
        if events and self.finish_reason in ("", "stop", "function_call"):
            self.finish_reason = "tool_calls"  # older Ollama/llama.cpp builds say "stop" after tool calls
        self.calls.clear()
        self._by_index.clear()
        return events

    def finish(self) -> Iterable[StreamEvent]:
        if not self.complete:
            raise stream_cut_error("openai", self.yielded)
        events = self._flush_calls()
        events.append(Finish(self.prompt_tokens, self.completion_tokens, self.finish_reason or "stop"))
        return events


def _stream_error(error: Any, secret: str = "") -> ProviderError:
    """An error object sent inside the stream (OpenRouter, vLLM do this once the 200 headers are out)."""
    if isinstance(error, dict):
        message = str(error.get("message") or error)
        code = error.get("code")
    else:
        message, code = str(error), None
    status = code if isinstance(code, int) and 100 <= code <= 599 else 0
    return upstream_error(
        "openai",
        in_stream_message(status),
        redact(message, secret),
        status=status,
        retryable=bool(status) and retryable_status(status),
    )


def in_stream_message(status: int) -> str:
    return f"the provider reported an error mid-stream (HTTP {status})" if status else "the provider reported an error"


# --- HTTP helpers shared with the Anthropic provider -------------------------------------------------------------


class StreamProgress(Protocol):
    @property
    def complete(self) -> bool:
        """The vendor's end-of-stream marker arrived."""
        ...

    @property
    def yielded(self) -> bool:
        """At least one event was handed to the caller."""
        ...


class HttpClient:
    """One lazily created aiohttp session per provider, with socket-level timeouts suited to long streams."""

    def __init__(self, connect_timeout: float, read_timeout: float):
        # total=None: aiohttp's default total of 300 s would kill long generations; sock_read bounds each silence.
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=read_timeout)
        self._connect_timeout = connect_timeout
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # limit=0: streams are long-lived, and the default pool of 100 would silently queue further turns.
            self._session = aiohttp.ClientSession(timeout=self._timeout, connector=aiohttp.TCPConnector(limit=0))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _guarded_session(self, provider: str, url: str, guard: AgentEndpoints) -> aiohttp.ClientSession:
        """A one-call session whose only connection goes to the address the guard checked just now."""
        try:
            # The resolution is bounded like the connect it precedes.
            connector = await asyncio.wait_for(guard.connector(url), self._connect_timeout)
        except BaseUrlRefused as exc:
            # 400: the agent's configuration, not the provider's health (the circuit does not count it).
            raise ProviderError(provider, f"the agent's baseUrl {exc}", status=400) from None
        return aiohttp.ClientSession(connector=connector, timeout=self._timeout)

    async def post_sse(
        self,
        provider: str,
        url: str,
        headers: dict[str, str],
        body: dict[str, Any],
        secret: str,
        state: StreamProgress,
        guard: AgentEndpoints | None = None,
    ) -> AsyncIterator[list[str]]:
        """POSTs and yields the response's lines, as many at a time as each network read brought; maps every
        failure to ProviderError. `state.complete` tells a
        connection dropped after the vendor's end marker (harmless) from a cut stream; `state.yielded` whether the
        caller already saw output. With `guard` (an agent's own base URL) the call is checked and pinned by it, on
        a connection of its own, and a redirect is an error rather than followed; without, it uses the pool."""
        in_body = False
        session: aiohttp.ClientSession | None = None
        try:
            if guard is None:
                request = self.session().post(url, json=body, headers=headers)
            else:
                session = await self._guarded_session(provider, url, guard)
                request = session.post(url, json=body, headers=headers, allow_redirects=False)
            async with request as resp:
                if not 200 <= resp.status < 300:
                    raise await http_error(provider, resp, secret)
                in_body = True
                async for batch in iter_lines(resp):
                    yield batch
        except ProviderError:
            raise
        except TimeoutError as exc:  # asyncio.TimeoutError and aiohttp's ServerTimeoutError
            raise ProviderError(provider=provider, message="request timed out", retryable=True) from exc
        except aiohttp.ClientError as exc:
            if in_body:
                if state.complete:
                    return
                raise stream_cut_error(provider, state.yielded) from exc
            detail = redact(f"{type(exc).__name__}: {exc}", secret)
            raise upstream_error(provider, "could not connect to the provider", detail, retryable=True) from exc
        finally:
            if session is not None:
                await session.close()


async def iter_lines(resp: aiohttp.ClientResponse) -> AsyncIterator[list[str]]:
    """The body's complete lines, those of each network read together. Split here: aiohttp's readline refuses
    lines over 128 KiB, and a single `data:` line can carry a whole tool call's arguments."""
    buffer = b""
    async for chunk in resp.content.iter_any():
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        if lines:
            yield [raw.rstrip(b"\r").decode("utf-8", errors="replace") for raw in lines]
    if buffer:
        yield [buffer.rstrip(b"\r").decode("utf-8", errors="replace")]


def stream_cut_error(provider: str, yielded: bool) -> ProviderError:
    # Nothing reached the caller yet, so a retry cannot duplicate output; after that it could.
    return ProviderError(provider=provider, message=STREAM_CUT_MESSAGE, retryable=not yielded)


def retryable_status(status: int) -> bool:
    return status in (408, 409, 429) or status >= 500


def redact(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text


async def http_error(provider: str, resp: aiohttp.ClientResponse, secret: str) -> ProviderError:
    """A ProviderError from a non-2xx answer: the caller learns the status; the vendor's message (truncated, the
    API key never in it) goes to the log."""
    raw = b""
    try:
        while len(raw) < 8192:  # the message is near the start; never buffer a huge error page
            chunk = await resp.content.read(8192)
            if not chunk:
                break
            raw += chunk
    except (aiohttp.ClientError, TimeoutError):
        pass
    text = raw.decode("utf-8", errors="replace").strip()
    message = text
    details: dict[str, Any] = {}
    try:
        payload = json.loads(text)
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict):
            # e.g. type invalid_request_error, code context_length_exceeded: lets callers explain the failure.
            details = {k: error[k] for k in ("type", "code") if isinstance(error.get(k), str | int)}
        if isinstance(error, dict) and error.get("message"):
            message = str(error["message"])
        elif isinstance(error, str) and error:  # Ollama: {"error": "model not found"}
            message = error
        elif payload.get("message"):
            message = str(payload["message"])
        elif payload.get("detail"):  # FastAPI-based servers (vLLM)
            message = str(payload["detail"])
    return upstream_error(
        provider,
        f"the provider answered HTTP {resp.status}",
        redact(message or resp.reason or "", secret),
        status=resp.status,
        retryable=retryable_status(resp.status),
        retry_after=retry_after_seconds(resp.headers),
        details=details,
    )


def retry_after_seconds(headers: Any) -> float | None:
    """`retry-after-ms` (OpenAI) or `retry-after` as seconds or an HTTP date."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
