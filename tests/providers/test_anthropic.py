"""AnthropicProvider against a loopback server speaking the Messages API SSE format."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from server.providers.anthropic import AnthropicProvider
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
from tests.providers.fake_vendors import (
    WEATHER,
    FakeVendor,
    Reply,
    anthropic_error,
    anthropic_event,
    anthropic_message_end,
    anthropic_message_start,
    anthropic_text_block,
    anthropic_text_stream,
    anthropic_tool_block,
    collect,
    collect_until_error,
)

KEY = "sk-ant-test-DO-NOT-LEAK-0987654321"


@pytest.fixture
async def provider(vendor: FakeVendor) -> AsyncIterator[AnthropicProvider]:
    p = AnthropicProvider(KEY, vendor.url, connect_timeout=2, read_timeout=2)
    yield p
    await p.close()


def hello(**kwargs: object) -> CompletionRequest:
    messages = (
        ChatMessage("system", "You are Astra."),
        ChatMessage("system", "Answer in English."),
        ChatMessage("user", "Say hello"),
    )
    return CompletionRequest(model="claude-sonnet-4-20250514", messages=messages, **kwargs)  # type: ignore[arg-type]


async def test_text_deltas_then_finish_and_the_request_shape(vendor: FakeVendor, provider: AnthropicProvider) -> None:
    parts = ["Hello", " from", " Claude", "."]
    vendor.script(Reply(chunks=anthropic_text_stream(parts, input_tokens=25, output_tokens=9), chunk_delay=0.005))

    events = await collect(provider.stream(hello(temperature=0.5, max_output_tokens=256)))

    assert events == [*(TextDelta(p) for p in parts), Finish(prompt_tokens=25, completion_tokens=9, stop_reason="stop")]
    sent = vendor.requests[0]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["content-type"].startswith("application/json")
    assert "Authorization" not in sent.headers
    assert sent.body == {
        "model": "claude-sonnet-4-20250514",
        "max_tokens": 256,
        "stream": True,
        "system": "You are Astra.\n\nAnswer in English.",  # top level, never a message
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Say hello"}]}],
        "temperature": 0.5,
    }


async def test_tool_use_blocks_become_complete_tool_calls(vendor: FakeVendor, provider: AnthropicProvider) -> None:
    vendor.script(
        Reply(
            chunks=[
                anthropic_message_start(472),
                *anthropic_text_block(0, ["Let me ", "check."]),
                *anthropic_tool_block(1, "toolu_01A", "get_weather", ['{"ci', 'ty": "Pa', 'ris"}']),
                anthropic_event("ping", {}),
                *anthropic_tool_block(2, "toolu_01B", "get_time", []),  # no input at all
                *anthropic_message_end("tool_use", 89),
            ]
        )
    )
    request = CompletionRequest(model="claude-x", messages=(ChatMessage("user", "Weather?"),), tools=(WEATHER,))

    events = await collect(provider.stream(request))

    assert joined(events) == [  # text that arrived together comes as one delta
        TextDelta("Let me check."),
        ToolCallEvent(ToolCallRequest("toolu_01A", "get_weather", '{"city": "Paris"}')),
        ToolCallEvent(ToolCallRequest("toolu_01B", "get_time", "{}")),
        Finish(prompt_tokens=472, completion_tokens=89, stop_reason="tool_calls"),
    ]
    body = vendor.requests[0].body
    assert body["tools"] == [
        {"name": "get_weather", "description": "Current weather for a city", "input_schema": WEATHER.parameters}
    ]
    assert "system" not in body and "temperature" not in body


async def test_max_tokens_stop_maps_to_length(vendor: FakeVendor, provider: AnthropicProvider) -> None:
    chunks = [anthropic_message_start(3), *anthropic_text_block(0, ["cut"]), *anthropic_message_end("max_tokens", 1)]
    vendor.script(Reply(chunks=chunks))
    events = await collect(provider.stream(hello()))
    assert events[-1] == Finish(3, 1, "length")


async def test_tool_history_alternates_roles_with_merged_tool_results(
    vendor: FakeVendor, provider: AnthropicProvider
) -> None:
    vendor.script(Reply(chunks=anthropic_text_stream(["Sunny, 9:41."])))
    calls = (
        ToolCallRequest("toolu_1", "get_weather", '{"city": "Paris"}'),
        ToolCallRequest("toolu_2", "get_time", "not json"),
    )
    request = CompletionRequest(
        model="claude-x",
        messages=(
            ChatMessage("system", "Be brief."),
            ChatMessage("user", "Weather and time?"),
            ChatMessage("assistant", "Checking.", tool_calls=calls),
            ChatMessage("tool", "sunny", tool_call_id="toolu_1", name="get_weather"),
            ChatMessage("tool", "09:41", tool_call_id="toolu_2", name="get_time"),
        ),
        tools=(WEATHER,),
    )

    await collect(provider.stream(request))

    body = vendor.requests[0].body
    assert body["system"] == "Be brief."
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather and time?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": "09:41"},
            ],
        },
    ]


async def test_401_is_not_retryable_and_never_shows_the_key(vendor: FakeVendor, provider: AnthropicProvider) -> None:
    vendor.script(Reply(status=401, body=anthropic_error("authentication_error", f"invalid x-api-key {KEY}")))
    events, error = await collect_until_error(provider.stream(hello()))
    assert events == []
    assert (error.provider, error.status, error.retryable) == ("anthropic", 401, False)
    # The caller learns the status; what the vendor said is for the log only, and never with the key.
    assert error.message == "the provider answered HTTP 401"
    assert "invalid x-api-key" in error.excerpt and KEY not in error.excerpt
    assert KEY not in str(error) and KEY not in repr(error)


async def test_529_and_429_are_retryable(vendor: FakeVendor, provider: AnthropicProvider) -> None:
    vendor.script(
        Reply(status=529, body=anthropic_error("overloaded_error", "Overloaded")),
        Reply(status=429, body=anthropic_error("rate_limit_error", "slow down"), headers={"retry-after": "1"}),
    )
    _, overloaded = await collect_until_error(provider.stream(hello()))
    _, limited = await collect_until_error(provider.stream(hello()))
    assert (overloaded.status, overloaded.retryable, overloaded.retry_after) == (529, True, None)
    assert (limited.status, limited.retryable, limited.retry_after) == (429, True, 1.0)


async def test_an_error_event_mid_stream_raises_after_the_partial_text(
    vendor: FakeVendor, provider: AnthropicProvider
) -> None:
    start, *_ = anthropic_text_block(0, [])
    chunks = [
        anthropic_message_start(10),
        start,
        anthropic_event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "Hal"}}),
        f"event: error\ndata: {json.dumps(anthropic_error('overloaded_error', 'Overloaded'))}\n\n",
    ]
    vendor.script(Reply(chunks=chunks))
    events, error = await collect_until_error(provider.stream(hello()))
    assert events == [TextDelta("Hal")]
    assert (error.status, error.retryable) == (529, True)
    assert "529" in error.message and "Overloaded" not in error.message
    assert error.excerpt == "overloaded_error: Overloaded"


async def test_a_cut_stream_raises_after_yielding_what_arrived(vendor: FakeVendor, provider: AnthropicProvider) -> None:
    vendor.script(Reply(chunks=anthropic_text_stream(["One", " two", " three"]), cut_after=5))
    events, error = await collect_until_error(provider.stream(hello()))
    assert joined(events) == [TextDelta("One two")]
    assert (error.message, error.status, error.retryable) == ("stream ended unexpectedly", 0, False)


async def test_a_stall_mid_stream_is_a_read_timeout(vendor: FakeVendor) -> None:
    vendor.script(Reply(chunks=anthropic_text_stream(["Hello", " world"]), stall_after=4))
    provider = AnthropicProvider(KEY, vendor.url, read_timeout=0.3)
    try:
        events, error = await collect_until_error(provider.stream(hello()))
    finally:
        await provider.close()
    assert events == [TextDelta("Hello")]
    assert (error.status, error.retryable, error.message) == (0, True, "request timed out")


async def test_keyless_requests_omit_the_api_key_header(vendor: FakeVendor) -> None:
    vendor.script(Reply(chunks=anthropic_text_stream(["ok"])))
    provider = AnthropicProvider("", vendor.url)
    try:
        await collect(provider.stream(hello()))
    finally:
        await provider.close()
    assert "x-api-key" not in vendor.requests[0].headers


async def test_an_agents_base_url_wins_and_never_gets_the_servers_key(vendor: FakeVendor) -> None:
    vendor.script(Reply(chunks=anthropic_text_stream(["ok"])))
    # The configured default is unreachable; loopback is allowed here only so the fake vendor can stand in.
    provider = AnthropicProvider(KEY, "http://127.0.0.1:9", agent_endpoints=AgentEndpoints(allow_private=True))
    try:
        await collect(provider.stream(hello(base_url=vendor.url)))
    finally:
        await provider.close()
    assert vendor.requests[0].path == "/v1/messages"
    assert "x-api-key" not in vendor.requests[0].headers
