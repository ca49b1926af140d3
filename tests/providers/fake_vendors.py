"""Loopback HTTP servers that speak OpenAI's and Anthropic's streaming wire formats, answer each request with the next
scripted reply, and record what they received."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from server.providers.base import ProviderError, StreamEvent, ToolSchema

# A tool both vendors' tests offer the model.
WEATHER = ToolSchema(
    name="get_weather",
    description="Current weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


@dataclass
class Reply:
    """One scripted answer. With `chunks`, a 200 SSE stream written chunk by chunk; otherwise `body` with `status`."""

    status: int = 200
    chunks: Sequence[str] = ()
    body: Any = None  # dict → JSON, str → text
    headers: dict[str, str] = field(default_factory=dict)
    chunk_delay: float = 0.0  # seconds between chunks, so the client really sees them arrive separately
    stall_before_headers: bool = False  # hold the request until the server stops (read timeout)
    stall_after: int | None = None  # after this many chunks, go silent until the server stops
    cut_after: int | None = None  # after this many chunks, drop the TCP connection mid-body
    eof_after: int | None = None  # after this many chunks, end the body cleanly (no end marker)


@dataclass
class Recorded:
    method: str
    path: str
    headers: CIMultiDict[str]
    body: Any
    at: float = 0.0  # time.monotonic() when the request arrived
    dropped: bool = False  # the client went away before the reply's body was complete


class FakeVendor:
    """`async with FakeVendor() as vendor:` starts a server on 127.0.0.1 at a free port; `vendor.url` is its base."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._replies: deque[Reply] = deque()
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    def script(self, *replies: Reply) -> None:
        self._replies.extend(replies)

    def reset(self) -> None:
        """Forgets unused scripted replies and everything recorded (for a vendor shared by several tests)."""
        self._replies.clear()
        self.requests.clear()

    @property
    def dropped(self) -> list[int]:
        """Indexes (into `requests`) of the requests whose client went away before the reply's body was complete."""
        return [i for i, recorded in enumerate(list(self.requests)) if recorded.dropped]

    async def __aenter__(self) -> FakeVendor:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stopping.set()  # wake stalled handlers so shutdown does not wait on them
        if self._runner is not None:
            await self._runner.cleanup()

    async def _stall(self, request: web.Request | None = None) -> None:
        """Until the server stops or, given the request, its client goes away."""
        while not self._stopping.is_set():
            if request is not None and (request.transport is None or request.transport.is_closing()):
                return
            try:
                await asyncio.wait_for(self._stopping.wait(), 0.02 if request is not None else None)
            except TimeoutError:
                pass

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode()
        record = Recorded(request.method, request.path, CIMultiDict(request.headers), body, time.monotonic())
        self.requests.append(record)
        if not self._replies:
            return web.json_response({"error": {"message": "no scripted reply"}}, status=599)
        reply = self._replies.popleft()
        if reply.stall_before_headers:
            await self._stall()
            return web.Response(status=504)
        if not reply.chunks:
            if isinstance(reply.body, str):
                return web.Response(status=reply.status, text=reply.body, headers=reply.headers)
            return web.json_response(reply.body, status=reply.status, headers=reply.headers)
        resp = web.StreamResponse(
            status=reply.status, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        resp.headers.update(reply.headers)
        await resp.prepare(request)
        try:
            for written, chunk in enumerate(reply.chunks):
                if written == reply.stall_after:
                    await self._stall(request)
                    self._note_drop(request, record)
                    return resp
                if written == reply.cut_after:
                    await asyncio.sleep(0.02)  # let the client read what was sent before the reset
                    assert request.transport is not None
                    request.transport.close()
                    return resp
                if written == reply.eof_after:
                    break
                await resp.write(chunk.encode())
                if reply.chunk_delay:
                    await asyncio.sleep(reply.chunk_delay)
            if reply.stall_after is not None and reply.stall_after >= len(reply.chunks):
                await self._stall(request)  # everything sent, but the body is never ended
                self._note_drop(request, record)
                return resp
        except ConnectionResetError:  # the client went away while we were writing
            record.dropped = True
            return resp
        with contextlib.suppress(ConnectionResetError):  # a client may close once it has the end marker
            await resp.write_eof()
        return resp

    @staticmethod
    def _note_drop(request: web.Request, record: Recorded) -> None:
        if request.transport is None or request.transport.is_closing():
            record.dropped = True


class VendorThread:
    """A FakeVendor on its own event loop in a daemon thread, so one vendor can outlive a test's event loop (e.g.
    a module-scoped vendor whose URL a module's gateway is configured with). `script`, `reset`, `requests` and
    `dropped` of `vendor` may be used from any thread."""

    def __init__(self) -> None:
        self.vendor = FakeVendor()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="fake-vendor", daemon=True)

    @property
    def url(self) -> str:
        return self.vendor.url

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            async with self.vendor:
                self._ready.set()
                await self._stop.wait()

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by start()
            self._error = exc
            self._ready.set()

    def start(self) -> VendorThread:
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None or not self.vendor.url:
            raise RuntimeError("fake vendor failed to start") from self._error
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def __enter__(self) -> FakeVendor:
        self.start()
        return self.vendor

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- OpenAI chat.completion.chunk streams ------------------------------------------------------------------------

OPENAI_DONE = "data: [DONE]\n\n"


