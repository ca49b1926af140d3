"""The per-user chat rate limit on REST (/agent/chat, /agent/chat/stream) and gRPC (ChatService.Chat, ChatStream),
kept in Postgres so every replica shares it: 429 with Retry-After / RESOURCE_EXHAUSTED with retry trailers over
the limit, nothing stored for a refused turn, other users unaffected, /ws messages in their own window, idempotent
replays not counted. This module's gateway allows 3 turns a minute (ASTRA_CHAT_RATE_PER_MIN)."""

from __future__ import annotations

import uuid

import aiohttp
import grpc
import pytest

from astra.v1 import chat_pb2, chat_pb2_grpc
from server.config import ConfigError, load_settings
from tests.harness import GatewayThread, test_settings
from tests.helpers.accounts import bearer, grpc_metadata, register_users
from tests.helpers.agents import new_agent
from tests.helpers.chat import chat, connect, message, sse, turn, turn_over
from tests.helpers.db import sql

LIMIT = 3
GATEWAY_OPTIONS = {"settings": {"chat_rate_per_min": LIMIT}}


@pytest.fixture(scope="module")
def users(gateway: GatewayThread) -> list[dict]:
    """One account per test that spends a window, and a bystander."""
    return register_users(gateway, 6)


async def user_messages(gateway: GatewayThread, account: dict) -> int:
    rows = await sql(
        gateway,
        "SELECT count(*) AS n FROM messages m JOIN sessions s ON s.id = m.session_id"
        " WHERE s.user_id = %s AND m.role = 'user'",
        (account["user"]["id"],),
    )
    return rows[0]["n"]


def assert_rate_limited(status: int, body: dict, headers: object) -> None:
    assert (status, body["error"]["code"]) == (429, "RESOURCE_EXHAUSTED"), body
    assert f"{LIMIT} chat turns per 60 s" in body["error"]["message"]
    assert 1 <= int(headers["Retry-After"]) <= 60  # type: ignore[index]


async def test_the_4th_rest_chat_in_a_minute_gets_429_and_other_users_and_ws_are_unaffected(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    limited, bystander = users[0], users[5]
    agent = await new_agent(http, limited)
    # /ws messages count in the /ws window (30 a minute), not in this one.
    async with connect(http, limited) as sock:
        for i in range(LIMIT + 1):
            frames = await turn_over(sock, message(agent, f"socket {i}"))
            assert frames[-1]["type"] == "stream_done", frames[-1]
    # Both REST routes draw on one window.
    for i in range(LIMIT - 1):
        status, body, _ = await chat(http, limited, turn(agent, f"rest {i}"))
        assert status == 200, body
    status, events = await sse(http, limited, turn(agent, "streamed"))
    assert status == 200 and events[-1][0] == "stream_done", events
    # Over the limit: 429 with Retry-After on both routes, before anything is stored.
    async with http.post("/agent/chat", json=turn(agent, "one too many"), headers=bearer(limited)) as resp:
        assert_rate_limited(resp.status, await resp.json(), resp.headers)
    async with http.post("/agent/chat/stream", json=turn(agent, "still too many"), headers=bearer(limited)) as resp:
        assert_rate_limited(resp.status, await resp.json(), resp.headers)
    assert await user_messages(gateway, limited) == (LIMIT + 1) + LIMIT
    # Another user has a window of their own.
    other = await new_agent(http, bystander)
    status, body, _ = await chat(http, bystander, turn(other, "my own window"))
    assert status == 200, body


async def test_the_4th_grpc_chat_gets_resource_exhausted_with_retry_info(
    http: aiohttp.ClientSession, channel: grpc.aio.Channel, gateway: GatewayThread, users: list[dict]
) -> None:
    limited, bystander = users[1], users[5]
    agent = await new_agent(http, limited)
    stub = chat_pb2_grpc.ChatServiceStub(channel)
    metadata = grpc_metadata(limited)
    for i in range(LIMIT - 1):
        await stub.Chat(chat_pb2.ChatRequest(agent_id=agent, message=f"unary {i}"), metadata=metadata)
    streamed = [
        e async for e in stub.ChatStream(chat_pb2.ChatStreamRequest(agent_id=agent, message="s"), metadata=metadata)
    ]
    assert streamed[-1].HasField("stream_done")
    with pytest.raises(grpc.aio.AioRpcError) as unary:
        await stub.Chat(chat_pb2.ChatRequest(agent_id=agent, message="one too many"), metadata=metadata)
    with pytest.raises(grpc.aio.AioRpcError) as stream:
        async for _ in stub.ChatStream(chat_pb2.ChatStreamRequest(agent_id=agent, message="again"), metadata=metadata):
            pass
    for refused in (unary.value, stream.value):
        assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, refused
        trailers = dict(refused.trailing_metadata() or ())
        assert 1 <= int(trailers["retry-after"]) <= 60 and 0 < int(trailers["retry-after-ms"]) <= 60_000, trailers
    assert await user_messages(gateway, limited) == LIMIT
    # Claiming to be /ws moves a caller to the /ws window, which that user could reach through /ws anyway.
    ws_claim = (*metadata, ("x-astra-transport", "ws"))
    await stub.Chat(chat_pb2.ChatRequest(agent_id=agent, message="as if from /ws"), metadata=ws_claim)
    other = await new_agent(http, bystander)
    answer = await stub.Chat(chat_pb2.ChatRequest(agent_id=other, message="mine"), metadata=grpc_metadata(bystander))
    assert answer.content == "Echo: mine"


async def test_an_idempotent_replay_is_not_counted(http: aiohttp.ClientSession, users: list[dict]) -> None:
    limited = users[2]
    agent = await new_agent(http, limited)
    body, key = turn(agent, "once"), {"Idempotency-Key": uuid.uuid4().hex}
    for _ in range(LIMIT + 1):  # one turn, then replays of it
        status, answer, _ = await chat(http, limited, body, headers=key)
        assert status == 200, answer
    for i in range(LIMIT - 1):
        status, answer, _ = await chat(http, limited, turn(agent, f"new {i}"))
        assert status == 200, answer
    async with http.post("/agent/chat", json=turn(agent, "over"), headers=bearer(limited)) as resp:
        assert_rate_limited(resp.status, await resp.json(), resp.headers)


async def test_two_gateways_on_one_database_share_the_count(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    limited = users[3]
    agent = await new_agent(http, limited)
    replica = GatewayThread(test_settings(gateway.settings.database_url, chat_rate_per_min=LIMIT)).start()
    try:
        async with aiohttp.ClientSession(base_url=replica.http_url) as replica_http:
            sessions = [http, replica_http, replica_http]
            for i, session in enumerate(sessions):
                status, answer, _ = await chat(session, limited, turn(agent, f"spread {i}"))
                assert status == 200, answer
            for session in (http, replica_http):
                async with session.post("/agent/chat", json=turn(agent, "over"), headers=bearer(limited)) as resp:
                    assert_rate_limited(resp.status, await resp.json(), resp.headers)
    finally:
        replica.stop()


def test_the_setting_defaults_to_120_and_0_turns_it_off() -> None:
    assert load_settings({}).chat_rate_per_min == 120
    assert load_settings({"ASTRA_CHAT_RATE_PER_MIN": "0"}).chat_rate_per_min == 0
    with pytest.raises(ConfigError, match="ASTRA_CHAT_RATE_PER_MIN"):
        load_settings({"ASTRA_CHAT_RATE_PER_MIN": "-1"})
