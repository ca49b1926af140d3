"""/admin/health's count of open /ws sockets, where the core runs apart from its edges: a `--role grpc` core behind
two `--role edge` processes sees the sockets held open on each edge, and forgets an edge that stops reporting.
Reports from peers that are not edges (ASTRA_TRUSTED_PROXIES) are not believed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import grpc
import pytest

from astra.v1 import system_pb2, system_pb2_grpc
from tests.harness import API_KEY, TEST_SECRET, GatewayThread, test_settings
from tests.helpers.accounts import bearer, register
from tests.helpers.db import Postgres, sql
from tests.helpers.http import api
from tests.helpers.processes import base_env, free_port, serve, stop, wait_until_ready
from tests.helpers.waiting import eventually

KEY = {"x-api-key": API_KEY}


async def open_sockets(http: aiohttp.ClientSession) -> int:
    status, body, _ = await api(http, "GET", "/admin/health", headers=KEY)
    assert status == 200, body
    return body["websocketConnections"]


async def until_open_sockets(http: aiohttp.ClientSession, expected: int, seconds: float = 20) -> None:
    async def reached() -> bool:
        return await open_sockets(http) == expected

    await eventually(reached, seconds, f"{expected} open sockets in /admin/health")


@pytest.fixture
async def split(tmp_path: Path, postgres: Postgres) -> AsyncIterator[list[aiohttp.ClientSession]]:
    """A core alone (`--role grpc`) and two edges in front of it, each edge as an HTTP session."""
    grpc_port, http_ports = free_port(), [free_port(), free_port()]
    database = postgres.fresh_database("admin_sockets")
    core_env = base_env(ASTRA_GRPC_PORT=str(grpc_port), DATABASE_URL=database, JWT_SECRET=TEST_SECRET)
    procs = [serve(["--role", "grpc"], {**core_env, "ASTRA_API_KEYS": API_KEY}, tmp_path, tmp_path / "core.log")]
    for i, port in enumerate(http_ports):
        env = base_env(ASTRA_HTTP_PORT=str(port), ASTRA_GRPC_TARGET=f"127.0.0.1:{grpc_port}")
        procs.append(serve(["--role", "edge"], env, tmp_path, tmp_path / f"edge{i}.log"))
    sessions = [aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") for port in http_ports]
    try:
        for session, edge in zip(sessions, procs[1:], strict=True):
            await wait_until_ready(session, edge, 60)
        yield sessions
    finally:
        for session in sessions:
            await session.close()
        for proc in procs:
            stop(proc)


async def test_health_counts_the_sockets_held_open_on_every_edge(split: list[aiohttp.ClientSession]) -> None:
    first, second = split
    account = await register(first)
    assert await open_sockets(first) == 0
    held = [await first.ws_connect("/ws", headers=bearer(account)) for _ in range(2)]
    held.append(await second.ws_connect("/ws", headers=bearer(account)))
    try:
        # Whichever edge the question comes through, the answer counts both edges' sockets.
        await until_open_sockets(first, 3)
        assert await open_sockets(second) == 3
        await held.pop().close()
        await until_open_sockets(second, 2)
    finally:
        for sock in held:
            await sock.close()
    await until_open_sockets(first, 0)


async def test_only_recent_reports_from_edges_count(gateway: GatewayThread) -> None:
    # An edge that stopped reporting a minute ago (stopped, or killed with its sockets open) no longer counts.
    await sql(
        gateway,
        "INSERT INTO edge_sockets (instance_id, sockets, reported_at) VALUES"
        " ('edge-gone', 100, now() - interval '1 minute'), ('edge-live', 4, now())",
    )
    try:
        async with aiohttp.ClientSession(base_url=gateway.http_url) as http:
            assert await open_sockets(http) == 4
    finally:
        await sql(gateway, "DELETE FROM edge_sockets WHERE instance_id IN ('edge-gone', 'edge-live')")


async def test_a_report_from_a_peer_that_is_no_edge_is_ignored(postgres: Postgres) -> None:
    # Loopback is not among this core's trusted proxies, so a direct gRPC caller there is not an edge.
    settings = test_settings(postgres.fresh_database("admin_sockets_untrusted"), trusted_proxies=("10.9.0.0/16",))
    gateway = GatewayThread(settings).start()
    try:
        forged = (("x-astra-edge-instance", "forged"), ("x-astra-ws-sockets", "5000"))
        async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
            answer = await system_pb2_grpc.SystemServiceStub(channel).Readiness(
                system_pb2.ReadinessRequest(), metadata=forged
            )
        assert answer.ready
        assert await sql(gateway, "SELECT * FROM edge_sockets WHERE instance_id = 'forged'") == []
        async with aiohttp.ClientSession(base_url=gateway.http_url) as http:
            assert await open_sockets(http) == 0
    finally:
        gateway.stop()