def openai_chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
    """A chunk as api.openai.com sends it (usage null until the final usage-only chunk)."""
    chunk = {
        "id": "chatcmpl-AbC123",
        "object": "chat.completion.chunk",
        "created": 1732000000,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_0ba0d124f1",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        "usage": None,
    }
    return f"data: {json.dumps(chunk)}\n\n"


def openai_usage_chunk(prompt_tokens: int, completion_tokens: int) -> str:
    chunk = {
        "id": "chatcmpl-AbC123",
        "object": "chat.completion.chunk",
        "created": 1732000000,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_0ba0d124f1",
        "choices": [],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        },
    }
    return f"data: {json.dumps(chunk)}\n\n"


def openai_text_stream(parts: Sequence[str], prompt_tokens: int = 12, completion_tokens: int = 5) -> list[str]:
    return [
        openai_chunk({"role": "assistant", "content": "", "refusal": None}),
        *(openai_chunk({"content": part}) for part in parts),
        openai_chunk({}, "stop"),
        openai_usage_chunk(prompt_tokens, completion_tokens),
        OPENAI_DONE,
    ]


def openai_tool_call_start(index: int, call_id: str, name: str) -> dict[str, Any]:
    return {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}


def openai_tool_call_args(index: int, fragment: str) -> dict[str, Any]:
    return {"index": index, "function": {"arguments": fragment}}


def openai_parallel_tool_calls_stream() -> list[str]:
    """Two parallel calls, each call's arguments split mid-JSON across chunks, as gpt-4o streams them."""
    return [
        openai_chunk(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [openai_tool_call_start(0, "call_weather_1", "get_weather")],
                "refusal": None,
            }
        ),
        openai_chunk({"tool_calls": [openai_tool_call_args(0, '{"ci')]}),
        openai_chunk({"tool_calls": [openai_tool_call_args(0, 'ty": "Par')]}),
        openai_chunk({"tool_calls": [openai_tool_call_args(0, 'is"}')]}),
        openai_chunk({"tool_calls": [openai_tool_call_start(1, "call_time_2", "get_time")]}),
        openai_chunk({"tool_calls": [openai_tool_call_args(1, '{"tz": "Eur')]}),
        openai_chunk({"tool_calls": [openai_tool_call_args(1, 'ope/Paris", "h24": tr')]}),
        openai_chunk({"tool_calls": [openai_tool_call_args(1, "ue}")]}),
        openai_chunk({}, "tool_calls"),
        openai_usage_chunk(80, 41),
        OPENAI_DONE,
    ]


def openai_error(message: str, kind: str = "invalid_request_error", code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


# --- Anthropic Messages streams ----------------------------------------------------------------------------------


def anthropic_event(kind: str, data: dict[str, Any]) -> str:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n"


def anthropic_message_start(input_tokens: int) -> str:
    return anthropic_event(
        "message_start",
        {
            "message": {
                "id": "msg_01XyZ",
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": "claude-sonnet-4-20250514",
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": input_tokens,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                    "output_tokens": 1,
                },
            }
        },
    )


def anthropic_text_block(index: int, parts: Sequence[str]) -> list[str]:
    return [
        anthropic_event("content_block_start", {"index": index, "content_block": {"type": "text", "text": ""}}),
        *(
            anthropic_event("content_block_delta", {"index": index, "delta": {"type": "text_delta", "text": part}})
            for part in parts
        ),
        anthropic_event("content_block_stop", {"index": index}),
    ]


def anthropic_tool_block(index: int, tool_id: str, name: str, json_parts: Sequence[str]) -> list[str]:
    start = {"type": "tool_use", "id": tool_id, "name": name, "input": {}}
    return [
        anthropic_event("content_block_start", {"index": index, "content_block": start}),
        *(
            anthropic_event(
                "content_block_delta", {"index": index, "delta": {"type": "input_json_delta", "partial_json": part}}
            )
            for part in json_parts
        ),
        anthropic_event("content_block_stop", {"index": index}),
    ]


def anthropic_message_end(stop_reason: str, output_tokens: int) -> list[str]:
    return [
        anthropic_event(
            "message_delta",
            {"delta": {"stop_reason": stop_reason, "stop_sequence": None}, "usage": {"output_tokens": output_tokens}},
        ),
        anthropic_event("message_stop", {}),
    ]


def anthropic_text_stream(parts: Sequence[str], input_tokens: int = 25, output_tokens: int = 9) -> list[str]:
    """The order Anthropic uses: message_start, content_block_start, ping, deltas, stops."""
    start, *rest = anthropic_text_block(0, parts)
    return [
        anthropic_message_start(input_tokens),
        start,
        anthropic_event("ping", {}),
        *rest,
        *anthropic_message_end("end_turn", output_tokens),
    ]


def anthropic_error(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


# --- Consuming provider streams ----------------------------------------------------------------------------------


async def collect(stream: AsyncIterator[StreamEvent]) -> list[StreamEvent]:
    return [event async for event in stream]


async def collect_until_error(stream: AsyncIterator[StreamEvent]) -> tuple[list[StreamEvent], ProviderError]:
    """The events that arrived before the stream failed, and the failure; fails the test if it did not fail."""
    events: list[StreamEvent] = []
    try:
        async for event in stream:
            events.append(event)
    except ProviderError as error:
        return events, error
    raise AssertionError(f"stream ended without an error after {events!r}")
