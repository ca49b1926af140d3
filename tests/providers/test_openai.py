"""OpenAIProvider against a loopback server speaking the chat completions SSE format."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import AsyncIterator

import pytest

from server.providers.base import (
    ChatMessage,
    CompletionRequest,
    Finish,
    TextDelta,
    ToolCallEvent,
    ToolCallRequest,
    joined,
)
from server.providers.endpoints import AgentEndpoints
from server.providers.openai import OpenAIProvider
from tests.providers.fake_vendors import (
    OPENAI_DONE,
    WEATHER,
    FakeVendor,
    Reply,
    collect,
    collect_until_error,
    openai_chunk,
    openai_error,
    openai_parallel_tool_calls_stream,
    openai_text_stream,
    openai_tool_call_start,
)

KEY = "sk-test-DO-NOT-LEAK-1234567890"


@pytest.fixture
async def provider(vendor: FakeVendor) -> AsyncIterator[OpenAIProvider]:
    p = OpenAIProvider(KEY, f"{vendor.url}/v1", connect_timeout=2, read_timeout=2)
    yield p
    await p.close()


def hello(**kwargs: object) -> CompletionRequest:
    messages = (ChatMessage("system", "Be brief."), ChatMessage("user", "Say hello"))
    return CompletionRequest(model="gpt-4o-mini", messages=messages, **kwargs)  # type: ignore[arg-type]


async def test_text_deltas_arrive_in_order_then_one_finish_with_usage(
    vendor: FakeVendor, provider: OpenAIProvider
) -> None:
    parts = ["Hel", "lo", ", wor", "ld!"]
    vendor.script(Reply(chunks=openai_text_stream(parts, prompt_tokens=12, completion_tokens=5), chunk_delay=0.005))

    events = await collect(provider.stream(hello(temperature=0.2, max_output_tokens=64)))

    assert events[:-1] == [TextDelta(p) for p in parts]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hello, world!"
    assert events[-1] == Finish(prompt_tokens=12, completion_tokens=5, stop_reason="stop")
    sent = vendor.requests[0]
    assert sent.method == "POST" and sent.path == "/v1/chat/completions"
    assert sent.headers["Authorization"] == f"Bearer {KEY}"
    assert sent.body == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 64,
        "temperature": 0.2,
    }


async def test_deltas_are_delivered_while_the_server_is_still_streaming(
    vendor: FakeVendor, provider: OpenAIProvider
) -> None:
    # The server goes silent after two chunks; the first delta must already be in our hands.
    vendor.script(Reply(chunks=openai_text_stream(["first", "second"]), stall_after=2))
    stream = provider.stream(hello())
    assert await anext(stream) == TextDelta("first")
    await stream.aclose()  # type: ignore[attr-defined]


async def test_parallel_tool_calls_are_assembled_from_split_deltas(
    vendor: FakeVendor, provider: OpenAIProvider
) -> None:
    vendor.script(Reply(chunks=openai_parallel_tool_calls_stream()))
    request = CompletionRequest(
        model="gpt-4o",
        messages=(ChatMessage("user", "Weather and time in Paris?"),),
        tools=(WEATHER,),
    )

    events = await collect(provider.stream(request))

    assert events == [
        ToolCallEvent(ToolCallRequest("call_weather_1", "get_weather", '{"city": "Paris"}')),
        ToolCallEvent(ToolCallRequest("call_time_2", "get_time", '{"tz": "Europe/Paris", "h24": true}')),
        Finish(prompt_tokens=80, completion_tokens=41, stop_reason="tool_calls"),
    ]
    assert vendor.requests[0].body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather for a city",
                "parameters": WEATHER.parameters,
            },
        }
    ]
    assert "temperature" not in vendor.requests[0].body


async def test_tool_history_is_sent_in_the_openai_wire_format(vendor: FakeVendor, provider: OpenAIProvider) -> None:
    vendor.script(Reply(chunks=openai_text_stream(["It is sunny."])))
    call = ToolCallRequest("call_1", "get_weather", '{"city": "Paris"}')
    request = CompletionRequest(
        model="gpt-4o",
        messages=(
            ChatMessage("user", "Weather in Paris?"),
            ChatMessage("assistant", "", tool_calls=(call,)),
            ChatMessage("tool", "sunny, 21C", tool_call_id="call_1", name="get_weather"),
        ),
        tools=(WEATHER,),
    )

    await collect(provider.stream(request))

    assert vendor.requests[0].body["messages"] == [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21C"},
    ]


async def test_keyless_server_gets_no_authorization(vendor: FakeVendor) -> None:
    vendor.script(Reply(chunks=openai_text_stream(["hi"])))
    provider = OpenAIProvider("", f"{vendor.url}/v1")
    try:
        events = await collect(provider.stream(hello()))
    finally:
        await provider.close()
    assert events[0] == TextDelta("hi")
    assert "Authorization" not in vendor.requests[0].headers


async def test_request_base_url_wins_and_never_gets_the_servers_key(vendor: FakeVendor) -> None:
    vendor.script(Reply(chunks=openai_text_stream(["hi"])))
    # The configured default is unreachable; loopback is allowed here only so the fake vendor can stand in.
    provider = OpenAIProvider(KEY, "http://127.0.0.1:9/v1", agent_endpoints=AgentEndpoints(allow_private=True))
    try:
        events = await collect(provider.stream(hello(base_url=f"{vendor.url}/v1/")))
    finally:
        await provider.close()
    assert events[0] == TextDelta("hi")
    assert vendor.requests[0].path == "/v1/chat/completions"
    assert "Authorization" not in vendor.requests[0].headers


async def test_a_server_that_never_sends_usage_finishes_with_zeros(
    vendor: FakeVendor, provider: OpenAIProvider
) -> None:
    vendor.script(Reply(chunks=[openai_chunk({"content": "ok"}), openai_chunk({}, "length"), OPENAI_DONE]))
    events = await collect(provider.stream(hello()))
    assert events == [TextDelta("ok"), Finish(0, 0, "length")]


async def test_whole_calls_without_index_and_a_stop_reason_still_count(
    vendor: FakeVendor, provider: OpenAIProvider
) -> None:
    # What some Ollama / llama.cpp builds send: each call complete in its own chunk, no index, finish "stop".
    def whole(call_id: str, name: str) -> str:
        call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": '{"q": 1}'}}
        return openai_chunk({"role": "assistant", "content": "", "tool_calls": [call]})

    vendor.script(
        Reply(chunks=[whole("call_a", "alpha"), whole("call_b", "beta"), openai_chunk({}, "stop"), OPENAI_DONE])
    )
    events = await collect(provider.stream(hello()))
    assert events == [
        ToolCallEvent(ToolCallRequest("call_a", "alpha", '{"q": 1}')),
        ToolCallEvent(ToolCallRequest("call_b", "beta", '{"q": 1}')),
        Finish(0, 0, "tool_calls"),
    ]


async def test_done_ends_the_stream_even_if_the_server_keeps_the_body_open(vendor: FakeVendor) -> None:
    chunks = openai_text_stream(["bye"])
    vendor.script(Reply(chunks=chunks, stall_after=len(chunks)))
    provider = OpenAIProvider(KEY, f"{vendor.url}/v1", read_timeout=5)
    started = time.monotonic()
    try:
        events = await collect(provider.stream(hello()))
    finally:
        await provider.close()
    assert events[-1] == Finish(12, 5, "stop")
    assert time.monotonic() - started < 1


async def test_a_data_line_larger_than_aiohttps_line_limit_is_parsed(
    vendor: FakeVendor, provider: OpenAIProvider
) -> None:
    big = json.dumps({"blob": "x" * 300_000})
    start = openai_tool_call_start(0, "call_big", "store")
    start["function"]["arguments"] = big
    vendor.script(Reply(chunks=[openai_chunk({"tool_calls": [start]}), openai_chunk({}, "tool_calls"), OPENAI_DONE]))
    events = await collect(provider.stream(hello()))
    assert events[0] == ToolCallEvent(ToolCallRequest("call_big", "store", big))


async def test_401_becomes_a_non_retryable_error_without_the_key(vendor: FakeVendor, provider: OpenAIProvider) -> None:
    # A misbehaving proxy echoing the whole key must not get it into our logs.
    body = openai_error(f"Incorrect API key provided: {KEY}.", code="invalid_api_key")
    vendor.script(Reply(status=401, body=body))

    events, error = await collect_until_error(provider.stream(hello()))

    assert events == []
    assert (error.provider, error.status, error.retryable, error.retry_after) == ("openai", 401, False, None)
    # The caller learns the status; what the vendor said is for the log only.
    assert error.message == "the provider answered HTTP 401"
    assert "Incorrect API key provided" in error.excerpt
    assert KEY not in error.excerpt and KEY not in str(error) and KEY not in repr(error)
    assert error.details == {"type": "invalid_request_error", "code": "invalid_api_key"}


async def test_500_text_body_is_retryable_and_truncated(vendor: FakeVendor, provider: OpenAIProvider) -> None:
    vendor.script(Reply(status=500, body="upstream exploded " + "x" * 5000))
    _, error = await collect_until_error(provider.stream(hello()))
    assert (error.status, error.retryable) == (500, True)
    assert error.message == "the provider answered HTTP 500"
    assert error.excerpt.startswith("upstream exploded")
    assert len(error.excerpt) < 600


async def test_429_carries_retry_after(vendor: FakeVendor, provider: OpenAIProvider) -> None:
    body = openai_error("Rate limit reached for gpt-4o-mini", "requests", "rate_limit_exceeded")
    vendor.script(Reply(status=429, body=body, headers={"retry-after": "1"}))
    _, error = await collect_until_error(provider.stream(hello()))
    assert (error.status, error.retryable, error.retry_after) == (429, True, 1.0)


async def test_text_that_arrives_in_one_read_goes_on_as_one_delta(vendor: FakeVendor, provider: OpenAIProvider) -> None:
    # A burst (a fast model): one chunk to relay instead of one per token; chunks that arrive apart stay apart
    # (tests/test_chat_vendor.py, the streaming test with chunk_delay).
    vendor.script(Reply(chunks=["".join(openai_text_stream(["One", " two", " three"], 5, 3))]))
    events = await collect(provider.stream(hello()))
    assert events == [TextDelta("One two three"), Finish(prompt_tokens=5, completion_tokens=3, stop_reason="stop")]


async def test_an_error_in_the_same_read_as_text_comes_after_that_text(
    vendor: FakeVendor, provider: OpenAIProvider
) -> None:
    error_line = "data: " + json.dumps({"error": {"message": "upstream overloaded", "code": 502}}) + "\n\n"
    vendor.script(Reply(chunks=[openai_chunk({"content": "Hi"}) + error_line]))  # one write: one read
    events, error = await collect_until_error(provider.stream(hello()))
    assert events == [TextDelta("Hi")]
    assert (error.status, error.retryable) == (502, True)


async def test_a_cut_stream_raises_after_yielding_what_arrived(vendor: FakeVendor, provider: OpenAIProvider) -> None:
    chunks = openai_text_stream(["Partial ", "answer", " never seen"])
    vendor.script(Reply(chunks=chunks, cut_after=3))  # role chunk + two deltas, then a TCP close

    events, error = await collect_until_error(provider.stream(hello()))

    assert joined(events) == [TextDelta("Partial answer")]
    assert error.message == "stream ended unexpectedly"
    assert (error.status, error.retryable) == (0, False)


async def test_a_clean_end_without_done_or_finish_reason_is_a_cut(vendor: FakeVendor, provider: OpenAIProvider) -> None:
    vendor.script(Reply(chunks=openai_text_stream(["Partial ", "answer"]), eof_after=2))
    events, error = await collect_until_error(provider.stream(hello()))
    assert events == [TextDelta("Partial ")]
    assert error.message == "stream ended unexpectedly"


async def test_a_cut_before_any_output_may_be_retried(vendor: FakeVendor, provider: OpenAIProvider) -> None:
    vendor.script(Reply(chunks=openai_text_stream(["never"]), cut_after=1))  # only the empty role chunk
    events, error = await collect_until_error(provider.stream(hello()))
    assert events == []
    assert (error.message, error.retryable) == ("stream ended unexpectedly", True)


async def test_a_drop_after_finish_reason_loses_nothing(vendor: FakeVendor, provider: OpenAIProvider) -> None:
    vendor.script(Reply(chunks=openai_text_stream(["done"]), cut_after=3))  # after the finish chunk, before usage
    events = await collect(provider.stream(hello()))
    assert events == [TextDelta("done"), Finish(0, 0, "stop")]


async def test_an_error_object_inside_the_stream_is_raised(vendor: FakeVendor, provider: OpenAIProvider) -> None:
    error_line = "data: " + json.dumps({"error": {"message": "upstream overloaded", "code": 502}}) + "\n\n"
    vendor.script(Reply(chunks=[openai_chunk({"content": "Hi"}), error_line]))
    events, error = await collect_until_error(provider.stream(hello()))
    assert events == [TextDelta("Hi")]
    assert (error.excerpt, error.status, error.retryable) == ("upstream overloaded", 502, True)
    assert "502" in error.message and "upstream overloaded" not in error.message


async def test_read_timeout_is_a_retryable_error(vendor: FakeVendor) -> None:
    vendor.script(Reply(stall_before_headers=True))
    provider = OpenAIProvider(KEY, f"{vendor.url}/v1", read_timeout=0.3)
    started = time.monotonic()
    try:
        _, error = await collect_until_error(provider.stream(hello()))
    finally:
        await provider.close()
    assert time.monotonic() - started < 2
    assert (error.status, error.retryable, error.message) == (0, True, "request timed out")


async def test_connection_refused_is_a_retryable_network_error() -> None:
    with socket.socket() as s:  # a port nobody listens on any more
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    provider = OpenAIProvider(KEY, f"http://127.0.0.1:{port}/v1", connect_timeout=1)
    try:
        _, error = await collect_until_error(provider.stream(hello()))
    finally:
        await provider.close()
    assert (error.status, error.retryable) == (0, True)
    assert error.message == "could not connect to the provider"
    assert error.excerpt.startswith("ClientConnectorError") and KEY not in error.excerpt


async def test_one_session_is_reused_and_recreated_after_close(vendor: FakeVendor, provider: OpenAIProvider) -> None:
    vendor.script(*(Reply(chunks=openai_text_stream([str(i)])) for i in range(3)))
    await collect(provider.stream(hello()))
    first = provider._http.session()
    await collect(provider.stream(hello()))
    assert provider._http.session() is first
    await provider.close()
    assert first.closed
    events = await collect(provider.stream(hello()))
    assert events[0] == TextDelta("2")
