"""Slow and abusive clients: the gateway refuses or outlasts them, keeps its memory bounded, and keeps serving
everyone else meanwhile. Loopback only; every loop is bounded."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import psutil
import pytest

from server.memory.embeddings import get_embedder
from tests.harness import GatewayThread
from tests.helpers.accounts import bearer, register


@pytest.fixture(autouse=True)
async def model_loaded(gateway: GatewayThread) -> None:
    """The memory worker loads the embedding model (~90 MB) into this process when a gateway starts; load it first
    so the memory figures below measure request handling only."""
    await get_embedder().warm()


async def _readiness_latency(http: aiohttp.ClientSession, count: int = 10) -> float:
    """The slowest of `count` readiness calls made while the abuse goes on."""
    slowest = 0.0
    for _ in range(count):
        started = time.perf_counter()
        async with http.get("/readiness") as resp:
            assert resp.status == 200
        slowest = max(slowest, time.perf_counter() - started)
    return slowest


async def test_slowloris_connections_do_not_starve_other_clients(
    gateway: GatewayThread, http: aiohttp.ClientSession
) -> None:
    writers = []
    try:
        for _ in range(150):
            _, writer = await asyncio.open_connection("127.0.0.1", gateway.http_port)
            # A request line and one header, then nothing: the connection just sits there.
            writer.write(b"POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            await writer.drain()
            writers.append(writer)
        for writer in writers[:50]:
            writer.write(b"X-Slow: 1\r\n")  # trickle a little more
        assert await _readiness_latency(http) < 1.0
    finally:
        for writer in writers:
            writer.close()


async def test_huge_bodies_are_refused_without_being_buffered(
    gateway: GatewayThread, http: aiohttp.ClientSession
) -> None:
    process = psutil.Process()
    before = process.memory_info().rss
    body = b"{" + b'"x": "' + b"a" * (10 * 1024 * 1024) + b'"}'
    for _ in range(3):
        async with http.post("/auth/login", data=body, headers={"Content-Type": "application/json"}) as resp:
            assert resp.status == 413
            assert (await resp.json())["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert await _readiness_latency(http) < 1.0
    # Three 10 MB bodies refused: the process did not keep them (the client's own copy is ~10 MB).
    assert process.memory_info().rss - before < 80 * 1024 * 1024


async def test_huge_query_strings_and_headers_are_refused(http: aiohttp.ClientSession) -> None:
    async with http.get("/skills?" + "q=" + "a" * 100_000) as resp:
        assert 400 <= resp.status < 500
    async with http.get("/readiness", headers={"X-Big": "b" * 100_000}) as resp:
        assert 400 <= resp.status < 500
    assert await _readiness_latency(http) < 1.0


async def test_deeply_nested_json_is_a_400_not_a_crash(http: aiohttp.ClientSession) -> None:
    for body in (b"[" * 200_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000):
        async with http.post("/auth/login", data=body, headers={"Content-Type": "application/json"}) as resp:
            assert resp.status in (400, 413)
    assert await _readiness_latency(http) < 1.0


async def test_a_websocket_client_that_never_reads_does_not_hold_up_others(
    gateway: GatewayThread, http: aiohttp.ClientSession
) -> None:
    account = await register(http)
    process = psutil.Process()
    before = process.memory_info().rss
    async with http.ws_connect("/ws", headers=bearer(account)) as ws:
        # Thousands of pings whose pongs are never read: the server's writes back up and it stops reading this
        # socket (TCP flow control) instead of buffering without bound.
        ping = '{"type":"ping"}'
        for _ in range(20_000):
            await ws.send_str(ping)
        assert await _readiness_latency(http) < 1.0
        async with http.ws_connect("/ws", headers=bearer(account)) as other:
            await other.send_json({"type": "ping"})
            assert (await other.receive_json(timeout=5))["type"] == "pong"
    assert process.memory_info().rss - before < 100 * 1024 * 1024
