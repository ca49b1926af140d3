"""The /ws hub as a WebSocket client sees it: the authenticated upgrade, ping/pong, malformed frames, streamed
`message` turns through a test-only ChatService, busy and rate-limit errors, and cancellation on close."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.fakes import TOOL_CALL, TOOL_RESULT, FakeChat, done, proto_json, resolved, signal, wait_for, words
from tests.harness import GatewayThread
from tests.helpers.accounts import bearer, register

GATEWAY_SERVICERS = {"astra.v1.ChatService": FakeChat}

_accounts: dict[str, dict[str, Any]] = {}  # gateway URL -> the account registered on it


@pytest.fixture
async def account(http: aiohttp.ClientSession, gateway: GatewayThread) -> dict[str, Any]:
    """One account registered on this module's gateway."""
    if gateway.http_url not in _accounts:
        _accounts[gateway.http_url] = await register(http)
    return _accounts[gateway.http_url]


@pytest.fixture
async def ws(http: aiohttp.ClientSession, account: dict[str, Any]) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    async with http.ws_connect("/ws", headers=bearer(account), timeout=aiohttp.ClientWSTimeout(ws_close=2)) as sock:
        yield sock


def message(text: str, key: str | None = None, agent: str = "echo") -> dict[str, str]:
    return {
        "type": "message",
        "agentId": agent,
        "message": text,
        "surface": "api",
        "surfaceId": key or uuid.uuid4().hex,
    }


async def receive(sock: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    frame = await sock.receive_json(timeout=5)
    assert isinstance(frame, dict) and isinstance(frame.get("type"), str), frame
    return frame


async def receive_turn(sock: aiohttp.ClientWebSocketResponse) -> list[dict[str, Any]]:
    """Frames until (and including) the turn's stream_done or error; bounded."""
    frames = []
    for _ in range(200):
        frames.append(await receive(sock))
        if frames[-1]["type"] in ("stream_done", "error"):
            return frames
    raise AssertionError(f"turn did not end: {frames[-3:]}")


async def assert_alive(sock: aiohttp.ClientWebSocketResponse) -> None:
    await sock.send_json({"type": "ping"})
    assert await receive(sock) == {"type": "pong"}


def upgrade_headers() -> dict[str, str]:
    return {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
    }


# ---------------------------------------------------------------------------------------------------------------
# The upgrade


async def test_upgrade_with_authorization_header(http: aiohttp.ClientSession, account: dict[str, Any]) -> None:
    async with http.ws_connect("/ws", headers=bearer(account)) as sock:
        await assert_alive(sock)


async def test_upgrade_with_token_in_query_string(http: aiohttp.ClientSession, account: dict[str, Any]) -> None:
    async with http.ws_connect("/ws", params={"token": account["tokens"]["accessToken"]}) as sock:
        await assert_alive(sock)
        await sock.send_json(message("echo via query token"))
        frames = await receive_turn(sock)
    assert frames[-1]["type"] == "stream_done"


async def test_upgrade_response_carries_the_request_id(gateway: GatewayThread, account: dict[str, Any]) -> None:
    seen: list[aiohttp.TraceRequestEndParams] = []

    async def on_end(session: Any, context: Any, params: aiohttp.TraceRequestEndParams) -> None:
        seen.append(params)

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_end)
    rid = f"ws-{uuid.uuid4().hex[:8]}"
    async with (
        aiohttp.ClientSession(base_url=gateway.http_url, trace_configs=[trace]) as session,
        session.ws_connect("/ws", headers={**bearer(account), "X-Request-ID": rid}) as sock,
    ):
        await assert_alive(sock)
    assert [p.response.status for p in seen] == [101]
    assert seen[0].response.headers["X-Request-ID"] == rid


@pytest.mark.parametrize(
    ("headers", "params"),
    [
        ({}, {}),
        ({"Authorization": "Bearer not.a.jwt"}, {}),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, {}),
        ({}, {"token": "not.a.jwt"}),
        ({}, {"token": ""}),
    ],
    ids=["missing", "garbled-header", "basic", "garbled-query", "empty-query"],
)
async def test_bad_or_missing_token_is_401_before_the_upgrade(
    http: aiohttp.ClientSession, headers: dict[str, str], params: dict[str, str]
) -> None:
    rid = f"ws401-{uuid.uuid4().hex[:8]}"
    async with http.get("/ws", headers={**upgrade_headers(), **headers, "X-Request-ID": rid}, params=params) as resp:
        assert resp.status == 401
        assert resp.content_type == "application/json"
        assert resp.headers["X-Request-ID"] == rid
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        body = await resp.json()
    assert body["error"]["code"] == "UNAUTHENTICATED"
    assert body["requestId"] == rid
    # A WebSocket client sees the handshake refused with that status.
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        async with http.ws_connect("/ws", headers=headers, params=params):
            pass
    assert err.value.status == 401


