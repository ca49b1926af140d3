"""Server-streaming RPCs as Server-Sent Events (default) or newline-delimited JSON (Accept: application/x-ndjson).

Each streamed message becomes one frame named after the set field of its single oneof (`event: stream_chunk`),
with that field's proto JSON as data; a message without such a oneof is a `message` frame.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import grpc
from aiohttp import web
from google.protobuf.message import Message

from edge.contract import event_oneof
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

    @staticmethod
    def content_type(ndjson: bool) -> str:
        return NDJSON if ndjson else "text/event-stream"

    async def send(self, name: str, payload: dict[str, Any]) -> None:
        if self.ndjson:
            line = json.dumps({"type": name, **payload}, separators=(",", ":")) + "\n"
        else:
            line = f"event: {name}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n"
        await self.response.write(line.encode())

    async def keepalive(self) -> None:
        # An SSE comment (or an empty NDJSON line) keeps proxies from closing an idle stream.
        await self.response.write(b"\n" if self.ndjson else b": keep-alive\n\n")


async def relay(call: grpc.aio.UnaryStreamCall, writer: FrameWriter, keepalive_s: float) -> None:
    """Forwards every message until the stream ends, sending keep-alives while the core is quiet.

    The read is awaited through asyncio.wait, never cancelled by a timeout: cancelling it would cancel the call.
    """
    while True:
        read = asyncio.ensure_future(call.read())
        try:
            while not (await asyncio.wait({read}, timeout=keepalive_s))[0]:
                await writer.keepalive()
        finally:
            if not read.done():
                read.cancel()
        message = read.result()
        if message is grpc.aio.EOF:
            return
        await writer.send(*frame(message))
