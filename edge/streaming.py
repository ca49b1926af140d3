"""Server-streaming RPCs as Server-Sent Events (default) or newline-delimited JSON (Accept: application/x-ndjson).

Each streamed message becomes one frame named after the set field of its single oneof (`event: stream_chunk`),
with that field's proto JSON as data; a message without such a oneof is a `message` frame.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from aiohttp import web
from google.protobuf.message import Message

from contract.fields import event_oneof
from edge.transcode import to_json

NDJSON = "application/x-ndjson"


def frame(message: Message) -> tuple[str, dict[str, Any]]:
    """(frame type, payload) of one streamed message."""
    oneof = event_oneof(message.DESCRIPTOR)
    if oneof:
        name = message.WhichOneof(oneof)
        if name:
            return name, to_json(getattr(message, name))
    return "message", to_json(message)


def wants_ndjson(request: web.Request) -> bool:
    return NDJSON in request.headers.get("Accept", "")


class FrameWriter:
    """Writes frames in the negotiated format, flushing each one."""

    def __init__(self, response: web.StreamResponse, ndjson: bool):
        self.response = response
        self.ndjson = ndjson
        self.last_write = time.monotonic()

    @staticmethod
    def content_type(ndjson: bool) -> str:
        return NDJSON if ndjson else "text/event-stream"

    def encode(self, name: str, payload: dict[str, Any]) -> str:
        if self.ndjson:
            return json.dumps({"type": name, **payload}, separators=(",", ":")) + "\n"
        return f"event: {name}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n"

    async def send(self, name: str, payload: dict[str, Any]) -> None:
        await self.write(self.encode(name, payload))

    async def write(self, text: str) -> None:
        self.last_write = time.monotonic()
        await self.response.write(text.encode())

    async def keep_alive(self, quiet_s: float) -> None:
        """Runs until cancelled: an SSE comment (or an empty NDJSON line) whenever nothing was written for
        `quiet_s`, so proxies do not close an idle stream."""
        while True:
            await asyncio.sleep(max(0.0, self.last_write + quiet_s - time.monotonic()))
            if time.monotonic() - self.last_write >= quiet_s:
                self.last_write = time.monotonic()
                await self.response.write(b"\n" if self.ndjson else b": keep-alive\n\n")


async def bursts(call: grpc.aio.UnaryStreamCall) -> AsyncIterator[list[Message]]:
    """The call's messages, each read with those already produced behind it, so a burst (a provider's chunks that
    arrived together) is written to the client at once: one socket write instead of one per chunk. Only a call on
    the in-process channel (server/local_channel.py) can tell what is ready; over the network each message comes
    alone. Nothing waits for a burst to form: the first message goes as soon as it is read."""
    ready: Callable[[], list[Message]] | None = getattr(call, "read_ready", None)
    while (message := await call.read()) is not grpc.aio.EOF:
        yield [message, *ready()] if ready is not None else [message]


def keep_alive(call: grpc.aio.UnaryStreamCall, writer: FrameWriter, keepalive_s: float) -> asyncio.Task[None]:
    """Keep-alives from a task of their own while the core is quiet, so each read is awaited directly: no task and
    timer per message, and no timeout that could cancel the read (which would cancel the call). A keep-alive that
    cannot be written (the client left) cancels the call. The caller cancels the task when the stream ends."""
    keeping = asyncio.create_task(writer.keep_alive(keepalive_s))

    def client_gone(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            call.cancel()

    keeping.add_done_callback(client_gone)
    return keeping


async def relay(call: grpc.aio.UnaryStreamCall, writer: FrameWriter, keepalive_s: float) -> None:
    """Forwards every message until the stream ends."""
    keeping = keep_alive(call, writer, keepalive_s)
    try:
        async for burst in bursts(call):
            await writer.write("".join(writer.encode(*frame(message)) for message in burst))
    finally:
        keeping.cancel()
