"""Chat turns end to end on a real gateway: REST, SSE and gRPC with the offline local/echo provider and, where a turn
must be slow or call tools by itself, an OpenAI-speaking FakeVendor. Covers replies and usage, the tool loop and
its limit, session keys, continuation and its refusals, role/restriction/agent checks before inference,
idempotency, persistence, overhead reporting, reset, presence, agent health, idle timeout and daily reset.

The helpers the chat test modules share are in tests/helpers/chat.py."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import grpc
import psycopg
import pytest

from astra.v1 import chat_pb2, chat_pb2_grpc
from tests.harness import GatewayThread
from tests.helpers.accounts import bearer, grpc_metadata, register_users
from tests.helpers.agents import new_agent
from tests.helpers.chat import (
    OPENAI_KEY,
    OPENAI_MODEL,
    STREAM,
    chat,
    deltas,
    kinds,
    messages_of,
    of_kind,
    slow_text,
    sse,
    sse_frames,
    turn,
)
from tests.helpers.db import sql
from tests.helpers.http import api, metric_value
from tests.helpers.waiting import wait_until
from tests.helpers.workspaces import add_member, new_workspace_id
from tests.providers.fake_vendors import (
    OPENAI_DONE,
    FakeVendor,
    Reply,
    openai_chunk,
    openai_error,
    openai_text_stream,
    openai_tool_call_args,
    openai_tool_call_start,
    openai_usage_chunk,
)

pytestmark = pytest.mark.usefixtures("clean_vendor")

# The module's gateway calls the FakeVendor as its OpenAI provider (as the other chat modules' gateways do).
GATEWAY_OPTIONS = {"vendor_keys": {"openai": OPENAI_KEY}}

# ---------------------------------------------------------------------------------------------------------------
# Helpers


def tool_call_reply(call_id: str, name: str, arguments: str, text: str = "") -> Reply:
    """An OpenAI stream asking for one tool call (optionally after some text), its arguments split in two."""
    cut = len(arguments) // 2
    chunks = [openai_chunk({"role": "assistant", "content": None, "refusal": None})]
    if text:
        chunks.append(openai_chunk({"content": text}))
    chunks += [
        openai_chunk({"tool_calls": [openai_tool_call_start(0, call_id, name)]}),
        openai_chunk({"tool_calls": [openai_tool_call_args(0, arguments[:cut])]}),
        openai_chunk({"tool_calls": [openai_tool_call_args(0, arguments[cut:])]}),
        openai_chunk({}, "tool_calls"),
        openai_usage_chunk(20, 7),
        OPENAI_DONE,
    ]
    return Reply(chunks=chunks)


# ---------------------------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def users(gateway: GatewayThread) -> list[dict]:
    return register_users(gateway, 2)


@pytest.fixture
def owner(users: list[dict]) -> dict:
    return users[0]


@pytest.fixture
def other(users: list[dict]) -> dict:
    return users[1]


@pytest.fixture
async def echo(http: aiohttp.ClientSession, owner: dict) -> str:
    """A plain local/echo agent in the owner's personal workspace."""
    return await new_agent(http, owner)


@pytest.fixture
async def math_agent(http: aiohttp.ClientSession, owner: dict) -> str:
    """A local/echo agent with the math skill (the calculator tool)."""
    return await new_agent(http, owner, skills=["math"])


@pytest.fixture
def slow_tool(gateway: GatewayThread) -> Iterator[None]:
    """Makes current_time hang and lowers the tool timeout to 0.8 s on this gateway's tool runtime, so a call can be
    watched in flight and its timeout seen; restored afterwards."""
    assert gateway.core is not None and gateway.core.deps is not None
    tools = gateway.core.deps.tools
    saved = tools.handlers, tools.timeout_s

    async def hanging(arguments: dict[str, Any], context: Any) -> str:
        await asyncio.sleep(30)
        return "never"

    tools.handlers = {**saved[0], "current_time": hanging}
    tools.timeout_s = 0.8
    yield
    tools.handlers, tools.timeout_s = saved


# ---------------------------------------------------------------------------------------------------------------
# The turn over REST, SSE and gRPC


async def test_chat_returns_echo_with_usage_model_and_ids(http: aiohttp.ClientSession, owner: dict, echo: str) -> None:
    status, body, headers = await chat(http, owner, turn(echo, "hello brave world"))
    assert status == 200, body
    assert body["content"] == "Echo: hello brave world"
    assert body["sessionId"].startswith("ses_") and body["messageId"].startswith("msg_")
    assert body["toolsUsed"] == []
    assert body["model"] == "local/echo"
    # local/echo counts words: 3 in the prompt, 4 in the answer; it costs nothing.
    assert body["usage"] == {"promptTokens": 3, "completionTokens": 4, "totalTokens": 7, "costUsd": 0}
    assert body["overheadMs"] > 0
    assert float(headers["X-Astra-Overhead-Ms"]) == pytest.approx(body["overheadMs"], abs=0.001)
    assert headers["X-Request-ID"]


async def test_invalid_messages_are_refused_before_anything_is_stored(
    http: aiohttp.ClientSession, gateway: GatewayThread, owner: dict, echo: str
) -> None:
    for body in (
        turn(echo, "   "),
        turn(echo, "x" * 32_001),
        {"message": "no agent"},
        turn(echo, "hi", surface="s" * 65),
    ):
        status, answer, _ = await chat(http, owner, body)
        assert (status, answer["error"]["code"]) == (400, "INVALID_ARGUMENT"), (body["message"][:10], answer)
    assert await sql(gateway, "SELECT id FROM sessions WHERE agent_id = %s", (echo,)) == []


