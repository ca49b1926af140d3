"""Server-streaming RPCs on the edge: /agent/chat/stream as SSE and NDJSON, through a test-only ChatService."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import Any

import aiohttp
import pytest

from tests.fakes import (
    SECRET_DETAIL,
    TOOL_CALL,
    TOOL_RESULT,
    FakeChat,
    done,
    proto_json,
    resolved,
    signal,
    wait_for,
    words,
)
from tests.harness import GatewayThread
from tests.helpers.accounts import bearer, register
from tests.helpers.chat import parse_sse

GATEWAY_SERVICERS = {"astra.v1.ChatService": FakeChat}
GATEWAY_OPTIONS = {"sse_keepalive_s": 0.3}

STREAM = "/agent/chat/stream"
NDJSON = {"Accept": "application/x-ndjson"}

_accounts: dict[str, dict[str, Any]] = {}  # gateway URL -> the account registered on it


@pytest.fixture
async def auth(http: aiohttp.ClientSession, gateway: GatewayThread) -> dict[str, str]:
    """A bearer header of one account registered on this module's gateway (ChatStream needs a JWT)."""
    if gateway.http_url not in _accounts:
        _accounts[gateway.http_url] = await register(http)
    return bearer(_accounts[gateway.http_url])


def chat(message: str, key: str | None = None, agent: str = "echo") -> dict[str, str]:
    return {"agentId": agent, "message": message, "surfaceId": key or uuid.uuid4().hex}


def is_uuid4(value: str) -> bool:
    try:
        return uuid.UUID(value).version == 4
    except ValueError:
        return False


def parse_ndjson(raw: str) -> list[dict]:
    assert raw.endswith("\n")
    return [json.loads(line) for line in raw.split("\n") if line.strip()]


async def test_sse_frames_carry_event_name_and_proto_json(
    http: aiohttp.ClientSession, auth: dict[str, str], gateway: GatewayThread
) -> None:
    rid = f"sse-{uuid.uuid4().hex[:8]}"
    async with http.post(STREAM, json=chat("tools please"), headers={**auth, "X-Request-ID": rid}) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/event-stream"
        assert resp.headers["Cache-Control"] == "no-cache"
        assert resp.headers["X-Request-ID"] == rid
        events = parse_sse(await resp.text())
    for _ in range(100):  # the core logged the call under the same id (on the gateway's thread)
        if any(line["logger"] == "astra.access" for line in gateway.logs.with_request_id(rid)):
            break
        await asyncio.sleep(0.02)
    core = [line for line in gateway.logs.with_request_id(rid) if line["logger"] == "astra.access"]
    assert [line["method"] for line in core] == ["/astra.v1.ChatService/ChatStream"]
    assert events == [
        ("session_resolved", proto_json(resolved("echo"))),
        ("stream_chunk", {"delta": "Let me look. "}),
        ("tool_call", proto_json(TOOL_CALL)),
        ("tool_result", proto_json(TOOL_RESULT)),
        ("stream_chunk", {"delta": "Nothing found."}),
        ("stream_done", proto_json(done("Let me look. Nothing found.", ["web_search"]))),
    ]
    # Spelled as proto3 JSON: lowerCamelCase names, defaults included.
    assert events[0][1] == {"sessionId": "ses_fake1", "agentId": "echo", "created": True}
    assert events[3][1]["durationMs"] == 12.5 and events[3][1]["error"] == ""
    final = events[-1][1]
    assert final["toolsUsed"] == ["web_search"] and final["messageId"] == "msg_fake1"
    assert final["usage"] == {"promptTokens": 3, "completionTokens": 4, "totalTokens": 7, "costUsd": 0.0}
    assert all(re.fullmatch(r"[a-z][A-Za-z0-9]*", key) for _, data in events for key in data)


async def test_sse_chunks_join_to_the_done_content(http: aiohttp.ClientSession, auth: dict[str, str]) -> None:
    text = "echo the quick brown fox jumps"
    async with http.post(STREAM, json=chat(text), headers=auth) as resp:
        assert resp.status == 200
        events = parse_sse(await resp.text())
    names = [name for name, _ in events]
    assert names == ["session_resolved"] + ["stream_chunk"] * len(words(text)) + ["stream_done"]
    assert "".join(data["delta"] for name, data in events if name == "stream_chunk") == text
    assert events[-1][1]["content"] == text
    assert is_uuid4(resp.headers["X-Request-ID"])


