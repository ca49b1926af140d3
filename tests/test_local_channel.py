"""The in-process channel `astra serve` gives its edge: a call ends the same way in-process as over the network
(response, status code, details, trailers, request id), deadlines and cancellation reach the handler, and a
closing channel refuses new calls while it drains the ones in flight."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest

from astra.v1 import agents_pb2, agents_pb2_grpc, auth_pb2, auth_pb2_grpc, chat_pb2, chat_pb2_grpc
from server.local_channel import LocalChannel
from tests.fakes import SECRET_DETAIL, FakeChat, signal, wait_for
from tests.harness import GatewayThread
from tests.helpers.accounts import unique_email

GATEWAY_SERVICERS = {"astra.v1.ChatService": FakeChat}

Outcome = tuple[Any, ...]
CallFn = Callable[[Any], Awaitable[Outcome]]


def ended(error: grpc.aio.AioRpcError) -> Outcome:
    trailers = dict(error.trailing_metadata() or ())
    return ("error", error.code(), error.details(), trailers.get("x-request-id"), trailers.get("retry-after"))


async def both(gateway: GatewayThread, network: grpc.aio.Channel, call: CallFn) -> tuple[Outcome, Outcome]:
    """`call` over the network channel, and over the core's in-process channel on the gateway's own loop."""

    async def local() -> Outcome:
        return await call(gateway.core.local_channel)

    return await call(network), gateway.run(local())


@pytest.fixture
async def token(channel: grpc.aio.Channel) -> str:
    answer = await auth_pb2_grpc.AuthServiceStub(channel).Register(
        auth_pb2.RegisterRequest(email=unique_email("local"), password="local password 123")
    )
    return answer.tokens.access_token


async def test_unary_calls_end_alike(gateway: GatewayThread, channel: grpc.aio.Channel, token: str) -> None:
    def get_agent(agent_id: str, auth: bool) -> CallFn:
        async def call(ch: Any) -> Outcome:
            rid = f"local-{uuid.uuid4().hex[:8]}"
            metadata = [("x-request-id", rid)] + ([("authorization", f"Bearer {token}")] if auth else [])
            unary = agents_pb2_grpc.AgentsServiceStub(ch).GetAgent(
                agents_pb2.GetAgentRequest(agent_id=agent_id), metadata=metadata
            )
            try:
                response = await unary
            except grpc.aio.AioRpcError as exc:
                assert dict(exc.trailing_metadata())["x-request-id"] == rid
                return ended(exc)[:3]
            assert dict(await unary.trailing_metadata())["x-request-id"] == rid
            return ("ok", response.agent.id)

        return call

    created = agents_pb2_grpc.AgentsServiceStub(channel).CreateAgent(
        agents_pb2.CreateAgentRequest(agent={"id": "local-a"}), metadata=[("authorization", f"Bearer {token}")]
    )
    await created
    network, local = await both(gateway, channel, get_agent("local-a", auth=True))
    assert network == local == ("ok", "local-a")
    network, local = await both(gateway, channel, get_agent("local-missing", auth=True))
    assert network == local == ("error", grpc.StatusCode.NOT_FOUND, "agent local-missing not found")
    network, local = await both(gateway, channel, get_agent("local-a", auth=False))
    assert network == local and local[1] == grpc.StatusCode.UNAUTHENTICATED

    async def unknown(ch: Any) -> Outcome:
        try:
            await ch.unary_unary("/astra.v1.AgentService/NoSuchMethod")(b"")
        except grpc.aio.AioRpcError as exc:
            return ("error", exc.code())
        return ("ok",)

    network, local = await both(gateway, channel, unknown)
    assert network == local == ("error", grpc.StatusCode.UNIMPLEMENTED)


def chat(token: str, message: str, timeout: float | None = None) -> CallFn:
    async def call(ch: Any) -> Outcome:
        stream = chat_pb2_grpc.ChatServiceStub(ch).ChatStream(
            chat_pb2.ChatStreamRequest(agent_id="assistant", message=message, surface_id=uuid.uuid4().hex),
            metadata=[("authorization", f"Bearer {token}"), ("x-request-id", "local-stream")],
            timeout=timeout,
        )
        seen: list[str] = []
        try:
            async for event in stream:
                seen.append(event.WhichOneof("event") or "")
        except grpc.aio.AioRpcError as exc:
            return (*seen, *ended(exc))
        return (*seen, "eof")

    return call


async def test_streams_end_alike(gateway: GatewayThread, channel: grpc.aio.Channel, token: str) -> None:
    network, local = await both(gateway, channel, chat(token, "hello there"))
    assert network == local == ("session_resolved", "stream_chunk", "stream_chunk", "stream_done", "eof")
    network, local = await both(gateway, channel, chat(token, "rate-limited-mid"))
    assert network == local
    assert local[:2] == ("session_resolved", "stream_chunk")
    assert local[2:] == ("error", grpc.StatusCode.RESOURCE_EXHAUSTED, "provider rate limit", "local-stream", "3")
    network, local = await both(gateway, channel, chat(token, "crash-mid"))
    assert network == local
    assert local[3] == grpc.StatusCode.INTERNAL and SECRET_DETAIL not in str(local)


async def test_deadline_ends_the_call_and_the_handler(
    gateway: GatewayThread, channel: grpc.aio.Channel, token: str
) -> None:
    network, local = await both(gateway, channel, chat(token, "pause", timeout=0.3))
    assert network[:3] == local[:3] == ("session_resolved", "error", grpc.StatusCode.DEADLINE_EXCEEDED)


async def test_cancelling_a_local_stream_cancels_the_handler(gateway: GatewayThread, token: str) -> None:
    key = uuid.uuid4().hex

    async def cancel_after_two() -> list[str]:
        stream = chat_pb2_grpc.ChatServiceStub(gateway.core.local_channel).ChatStream(
            chat_pb2.ChatStreamRequest(agent_id="assistant", message="long", surface_id=key),
            metadata=[("authorization", f"Bearer {token}")],
        )
        seen = [(await stream.read()).WhichOneof("event"), (await stream.read()).WhichOneof("event")]
        stream.cancel()
        return seen

    assert gateway.run(cancel_after_two()) == ["session_resolved", "stream_chunk"]
    assert await wait_for(signal(key, "cancelled"), 5)
    assert not signal(key, "finished").is_set()


def sleeper(seconds: float, cancelled: asyncio.Event | None = None) -> grpc.GenericRpcHandler:
    async def slow(request: bytes, context: Any) -> bytes:
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            if cancelled is not None:
                cancelled.set()
            raise
        return b"done"

    handler = grpc.unary_unary_rpc_method_handler(slow)
    return grpc.method_handlers_generic_handler("test.Slow", {"Sleep": handler})


async def test_closing_drains_calls_in_flight_and_refuses_new_ones() -> None:
    channel = LocalChannel([sleeper(0.2)], lambda method, handler: handler)
    sleep = channel.unary_unary("/test.Slow/Sleep")
    in_flight = sleep(b"")
    closing = asyncio.ensure_future(channel.close(grace=5))
    await asyncio.sleep(0)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await sleep(b"")
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert await in_flight == b"done"
    await closing


async def test_closing_cancels_what_outlives_the_grace_period() -> None:
    channel = LocalChannel([sleeper(30)], lambda method, handler: handler)
    in_flight = channel.unary_unary("/test.Slow/Sleep")(b"", timeout=60)
    await asyncio.sleep(0.01)
    await asyncio.wait_for(channel.close(grace=0.1), 5)
    with pytest.raises(grpc.aio.AioRpcError) as cancelled:
        await in_flight
    assert cancelled.value.code() == grpc.StatusCode.CANCELLED


async def test_a_caller_that_goes_away_cancels_the_unary_call() -> None:
    cancelled = asyncio.Event()
    channel = LocalChannel([sleeper(30, cancelled)], lambda method, handler: handler)
    waiting = asyncio.ensure_future(channel.unary_unary("/test.Slow/Sleep")(b""))
    await asyncio.sleep(0.01)
    waiting.cancel()
    await asyncio.wait_for(cancelled.wait(), 5)