async def test_stream_sends_session_chunks_and_done(http: aiohttp.ClientSession, owner: dict, echo: str) -> None:
    surface_id = uuid.uuid4().hex
    status, events = await sse(http, owner, turn(echo, "one two three", surface_id))
    assert status == 200, events
    assert kinds(events) == ["session_resolved"] + ["stream_chunk"] * 4 + ["stream_done"]
    resolved, done = events[0][1], events[-1][1]
    assert resolved["agentId"] == echo and resolved["created"] is True
    assert deltas(events) == ["Echo: ", "one ", "two ", "three"]
    assert done["content"] == "Echo: one two three" == "".join(deltas(events))
    assert done["sessionId"] == resolved["sessionId"]
    assert done["messageId"].startswith("msg_") and done["model"] == "local/echo"
    assert done["usage"]["totalTokens"] == 7 and done["overheadMs"] > 0 and done["toolsUsed"] == []

    # The same surface continues the same session: the history is part of the prompt now.
    status, events = await sse(http, owner, turn(echo, "four", surface_id))
    assert events[0][1] == {**resolved, "created": False}
    assert events[-1][1]["usage"]["promptTokens"] == 3 + 4 + 1


async def test_grpc_chat_and_chat_stream_give_the_same_turn(channel: grpc.aio.Channel, owner: dict, echo: str) -> None:
    stub = chat_pb2_grpc.ChatServiceStub(channel)
    metadata = grpc_metadata(owner)
    call = stub.Chat(chat_pb2.ChatRequest(agent_id=echo, message="over grpc", surface_id="g1"), metadata=metadata)
    answer = await call
    assert answer.content == "Echo: over grpc" and answer.model == "local/echo"
    assert answer.usage.total_tokens == 2 + 3 and answer.session_id.startswith("ses_")
    assert float(dict(await call.trailing_metadata())["x-astra-overhead-ms"]) == pytest.approx(
        answer.overhead_ms, abs=0.001
    )

    events = [
        event
        async for event in stub.ChatStream(
            chat_pb2.ChatStreamRequest(agent_id=echo, message="and streamed", surface_id="g1"), metadata=metadata
        )
    ]
    assert [e.WhichOneof("event") for e in events] == ["session_resolved"] + ["stream_chunk"] * 3 + ["stream_done"]
    assert events[0].session_resolved.session_id == answer.session_id and not events[0].session_resolved.created
    assert events[-1].stream_done.content == "Echo: and streamed"

    for request, code in [
        (chat_pb2.ChatRequest(agent_id="no-such-agent-here", message="hi"), grpc.StatusCode.NOT_FOUND),
        (chat_pb2.ChatRequest(agent_id=echo, message=""), grpc.StatusCode.INVALID_ARGUMENT),
        (chat_pb2.ChatRequest(agent_id=echo, message="hi", session_id="ses_nope"), grpc.StatusCode.NOT_FOUND),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.Chat(request, metadata=metadata)
        assert err.value.code() == code, request
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Chat(chat_pb2.ChatRequest(agent_id=echo, message="hi"))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


# ---------------------------------------------------------------------------------------------------------------
# Tools


async def test_tool_loop_calls_the_calculator_and_answers_with_its_result(
    http: aiohttp.ClientSession, gateway: GatewayThread, owner: dict, math_agent: str
) -> None:
    status, events = await sse(http, owner, turn(math_agent, '/tool calculator {"expression": "6*7"}'))
    assert status == 200, events
    assert kinds(events)[:3] == ["session_resolved", "tool_call", "tool_result"]
    assert kinds(events)[-1] == "stream_done"
    call, result = events[1][1], events[2][1]
    assert call == {"id": "call_1", "name": "calculator", "arguments": '{"expression": "6*7"}'}
    assert result["id"] == "call_1" and result["name"] == "calculator"
    assert result["result"] == "42" and result["error"] == "" and result["durationMs"] >= 0
    done = events[-1][1]
    assert done["content"] == "calculator returned: 42" == "".join(deltas(events))
    assert done["toolsUsed"] == ["calculator"]

    # Stored: the user message, the assistant's call, the tool's result, the final answer with the turn's usage.
    rows = await messages_of(gateway, done["sessionId"])
    by_role = {role: [r for r in rows if r["role"] == role] for role in ("user", "assistant", "tool")}
    assert [r["content"] for r in by_role["user"]] == ['/tool calculator {"expression": "6*7"}']
    calling = [r for r in by_role["assistant"] if r["tool_calls"]]
    assert [c["tool_calls"]["calls"] for c in calling] == [[call]]
    assert [(r["tool_call_id"], r["tool_name"], r["content"]) for r in by_role["tool"]] == [
        ("call_1", "calculator", "42")
    ]
    final = [r for r in by_role["assistant"] if r["id"] == done["messageId"]]
    assert final and final[0]["content"] == done["content"]
    assert final[0]["prompt_tokens"] == done["usage"]["promptTokens"] > 0
    tool_calls = await sql(gateway, "SELECT tool, status FROM tool_calls WHERE session_id = %s", (done["sessionId"],))
    assert tool_calls == [{"tool": "calculator", "status": "ok"}]

    # The unary reply lists the tools too.
    status, body, _ = await chat(http, owner, turn(math_agent, '/tool calculator {"expression": "2**10"}'))
    assert (status, body["content"], body["toolsUsed"]) == (200, "calculator returned: 1024", ["calculator"])


async def test_tool_errors_are_fed_back_to_the_model(
    http: aiohttp.ClientSession, gateway: GatewayThread, owner: dict, math_agent: str
) -> None:
    status, events = await sse(http, owner, turn(math_agent, '/tool calculator {"expression": "1/0"}'))
    assert status == 200, events
    result = of_kind(events, "tool_result")[0]
    assert result["result"] == "" and result["error"] == "division by zero"
    assert events[-1][1]["content"] == 'calculator returned: {"error": "division by zero"}'
    rows = await sql(gateway, "SELECT status FROM tool_calls WHERE session_id = %s", (events[0][1]["sessionId"],))
    assert rows == [{"status": "error"}]

    # Arguments that do not fit the tool's schema are an error result too, never a failed turn.
    status, body, _ = await chat(http, owner, turn(math_agent, '/tool calculator {"expr": 1}'))
    assert status == 200, body
    assert body["content"].startswith('calculator returned: {"error": "invalid arguments')


async def test_tools_the_agent_lacks_are_not_called(http: aiohttp.ClientSession, owner: dict, echo: str) -> None:
    status, events = await sse(http, owner, turn(echo, '/tool calculator {"expression": "6*7"}'))
    assert status == 200
    assert "tool_call" not in kinds(events)
    assert events[-1][1]["content"] == 'Echo: /tool calculator {"expression": "6*7"}'


async def presence_in(http: aiohttp.ClientSession, owner: dict, agent: str, state: str) -> dict:
    """The agent's presence once it says `state` (polled, bounded)."""

    async def reached() -> dict | None:
        _, body, _ = await api(http, "GET", "/agent/presence", owner, params={"agentId": agent})
        found = body["agents"][0] if body["agents"] else {}
        return found if found.get("state") == state else None

    return await wait_until(reached, what=f"presence {state}")


async def test_a_tool_call_times_out_and_presence_shows_calling_tool(
    http: aiohttp.ClientSession, owner: dict, slow_tool: None
) -> None:
    agent = await new_agent(http, owner, tools={"allow": ["current_time"]})
    seen_calling = {}
    async with (
        asyncio.timeout(15),
        http.post(STREAM, json=turn(agent, "/tool current_time {}"), headers=bearer(owner)) as resp,
    ):
        assert resp.status == 200
        events = []
        async for name, data in sse_frames(resp):
            events.append((name, data))
            if name == "tool_call":
                seen_calling = await presence_in(http, owner, agent, "calling_tool")
    assert seen_calling["toolName"] == "current_time"
    assert seen_calling["sessionId"] == events[0][1]["sessionId"]
    result = of_kind(events, "tool_result")[0]
    assert result["error"] == "tool current_time timed out after 0.8s"
    assert 750 <= result["durationMs"] < 5000
    assert events[-1][1]["content"] == 'current_time returned: {"error": "tool current_time timed out after 0.8s"}'


async def test_tool_rounds_are_capped_at_five_then_the_model_must_answer(
    http: aiohttp.ClientSession, vendor: FakeVendor, owner: dict
) -> None:
    agent = await new_agent(http, owner, model=OPENAI_MODEL, skills=["math"])
    vendor.script(
        *(tool_call_reply(f"call_r{i}", "calculator", json.dumps({"expression": f"{i}+{i}"})) for i in range(1, 6)),
        Reply(chunks=openai_text_stream(["Done after ", "five rounds."])),
    )
    status, events = await sse(http, owner, turn(agent, "add things up"))
    assert status == 200, events
    assert [r["result"] for r in of_kind(events, "tool_result")] == ["2", "4", "6", "8", "10"]
    assert events[-1][0] == "stream_done"
    assert events[-1][1]["content"] == "Done after five rounds."
    assert events[-1][1]["toolsUsed"] == ["calculator"] * 5
    assert len(vendor.requests) == 6
    assert all(r.body["tools"][0]["function"]["name"] == "calculator" for r in vendor.requests[:5])
    assert "tools" not in vendor.requests[5].body  # the last round offers no tools: it has to answer
    # Usage adds up over the six calls (20 + 7 per tool round, 12 + 5 for the answer).
    assert events[-1][1]["usage"] == {
        "promptTokens": 5 * 20 + 12,
        "completionTokens": 5 * 7 + 5,
        "totalTokens": 5 * 27 + 17,
        "costUsd": pytest.approx(float((Decimal("0.15") * 112 + Decimal("0.60") * 40) / 1_000_000)),
    }


async def test_a_model_that_always_asks_for_tools_gets_at_most_five_rounds(
    http: aiohttp.ClientSession, vendor: FakeVendor, owner: dict
) -> None:
    agent = await new_agent(http, owner, model=OPENAI_MODEL, skills=["math"])
    # Every reply says something and asks for the calculator again, even when no tools are offered.
    vendor.script(
        *(tool_call_reply(f"call_{i}", "calculator", '{"expression": "1+1"}', text=f"Step {i}. ") for i in range(1, 9))
    )
    status, events = await sse(http, owner, turn(agent, "never stop"))
    assert status == 200, events
    assert len(vendor.requests) == 6
    assert events[-1][0] == "stream_done"
    assert len(of_kind(events, "tool_result")) <= 5
    assert len(events[-1][1]["toolsUsed"]) <= 5
    assert events[-1][1]["content"].endswith("Step 6. ")


async def test_history_keeps_the_order_of_a_multi_round_tool_turn(
    http: aiohttp.ClientSession, gateway: GatewayThread, vendor: FakeVendor, owner: dict
) -> None:
    agent = await new_agent(http, owner, model=OPENAI_MODEL, skills=["math"])
    vendor.script(
        *(tool_call_reply(f"call_o{i}", "calculator", json.dumps({"expression": f"{i}*3"})) for i in range(1, 5)),
        Reply(chunks=openai_text_stream(["All done."])),
        Reply(chunks=openai_text_stream(["Next."])),
    )
    surface_id = uuid.uuid4().hex
    status, body, _ = await chat(http, owner, turn(agent, "multiply", surface_id))
    assert status == 200, body
    expected = ["user"] + ["assistant", "tool"] * 4 + ["assistant"]
    rows = await messages_of(gateway, body["sessionId"])
    assert [r["role"] for r in rows] == expected
    assert [r["tool_call_id"] for r in rows if r["role"] == "tool"] == [f"call_o{i}" for i in range(1, 5)]

    # The next turn replays that history to the vendor in order.
    status, body, _ = await chat(http, owner, turn(agent, "and now?", surface_id))
    assert status == 200, body
    sent = [m["role"] for m in vendor.requests[-1].body["messages"] if m["role"] != "system"]  # skill context
    assert sent == [*expected, "user"]


# ---------------------------------------------------------------------------------------------------------------
# Sessions: keys, continuation, refusals


async def test_sessions_are_keyed_by_agent_surface_and_surface_id(
    http: aiohttp.ClientSession, owner: dict, echo: str
) -> None:
    async def session_of(body: dict[str, Any]) -> str:
        status, answer, _ = await chat(http, owner, body)
        assert status == 200, answer
        return answer["sessionId"]

    first = await session_of(turn(echo, "a", "thread-1"))
    assert await session_of(turn(echo, "b", "thread-1")) == first
    assert await session_of(turn(echo, "c", "thread-1", surface="api")) == first  # api is the default surface
    other_id = await session_of(turn(echo, "d", "thread-2"))
    other_surface = await session_of(turn(echo, "e", "thread-1", surface="slack"))
    assert len({first, other_id, other_surface}) == 3
    # sessionId continues a session whatever the surface says; the agent may be left out.
    assert await session_of({"sessionId": first, "message": "f", "surface": "slack", "surfaceId": "x"}) == first
    assert await session_of({"sessionId": first, "agentId": echo, "message": "g"}) == first
    status, body, _ = await chat(http, owner, {"sessionId": first, "agentId": "some-other-agent", "message": "h"})
    assert status == 400, body


async def test_session_of_another_user_is_not_found(
    http: aiohttp.ClientSession, gateway: GatewayThread, owner: dict, other: dict, echo: str
) -> None:
    status, body, _ = await chat(http, owner, turn(echo, "mine"))
    session_id = body["sessionId"]
    other_agent = await new_agent(http, other)
    for body in ({"sessionId": session_id, "message": "theirs"}, turn(other_agent, "x", sessionId=session_id)):
        status, answer, _ = await chat(http, other, body)
        assert (status, answer["error"]["code"]) == (404, "NOT_FOUND"), answer
        status, answer = await sse(http, other, body)
        assert status == 404, answer
    rows = await sql(gateway, "SELECT count(*) AS n FROM messages WHERE session_id = %s", (session_id,))
    assert rows[0]["n"] == 2  # nothing was added to the owner's session


async def test_an_archived_session_cannot_be_continued(http: aiohttp.ClientSession, owner: dict, echo: str) -> None:
    status, body, _ = await chat(http, owner, turn(echo, "before"))
    session_id = body["sessionId"]
    status, reset, _ = await api(http, "POST", "/agent/reset", owner, json={"sessionId": session_id})
    assert (status, reset) == (200, {"reset": True, "sessionId": session_id})
    status, body, _ = await chat(http, owner, {"sessionId": session_id, "message": "after"})
    assert (status, body["error"]["code"]) == (409, "FAILED_PRECONDITION"), body
    assert "archived" in body["error"]["message"]
    status, body = await sse(http, owner, {"sessionId": session_id, "message": "after"})
    assert status == 409, body


# ---------------------------------------------------------------------------------------------------------------
# Who may chat with which agent (checked before the provider is called)


async def test_viewers_cannot_chat(
    http: aiohttp.ClientSession, gateway: GatewayThread, vendor: FakeVendor, owner: dict, other: dict
) -> None:
    team = await new_workspace_id(http, owner, "Viewers")
    agent = await new_agent(http, owner, team, model=OPENAI_MODEL)
    await add_member(http, owner, team, other, "viewer")
    status, body, _ = await chat(http, other, turn(agent, "may I?"), workspace=team)
    assert (status, body["error"]["code"]) == (403, "PERMISSION_DENIED"), body
    status, body = await sse(http, other, turn(agent, "may I?"), workspace=team)
    assert status == 403, body
    assert vendor.requests == []
    assert await sql(gateway, "SELECT id FROM sessions WHERE workspace_id = %s", (team,)) == []

    # Promoted to member, the same user may.
    await add_member(http, owner, team, other, "member")
    vendor.script(Reply(chunks=openai_text_stream(["Yes."])))
    status, body, _ = await chat(http, other, turn(agent, "may I?"), workspace=team)
    assert (status, body["content"]) == (200, "Yes."), body


async def test_a_restricted_model_is_refused_before_the_provider_is_called(
    http: aiohttp.ClientSession, gateway: GatewayThread, vendor: FakeVendor, owner: dict
) -> None:
    team = await new_workspace_id(http, owner, "Restricted")
    agent = await new_agent(http, owner, team, model=OPENAI_MODEL)
    status, body, _ = await api(
        http, "PUT", f"/workspaces/{team}/restrictions", owner, json={"allowedModels": ["openai/gpt-4o"]}
    )
    assert status == 200, body
    status, body, _ = await chat(http, owner, turn(agent, "hi"), workspace=team)
    assert (status, body["error"]["code"]) == (403, "PERMISSION_DENIED"), body
    assert "gpt-4o-mini" in body["error"]["message"]
    status, body = await sse(http, owner, turn(agent, "hi"), workspace=team)
    assert status == 403, body
    assert vendor.requests == []
    assert await sql(gateway, "SELECT id FROM sessions WHERE workspace_id = %s", (team,)) == []


async def test_unknown_agent_is_404_and_another_workspaces_agent_is_403(
    http: aiohttp.ClientSession, owner: dict, other: dict
) -> None:
    status, body, _ = await chat(http, owner, turn("no-such-agent-x1", "hi"))
    assert (status, body["error"]["code"]) == (404, "NOT_FOUND"), body
    status, body = await sse(http, owner, turn("no-such-agent-x1", "hi"))
    assert status == 404, body

    team = await new_workspace_id(http, owner, "Private agents")
    agent = await new_agent(http, owner, team)
    status, body, _ = await chat(http, other, turn(agent, "hi"))  # from the other user's personal workspace
    assert (status, body["error"]["code"]) == (403, "PERMISSION_DENIED"), body
    status, body = await sse(http, other, turn(agent, "hi"))
    assert status == 403, body
    # Not a member of the team: the workspace itself does not exist for them.
    status, body, _ = await chat(http, other, turn(agent, "hi"), workspace=team)
    assert status == 404, body

    # Granted to the other user's workspace, it may be used there.
    status, body, _ = await api(
        http,
        "POST",
        f"/workspaces/{team}/grants",
        owner,
        json={"receivingWorkspaceId": other["workspaceId"], "agentId": agent},
    )
    assert status == 200, body
    status, body, _ = await chat(http, other, turn(agent, "now?"))
    assert (status, body["content"]) == (200, "Echo: now?"), body


async def test_an_unconfigured_provider_is_refused(http: aiohttp.ClientSession, owner: dict) -> None:
    agent = await new_agent(http, owner, model="anthropic/claude-sonnet-4-0")
    status, body, _ = await chat(http, owner, turn(agent, "hi"))
    assert (status, body["error"]["code"]) == (400, "FAILED_PRECONDITION"), body
    assert "anthropic" in body["error"]["message"]


# ---------------------------------------------------------------------------------------------------------------
# Idempotency-Key


async def test_idempotency_key_replays_the_stored_reply(
    http: aiohttp.ClientSession, gateway: GatewayThread, owner: dict, echo: str
) -> None:
    key = f"idem-{uuid.uuid4().hex}"
    body = turn(echo, "exactly once")
    status, first, headers = await chat(http, owner, body, headers={"Idempotency-Key": key})
    assert status == 200, first
    assert "Idempotent-Replayed" not in headers
    for header in ("Idempotency-Key", "X-Idempotency-Key"):
        status, again, headers = await chat(http, owner, body, headers={header: key})
        assert status == 200, again
        assert headers["Idempotent-Replayed"] == "true"
        assert again == first
    rows = await sql(gateway, "SELECT role FROM messages WHERE session_id = %s", (first["sessionId"],))
    assert sorted(r["role"] for r in rows) == ["assistant", "user"]  # the turn ran once
    stored = await sql(
        gateway, "SELECT state FROM idempotency_keys WHERE user_id = %s AND key = %s", (owner["user"]["id"], key)
    )
    assert stored == [{"state": "done"}]

    # The same key with another body is refused; so is a key that is not 1-255 visible characters.
    status, answer, _ = await chat(http, owner, {**body, "message": "something else"}, headers={"Idempotency-Key": key})
    assert (status, answer["error"]["code"]) == (422, "INVALID_ARGUMENT"), answer
    status, answer, _ = await chat(http, owner, body, headers={"Idempotency-Key": "k" * 256})
    assert status == 400, answer


async def test_a_replayed_reply_still_carries_the_overhead_header(
    http: aiohttp.ClientSession, owner: dict, echo: str
) -> None:
    key, body = f"idem-{uuid.uuid4().hex}", turn(echo, "measure me")
    status, _, headers = await chat(http, owner, body, headers={"Idempotency-Key": key})
    assert status == 200 and "X-Astra-Overhead-Ms" in headers
    status, _, headers = await chat(http, owner, body, headers={"Idempotency-Key": key})
    assert (status, headers["Idempotent-Replayed"]) == (200, "true")
    assert float(headers["X-Astra-Overhead-Ms"]) >= 0


async def test_idempotency_over_grpc(channel: grpc.aio.Channel, owner: dict, echo: str) -> None:
    stub = chat_pb2_grpc.ChatServiceStub(channel)
    metadata = grpc_metadata(owner, None, ("idempotency-key", f"grpc-{uuid.uuid4().hex}"))
    request = chat_pb2.ChatRequest(agent_id=echo, message="grpc once", surface_id=uuid.uuid4().hex)
    first = await stub.Chat(request, metadata=metadata)
    call = stub.Chat(request, metadata=metadata)
    assert await call == first
    assert dict(await call.trailing_metadata())["idempotent-replayed"] == "true"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Chat(chat_pb2.ChatRequest(agent_id=echo, message="changed"), metadata=metadata)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert dict(err.value.trailing_metadata())["x-http-status"] == "422"


async def test_a_duplicate_while_the_first_still_runs_is_409(
    http: aiohttp.ClientSession, vendor: FakeVendor, owner: dict
) -> None:
    agent = await new_agent(http, owner, model=OPENAI_MODEL)
    vendor.script(slow_text(["Slow ", "but ", "sure."], delay=0.25))
    key = f"idem-{uuid.uuid4().hex}"
    body = turn(agent, "take your time")
    first = asyncio.create_task(chat(http, owner, body, headers={"Idempotency-Key": key}))

    async def vendor_busy() -> bool:
        return len(vendor.requests) == 1

    await wait_until(vendor_busy, what="first request at the vendor")
    status, answer, _ = await chat(http, owner, body, headers={"Idempotency-Key": key})
    assert (status, answer["error"]["code"]) == (409, "ABORTED"), answer
    status, done, headers = await first
    assert (status, done["content"]) == (200, "Slow but sure."), done
    status, replay, headers = await chat(http, owner, body, headers={"Idempotency-Key": key})
    assert (status, replay, headers["Idempotent-Replayed"]) == (200, done, "true")
    assert len(vendor.requests) == 1


async def test_a_failed_request_releases_its_idempotency_key(
    http: aiohttp.ClientSession, vendor: FakeVendor, owner: dict
) -> None:
    agent = await new_agent(http, owner, model=OPENAI_MODEL)
    vendor.script(
        Reply(status=400, body=openai_error("context too long", code="context_length_exceeded")),
        Reply(chunks=openai_text_stream(["Second ", "try."])),
    )
    key, body = f"idem-{uuid.uuid4().hex}", turn(agent, "retry me")
    status, answer, _ = await chat(http, owner, body, headers={"Idempotency-Key": key})
    assert status == 502, answer
    status, answer, headers = await chat(http, owner, body, headers={"Idempotency-Key": key})
    assert (status, answer["content"]) == (200, "Second try."), answer
    assert "Idempotent-Replayed" not in headers
    assert len(vendor.requests) == 2


# ---------------------------------------------------------------------------------------------------------------
# Persistence, overhead and metrics


async def test_messages_usage_and_cost_are_persisted(
    http: aiohttp.ClientSession, gateway: GatewayThread, vendor: FakeVendor, owner: dict
) -> None:
    agent = await new_agent(http, owner, model=OPENAI_MODEL)
    vendor.script(Reply(chunks=openai_text_stream(["Stored ", "answer."], prompt_tokens=1000, completion_tokens=500)))
    status, body, _ = await chat(http, owner, turn(agent, "remember the cost"))
    assert status == 200, body
    cost = Decimal("0.15") * 1000 / 1_000_000 + Decimal("0.60") * 500 / 1_000_000  # gpt-4o-mini: 0.00045 USD
    assert body["usage"] == {"promptTokens": 1000, "completionTokens": 500, "totalTokens": 1500, "costUsd": 0.00045}
    rows = await messages_of(gateway, body["sessionId"])
    assert [(r["role"], r["content"]) for r in rows] == [("user", "remember the cost"), ("assistant", "Stored answer.")]
    user, assistant = rows
    assert user["prompt_tokens"] == 0 and user["error"] is None
    assert assistant["id"] == body["messageId"] and assistant["agent_id"] == agent
    assert (assistant["prompt_tokens"], assistant["completion_tokens"], assistant["cost_usd"]) == (1000, 500, cost)
    assert assistant["error"] is None
    usage = await sql(
        gateway,
        "SELECT workspace_id, user_id, agent_id, provider, model, prompt_tokens, completion_tokens, cost_usd"
        " FROM usage_records WHERE session_id = %s",
        (body["sessionId"],),
    )
    assert usage == [
        {
            "workspace_id": owner["workspaceId"],
            "user_id": owner["user"]["id"],
            "agent_id": agent,
            "provider": "openai",
            "model": OPENAI_MODEL,
            "prompt_tokens": 1000,
            "completion_tokens": 500,
            "cost_usd": cost,
        }
    ]
    session = await sql(gateway, "SELECT message_count, status FROM sessions WHERE id = %s", (body["sessionId"],))
    assert session == [{"message_count": 2, "status": "active"}]


async def test_overhead_excludes_the_provider_and_feeds_the_histogram(
    http: aiohttp.ClientSession, vendor: FakeVendor, owner: dict
) -> None:
    agent = await new_agent(http, owner, model=OPENAI_MODEL)
    before = await metric_value(http, "astra_chat_overhead_seconds_count")
    vendor.script(slow_text(["Taking ", "a ", "while."], delay=0.15))
    started = time.monotonic()
    status, body, headers = await chat(http, owner, turn(agent, "slowly"))
    elapsed_ms = (time.monotonic() - started) * 1000
    assert status == 200, body
    overhead = float(headers["X-Astra-Overhead-Ms"])
    assert overhead == pytest.approx(body["overheadMs"], abs=0.001)
    assert elapsed_ms >= 600  # the vendor took at least 4 x 150 ms ...
    assert 0 < overhead < 400  # ... and none of that is the gateway's overhead

    status, _ = await sse(http, owner, turn("no-such-agent-y2", "x"))
    assert status == 404
    after = await metric_value(http, "astra_chat_overhead_seconds_count")
    assert after == before + 1  # one completed turn, one observation
    async with http.get("/metrics") as resp:
        text = await resp.text()
    assert 'astra_chat_overhead_seconds_bucket{le="0.005"}' in text
    assert "astra_chat_overhead_seconds_sum" in text


# ---------------------------------------------------------------------------------------------------------------
# Reset, presence, agent health


async def test_reset_archives_the_session_and_the_next_message_starts_a_new_one(
    http: aiohttp.ClientSession, gateway: GatewayThread, owner: dict, other: dict, echo: str
) -> None:
    key = {"agentId": echo, "surface": "web", "surfaceId": uuid.uuid4().hex}
    status, body, _ = await chat(http, owner, {**key, "message": "first"})
    first = body["sessionId"]
    status, body, _ = await api(http, "POST", "/agent/reset", owner, json=key)
    assert (status, body) == (200, {"reset": True, "sessionId": first})
    rows = await sql(gateway, "SELECT status, archived_at FROM sessions WHERE id = %s", (first,))
    assert rows[0]["status"] == "archived" and rows[0]["archived_at"] is not None

    status, events = await sse(http, owner, {**key, "message": "second"})
    assert events[0][1]["created"] is True
    second = events[0][1]["sessionId"]
    assert second != first
    assert events[-1][1]["usage"]["promptTokens"] == 1  # the old history is not carried over

    # Nothing active on the key any more after a reset by id; a second reset is a no-op.
    status, body, _ = await api(http, "POST", "/agent/reset", owner, json={"sessionId": second})
    assert (status, body) == (200, {"reset": True, "sessionId": second})
    status, body, _ = await api(http, "POST", "/agent/reset", owner, json={"sessionId": second})
    assert (status, body) == (200, {"reset": False, "sessionId": second})
    status, body, _ = await api(http, "POST", "/agent/reset", owner, json=key)
    assert (status, body) == (200, {"reset": False, "sessionId": ""})

    status, body, _ = await api(http, "POST", "/agent/reset", owner, json={})
    assert status == 400, body
    status, body, _ = await api(http, "POST", "/agent/reset", other, json={"sessionId": first})
    assert status == 404, body


async def test_presence_follows_the_turn_and_health_counts_it_in_flight(
    http: aiohttp.ClientSession, gateway: GatewayThread, vendor: FakeVendor, owner: dict
) -> None:
    agent = await new_agent(http, owner, model=OPENAI_MODEL)

    async def presence() -> dict:
        status, body, _ = await api(http, "GET", "/agent/presence", owner, params={"agentId": agent})
        assert status == 200, body
        return body["agents"][0] if body["agents"] else {}

    async def in_flight() -> int:
        status, body, _ = await api(http, "GET", "/agent/health", owner)
        assert status == 200, body
        return body["turnsInFlight"]

    assert (await presence()).get("state", "idle") == "idle"  # never used: no state, or idle
    vendor.script(slow_text(["Hel", "lo"], delay=0.5))
    states: list[dict] = []
    async with asyncio.timeout(15), http.post(STREAM, json=turn(agent, "hi"), headers=bearer(owner)) as resp:
        async for name, data in sse_frames(resp):
            if name == "session_resolved":
                states.append(await presence())
                assert await in_flight() >= 1

                # The user message commits while the provider is called (text may stream meanwhile).
                async def stored(session_id: str = data["sessionId"]) -> list | None:
                    rows = [(r["role"], r["content"]) for r in await messages_of(gateway, session_id)]
                    return rows or None

                assert await wait_until(stored, what="the user message") == [("user", "hi")]
            elif name == "stream_chunk" and data["delta"] == "Hel":
                states.append(await presence_in(http, owner, agent, "streaming"))
            elif name == "stream_done":
                states.append(await presence())
                session_id = data["sessionId"]
    assert [s["state"] for s in states] == ["thinking", "streaming", "idle"]
    assert all(s["sessionId"] == session_id and s["agentId"] == agent for s in states)
    assert states[0]["toolName"] == ""
    since = [datetime.fromisoformat(s["since"]) for s in states]
    assert since == sorted(since) and since[0] < since[2]

    async def drained() -> bool:
        return await in_flight() == 0

    await wait_until(drained, what="no turns in flight")
    # Without a filter every agent with a state is listed.
    _, body, _ = await api(http, "GET", "/agent/presence", owner)
    assert {a["agentId"]: a["state"] for a in body["agents"]}[agent] == "idle"


async def test_a_user_message_that_cannot_be_stored_ends_the_turn_and_its_provider_call(
    http: aiohttp.ClientSession, gateway: GatewayThread, vendor: FakeVendor, owner: dict
) -> None:
    """Text streams while the user's message commits; if the commit fails (here the session is archived while its
    row is locked), the turn ends with an error, the provider call is cancelled and none of the reply is stored."""
    agent = await new_agent(http, owner, model=OPENAI_MODEL)
    vendor.script(Reply(chunks=openai_text_stream(["first"])))
    surface = uuid.uuid4().hex
    status, events = await sse(http, owner, turn(agent, "one", surface_id=surface))
    assert status == 200, events
    session_id = events[0][1]["sessionId"]

    vendor.script(slow_text(["Hel", "lo", " there"], delay=0.3))
    async with await psycopg.AsyncConnection.connect(gateway.settings.database_url) as conn:
        # The turn's statement waits on this lock, then finds the session archived.
        await conn.execute("SELECT 1 FROM sessions WHERE id = %s FOR UPDATE", (session_id,))
        async with (
            asyncio.timeout(15),
            http.post(STREAM, json=turn(agent, "two", surface_id=surface), headers=bearer(owner)) as resp,
        ):
            assert resp.status == 200
            frames = sse_frames(resp)
            assert (await anext(frames))[0] == "session_resolved"

            async def called() -> bool:
                return len(vendor.requests) == 2

            await wait_until(called, what="the provider called")
            await conn.execute("UPDATE sessions SET status = 'archived' WHERE id = %s", (session_id,))
            await conn.commit()
            rest = [frame async for frame in frames]
    assert rest[-1][0] == "error", rest
    assert rest[-1][1]["code"] == "FAILED_PRECONDITION" and "archived" in rest[-1][1]["message"]
    assert "stream_done" not in kinds(rest)

    async def cancelled() -> bool:
        return vendor.dropped == [1]

    await wait_until(cancelled, what="the provider call cancelled")
    rows = [(r["role"], r["content"]) for r in await messages_of(gateway, session_id)]
    assert rows == [("user", "one"), ("assistant", "first")]  # neither "two" nor any of its answer


async def test_a_client_that_leaves_while_its_message_cannot_be_stored_leaves_nothing(
    http: aiohttp.ClientSession, gateway: GatewayThread, vendor: FakeVendor, owner: dict
) -> None:
    agent = await new_agent(http, owner, model=OPENAI_MODEL)
    surface = uuid.uuid4().hex
    vendor.script(Reply(chunks=openai_text_stream(["first"])))
    status, events = await sse(http, owner, turn(agent, "one", surface_id=surface))
    assert status == 200, events
    session_id = events[0][1]["sessionId"]

    vendor.script(slow_text(["Hel", "lo", " there", " again"], delay=0.3))
    async with await psycopg.AsyncConnection.connect(gateway.settings.database_url) as conn:
        await conn.execute("SELECT 1 FROM sessions WHERE id = %s FOR UPDATE", (session_id,))
        async with http.post(STREAM, json=turn(agent, "two", surface_id=surface), headers=bearer(owner)) as resp:
            frames = sse_frames(resp)
            assert (await anext(frames))[0] == "session_resolved"
            assert (await anext(frames))[1] == {"delta": "Hel"}  # text streams while the commit waits
        # The client is gone: the provider call stops at once, though the commit is still held up.

        async def cancelled() -> bool:
            return vendor.dropped == [1]

        await wait_until(cancelled, what="the provider call cancelled")
        await conn.execute("UPDATE sessions SET status = 'archived' WHERE id = %s", (session_id,))
        await conn.commit()
    await asyncio.sleep(0.5)  # what was said would be stored now, if anything were
    rows = [(r["role"], r["content"]) for r in await messages_of(gateway, session_id)]
    assert rows == [("user", "one"), ("assistant", "first")]


async def test_the_text_said_before_a_tool_call_is_kept_while_the_tool_runs(
    http: aiohttp.ClientSession, gateway: GatewayThread, vendor: FakeVendor, owner: dict, slow_tool: None
) -> None:
    agent = await new_agent(http, owner, model=OPENAI_MODEL, tools={"allow": ["current_time"]})
    vendor.script(tool_call_reply("call_1", "current_time", "{}", text="Let me look at the clock."))
    async with asyncio.timeout(15), http.post(STREAM, json=turn(agent, "time?"), headers=bearer(owner)) as resp:
        frames = sse_frames(resp)
        session_id = (await anext(frames))[1]["sessionId"]
        async for name, _ in frames:
            if name == "tool_call":
                break

        # A crash now would close the turn with this text (server/chat/recovery.py).
        async def kept() -> list | None:
            rows = await sql(gateway, "SELECT partial FROM turns_in_flight WHERE session_id = %s", (session_id,))
            return [r["partial"] for r in rows if r["partial"]] or None

        assert await wait_until(kept, what="the text kept") == ["Let me look at the clock."]


async def test_presence_says_streaming_again_when_the_answer_follows_a_tool_call(
    http: aiohttp.ClientSession, vendor: FakeVendor, owner: dict
) -> None:
    agent = await new_agent(http, owner, model=OPENAI_MODEL, skills=["math"])
    vendor.script(
        tool_call_reply("call_1", "calculator", json.dumps({"expression": "6*7"})),
        slow_text(["It is ", "42."], delay=0.5),
    )
    seen: dict = {}
    async with asyncio.timeout(15), http.post(STREAM, json=turn(agent, "6*7?"), headers=bearer(owner)) as resp:
        async for name, data in sse_frames(resp):
            if name == "stream_chunk" and data["delta"] == "It is ":
                seen = await presence_in(http, owner, agent, "streaming")
    assert seen["toolName"] == ""


async def test_agent_health_lists_providers_and_circuit_states(http: aiohttp.ClientSession, owner: dict) -> None:
    status, body, _ = await api(http, "GET", "/agent/health", owner)
    assert status == 200, body
    assert body["status"] == "ok"
    providers = {p["provider"]: p for p in body["providers"]}
    assert set(providers) == {"local", "openai", "anthropic"}
    assert (providers["local"]["configured"], providers["local"]["circuitState"]) == (True, "closed")
    assert providers["openai"]["configured"] is True  # OPENAI base URL and key are set for this module
    assert providers["anthropic"]["configured"] is False
    assert all(p["circuitState"] in ("closed", "open", "half_open") for p in body["providers"])
    assert isinstance(body["turnsInFlight"], int)
    status, body, _ = await api(http, "GET", "/agent/health")
    assert status == 401


# ---------------------------------------------------------------------------------------------------------------
# Idle timeout and daily reset


async def test_idle_timeout_archives_the_old_session_and_starts_a_new_one(
    http: aiohttp.ClientSession, gateway: GatewayThread, owner: dict
) -> None:
    team = await new_workspace_id(http, owner, "Idle")
    status, body, _ = await api(
        http, "PUT", f"/workspaces/{team}/settings", owner, json={"sessionIdleTimeoutMinutes": 1}
    )
    assert status == 200, body
    agent = await new_agent(http, owner, team)
    body = turn(agent, "hello", "idle-thread")
    status, first, _ = await chat(http, owner, body, workspace=team)
    status, again, _ = await chat(http, owner, body, workspace=team)
    assert again["sessionId"] == first["sessionId"]  # still fresh

    await sql(
        gateway,
        "UPDATE sessions SET last_activity_at = now() - interval '2 minutes' WHERE id = %s",
        (first["sessionId"],),
    )
    status, events = await sse(http, owner, body, workspace=team)
    assert status == 200, events
    assert events[0][1]["created"] is True and events[0][1]["sessionId"] != first["sessionId"]
    assert events[-1][1]["usage"]["promptTokens"] == 1  # a fresh history
    rows = await sql(gateway, "SELECT status, message_count FROM sessions WHERE id = %s", (first["sessionId"],))
    assert rows == [{"status": "archived", "message_count": 4}]  # archived, not emptied
    status, answer, _ = await chat(http, owner, {"sessionId": first["sessionId"], "message": "x"}, workspace=team)
    assert status == 409, answer


async def test_daily_reset_hour_in_the_workspace_timezone_starts_a_new_session(
    http: aiohttp.ClientSession, gateway: GatewayThread, owner: dict
) -> None:
    zone = "Asia/Kolkata"  # UTC+05:30: the boundary is not on a UTC hour
    local_now = datetime.now(UTC).astimezone(ZoneInfo(zone))
    hour = (local_now - timedelta(hours=1)).hour
    boundary = local_now.replace(hour=hour, minute=0, second=0, microsecond=0)
    if boundary > local_now:
        boundary -= timedelta(days=1)
    team = await new_workspace_id(http, owner, "Daily")
    status, body, _ = await api(
        http, "PUT", f"/workspaces/{team}/settings", owner, json={"dailyResetHour": hour, "timezone": zone}
    )
    assert status == 200, body
    agent = await new_agent(http, owner, team)
    body = turn(agent, "morning", "daily-thread")
    status, first, _ = await chat(http, owner, body, workspace=team)
    assert status == 200, first
    session_id = first["sessionId"]

    # Last active after today's reset hour: the session goes on.
    await sql(
        gateway,
        "UPDATE sessions SET last_activity_at = %s WHERE id = %s",
        (boundary + timedelta(minutes=5), session_id),
    )
    status, again, _ = await chat(http, owner, body, workspace=team)
    assert again["sessionId"] == session_id

    # Last active before it: archived, and a new session starts.
    await sql(
        gateway,
        "UPDATE sessions SET last_activity_at = %s WHERE id = %s",
        (boundary - timedelta(minutes=5), session_id),
    )
    status, third, _ = await chat(http, owner, body, workspace=team)
    assert status == 200, third
    assert third["sessionId"] != session_id
    rows = await sql(gateway, "SELECT status FROM sessions WHERE id = %s", (session_id,))
    assert rows == [{"status": "archived"}]
