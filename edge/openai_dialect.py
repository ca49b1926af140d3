"""The OpenAI dialect, spoken for the services the contract marks `astra.v1.dialect = DIALECT_OPENAI`.

It differs from Astra's own rendering (edge/transcode.py, edge/streaming.py) only in form, and knows no domain:
- request bodies ignore fields the message does not have (OpenAI clients send many: n, seed, logprobs, ...);
- responses are printed with proto field names (OpenAI's snake_case), unset optional fields as null and 64-bit
  integers as JSON numbers, as OpenAI's JSON has them;
- a server-streaming method answers by its request's `stream` flag: false, the one message the core sends (the
  member of its response oneof) as the JSON body; true, each message as an SSE `data:` line, then `data: [DONE]`;
- errors are `{"error": {"message", "type", "param", "code"}}` (edge/errors.py, openai_error), before a stream as
  the response, within one as its last `data:` line; a 404 from a call is OpenAI's model_not_found, the one
  resource such a request names.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import grpc
from aiohttp import web
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from contract.errors import ErrorCode
from contract.fields import event_oneof, is_map
from contract.routes import Route
from edge.errors import Failure, from_rpc_error, openai_error, openai_response
from edge.headers import REQUEST_ID, response_headers
from edge.streaming import FrameWriter, bursts, keep_alive
from edge.transcode import build_request

log = logging.getLogger("astra.edge")

DONE = b"data: [DONE]\n\n"
MODEL_NOT_FOUND = "model_not_found"
_FD = FieldDescriptor
_INT64 = frozenset({_FD.TYPE_INT64, _FD.TYPE_SINT64, _FD.TYPE_SFIXED64, _FD.TYPE_UINT64, _FD.TYPE_FIXED64})


def _reshape(descriptor: Descriptor, document: dict[str, Any]) -> None:
    """proto3 JSON (proto names, no-presence fields printed) in OpenAI's form, in place."""
    for field in descriptor.fields:
        name = field.name
        if name not in document:
            oneof = field.containing_oneof
            if field.has_presence and (oneof is None or oneof.name == "_" + name):  # not a member of a real oneof
                document[name] = None
            continue
        value = document[name]
        nested = field.message_type
        if nested is not None:
            if nested.full_name.startswith("google.protobuf.") or is_map(field):
                continue  # well-known types print as JSON already; maps have no nested messages here
            for item in value if field.is_repeated else (value,):
                _reshape(nested, item)
        elif field.type in _INT64:
            document[name] = [int(v) for v in value] if field.is_repeated else int(value)


def to_json(message: Message) -> dict[str, Any]:
    document = json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    _reshape(message.DESCRIPTOR, document)
    return document


def _dump(message: Message) -> str:
    """The message (the member of its event oneof when it is one) as OpenAI's JSON text."""
    oneof = event_oneof(message.DESCRIPTOR)
    if oneof:
        member = message.WhichOneof(oneof)
        if member:
            message = getattr(message, member)
    return json.dumps(to_json(message), separators=(",", ":"))


def _streams(message: Message) -> bool:
    """Whether the request asks for a stream (OpenAI's `stream` flag)."""
    field = message.DESCRIPTOR.fields_by_name.get("stream")
    return field is not None and field.type == _FD.TYPE_BOOL and bool(message.stream)  # type: ignore[attr-defined]


def call_error(exc: grpc.aio.AioRpcError) -> tuple[Failure, str | None]:
    failure = from_rpc_error(exc)
    return failure, MODEL_NOT_FOUND if failure.http_status == 404 else None


class OpenAIDialect:
    def __init__(self, keepalive_s: float, call_timeout_s: float):
        self.keepalive_s = keepalive_s
        self.call_timeout_s = call_timeout_s

    @staticmethod
    def build_request(
        route: Route, bindings: dict[str, str], query: list[tuple[str, str]], raw_body: bytes, content_type: str
    ) -> Message:
        return build_request(route, bindings, query, raw_body, content_type, ignore_unknown_fields=True)

    @staticmethod
    def error(failure: Failure, code: str | None = None) -> web.Response:
        return openai_response(failure, code)

    async def serve(
        self, request: web.Request, route: Route, method: Any, message: Message, metadata: Any
    ) -> web.StreamResponse:
        """Calls the core and answers in the dialect; a bug answers OpenAI's 500, never Astra's."""
        call = method(message, metadata=metadata, timeout=self.call_timeout_s)
        try:
            if not route.streaming:
                return await self._unary(call)
            if _streams(message):
                return await self._stream(request, call)
            return await self._whole(call)
        except grpc.aio.AioRpcError as exc:
            return self.error(*call_error(exc))
        except Exception:
            rid = request[REQUEST_ID]
            log.exception("unhandled edge error", extra={"request_id": rid, "path": request.path})
            return self.error(Failure(ErrorCode.INTERNAL, f"internal error (request id {rid})"))
        finally:
            # A client that went away cancels the turn behind the call.
            if not call.done():
                call.cancel()

    @staticmethod
    def _json(message: Message, headers: dict[str, str]) -> web.Response:
        return web.Response(body=_dump(message).encode(), content_type="application/json", headers=headers)

    async def _unary(self, call: Any) -> web.Response:
        response = await call
        headers = response_headers(await call.initial_metadata(), await call.trailing_metadata())
        return self._json(response, headers)

    async def _whole(self, call: Any) -> web.Response:
        """A streaming method asked for no stream: the core sends one message, answered as the body."""
        first = await call.read()
        while await call.read() is not grpc.aio.EOF:
            pass  # the contract promises one; a second would be dropped, not glued on
        if first is grpc.aio.EOF:
            return self.error(Failure(ErrorCode.INTERNAL, "the core sent no answer"))
        headers = response_headers(await call.initial_metadata(), await call.trailing_metadata())
        return self._json(first, headers)

    async def _stream(self, request: web.Request, call: Any) -> web.StreamResponse:
        # Until the first message the HTTP status is still open: an early failure is a plain error response.
        first = await call.read()
        if first is grpc.aio.EOF:
            return self.error(Failure(ErrorCode.INTERNAL, "the core sent no answer"))
        response = web.StreamResponse(
            status=200,
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",  # nginx: do not buffer the stream
                **response_headers(await call.initial_metadata()),
            },
        )
        await response.prepare(request)
        writer = FrameWriter(response, ndjson=False)
        keeping = keep_alive(call, writer, self.keepalive_s)
        tail = b""
        try:
            await writer.write(_data(_dump(first)))
            async for burst in bursts(call):
                await writer.write("".join(_data(_dump(message)) for message in burst))
            tail = DONE  # written with the end of the HTTP stream
        except grpc.aio.AioRpcError as exc:
            # After the 200 the failure is the stream's last line, as OpenAI sends one; no [DONE] follows.
            await writer.write(_data(json.dumps(openai_error(*call_error(exc)), separators=(",", ":"))))
        except ConnectionResetError:
            return response  # the client left; the call is cancelled on the way out
        except Exception:
            # The status is sent: a bug can only end the stream, with OpenAI's error as its last line.
            rid = request[REQUEST_ID]
            log.exception("unhandled edge error", extra={"request_id": rid, "path": request.path})
            failure = Failure(ErrorCode.INTERNAL, f"internal error (request id {rid})")
            await writer.write(_data(json.dumps(openai_error(failure), separators=(",", ":"))))
        finally:
            keeping.cancel()
        await response.write_eof(tail)
        return response


def _data(data: str) -> str:
    return f"data: {data}\n\n"
