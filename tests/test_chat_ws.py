"""/ws against the real ChatService: streamed turns with local/echo (tool frames included), ping/pong, malformed
frames, the per-user message rate limit shared by sockets and replicas (it lives in Postgres), busy while a slow
OpenAI-speaking FakeVendor answers, and a socket that goes away cancelling its turn with what was said kept."""

from __future__ import annotations

import asyncio
import json
import uuid
from contextlib import AsyncExitStack

import aiohttp
import pytest

from server.chat import ratelimit
from server.db.database import Database
from server.db.pool import make_pool
from server.errors import ResourceExhausted
from tests.harness import GatewayThread, test_settings
from tests.helpers.accounts import bearer, register, register_users
from tests.helpers.agents import new_agent
from tests.helpers.chat import (
    OPENAI_KEY,
    OPENAI_MODEL,
    Socket,
    connect,
    message,
    messages_of,
    receive,
    receive_turn,
    slow_text,
    turn_over,
)
from tests.helpers.db import sql
from tests.helpers.waiting import wait_until
from tests.providers.fake_vendors import (
    FakeVendor,
    Reply,
    openai_chunk,
    openai_error,
    openai_text_stream,
)

pytestmark = pytest.mark.usefixtures("clean_vendor")

GATEWAY_OPTIONS = {"vendor_keys": {"openai": OPENAI_KEY}}


@pytest.fixture(scope="module")
def users(gateway: GatewayThread) -> list[dict]:
    """users[0] for ordinary turns; users[1] and users[2] each spend a whole rate-limit window."""
    return register_users(gateway, 3)


@pytest.fixture
def user(users: list[dict]) -> dict:
    return users[0]


async def still_open(sock: Socket) -> None:
    await sock.send_json({"type": "ping"})
    assert await receive(sock) == {"type": "pong"}


# ---------------------------------------------------------------------------------------------------------------
# Turns and frames


async def test_message_streams_session_chunks_and_done(http: aiohttp.ClientSession, user: dict) -> None:
    agent = await new_agent(http, user)
    surface_id = uuid.uuid4().hex
    async with connect(http, user) as sock:
        await still_open(sock)
        frames = await turn_over(sock, message(agent, "hello over the socket", surface_id))
        assert [f["type"] for f in frames] == ["session_resolved"] + ["stream_chunk"] * 5 + ["stream_done"]
        resolved, done = frames[0], frames[-1]
        assert resolved["agentId"] == agent and resolved["created"] is True
        assert "".join(f["delta"] for f in frames[1:-1]) == done["content"] == "Echo: hello over the socket"
        assert done["sessionId"] == resolved["sessionId"] and done["messageId"].startswith("msg_")
        assert done["usage"]["totalTokens"] == 4 + 5 and done["model"] == "local/echo" and done["overheadMs"] > 0

        # The next message on the same surface continues the session.
        frames = await turn_over(sock, message(agent, "again", surface_id))
        assert frames[0] == {**resolved, "created": False}
        assert frames[-1]["content"] == "Echo: again"


async def test_tool_call_and_result_frames(http: aiohttp.ClientSession, user: dict) -> None:
    agent = await new_agent(http, user, skills=["math"])
    async with connect(http, user) as sock:
        frames = await turn_over(sock, message(agent, '/tool calculator {"expression": "7*6"}'))
    assert [f["type"] for f in frames[:3]] == ["session_resolved", "tool_call", "tool_result"]
    assert frames[1] == {
        "type": "tool_call",
        "id": "call_1",
        "name": "calculator",
        "arguments": '{"expression": "7*6"}',
    }
    assert {k: frames[2][k] for k in ("id", "name", "result", "error")} == {
        "id": "call_1",
        "name": "calculator",
        "result": "42",
        "error": "",
    }
    assert frames[-1]["type"] == "stream_done"
    assert frames[-1]["content"] == "calculator returned: 42" and frames[-1]["toolsUsed"] == ["calculator"]


async def test_turn_errors_and_malformed_frames_leave_the_socket_open(
    http: aiohttp.ClientSession, gateway: GatewayThread, user: dict
) -> None:
    async with connect(http, user) as sock:
        frames = await turn_over(sock, message("no-such-agent-ws1", "hi"))
        assert [(f["type"], f["code"]) for f in frames] == [("error", "not_found")]
        frames = await turn_over(sock, message("no-such-agent-ws1", ""))
        assert [(f["type"], f["code"]) for f in frames] == [("error", "invalid_argument")]
        await still_open(sock)

        await sock.send_str("{not json")
        assert (await receive(sock))["code"] == "invalid_frame"
        await sock.send_bytes(b"\x00\x01")
        assert (await receive(sock))["code"] == "invalid_frame"
        for frame in ([1, 2], {"type": "shout"}, {"no": "type"}):
            await sock.send_str(json.dumps(frame))
            answer = await receive(sock)
            assert (answer["type"], answer["code"]) == ("error", "invalid_frame"), frame
        await sock.send_json({"type": "message", "agentId": 5, "message": ["not", "text"]})
        answer = await receive(sock)
        assert (answer["type"], answer["code"]) == ("error", "invalid_argument")
        await still_open(sock)
        assert not sock.closed


