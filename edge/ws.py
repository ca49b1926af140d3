"""/ws: an authenticated WebSocket whose frames relay onto the core's RPCs.

Inbound `message` frames run ChatService.ChatStream and every streamed event goes back as a
`{"type": <event>, ...}` frame; `ping` gets `pong`. Malformed frames get an `error` frame and the socket
stays open; a socket that closes cancels its running turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc
from aiohttp import WSMsgType, web
from google.protobuf import descriptor_pool, json_format, message_factory

from edge.channel import CoreChannel
from edge.errors import EdgeError, from_edge_error, from_rpc_error, retry_after_ms
from edge.headers import REQUEST_ID, ROUTE
from edge.metrics import WS_CONNECTIONS
from edge.streaming import frame

if TYPE_CHECKING:
    from edge.app import Gateway

INTROSPECT = "astra.v1.AuthService.Introspect"
MESSAGE = "astra.v1.ChatService.ChatStream"
MAX_FRAME_BYTES = 1024 * 1024
# Close code for a token that stops being valid on an open socket (4000-4999 are the application's).
CLOSE_UNAUTHORIZED = 4401


def _callable(channel: CoreChannel, full_name: str, streaming: bool) -> tuple[Any, Any]:
    method = descriptor_pool.Default().FindMethodByName(full_name)
    request_cls = message_factory.GetMessageClass(method.input_type)
    response_cls = message_factory.GetMessageClass(method.output_type)
    path = f"/{method.containing_service.full_name}/{method.name}"
    factory = channel.unary_stream if streaming else channel.unary_unary
    return factory(
        path, request_serializer=request_cls.SerializeToString, response_deserializer=response_cls.FromString
    ), request_cls


# Frames that end a turn: after one of them the socket accepts the next message.
TERMINAL = frozenset({"stream_done", "error"})


@dataclass
class _Socket:
    """Per-socket state: whether a message is being answered (one at a time), and the turn tasks."""

    answering: bool = False
    generation: int = 0  # which turn `answering` is about; an older turn finishing late must not clear it
    turns: set[asyncio.Task[None]] = field(default_factory=set)

    def start(self) -> int:
        self.answering = True
        self.generation += 1
        return self.generation

    def finish(self, generation: int) -> None:
        if generation == self.generation:
            self.answering = False


def _error_frame(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message, **extra}


def _rpc_error_frame(exc: grpc.aio.AioRpcError) -> dict[str, Any]:
    if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
        wait = retry_after_ms(exc.trailing_metadata()) or 1000
        return _error_frame("rate_limited", exc.details() or "rate limited", retryAfterMs=wait)
    return _error_frame(exc.code().name.lower(), exc.details() or "")


class WsHub:
    def __init__(self, channel: CoreChannel, gateway: Gateway):
        self.gateway = gateway
        self.introspect, self.introspect_request = _callable(channel, INTROSPECT, streaming=False)
        self.chat, self.chat_request = _callable(channel, MESSAGE, streaming=True)
        self.sockets: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()

    def _metadata(self, request: web.Request) -> tuple[tuple[str, str], ...]:
        # The core applies the per-user WebSocket message limit to calls that say they come from /ws.
        metadata = (*self.gateway.metadata(request), ("x-astra-transport", "ws"))
        token = request.query.get("token")
        if token and not request.headers.get("Authorization"):
            # Browsers cannot set headers on a WebSocket, so the token may come in the query string.
            metadata = (*metadata, ("authorization", f"Bearer {token}"))
        return metadata

    async def handle(self, request: web.Request) -> web.StreamResponse:
        request[ROUTE] = "/ws"
        try:
            metadata = self._metadata(request)
        except EdgeError as exc:
            return from_edge_error(exc, request[REQUEST_ID])
        try:
            await self.introspect(self.introspect_request(), metadata=metadata, timeout=10)
        except grpc.aio.AioRpcError as exc:
            return from_rpc_error(exc, request[REQUEST_ID])  # 401 before the upgrade
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME_BYTES)
        await ws.prepare(request)
        self.sockets.add(ws)
        WS_CONNECTIONS.inc()
        state = _Socket()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    if msg.type == WSMsgType.BINARY:
                        await ws.send_json(_error_frame("invalid_frame", "frames must be JSON text"))
                    continue
                try:
                    data = json.loads(msg.data)
                except (ValueError, RecursionError):
                    await ws.send_json(_error_frame("invalid_frame", "frame is not valid JSON"))
                    continue
                kind = data.get("type") if isinstance(data, dict) else None
                if kind == "ping":
                    await ws.send_json({"type": "pong"})
                elif kind == "message":
                    if state.answering:
                        await ws.send_json(_error_frame("busy", "a message is already being answered on this socket"))
                        continue
                    task = asyncio.create_task(self._run_turn(ws, metadata, data, state, state.start()))
                    state.turns.add(task)
                    task.add_done_callback(state.turns.discard)
                else:
                    await ws.send_json(_error_frame("invalid_frame", "type must be 'message' or 'ping'"))
        finally:
            WS_CONNECTIONS.dec()
            for turn in state.turns:
                turn.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*state.turns, return_exceptions=True)
        return ws

    async def _run_turn(
        self, ws: web.WebSocketResponse, metadata: Any, data: dict[str, Any], state: _Socket, generation: int
    ) -> None:
        payload = {k: v for k, v in data.items() if k != "type"}
        try:
            request = json_format.ParseDict(payload, self.chat_request())
        except (json_format.ParseError, RecursionError) as exc:
            state.finish(generation)
            await ws.send_json(_error_frame("invalid_argument", f"invalid message frame: {exc}"))
            return
        call = self.chat(request, metadata=metadata, timeout=self.gateway.config.call_timeout_s)
        try:
            async for event in call:
                name, body = frame(event)
                if name in TERMINAL:
                    # The client may send its next message as soon as it sees the end of this one, even though
                    # the call itself still has its trailers to finish.
                    state.finish(generation)
                await ws.send_json({"type": name, **body})
        except grpc.aio.AioRpcError as exc:
            state.finish(generation)
            if not ws.closed:
                await ws.send_json(_rpc_error_frame(exc))
                if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                    await ws.close(code=CLOSE_UNAUTHORIZED, message=b"token no longer valid")
        except ConnectionResetError:
            pass
        finally:
            state.finish(generation)
            if not call.done():
                call.cancel()

    async def close_all(self) -> None:
        for ws in list(self.sockets):
            await ws.close(code=1001, message=b"server shutting down")
