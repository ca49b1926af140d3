"""Test-only servicers plugged into the gateway's core (GATEWAY_SERVICERS), so the edge can be driven end to end.

The gateway runs in its own thread and event loop: a servicer talks back to a test through threading.Events
obtained with signal(key, name), where key is a value the test put in the request.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf import json_format

from astra.v1 import chat_pb2, chat_pb2_grpc, common_pb2, skills_pb2, skills_pb2_grpc
from server import errors
from server.deps import Deps

_SIGNALS: dict[tuple[str, str], threading.Event] = {}
_SIGNALS_LOCK = threading.Lock()


def signal(key: str, name: str) -> threading.Event:
    """The event `name` of the request tagged `key` (created on first use, shared by both threads)."""
    with _SIGNALS_LOCK:
        return _SIGNALS.setdefault((key, name), threading.Event())


async def wait_for(event: threading.Event, seconds: float = 10.0) -> bool:
    """Waits on a threading.Event from an event loop without blocking it; bounded by `seconds`."""
    deadline = time.monotonic() + seconds
    while not event.is_set():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


# ---------------------------------------------------------------------------------------------------------------
# SkillsService (auth NONE): GetSkill answers with the outcome its skill id names.

DOMAIN_ERRORS: dict[str, type[errors.AstraError]] = {
    cls.code.name: cls
    for cls in (
        errors.InvalidArgument,
        errors.NotFound,
        errors.AlreadyExists,
        errors.PermissionDenied,
        errors.Unauthenticated,
        errors.FailedPrecondition,
        errors.Aborted,
        errors.ResourceExhausted,
        errors.Unavailable,
        errors.Unimplemented,
    )
}
SECRET_DETAIL = "db password is hunter2 at /srv/secret.py"


def fake_message(skill_id: str) -> str:
    return f"fake failure for skill {skill_id}"


class FakeSkills(skills_pb2_grpc.SkillsServiceServicer):
    """GetSkill by id: `ok`; `abort-<CODE>` aborts with that gRPC code; `raise-<CODE>` raises the domain error;
    `retry-<N>` raises ResourceExhausted(retry_after=N); `override-<STATUS>` aborts INVALID_ARGUMENT with
    trailing x-http-status; `domain-override-<STATUS>` raises InvalidArgument(http_status=STATUS);
    `ok-<STATUS>` succeeds with x-http-status; `etag` succeeds with etag and idempotent-replayed trailers;
    `crash` raises an unexpected exception."""

    def __init__(self, deps: Deps):
        self.deps = deps

    async def GetSkill(self, request: skills_pb2.GetSkillRequest, context: grpc.aio.ServicerContext) -> Any:
        sid = request.skill_id
        message = fake_message(sid)
        kind, _, arg = sid.partition("-")
        if sid == "ok":
            return skills_pb2.GetSkillResponse(
                skill=skills_pb2.Skill(id="ok", display_name="Okay", prompt_context="be okay", tool_count=2)
            )
        if kind == "abort":
            await context.abort(grpc.StatusCode[arg], message)
        if kind == "raise":
            raise DOMAIN_ERRORS[arg](message)
        if kind == "retry":
            raise errors.ResourceExhausted(message, retry_after=float(arg))
        if kind == "override":
            context.set_trailing_metadata((("x-http-status", arg),))
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, message)
        if sid.startswith("domain-override-"):
            raise errors.InvalidArgument(message, http_status=int(sid.rsplit("-", 1)[1]))
        if kind == "ok":
            context.set_trailing_metadata((("x-http-status", arg),))
            return skills_pb2.GetSkillResponse(skill=skills_pb2.Skill(id=sid))
        if sid == "etag":
            context.set_trailing_metadata((("etag", '"v3"'), ("idempotent-replayed", "true")))
            return skills_pb2.GetSkillResponse(skill=skills_pb2.Skill(id=sid))
        if sid == "crash":
            raise RuntimeError(SECRET_DETAIL)
        raise errors.NotFound(f"skill {sid} not found")

    async def ListSkills(self, request: skills_pb2.ListSkillsRequest, context: grpc.aio.ServicerContext) -> Any:
        skills = [skills_pb2.Skill(id="ok", display_name="Okay", category=request.category or "misc", tool_count=2)]
        return skills_pb2.ListSkillsResponse(skills=skills)

    async def GetSkillCacheStats(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return skills_pb2.GetSkillCacheStatsResponse(total=skills_pb2.ToolCacheStats(entries=0))

    async def ClearSkillCache(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return skills_pb2.ClearSkillCacheResponse(cleared_entries=0, tool=request.tool)


# ---------------------------------------------------------------------------------------------------------------
# ChatService.ChatStream: the first word of the message picks a script; surface_id is the signal key.

MODEL = "local/fake"
LONG_CHUNKS = 1000  # x 20 ms: a stream that only ends early when the call is cancelled


TOOL_CALL = chat_pb2.ToolCall(id="call_1", name="web_search", arguments='{"q": "astra"}')
TOOL_RESULT = chat_pb2.ToolResult(id="call_1", name="web_search", result="[]", duration_ms=12.5)


def resolved(agent_id: str) -> chat_pb2.SessionResolved:
    return chat_pb2.SessionResolved(session_id="ses_fake1", agent_id=agent_id, created=True)


def done(content: str, tools: list[str] | None = None) -> chat_pb2.StreamDone:
    return chat_pb2.StreamDone(
        content=content,
        session_id="ses_fake1",
        message_id="msg_fake1",
        tools_used=tools or [],
        usage=common_pb2.Usage(prompt_tokens=3, completion_tokens=4, total_tokens=7),
        model=MODEL,
    )


def _resolved(request: chat_pb2.ChatStreamRequest) -> chat_pb2.ChatStreamResponse:
    return chat_pb2.ChatStreamResponse(session_resolved=resolved(request.agent_id))


def _chunk(delta: str) -> chat_pb2.ChatStreamResponse:
    return chat_pb2.ChatStreamResponse(stream_chunk=chat_pb2.StreamChunk(delta=delta))


def _done(content: str, tools: list[str] | None = None) -> chat_pb2.ChatStreamResponse:
    return chat_pb2.ChatStreamResponse(stream_done=done(content, tools))


def proto_json(message: Any) -> dict[str, Any]:
    """What a client should receive for a message: proto3 JSON, lowerCamelCase, fields without presence included."""
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


def words(text: str) -> list[str]:
    """The deltas the fake streams for a text: each word with the space that follows it."""
    parts = text.split(" ")
    return [p + " " for p in parts[:-1]] + [parts[-1]]


class FakeChat(chat_pb2_grpc.ChatServiceServicer):
    """Scripts (first word of `message`):
    echo   session_resolved, one stream_chunk per word, stream_done
    tools  session_resolved, chunk, tool_call, tool_result, chunk, stream_done
    gate   session_resolved, then waits for signal(surface_id, "gate"), then the rest of `echo`
    pause  session_resolved, 1 s of silence, then a chunk and stream_done
    long   session_resolved, then a chunk every 20 ms for 20 s
    fail-before / rate-limited / unauthenticated   fail before any event
    fail-mid / rate-limited-mid / crash-mid   fail after two events
    Every call sets signal(key, "started"); one that ends without finishing its script and without failing on
    its own (i.e. it was cancelled) sets signal(key, "cancelled"); one that finishes sets signal(key, "finished").
    """

    def __init__(self, deps: Deps):
        self.deps = deps

    async def ChatStream(
        self, request: chat_pb2.ChatStreamRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[chat_pb2.ChatStreamResponse]:
        key = request.surface_id or "default"
        script = request.message.split(" ", 1)[0]
        signal(key, "started").set()
        outcome = "cancelled"
        try:
            if script == "fail-before":
                outcome = "failed"
                raise errors.NotFound(f"agent {request.agent_id} not found")
            if script == "rate-limited":
                outcome = "failed"
                raise errors.ResourceExhausted("too many messages", retry_after=3)
            if script == "unauthenticated":
                outcome = "failed"
                raise errors.Unauthenticated("access token expired")
            yield _resolved(request)
            if script == "tools":
                yield _chunk("Let me look. ")
                yield chat_pb2.ChatStreamResponse(tool_call=TOOL_CALL)
                yield chat_pb2.ChatStreamResponse(tool_result=TOOL_RESULT)
                yield _chunk("Nothing found.")
                yield _done("Let me look. Nothing found.", ["web_search"])
            elif script == "gate":
                if not await wait_for(signal(key, "gate"), 10):
                    raise TimeoutError("the test never opened the gate")
                for delta in words(request.message):
                    yield _chunk(delta)
                yield _done(request.message)
            elif script == "pause":
                await asyncio.sleep(1.0)
                yield _chunk("after the pause")
                yield _done("after the pause")
            elif script == "long":
                for i in range(LONG_CHUNKS):
                    if context.cancelled():
                        break
                    yield _chunk(f"{i} ")
                    await asyncio.sleep(0.02)
                else:
                    yield _done("long")
            elif script == "fail-mid":
                yield _chunk("partial ")
                outcome = "failed"
                raise errors.Unavailable("the model provider is unavailable")
            elif script == "rate-limited-mid":
                yield _chunk("partial ")
                outcome = "failed"
                raise errors.ResourceExhausted("provider rate limit", retry_after=3)
            elif script == "crash-mid":
                yield _chunk("partial ")
                outcome = "failed"
                raise RuntimeError(SECRET_DETAIL)
            else:
                for delta in words(request.message):
                    yield _chunk(delta)
                yield _done(request.message)
            if not context.cancelled():
                outcome = "finished"
        finally:
            if outcome != "failed":
                signal(key, outcome).set()