async def test_frames_are_flushed_as_they_happen(http: aiohttp.ClientSession, auth: dict[str, str]) -> None:
    key = uuid.uuid4().hex
    gate = signal(key, "gate")
    async with http.post(STREAM, json=chat("gate one two three", key), headers=auth) as resp:
        assert resp.status == 200
        # The servicer is parked after its first event: that event must already be readable.
        first = await asyncio.wait_for(resp.content.readuntil(b"\n\n"), 5)
        assert not gate.is_set()
        assert parse_sse(first.decode()) == [("session_resolved", proto_json(resolved("echo")))]
        gate.set()
        rest = parse_sse((await asyncio.wait_for(resp.content.read(), 5)).decode())
    assert [name for name, _ in rest] == ["stream_chunk"] * 4 + ["stream_done"]
    assert rest[-1][1]["content"] == "gate one two three"
    assert await wait_for(signal(key, "finished"), 5)


async def test_ndjson_when_asked(http: aiohttp.ClientSession, auth: dict[str, str]) -> None:
    async with http.post(STREAM, json=chat("tools please"), headers={**auth, **NDJSON}) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/x-ndjson"
        assert resp.headers["X-Request-ID"]
        raw = await resp.text()
    assert "event:" not in raw
    lines = parse_ndjson(raw)
    assert [line["type"] for line in lines] == [
        "session_resolved",
        "stream_chunk",
        "tool_call",
        "tool_result",
        "stream_chunk",
        "stream_done",
    ]
    assert lines[0] == {"type": "session_resolved", **proto_json(resolved("echo"))}
    assert lines[0]["sessionId"] == "ses_fake1"
    assert lines[-1] == {"type": "stream_done", **proto_json(done("Let me look. Nothing found.", ["web_search"]))}
    assert lines[3]["durationMs"] == 12.5
    assert lines[-1]["toolsUsed"] == ["web_search"]
    assert lines[-1]["usage"]["totalTokens"] == 7


async def test_ndjson_lines_are_flushed_as_they_happen(http: aiohttp.ClientSession, auth: dict[str, str]) -> None:
    key = uuid.uuid4().hex
    async with http.post(STREAM, json=chat("gate a b", key), headers={**auth, **NDJSON}) as resp:
        first = json.loads(await asyncio.wait_for(resp.content.readline(), 5))
        assert first["type"] == "session_resolved"
        signal(key, "gate").set()
        rest = parse_ndjson((await asyncio.wait_for(resp.content.read(), 5)).decode())
    assert [line["type"] for line in rest] == ["stream_chunk"] * 3 + ["stream_done"]


@pytest.mark.parametrize("accept", [{}, NDJSON], ids=["sse", "ndjson"])
async def test_failure_before_the_first_event_is_a_plain_http_error(
    http: aiohttp.ClientSession, auth: dict[str, str], accept: dict[str, str]
) -> None:
    rid = f"early-{uuid.uuid4().hex[:8]}"
    headers = {**auth, **accept, "X-Request-ID": rid}
    async with http.post(STREAM, json=chat("fail-before", agent="ghost"), headers=headers) as resp:
        assert resp.status == 404
        assert resp.content_type == "application/json"
        assert resp.headers["X-Request-ID"] == rid
        assert await resp.json() == {
            "error": {"code": "NOT_FOUND", "message": "agent ghost not found"},
            "requestId": rid,
        }
    async with http.post(STREAM, json=chat("rate-limited"), headers=headers) as resp:
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "3"
        assert (await resp.json())["error"]["code"] == "RESOURCE_EXHAUSTED"


async def test_stream_without_a_token_is_401(http: aiohttp.ClientSession) -> None:
    async with http.post(STREAM, json=chat("echo hi")) as resp:
        assert resp.status == 401
        assert resp.content_type == "application/json"
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await resp.json())["error"]["code"] == "UNAUTHENTICATED"


