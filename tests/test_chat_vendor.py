"""The turn against a FakeVendor speaking OpenAI's (and Anthropic's) streaming wire format on loopback: deltas relayed
in order as they arrive, the context sent, a tool call split across chunks executed and fed back, retries before the
first token only, vendor errors as clean SSE error frames and HTTP statuses, a cut stream keeping what was said, the
circuit breaker, and a client that goes away cancelling the vendor request."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import aiohttp
import grpc
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
    shape,
    sse,
    sse_frames,
    turn,
)
from tests.helpers.http import api
from tests.helpers.waiting import wait_until
from tests.providers.fake_vendors import (
    OPENAI_DONE,
    FakeVendor,
    Reply,
    anthropic_text_stream,
    openai_chunk,
    openai_error,
    openai_text_stream,
    openai_tool_call_args,
    openai_tool_call_start,
    openai_usage_chunk,
)

ANTHROPIC_KEY = "sk-ant-test-0123456789abcdef"
# The FakeVendor answers as both the OpenAI and the Anthropic endpoint of this module's gateway.
GATEWAY_OPTIONS = {"vendor_keys": {"openai": OPENAI_KEY, "anthropic": ANTHROPIC_KEY}}


@pytest.fixture(autouse=True)
def closed_circuits(clean_vendor: None, gateway: GatewayThread) -> Iterator[None]:
    """A fresh script (clean_vendor), and closed circuits: each test's vendor failures count against the breaker
    (five within a minute open it), so they must not add up across tests."""
    yield
    assert gateway.core is not None and gateway.core.deps is not None
    breakers = gateway.core.deps.providers.breakers.values()

    async def close_circuits() -> None:
        for breaker in breakers:
            breaker.record_success()

    gateway.run(close_circuits())


@pytest.fixture(scope="module")
def user(gateway: GatewayThread) -> dict:
    return register_users(gateway, 1)[0]


@pytest.fixture
async def agent(http: aiohttp.ClientSession, user: dict) -> str:
    return await new_agent(http, user, model=OPENAI_MODEL)


async def health(http: aiohttp.ClientSession, user: dict) -> dict[str, Any]:
    status, body, _ = await api(http, "GET", "/agent/health", user)
    assert status == 200, body
    return body


# ---------------------------------------------------------------------------------------------------------------
# Streaming and the request the vendor gets


async def test_deltas_are_relayed_in_order_as_they_arrive(
    http: aiohttp.ClientSession, vendor: FakeVendor, user: dict
) -> None:
    agent = await new_agent(
        http, user, model=OPENAI_MODEL, systemPrompt="You are terse.", temperature=0.2, maxOutputTokens=321
    )
    parts = ["Hel", "lo", ", wor", "ld", "!"]
    vendor.script(Reply(chunks=openai_text_stream(parts, prompt_tokens=40, completion_tokens=6), chunk_delay=0.08))
    arrivals: list[tuple[float, str, dict]] = []
    async with asyncio.timeout(15), http.post(STREAM, json=turn(agent, "Say hello"), headers=bearer(user)) as resp:
        assert resp.status == 200
        async for name, data in sse_frames(resp):
            arrivals.append((time.monotonic(), name, data))
    events = [(name, data) for _, name, data in arrivals]
    assert kinds(events) == ["session_resolved"] + ["stream_chunk"] * 5 + ["stream_done"]
    assert deltas(events) == parts
    chunk_times = [at for at, name, _ in arrivals if name == "stream_chunk"]
    assert chunk_times[-1] - chunk_times[0] >= 0.25  # relayed one by one, not buffered until the end
    done = events[-1][1]
    assert done["content"] == "Hello, world!" and done["model"] == OPENAI_MODEL
    cost = float((Decimal("0.15") * 40 + Decimal("0.60") * 6) / 1_000_000)
    assert done["usage"] == {"promptTokens": 40, "completionTokens": 6, "totalTokens": 46, "costUsd": cost}

    [sent] = vendor.requests
    assert (sent.method, sent.path) == ("POST", "/v1/chat/completions")
    assert sent.headers["Authorization"] == f"Bearer {OPENAI_KEY}"
    assert sent.body["model"] == "gpt-4o-mini" and sent.body["stream"] is True
    assert sent.body["stream_options"] == {"include_usage": True}
    assert sent.body["max_tokens"] == 321 and sent.body["temperature"] == pytest.approx(0.2)
    assert sent.body["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Say hello"},
    ]
    assert "tools" not in sent.body


async def test_context_keeps_the_system_prompt_and_the_newest_history_within_budget(
    http: aiohttp.ClientSession, vendor: FakeVendor, user: dict
) -> None:
    # Budget: 300 context - 100 output - 7 for "Be brief." = 193 tokens, at four characters a token plus four per
    # message. Two 90-token messages and a reply fit (185); with the next exchange (+16) the oldest no longer does.
    agent = await new_agent(
        http, user, model=OPENAI_MODEL, systemPrompt="Be brief.", maxContextTokens=300, maxOutputTokens=100
    )
    surface_id = uuid.uuid4().hex
    long_a, long_b, short = "a" * 344, "b" * 344, "and now?"
    vendor.script(*(Reply(chunks=openai_text_stream(["ok"])) for _ in range(3)))
    for text in (long_a, long_b, short):
        status, body, _ = await chat(http, user, turn(agent, text, surface_id))
        assert status == 200, body
    system = {"role": "system", "content": "Be brief."}
    assert vendor.requests[1].body["messages"] == [
        system,
        {"role": "user", "content": long_a},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": long_b},
    ]
    # The oldest message no longer fits: it is left out (and the model is told so), the newest are kept.
    assert vendor.requests[2].body["messages"] == [
        system,
        {"role": "system", "content": "[1 earlier messages of this conversation are omitted]"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": long_b},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": short},
    ]


async def test_a_tool_call_split_across_chunks_is_run_and_its_result_fed_back(
    http: aiohttp.ClientSession, gateway: GatewayThread, vendor: FakeVendor, user: dict
) -> None:
    agent = await new_agent(http, user, model=OPENAI_MODEL, skills=["math"])
    call_chunks = [
        openai_chunk(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [openai_tool_call_start(0, "call_abc123", "calculator")],
                "refusal": None,
            }
        ),
        openai_chunk({"tool_calls": [openai_tool_call_args(0, '{"expr')]}),
        openai_chunk({"tool_calls": [openai_tool_call_args(0, 'ession": "6')]}),
        openai_chunk({"tool_calls": [openai_tool_call_args(0, '*7"}')]}),
        openai_chunk({}, "tool_calls"),
        openai_usage_chunk(55, 18),
        OPENAI_DONE,
    ]
    vendor.script(Reply(chunks=call_chunks), Reply(chunks=openai_text_stream(["It is ", "42."], 90, 4)))
    status, events = await sse(http, user, turn(agent, "What is six times seven?"))
    assert status == 200, events
    assert shape(kinds(events)) == ["session_resolved", "tool_call", "tool_result", "stream_chunk", "stream_done"]
    call, result, done = events[1][1], events[2][1], events[-1][1]
    assert call == {"id": "call_abc123", "name": "calculator", "arguments": '{"expression": "6*7"}'}
    assert (result["id"], result["name"], result["result"], result["error"]) == ("call_abc123", "calculator", "42", "")
    assert done["content"] == "It is 42." and done["toolsUsed"] == ["calculator"]
    assert done["usage"]["promptTokens"] == 55 + 90 and done["usage"]["completionTokens"] == 18 + 4

    first, second = vendor.requests
    # The system prompt carries the skill's prompt context; the skill's tool is offered.
    assert first.body["messages"][0]["role"] == "system"
    assert first.body["messages"][0]["content"].startswith("## Skill: Arithmetic\nUse the calculator")
    [tool] = first.body["tools"]
    assert tool["type"] == "function" and tool["function"]["name"] == "calculator"
    assert tool["function"]["parameters"]["required"] == ["expression"]
    assert second.body["messages"][-2:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_abc123",
                    "type": "function",
                    "function": {"name": "calculator", "arguments": '{"expression": "6*7"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_abc123", "content": "42"},
    ]
    stored = {(r["role"], r["tool_call_id"], r["content"]) for r in await messages_of(gateway, done["sessionId"])}
    assert ("tool", "call_abc123", "42") in stored and ("assistant", None, "It is 42.") in stored


async def test_anthropic_agents_stream_through_the_same_turn(
    http: aiohttp.ClientSession, vendor: FakeVendor, user: dict
) -> None:
    agent = await new_agent(http, user, model="anthropic/claude-sonnet-4-0", systemPrompt="Be kind.")
    vendor.script(Reply(chunks=anthropic_text_stream(["Bonjour", " à vous"], input_tokens=30, output_tokens=7)))
    status, events = await sse(http, user, turn(agent, "Salut"))
    assert status == 200, events
    assert "".join(deltas(events)) == "Bonjour à vous"
    assert events[-1][1]["usage"]["totalTokens"] == 37 and events[-1][1]["model"] == "anthropic/claude-sonnet-4-0"
    [sent] = vendor.requests
    assert sent.path == "/v1/messages" and sent.headers["x-api-key"] == ANTHROPIC_KEY
    assert sent.body["system"] == "Be kind." and sent.body["messages"][-1]["role"] == "user"


async def test_grpc_chat_stream_yields_the_same_events(
    channel: grpc.aio.Channel, vendor: FakeVendor, user: dict, agent: str
) -> None:
    vendor.script(Reply(chunks=openai_text_stream(["gRPC ", "too"])))
    stub = chat_pb2_grpc.ChatServiceStub(channel)
    request = chat_pb2.ChatStreamRequest(agent_id=agent, message="hi", surface_id=uuid.uuid4().hex)
    events = [e async for e in stub.ChatStream(request, metadata=grpc_metadata(user))]
    assert shape([e.WhichOneof("event") for e in events]) == ["session_resolved", "stream_chunk", "stream_done"]
    assert "".join(e.stream_chunk.delta for e in events[1:-1]) == events[-1].stream_done.content == "gRPC too"


# ---------------------------------------------------------------------------------------------------------------
# Vendor failures


async def test_a_500_before_the_first_token_is_retried_transparently(
    http: aiohttp.ClientSession, vendor: FakeVendor, user: dict, agent: str
) -> None:
    vendor.script(
        Reply(status=500, body=openai_error("The server had an error while processing your request.", "server_error")),
        Reply(chunks=openai_text_stream(["Second ", "time ", "lucky."])),
    )
    status, events = await sse(http, user, turn(agent, "try hard"))
    assert status == 200, events
    assert "error" not in kinds(events)
    assert events[-1][1]["content"] == "Second time lucky."
    assert len(vendor.requests) == 2
    openai = {p["provider"]: p for p in (await health(http, user))["providers"]}["openai"]
    assert (openai["circuitState"], openai["consecutiveFailures"]) == ("closed", 0)

    # A stream cut before any text is retried too: nothing was said that could be said twice.
    vendor.reset()
    vendor.script(
        Reply(chunks=openai_text_stream(["lost"]), cut_after=1), Reply(chunks=openai_text_stream(["Recovered."]))
    )
    status, body, _ = await chat(http, user, turn(agent, "again"))
    assert (status, body["content"]) == (200, "Recovered."), body
    assert len(vendor.requests) == 2


async def test_a_401_is_an_sse_error_frame_and_a_502_without_retries_or_the_key(
    http: aiohttp.ClientSession, gateway: GatewayThread, vendor: FakeVendor, user: dict, agent: str
) -> None:
    refusal = openai_error(f"Incorrect API key provided: {OPENAI_KEY}.", code="invalid_api_key")
    vendor.script(Reply(status=401, body=refusal))
    status, events = await sse(http, user, turn(agent, "hello?"))
    assert status == 200, events
    assert kinds(events) == ["session_resolved", "error"]
    error = events[-1][1]
    assert error["code"] == "provider_error"
    # The caller learns the vendor's status, not what the vendor said (that goes to the log).
    assert error["message"] == "openai: the provider answered HTTP 401"
    assert len(vendor.requests) == 1  # a 401 is not retried

    # What was said is kept, and the failure is recorded on the assistant message.
    rows = await messages_of(gateway, events[0][1]["sessionId"])
    assert [(r["role"], r["content"]) for r in rows] == [("user", "hello?"), ("assistant", "")]
    assert rows[1]["error"] == "openai: the provider answered HTTP 401"

    vendor.script(Reply(status=401, body=refusal))
    status, body, _ = await chat(http, user, turn(agent, "hello again?"))
    assert status == 502, body
    assert "HTTP 401" in body["error"]["message"]
    assert "Incorrect API key" not in json.dumps(body) and OPENAI_KEY not in json.dumps(body)
    assert len(vendor.requests) == 2
    # A 401 is our configuration, not the vendor being down: the circuit does not count it.
    openai = {p["provider"]: p for p in (await health(http, user))["providers"]}["openai"]
    assert openai["circuitState"] == "closed" and openai["consecutiveFailures"] == 0


async def test_a_stream_cut_midway_keeps_the_partial_answer_with_the_error(
    http: aiohttp.ClientSession, gateway: GatewayThread, vendor: FakeVendor, user: dict, agent: str
) -> None:
    vendor.script(Reply(chunks=openai_text_stream(["Partial ", "answer ", "never finished"]), cut_after=3))
    status, events = await sse(http, user, turn(agent, "tell me everything"))
    assert status == 200, events
    assert shape(kinds(events)) == ["session_resolved", "stream_chunk", "error"]
    assert "".join(deltas(events)) == "Partial answer "
    assert events[-1][1]["code"] == "provider_error"
    assert "stream ended unexpectedly" in events[-1][1]["message"]
    assert len(vendor.requests) == 1  # text was already out: a retry could say it twice
    rows = await messages_of(gateway, events[0][1]["sessionId"])
    assert [(r["role"], r["content"]) for r in rows] == [
        ("user", "tell me everything"),
        ("assistant", "Partial answer "),
    ]
    assert rows[1]["error"] == "openai: stream ended unexpectedly"

    # The unary route reports the same failure as a clean status, never a hang.
    vendor.script(Reply(chunks=openai_text_stream(["Half ", "a reply"]), cut_after=2))
    status, body, _ = await chat(http, user, turn(agent, "again"))
    assert status == 502, body
    assert "stream ended unexpectedly" in body["error"]["message"]


async def test_a_429_with_retry_after_is_rate_limited(
    http: aiohttp.ClientSession, vendor: FakeVendor, user: dict, agent: str
) -> None:
    limited = Reply(
        status=429,
        body=openai_error("Rate limit reached for gpt-4o-mini.", "requests", "rate_limit_exceeded"),
        headers={"retry-after": "60"},
    )
    vendor.script(limited)
    status, events = await sse(http, user, turn(agent, "quick"))
    assert status == 200, events
    assert kinds(events) == ["session_resolved", "error"]
    assert events[-1][1]["code"] == "rate_limited"
    assert events[-1][1]["retryAfterMs"] == 60_000
    assert len(vendor.requests) == 1  # longer than the gateway will wait: no retry

    vendor.script(limited)
    status, body, headers = await chat(http, user, turn(agent, "quick"))
    assert (status, body["error"]["code"]) == (429, "RESOURCE_EXHAUSTED"), body
    assert headers["Retry-After"] == "60"

    # A short retry-after is honoured before the retry.
    vendor.reset()
    vendor.script(
        Reply(status=429, body=openai_error("slow down", "requests"), headers={"retry-after-ms": "400"}),
        Reply(chunks=openai_text_stream(["Patiently."])),
    )
    status, body, _ = await chat(http, user, turn(agent, "patient"))
    assert (status, body["content"]) == (200, "Patiently."), body
    first, second = vendor.requests
    assert second.at - first.at >= 0.4


async def test_repeated_failures_open_the_circuit_and_it_fails_fast(
    http: aiohttp.ClientSession, gateway: GatewayThread, vendor: FakeVendor, user: dict, agent: str
) -> None:
    down = Reply(status=503, body=openai_error("The engine is currently overloaded.", "server_error"))
    vendor.script(*[down] * 5)
    status, events = await sse(http, user, turn(agent, "one"))
    assert events[-1][1]["code"] == "provider_unavailable"
    assert len(vendor.requests) == 3  # three attempts
    status, body, _ = await chat(http, user, turn(agent, "two"))
    assert status == 503, body  # the vendor stayed down
    assert len(vendor.requests) == 5  # the fifth failure opened the circuit: no third attempt

    report = await health(http, user)
    openai = {p["provider"]: p for p in report["providers"]}["openai"]
    assert report["status"] == "degraded"
    assert (openai["circuitState"], openai["consecutiveFailures"]) == ("open", 5)
    assert "HTTP 503" in openai["lastError"] and openai["lastErrorAt"]
    assert "overloaded" not in openai["lastError"]  # the vendor's words stay in the log

    started = time.monotonic()
    status, events = await sse(http, user, turn(agent, "three"))
    assert kinds(events) == ["session_resolved", "error"]
    assert "circuit open" in events[-1][1]["message"]
    assert time.monotonic() - started < 1.0
    assert len(vendor.requests) == 5  # the vendor is left alone while the circuit is open


async def test_an_open_circuit_is_unavailable_with_a_retry_hint(
    http: aiohttp.ClientSession, vendor: FakeVendor, user: dict, agent: str
) -> None:
    vendor.script(*[Reply(status=503, body=openai_error("overloaded", "server_error"))] * 5)
    for text in ("one", "two"):
        await chat(http, user, turn(agent, text))
    assert len(vendor.requests) == 5
    status, events = await sse(http, user, turn(agent, "three"))
    assert events[-1][1]["code"] == "provider_unavailable" and events[-1][1]["retryAfterMs"] > 0
    status, body, headers = await chat(http, user, turn(agent, "four"))
    assert status == 503, body
    assert 0 < int(headers["Retry-After"]) <= 30


# ---------------------------------------------------------------------------------------------------------------
# A client that goes away


async def test_a_client_disconnect_cancels_the_vendor_request_and_keeps_what_was_said(
    http: aiohttp.ClientSession, gateway: GatewayThread, vendor: FakeVendor, user: dict, agent: str
) -> None:
    head = openai_text_stream(["So far ", "so good", "never sent"])
    vendor.script(Reply(chunks=head, stall_after=3))  # role chunk and two deltas, then silence
    said = ""
    async with asyncio.timeout(15), http.post(STREAM, json=turn(agent, "go on"), headers=bearer(user)) as resp:
        assert resp.status == 200
        async for name, data in sse_frames(resp):
            if name == "session_resolved":
                session_id = data["sessionId"]
            elif name == "stream_chunk":
                said += data["delta"]
                if said == "So far so good":
                    break
            else:
                raise AssertionError((name, data))
    # Leaving the block closed the connection mid-stream.

    async def dropped() -> list[int]:
        return vendor.dropped

    assert await wait_until(dropped, what="the vendor seeing its client go") == [0]

    async def stored() -> list[dict]:
        rows = await messages_of(gateway, session_id)
        return rows if len(rows) == 2 else []

    rows = await wait_until(stored, what="the partial answer stored")
    assert [(r["role"], r["content"], r["error"]) for r in rows] == [
        ("user", "go on", None),
        ("assistant", "So far so good", "cancelled by the client"),
    ]

    async def idle() -> bool:
        return (await health(http, user))["turnsInFlight"] == 0

    await wait_until(idle, what="no turn in flight")
    assert len(vendor.requests) == 1


async def read_one_then_fall_behind(channel: Any, user: dict, agent: str, behind_s: float) -> str:
    """Starts a turn that talks a lot, reads its first event, stops reading for `behind_s`, then cancels; the id of
    the turn's session."""
    stream = chat_pb2_grpc.ChatServiceStub(channel).ChatStream(
        chat_pb2.ChatStreamRequest(agent_id=agent, message="talk a lot", surface_id=uuid.uuid4().hex),
        metadata=grpc_metadata(user),
    )
    session_id = (await stream.read()).session_resolved.session_id
    await asyncio.sleep(behind_s)
    stream.cancel()
    return session_id


