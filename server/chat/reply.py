"""A turn consumed to its end, for callers that answer once (unary Chat, autonomous runs) rather than stream."""

from __future__ import annotations

from contextlib import aclosing
from typing import Any

from astra.v1 import chat_pb2
from contract.errors import ErrorCode
from server.chat import ratelimit
from server.chat.turn import TurnEngine, TurnRequest
from server.context import Principal
from server.errors import AstraError, Unavailable


def stream_error(error: chat_pb2.StreamError) -> AstraError:
    """The status a turn's terminal error event becomes when there is no stream to carry it: its code's gRPC and
    HTTP status (contract/errors.py; provider_error is a 502). A code the contract does not know is the provider's."""
    code = ErrorCode.of_wire(error.code) or ErrorCode.PROVIDER_ERROR
    return AstraError(error.message, retry_after=error.retry_after_ms / 1000 or None, error=code)


async def run_to_end(
    engine: TurnEngine, principal: Principal, request: TurnRequest, counted: ratelimit.Count | None = None
) -> dict[str, Any]:
    """The fields of the chat-response shape (content, session_id, tools_used, usage, model, overhead_ms,
    message_id) from the turn's stream_done; its error event raised as a status. `counted`: see
    server/chat/opening.py, Opening.open."""
    async with aclosing(engine.stream(principal, request, counted)) as events:
        async for event in events:
            if event.HasField("error"):
                raise stream_error(event.error)
            if event.HasField("stream_done"):
                done = event.stream_done
                return {
                    "content": done.content,
                    "session_id": done.session_id,
                    "tools_used": done.tools_used,
                    "usage": done.usage,
                    "model": done.model,
                    "overhead_ms": done.overhead_ms,
                    "message_id": done.message_id,
                }
    raise Unavailable("the turn ended without an answer")