async def test_bad_stream_request_body_is_400_json(http: aiohttp.ClientSession, auth: dict[str, str]) -> None:
    async with http.post(STREAM, json={"agentId": 5, "message": "x"}, headers=auth) as resp:
        assert resp.status == 400
        assert resp.content_type == "application/json"
        assert "agentId" in (await resp.json())["error"]["message"]


async def test_failure_mid_stream_ends_with_an_error_event(http: aiohttp.ClientSession, auth: dict[str, str]) -> None:
    async with http.post(STREAM, json=chat("fail-mid"), headers=auth) as resp:
        assert resp.status == 200  # the status was sent with the first event
        events = parse_sse(await resp.text())
    assert [name for name, _ in events] == ["session_resolved", "stream_chunk", "error"]
    error = events[-1][1]
    assert error["code"] == "UNAVAILABLE"
    assert error["message"] == "the model provider is unavailable"


async def test_failure_mid_ndjson_stream_ends_with_an_error_line(
    http: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    async with http.post(STREAM, json=chat("fail-mid"), headers={**auth, **NDJSON}) as resp:
        lines = parse_ndjson(await resp.text())
    assert [line["type"] for line in lines] == ["session_resolved", "stream_chunk", "error"]
    assert lines[-1]["code"] == "UNAVAILABLE"


async def test_rate_limit_mid_stream_keeps_the_retry_hint(http: aiohttp.ClientSession, auth: dict[str, str]) -> None:
    async with http.post(STREAM, json=chat("rate-limited-mid"), headers=auth) as resp:
        events = parse_sse(await resp.text())
    assert [name for name, _ in events] == ["session_resolved", "stream_chunk", "error"]
    assert events[-1][1]["code"] == "RESOURCE_EXHAUSTED"
    assert events[-1][1]["retryAfterMs"] == 3000


async def test_crash_mid_stream_leaks_nothing(http: aiohttp.ClientSession, auth: dict[str, str]) -> None:
    rid = f"crash-{uuid.uuid4().hex[:8]}"
    async with http.post(STREAM, json=chat("crash-mid"), headers={**auth, "X-Request-ID": rid}) as resp:
        raw = await resp.text()
    events = parse_sse(raw)
    assert events[-1] == ("error", {"code": "INTERNAL", "message": f"internal error (request id {rid})"})
    for leak in ("hunter2", "RuntimeError", "Traceback", SECRET_DETAIL):
        assert leak not in raw


@pytest.mark.parametrize("accept", [{}, NDJSON], ids=["sse", "ndjson"])
async def test_keepalives_while_the_core_is_quiet(
    http: aiohttp.ClientSession, auth: dict[str, str], accept: dict[str, str]
) -> None:
    # The servicer is silent for 1 s; the edge's keep-alive interval is 0.3 s.
    async with http.post(STREAM, json=chat("pause"), headers={**auth, **accept}) as resp:
        assert resp.status == 200
        raw = await resp.text()
    if accept:
        assert raw.count("\n\n") >= 2  # blank lines between JSON lines
        assert [line["type"] for line in parse_ndjson(raw)] == ["session_resolved", "stream_chunk", "stream_done"]
    else:
        assert raw.count(": keep-alive\n\n") >= 2
        head, _, _ = raw.partition(": keep-alive")
        assert head.startswith("event: session_resolved\n")  # keep-alives come between events
        assert [name for name, _ in parse_sse(raw)] == ["session_resolved", "stream_chunk", "stream_done"]


@pytest.mark.parametrize("accept", [{}, NDJSON], ids=["sse", "ndjson"])
async def test_client_disconnect_cancels_the_call(
    http: aiohttp.ClientSession, auth: dict[str, str], accept: dict[str, str]
) -> None:
    key = uuid.uuid4().hex
    resp = await http.post(STREAM, json=chat("long", key), headers={**auth, **accept})
    try:
        assert resp.status == 200
        await asyncio.wait_for(resp.content.readline(), 5)
        await asyncio.wait_for(resp.content.readline(), 5)
    finally:
        resp.close()  # drops the connection mid-stream
    # The 20 s stream is cancelled well before its end, and never reports it finished.
    assert await wait_for(signal(key, "cancelled"), 5)
    assert not signal(key, "finished").is_set()