async def partial_reply_kept(gateway: GatewayThread, session_id: str, whole: str) -> None:
    """The session holds the user's "talk a lot" and, within the wait, a reply cut short of `whole` by a cancel."""

    async def stored() -> list[dict]:
        rows = await messages_of(gateway, session_id)
        return rows if len(rows) == 2 else []

    user_row, reply = await wait_until(stored, what="the partial answer stored")
    assert (user_row["content"], reply["error"]) == ("talk a lot", "cancelled by the client")
    assert 0 < len(reply["content"]) < len(whole) and whole.startswith(reply["content"])


async def test_a_turn_cancelled_while_its_reader_is_behind_keeps_what_was_said(
    gateway: GatewayThread, vendor: FakeVendor, user: dict, agent: str
) -> None:
    """The edge stops reading (a slow client), the turn runs ahead until the stream's buffer is full, then the
    client goes: the turn is closed where it waits to hand over its next event, and what it said is stored."""
    words = [f"w{i} " for i in range(60)]
    vendor.script(Reply(chunks=openai_text_stream(words), chunk_delay=0.005))
    # 60 chunks 5 ms apart would be over within the second behind; the in-process stream's buffer holds 16.
    session_id = gateway.run(read_one_then_fall_behind(gateway.core.local_channel, user, agent, 1.0))
    await partial_reply_kept(gateway, session_id, "".join(words))


async def test_a_grpc_caller_that_falls_behind_and_cancels_keeps_what_was_said(
    gateway: GatewayThread, vendor: FakeVendor, user: dict, agent: str
) -> None:
    """The same over the network: a gRPC caller stops reading until HTTP/2 flow control holds the turn back, then
    cancels: the handler's stream is closed where it waits to hand over its next event, and what it said is stored."""
    words = [f"{i:04d}" + "x" * 1000 + " " for i in range(400)]  # ~400 KB: well past the flow-control windows
    vendor.script(Reply(chunks=openai_text_stream(words), chunk_delay=0.001))
    # Without BDP probing the receive window stays at its 64 KiB start instead of growing to megabytes; 400 chunks
    # 1 ms apart would be over within the 1.5 s behind, were the caller reading.
    async with grpc.aio.insecure_channel(gateway.grpc_target, options=[("grpc.http2.bdp_probe", 0)]) as channel:
        session_id = await read_one_then_fall_behind(channel, user, agent, 1.5)
    await partial_reply_kept(gateway, session_id, "".join(words))