async def test_header_grpc_cannot_carry_is_400_before_the_upgrade(http: aiohttp.ClientSession) -> None:
    async with http.get("/ws", headers={**upgrade_headers(), "Authorization": "Bearer\tabc"}) as resp:
        assert resp.status == 400
        assert resp.content_type == "application/json"
        body = await resp.json()
    assert body["error"]["code"] == "INVALID_ARGUMENT"
    assert body["requestId"] == resp.headers["X-Request-ID"]


async def test_plain_get_with_a_valid_token_is_refused_as_json(
    http: aiohttp.ClientSession, account: dict[str, Any]
) -> None:
    async with http.get("/ws", headers=bearer(account)) as resp:
        assert 400 <= resp.status < 500
        assert resp.content_type == "application/json"
        assert (await resp.json())["requestId"] == resp.headers["X-Request-ID"]


# ---------------------------------------------------------------------------------------------------------------
# Frames the hub refuses: an error frame, and the socket stays open


async def test_ping_pong(ws: aiohttp.ClientWebSocketResponse) -> None:
    for _ in range(3):
        await assert_alive(ws)


@pytest.mark.parametrize(
    "raw",
    ['{"type": "ping"', "not json at all", "[" * 100_000],
    ids=["truncated", "text", "deep"],
)
async def test_malformed_json_is_an_error_frame_and_the_socket_stays_open(
    ws: aiohttp.ClientWebSocketResponse, raw: str
) -> None:
    await ws.send_str(raw)
    frame = await receive(ws)
    assert frame["type"] == "error"
    assert frame["code"] == "invalid_frame"
    assert frame["message"]
    await assert_alive(ws)


@pytest.mark.parametrize(
    "payload",
    [{"type": "shout"}, {"agentId": "echo"}, ["ping"], "ping", 42, None],
    ids=["unknown-type", "no-type", "array", "string", "number", "null"],
)
async def test_unknown_frame_type_is_an_error_frame(ws: aiohttp.ClientWebSocketResponse, payload: Any) -> None:
    await ws.send_json(payload)
    frame = await receive(ws)
    assert (frame["type"], frame["code"]) == ("error", "invalid_frame")
    await assert_alive(ws)


async def test_binary_frame_is_an_error_frame(ws: aiohttp.ClientWebSocketResponse) -> None:
    await ws.send_bytes(b'{"type": "ping"}')
    frame = await receive(ws)
    assert (frame["type"], frame["code"]) == ("error", "invalid_frame")
    await assert_alive(ws)


async def test_message_with_bad_fields_is_an_error_frame(ws: aiohttp.ClientWebSocketResponse) -> None:
    await ws.send_json({"type": "message", "agentId": 5, "message": "hi"})
    frame = await receive(ws)
    assert (frame["type"], frame["code"]) == ("error", "invalid_argument")
    await ws.send_json({**message("echo hi"), "bogus": True})
    frame = await receive(ws)
    assert (frame["type"], frame["code"]) == ("error", "invalid_argument")
    await assert_alive(ws)


# ---------------------------------------------------------------------------------------------------------------
# Turns


async def test_message_streams_session_chunks_and_done(ws: aiohttp.ClientWebSocketResponse) -> None:
    text = "echo summarize the latest findings"
    await ws.send_json(message(text))
    frames = await receive_turn(ws)
    assert frames[0] == {"type": "session_resolved", **proto_json(resolved("echo"))}
    assert frames[0]["sessionId"] == "ses_fake1" and frames[0]["created"] is True
    chunks = frames[1:-1]
    assert [f["type"] for f in chunks] == ["stream_chunk"] * len(words(text))
    assert [set(f) for f in chunks] == [{"type", "delta"}] * len(chunks)
    assert "".join(f["delta"] for f in chunks) == text
    assert frames[-1] == {"type": "stream_done", **proto_json(done(text))}
    assert frames[-1]["messageId"] == "msg_fake1" and frames[-1]["toolsUsed"] == []
    assert frames[-1]["usage"] == {"promptTokens": 3, "completionTokens": 4, "totalTokens": 7, "costUsd": 0.0}
    # The socket takes the next message once the turn is over.
    await ws.send_json(message("echo again"))
    assert (await receive_turn(ws))[-1]["content"] == "echo again"


async def test_next_message_right_after_stream_done_is_not_busy(ws: aiohttp.ClientWebSocketResponse) -> None:
    # The client may go on as soon as it sees stream_done, while the call behind it is still finishing.
    for i in range(25):
        await ws.send_json(message(f"echo turn {i}"))
        frames = await receive_turn(ws)
        assert frames[-1]["type"] == "stream_done", (i, frames[-1])
        assert frames[-1]["content"] == f"echo turn {i}"


async def test_tool_frames(ws: aiohttp.ClientWebSocketResponse) -> None:
    await ws.send_json(message("tools please"))
    frames = await receive_turn(ws)
    assert [f["type"] for f in frames] == [
        "session_resolved",
        "stream_chunk",
        "tool_call",
        "tool_result",
        "stream_chunk",
        "stream_done",
    ]
    assert frames[2] == {"type": "tool_call", **proto_json(TOOL_CALL)}
    assert frames[2]["arguments"] == '{"q": "astra"}'
    assert frames[3] == {"type": "tool_result", **proto_json(TOOL_RESULT)}
    assert frames[3]["durationMs"] == 12.5