async def test_the_token_may_come_in_the_query_string_and_is_required(http: aiohttp.ClientSession, user: dict) -> None:
    agent = await new_agent(http, user)
    async with http.ws_connect(f"/ws?token={user['tokens']['accessToken']}") as sock:
        frames = await turn_over(sock, message(agent, "via query"))
        assert frames[-1]["content"] == "Echo: via query"
    async with http.get("/ws", headers={"Connection": "Upgrade", "Upgrade": "websocket"}) as resp:
        assert resp.status == 401


# ---------------------------------------------------------------------------------------------------------------
# Rate limit: 30 message frames per 60 s per user, across sockets and replicas


async def test_the_31st_message_in_a_minute_is_rate_limited_and_the_socket_stays_open(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    limited = users[1]
    agent = await new_agent(http, limited)
    async with connect(http, limited) as sock:
        for i in range(30):
            frames = await turn_over(sock, message(agent, f"message {i}"))
            assert frames[-1]["type"] == "stream_done", (i, frames[-1])
        frames = await turn_over(sock, message(agent, "one too many"))
        assert len(frames) == 1 and frames[0]["code"] == "rate_limited", frames
        assert 0 < frames[0]["retryAfterMs"] <= 60_000
        await still_open(sock)
        frames = await turn_over(sock, message(agent, "still too many"))
        assert frames[0]["code"] == "rate_limited"
    # The count is kept in Postgres, and the refused messages never reached a session.
    key = f"ws:{limited['user']['id']}"
    rows = await sql(gateway, "SELECT cardinality(stamps) AS n FROM rate_windows WHERE key = %s", (key,))
    assert rows[0]["n"] == 30
    rows = await sql(
        gateway,
        "SELECT count(*) AS n FROM messages m JOIN sessions s ON s.id = m.session_id"
        " WHERE s.user_id = %s AND m.role = 'user'",
        (limited["user"]["id"],),
    )
    assert rows[0]["n"] == 30
    # Plain HTTP chat is not the WebSocket limit's business.
    async with http.post(
        "/agent/chat", json={"agentId": agent, "message": "over http"}, headers=bearer(limited)
    ) as resp:
        assert resp.status == 200


async def test_the_limit_is_shared_by_sockets_and_replicas(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    limited = users[2]
    agent = await new_agent(http, limited)
    # A second replica: its own gRPC core and edge, the same database.
    replica = GatewayThread(test_settings(gateway.settings.database_url)).start()
    try:
        async with (
            aiohttp.ClientSession(base_url=replica.http_url) as replica_http,
            connect(http, limited) as first,
            connect(http, limited) as second,
            connect(replica_http, limited) as third,
        ):
            sockets = [first, second, third]
            for i in range(30):
                frames = await turn_over(sockets[i % 3], message(agent, f"spread {i}"))
                assert frames[-1]["type"] == "stream_done", (i, frames[-1])
            for sock in sockets:
                frames = await turn_over(sock, message(agent, "over the limit"))
                assert (frames[0]["code"], frames[0]["retryAfterMs"] > 0) == ("rate_limited", True), frames
                await still_open(sock)
    finally:
        replica.stop()


# ---------------------------------------------------------------------------------------------------------------
# Busy, and cancellation by a socket that goes away


async def test_a_second_message_while_one_runs_is_busy(
    http: aiohttp.ClientSession, vendor: FakeVendor, user: dict
) -> None:
    slow = await new_agent(http, user, model=OPENAI_MODEL)
    echo = await new_agent(http, user)
    vendor.script(slow_text(["Patience ", "is ", "a ", "virtue."], delay=0.2))
    async with connect(http, user) as sock:
        await sock.send_json(message(slow, "take your time"))
        assert (await receive(sock))["type"] == "session_resolved"
        await sock.send_json(message(echo, "me too"))
        frames = await receive_turn(sock)
        busy = [f for f in frames if f["type"] == "error"]
        assert busy and busy[0]["code"] == "busy", frames
        if frames[-1]["type"] == "error":  # the busy frame ended our read: the slow turn goes on
            frames = await receive_turn(sock)
        assert frames[-1]["type"] == "stream_done"
        assert frames[-1]["content"] == "Patience is a virtue."
        await still_open(sock)
        # Once the first turn is done the socket takes the next message.
        frames = await turn_over(sock, message(echo, "my turn now"))
        assert frames[-1]["content"] == "Echo: my turn now"
    assert len(vendor.requests) == 1


async def test_a_vendor_failure_is_an_error_frame_and_the_socket_takes_the_next_message(
    http: aiohttp.ClientSession, vendor: FakeVendor, user: dict
) -> None:
    agent = await new_agent(http, user, model=OPENAI_MODEL)
    vendor.script(
        Reply(status=401, body=openai_error("Incorrect API key provided.", code="invalid_api_key")),
        Reply(chunks=openai_text_stream(["Fine ", "now."])),
    )
    async with connect(http, user) as sock:
        frames = await turn_over(sock, message(agent, "first"))
        assert [f["type"] for f in frames] == ["session_resolved", "error"]
        assert frames[-1]["code"] == "provider_error" and "HTTP 401" in frames[-1]["message"]
        frames = await turn_over(sock, message(agent, "second"))
        assert frames[-1]["type"] == "stream_done" and frames[-1]["content"] == "Fine now."


async def test_a_socket_that_goes_away_cancels_its_turn_and_keeps_what_was_said(
    http: aiohttp.ClientSession, gateway: GatewayThread, vendor: FakeVendor, user: dict
) -> None:
    agent = await new_agent(http, user, model=OPENAI_MODEL)
    head = [
        openai_chunk({"role": "assistant", "content": "", "refusal": None}),
        openai_chunk({"content": "Partial "}),
        openai_chunk({"content": "answer"}),
    ]
    # Three chunks, then silence: the vendor would hold the stream open for as long as the gateway reads it.
    vendor.script(Reply(chunks=[*head, *openai_text_stream(["never sent"])[1:]], stall_after=3))
    async with connect(http, user) as sock:
        await sock.send_json(message(agent, "start talking"))
        resolved = await receive(sock)
        assert resolved["type"] == "session_resolved"
        said = ""
        while said != "Partial answer":
            frame = await receive(sock)
            assert frame["type"] == "stream_chunk", frame
            said += frame["delta"]
    # The socket is closed; the turn is cancelled and the provider request with it.

    async def dropped() -> list[int]:
        return list(vendor.dropped)

    assert await wait_until(dropped, what="the vendor seeing the request go away") == [0]

    async def stored() -> list[dict]:
        rows = await messages_of(gateway, resolved["sessionId"])
        return rows if len(rows) == 2 else []

    rows = await wait_until(stored, what="the partial answer stored")
    assert [(r["role"], r["content"], r["error"]) for r in rows] == [
        ("user", "start talking", None),
        ("assistant", "Partial answer", "cancelled by the client"),
    ]


async def test_a_small_pool_queues_many_turns_at_once_without_starving(gateway: GatewayThread) -> None:
    """A /ws turn counts its rate limit on one connection while it looks up its session on another, and never
    waits for a connection while holding one: a replica with a two-connection pool serves twelve turns at once."""
    replica = GatewayThread(test_settings(gateway.settings.database_url, db_pool_min=1, db_pool_max=2)).start()
    try:
        async with aiohttp.ClientSession(base_url=replica.http_url) as http:
            accounts = list(await asyncio.gather(*(register(http) for _ in range(4))))
            agents = [await new_agent(http, account) for account in accounts]
            async with AsyncExitStack() as stack:
                sockets = [
                    (await stack.enter_async_context(connect(http, account)), agent)
                    for account, agent in zip(accounts, agents, strict=True)
                    for _ in range(3)
                ]
                turns = await asyncio.gather(
                    *(turn_over(sock, message(agent, "all at once")) for sock, agent in sockets)
                )
        assert [frames[-1]["type"] for frames in turns] == ["stream_done"] * 12, [t[-1] for t in turns]
    finally:
        replica.stop()


async def test_the_window_admits_exactly_its_limit_when_replicas_hit_it_at_once(gateway: GatewayThread) -> None:
    """Forty hits on one key at once from two pools (two replicas): thirty are admitted, ten told how long to wait."""
    pools = [make_pool(gateway.settings, gateway.settings.database_url) for _ in range(2)]
    for pool in pools:
        await pool.open(wait=True)
    try:
        replicas = [Database(pool, lambda: True) for pool in pools]
        key = f"test:{uuid.uuid4().hex}"
        outcomes = await asyncio.gather(
            *(ratelimit.hit(replicas[i % 2], key, 30, 60) for i in range(40)), return_exceptions=True
        )
    finally:
        for pool in pools:
            await pool.close()
    refused = [o for o in outcomes if isinstance(o, ResourceExhausted)]
    assert outcomes.count(None) == 30 and len(refused) == 10, outcomes
    assert all(0 < (o.retry_after or 0) <= 60 for o in refused)
