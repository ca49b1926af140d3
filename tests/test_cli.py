"""`astra serve` as a user runs it: embedded defaults, split roles, refusing bad config, draining on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import grpc
import psutil
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.harness import TEST_SECRET
from tests.helpers.accounts import register, unique_email
from tests.helpers.db import Postgres
from tests.helpers.http import api
from tests.helpers.processes import base_env, free_port, stop


def start(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "server", "serve", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def wait_ready(url: str, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            assert proc.poll() is None, (proc.stderr.read() if proc.stderr else b"").decode()[-2000:]
            try:
                async with http.get(f"{url}/readiness") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"{url} not ready within {seconds}s")


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, str, Path]]:
    http_port, grpc_port = free_port(), free_port()
    env = base_env(
        ASTRA_HTTP_PORT=str(http_port),
        ASTRA_GRPC_PORT=str(grpc_port),
        ASTRA_DRAIN_DELAY_S="1.5",
        ASTRA_SHUTDOWN_GRACE_S="5",
    )
    proc = start([], env, tmp_path)
    yield proc, f"http://127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}", tmp_path
    stop(proc)


async def test_embedded_defaults_serve_and_drain_on_sigterm(embedded) -> None:
    proc, url, target, cwd = embedded
    await wait_ready(url, proc)
    # The dev default keeps a generated secret under ./.astra, readable by the owner only.
    secret = cwd / ".astra" / "jwt_secret"
    assert len(secret.read_text().strip()) >= 32
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    async with aiohttp.ClientSession(base_url=url) as http:
        async with http.post(
            "/auth/register", json={"email": unique_email(), "password": "correct horse battery"}
        ) as resp:
            assert resp.status == 200

        proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.4)
        # Draining: still answering, but telling load balancers to go away.
        async with http.get("/readiness") as resp:
            assert resp.status == 503
            assert (await resp.json())["reason"] == "draining"
        async with grpc.aio.insecure_channel(target) as channel:
            answer = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
            assert answer.status == health_pb2.HealthCheckResponse.NOT_SERVING
    assert await asyncio.to_thread(proc.wait, 20) == 0


async def test_in_flight_requests_finish_after_sigterm(tmp_path: Path, postgres: Postgres) -> None:
    http_port = free_port()
    env = base_env(
        DATABASE_URL=postgres.fresh_database("cli_inflight"),
        JWT_SECRET=TEST_SECRET,
        ASTRA_HTTP_PORT=str(http_port),
        ASTRA_GRPC_PORT=str(free_port()),
        ASTRA_DRAIN_DELAY_S="0",
        ASTRA_SHUTDOWN_GRACE_S="10",
    )
    proc = start([], env, tmp_path)
    try:
        url = f"http://127.0.0.1:{http_port}"
        await wait_ready(url, proc)
        async with aiohttp.ClientSession(base_url=url) as http:
            # Registrations hash with argon2, so several at once are still running when SIGTERM lands.
            async def register() -> int:
                body = {"email": unique_email(), "password": "correct horse battery"}
                async with http.post("/auth/register", json=body) as resp:
                    return resp.status

            calls = [asyncio.create_task(register()) for _ in range(6)]
            await asyncio.sleep(0.05)
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.gather(*calls) == [200] * 6
        assert await asyncio.to_thread(proc.wait, 20) == 0
    finally:
        stop(proc)


async def test_split_roles_edge_reaches_core_over_grpc(tmp_path: Path, postgres: Postgres) -> None:
    grpc_port, http_port = free_port(), free_port()
    common = {"DATABASE_URL": postgres.fresh_database("cli_split"), "JWT_SECRET": TEST_SECRET}
    core = start(["--role", "grpc"], base_env(ASTRA_GRPC_PORT=str(grpc_port), **common), tmp_path)
    edge = start(
        ["--role", "edge"],
        base_env(ASTRA_HTTP_PORT=str(http_port), ASTRA_GRPC_TARGET=f"127.0.0.1:{grpc_port}"),
        tmp_path,
    )
    try:
        url = f"http://127.0.0.1:{http_port}"
        await wait_ready(url, edge)
        async with aiohttp.ClientSession(base_url=url) as http:
            async with http.post(
                "/auth/register", json={"email": unique_email(), "password": "correct horse battery"}
            ) as resp:
                assert resp.status == 200
            async with http.get("/metrics") as resp:
                text = await resp.text()
            # The core's per-method figures and the edge's own per-route figures, in one scrape.
            assert 'astra_grpc_requests_total{code="OK",method="/astra.v1.AuthService/Register"}' in text
            assert 'astra_http_requests_total{method="POST",route="/auth/register",status="200"}' in text

        core.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(core.wait, 20) == 0
        async with aiohttp.ClientSession(base_url=url) as http, http.get("/readiness") as resp:
            # The edge is up but its core is gone: a clean 503, not a hang or a 500.
            assert resp.status == 503
            assert (await resp.json())["error"]["code"] == "UNAVAILABLE"
    finally:
        stop(edge)
        stop(core)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATABASE_URL": "postgresql://x@127.0.0.1:1/x"}, "JWT_SECRET is required"),
        ({"DATABASE_URL": "postgresql://x@127.0.0.1:1/x", "JWT_SECRET": "short"}, "at least 32 bytes"),
        ({"ASTRA_GRPC_PORT": "not-a-port"}, "ASTRA_GRPC_PORT must be an integer"),
        ({"ASTRA_LOG_LEVEL": "loud"}, "ASTRA_LOG_LEVEL"),
        ({"ASTRA_PROCESSES": "0"}, "ASTRA_PROCESSES must be at least 1"),
    ],
)
def test_refuses_to_start_on_bad_configuration(tmp_path: Path, env: dict[str, str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "server", "serve"],
        env=base_env(**env),
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert message in result.stderr.decode()


def test_edge_role_needs_a_core_target(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "server", "serve", "--role", "edge"],
        env=base_env(),
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "ASTRA_GRPC_TARGET" in result.stderr.decode()


def _copies(parent: subprocess.Popen[bytes]) -> dict[int, psutil.Process]:
    """The gateway copies a `--processes` parent runs, by pid."""
    copies = {}
    for child in psutil.Process(parent.pid).children():
        try:
            if "--copy" in child.cmdline() and child.status() != psutil.STATUS_ZOMBIE:
                copies[child.pid] = child
        except psutil.Error:  # gone (or a zombie) between listing and asking
            pass
    return copies


def _listening(copy: psutil.Process, port: int) -> bool:
    try:
        return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in copy.net_connections("tcp"))
    except psutil.Error:
        return False


async def _copies_serving(parent: subprocess.Popen[bytes], ports: tuple[int, int], seconds: float = 30) -> set[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        copies = _copies(parent)
        if len(copies) == 2 and all(_listening(c, p) for c in copies.values() for p in ports):
            return set(copies)
        await asyncio.sleep(0.2)
    raise AssertionError(f"two copies not listening on {ports}: {_copies(parent)}")


def start_copies(tmp_path: Path, postgres: Postgres, database: str) -> tuple[subprocess.Popen[bytes], int, int]:
    """`serve --processes 2` on a fresh database and fixed free ports: (parent, HTTP port, gRPC port)."""
    http_port, grpc_port = free_port(), free_port()
    env = base_env(
        DATABASE_URL=postgres.fresh_database(database),
        JWT_SECRET=TEST_SECRET,
        ASTRA_HTTP_PORT=str(http_port),
        ASTRA_GRPC_PORT=str(grpc_port),
        ASTRA_DRAIN_DELAY_S="0",
    )
    return start(["--processes", "2"], env, tmp_path), http_port, grpc_port


async def test_processes_share_the_ports_and_a_dead_copy_is_replaced(tmp_path: Path, postgres: Postgres) -> None:
    proc, http_port, grpc_port = start_copies(tmp_path, postgres, "cli_processes")
    try:
        url = f"http://127.0.0.1:{http_port}"
        await wait_ready(url, proc)
        first = await _copies_serving(proc, (http_port, grpc_port))
        # A new connection per request, so the kernel spreads them over both copies; every one is served.
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(base_url=url, connector=connector) as http:
            account = await register(http)
            statuses = [(await api(http, "GET", "/workspaces", account))[0] for _ in range(20)]
            assert statuses == [200] * 20

            os.kill(next(iter(first)), signal.SIGKILL)
            replaced = await _copies_serving(proc, (http_port, grpc_port))
            assert len(replaced - first) == 1
            assert [(await api(http, "GET", "/workspaces", account))[0] for _ in range(10)] == [200] * 10
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 30) == 0
        assert not any(psutil.pid_exists(pid) for pid in replaced)
    finally:
        for copy in _copies(proc).values() if proc.poll() is None else ():
            copy.kill()
        stop(proc)


async def test_copies_stop_when_their_parent_is_killed(tmp_path: Path, postgres: Postgres) -> None:
    proc, http_port, grpc_port = start_copies(tmp_path, postgres, "cli_orphans")
    copies: set[int] = set()
    try:
        await wait_ready(f"http://127.0.0.1:{http_port}", proc)
        copies = await _copies_serving(proc, (http_port, grpc_port))
        proc.kill()
        proc.wait(10)
        # No orphans left holding the ports.
        _, alive = await asyncio.to_thread(psutil.wait_procs, [psutil.Process(pid) for pid in copies], 20)
        assert alive == []
    finally:
        for pid in copies:
            if psutil.pid_exists(pid):
                psutil.Process(pid).kill()
        stop(proc)


def test_processes_need_fixed_ports(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "server", "serve", "--processes", "2"],
        env=base_env(ASTRA_HTTP_PORT="0"),
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "fixed ports" in result.stderr.decode()