async def test_second_message_while_one_runs_is_busy(ws: aiohttp.ClientWebSocketResponse) -> None:
    key = uuid.uuid4().hex
    await ws.send_json(message("gate one two", key))
    assert (await receive(ws))["type"] == "session_resolved"
    await ws.send_json(message("echo me too"))
    busy = await receive(ws)
    assert (busy["type"], busy["code"]) == ("error", "busy")
    assert busy["message"]
    await assert_alive(ws)  # the socket stays open, and answers while the turn runs
    signal(key, "gate").set()
    rest = await receive_turn(ws)
    assert [f["type"] for f in rest] == ["stream_chunk"] * 3 + ["stream_done"], rest
    assert rest[-1]["content"] == "gate one two"  # the first turn, not the refused one
    await ws.send_json(message("echo now it is free"))
    assert (await receive_turn(ws))[-1]["content"] == "echo now it is free"


async def test_core_error_is_an_error_frame_with_lower_case_code(ws: aiohttp.ClientWebSocketResponse) -> None:
    await ws.send_json(message("fail-before", agent="ghost"))
    frame = await receive(ws)
    assert frame == {"type": "error", "code": "not_found", "message": "agent ghost not found"}
    await assert_alive(ws)


async def test_error_after_events_ends_the_turn_with_an_error_frame(ws: aiohttp.ClientWebSocketResponse) -> None:
    await ws.send_json(message("fail-mid"))
    frames = await receive_turn(ws)
    assert [f["type"] for f in frames] == ["session_resolved", "stream_chunk", "error"]
    assert frames[-1]["code"] == "unavailable"
    await assert_alive(ws)


async def test_rate_limited_error_frame_has_retry_after(ws: aiohttp.ClientWebSocketResponse) -> None:
    await ws.send_json(message("rate-limited"))
    frame = await receive(ws)
    assert frame["type"] == "error"
    assert frame["code"] == "rate_limited"
    assert frame["retryAfterMs"] == 3000
    await assert_alive(ws)
    await ws.send_json(message("echo after the limit"))  # not busy: the refused turn is over
    assert (await receive_turn(ws))[-1]["type"] == "stream_done"


async def test_token_refused_mid_socket_closes_it(ws: aiohttp.ClientWebSocketResponse) -> None:
    await ws.send_json(message("unauthenticated"))
    frame = await receive(ws)
    assert (frame["type"], frame["code"]) == ("error", "unauthenticated")
    closing = await ws.receive(timeout=5)
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
    assert ws.close_code == 4401


async def test_closing_the_socket_mid_turn_cancels_the_call(
    http: aiohttp.ClientSession, account: dict[str, Any]
) -> None:
    key = uuid.uuid4().hex
    async with http.ws_connect("/ws", headers=bearer(account)) as sock:
        await sock.send_json(message("long", key))
        assert (await receive(sock))["type"] == "session_resolved"
        assert (await receive(sock))["type"] == "stream_chunk"
        await sock.close()
    # The turn would stream for 20 s; the closed socket cancels it long before.
    assert await wait_for(signal(key, "cancelled"), 5)
    assert not signal(key, "finished").is_set()


async def test_dropping_the_connection_mid_turn_cancels_the_call(
    gateway: GatewayThread, account: dict[str, Any]
) -> None:
    key = uuid.uuid4().hex
    session = aiohttp.ClientSession(base_url=gateway.http_url)
    try:
        sock = await session.ws_connect("/ws", headers=bearer(account))
        await sock.send_json(message("long", key))
        assert (await receive(sock))["type"] == "session_resolved"
    finally:
        await session.close()  # no close handshake: the TCP connection just goes away
    assert await wait_for(signal(key, "cancelled"), 5)
    assert not signal(key, "finished").is_set()


async def test_ws_turns_are_independent_across_sockets(http: aiohttp.ClientSession, account: dict[str, Any]) -> None:
    key = uuid.uuid4().hex
    async with (
        http.ws_connect("/ws", headers=bearer(account)) as first,
        http.ws_connect("/ws", headers=bearer(account)) as second,
    ):
        await first.send_json(message("gate x", key))
        assert (await receive(first))["type"] == "session_resolved"
        # "Max 1 active agent request per socket": another socket is not busy.
        await second.send_json(message("echo in parallel"))
        assert (await receive_turn(second))[-1]["type"] == "stream_done"
        signal(key, "gate").set()
        assert (await receive_turn(first))[-1]["content"] == "gate x"


async def test_server_closes_sockets_cleanly_when_turns_finish(ws: aiohttp.ClientWebSocketResponse) -> None:
    await ws.send_json(message("echo bye"))
    await receive_turn(ws)
    await ws.close()
    assert ws.closed
    assert ws.close_code == aiohttp.WSCloseCode.OK
