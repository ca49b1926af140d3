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
from google.protobuf import json_format

from contract.errors import ErrorCode
from contract.services import find_method
from contract.stubs import message_class, stub
from edge.channel import CoreChannel
from edge.errors import EdgeError, Failure, from_rpc_error, json_response, ws_frame
from edge.headers import REQUEST_ID, ROUTE
from edge.metrics import WS_CONNECTIONS
from edge.socket_report import SocketReport
from edge.streaming import frame

if TYPE_CHECKING:
    from edge.gateway import Gateway

INTROSPECT = "astra.v1.AuthService.Introspect"
MESSAGE = "astra.v1.ChatService.ChatStream"
MAX_FRAME_BYTES = 1024 * 1024
# Close code for a token that stops being valid on an open socket (4000-4999 are the application's).
CLOSE_UNAUTHORIZED = 4401


def _callable(channel: CoreChannel, full_name: str) -> tuple[Any, Any]:
    """The method's callable on the channel, and its request class."""
    method = find_method(full_name)
    return stub(channel, method), message_class(method.input_type)


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


def _error_frame(code: ErrorCode, message: str) -> dict[str, Any]:
    return ws_frame(Failure(code, message))


class WsHub:
    def __init__(self, channel: CoreChannel, gateway: Gateway):
        self.gateway = gateway
        self.introspect, self.introspect_request = _callable(channel, INTROSPECT)
        self.chat, self.chat_request = _callable(channel, MESSAGE)
        self.sockets: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()
        # Open sockets reported to the core for AdminService's count (edge/socket_report.py).
        self.report = SocketReport(channel, lambda: sum(not ws.closed for ws in self.sockets))

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
            return json_response(exc.failure(), request[REQUEST_ID])
        try:
            await self.introspect(self.introspect_request(), metadata=metadata, timeout=10)
        except grpc.aio.AioRpcError as exc:
            return json_response(from_rpc_error(exc), request[REQUEST_ID])  # 401 before the upgrade
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME_BYTES)
        await ws.prepare(request)
        self.sockets.add(ws)
        WS_CONNECTIONS.inc()
        state = _Socket()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    if msg.type == WSMsgType.BINARY:
                        await ws.send_json(_error_frame(ErrorCode.INVALID_FRAME, "frames must be JSON text"))
                    continue
                try:
                    data = json.loads(msg.data)
                except (ValueError, RecursionError):
                    await ws.send_json(_error_frame(ErrorCode.INVALID_FRAME, "frame is not valid JSON"))
                    continue
                kind = data.get("type") if isinstance(data, dict) else None
                if kind == "ping":
                    await ws.send_json({"type": "pong"})
                elif kind == "message":
                    if state.answering:
                        busy = "a message is already being answered on this socket"
                        await ws.send_json(_error_frame(ErrorCode.BUSY, busy))
                        continue
                    task = asyncio.create_task(self._run_turn(ws, metadata, data, state, state.start()))
                    state.turns.add(task)
                    task.add_done_callback(state.turns.discard)
                else:
                    await ws.send_json(_error_frame(ErrorCode.INVALID_FRAME, "type must be 'message' or 'ping'"))
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
            await ws.send_json(_error_frame(ErrorCode.INVALID_ARGUMENT, f"invalid message frame: {exc}"))
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
                await ws.send_json(ws_frame(from_rpc_error(exc)))
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
