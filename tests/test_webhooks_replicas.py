"""Background work across replicas and restarts: two gateways on one database deliver each event once and run each
heartbeat once per interval; a gateway stopped in the middle of a backlog loses nothing (what it had in flight is
sent again by the next one: at-least-once)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter

import aiohttp
import psycopg
from psycopg.types.json import JsonbDumper

from server import events
from tests.harness import GatewayThread, test_settings
from tests.helpers.accounts import register
from tests.helpers.db import Postgres, sql
from tests.helpers.http import api
from tests.helpers.waiting import eventually
from tests.receivers import Receiver, Reply


def gateways(postgres: Postgres, name: str, n: int, **overrides: object) -> tuple[str, list[GatewayThread]]:
    url = postgres.fresh_database(name)
    settings = test_settings(url, allow_private_urls=True, worker_poll_s=0.1, heartbeat_min_interval_s=1, **overrides)
    return url, [GatewayThread(settings).start() for _ in range(n)]


async def emit_many(database_url: str, workspace_id: str, n: int) -> list[str]:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        conn.adapters.register_dumper(dict, JsonbDumper)
        ids = [await events.emit(conn, workspace_id, "memory.written", {"n": i}) for i in range(n)]
        await conn.commit()
    return ids


async def test_two_replicas_deliver_each_event_once_and_run_each_heartbeat_once_per_interval(
    postgres: Postgres, receiver: Receiver
) -> None:
    database_url, (first, second) = gateways(postgres, "hooks_replicas", 2)
    try:
        async with aiohttp.ClientSession(base_url=first.http_url) as http:
            owner = await register(http)
            receiver.respond("/replicas", Reply(200, "ok", delay_s=0.02))
            status, body, _ = await api(
                http, "POST", "/webhooks", owner, json={"url": receiver.url + "/replicas", "events": ["memory.written"]}
            )
            assert status == 200, body
            receiver.feed("/replicas-feed", [{"guid": "1", "title": "one"}])
            status, body, _ = await api(
                http,
                "POST",
                "/heartbeat",
                owner,
                json={"type": "rss", "url": receiver.url + "/replicas-feed", "intervalSeconds": 1},
            )
            assert status == 200, body
            heartbeat_id = body["heartbeat"]["id"]
            started = time.monotonic()
            ids = await emit_many(database_url, owner["workspaceId"], 200)
            await eventually(lambda: len(receiver.received("/replicas")) >= 200, seconds=20, what="all deliveries")
            await asyncio.sleep(max(0.0, 4.5 - (time.monotonic() - started)))
            counts = Counter(r.headers["webhook-id"] for r in receiver.received("/replicas"))
            assert set(counts) == set(ids) and set(counts.values()) == {1}
            rows = await sql(first, "SELECT status, count(*) AS n FROM webhook_deliveries GROUP BY status")
            assert rows == [{"status": "delivered", "n": 200}]
            status, _, _ = await api(http, "PATCH", f"/heartbeat/{heartbeat_id}", owner, json={"enabled": False})
            runs = await sql(
                first,
                "SELECT started_at, status FROM heartbeat_runs WHERE heartbeat_id = %s ORDER BY started_at",
                (heartbeat_id,),
            )
            # Both replicas poll every 0.1 s; still every run is at least one interval after the one before.
            assert len(runs) >= 3 and all(r["status"] in ("ok", "fired") for r in runs)
            gaps = [(b["started_at"] - a["started_at"]).total_seconds() for a, b in itertools.pairwise(runs)]
            assert min(gaps) >= 0.99, gaps
            assert len(receiver.received("/replicas-feed")) == len(runs)
            assert sum(r["status"] == "fired" for r in runs) == 1  # the one item fired once, on one replica
    finally:
        first.stop()
        second.stop()


async def test_a_restart_in_the_middle_of_a_backlog_loses_nothing(postgres: Postgres, receiver: Receiver) -> None:
    database_url, (first,) = gateways(postgres, "hooks_restart", 1)
    second, stopped = None, False
    try:
        async with aiohttp.ClientSession(base_url=first.http_url) as http:
            owner = await register(http)
        # Slow receiver: the first gateway is stopped while a batch is in flight (sent, not yet recorded).
        receiver.respond("/restart", Reply(200, "ok", delay_s=2.0))
        await sql(
            first,
            "INSERT INTO webhooks (id, workspace_id, url, events, secret) VALUES ('wh_restart', %s, %s, '{*}',"
            " 'whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0') RETURNING id",
            (owner["workspaceId"], receiver.url + "/restart"),
        )
        ids = await emit_many(database_url, owner["workspaceId"], 80)
        await eventually(lambda: receiver.received("/restart"), what="the first sends")
        first.stop()
        stopped = True
        settings = test_settings(database_url, allow_private_urls=True, worker_poll_s=0.1)
        second = GatewayThread(settings).start()

        async def all_delivered() -> bool:
            rows = await sql(second, "SELECT status, count(*) AS n FROM webhook_deliveries GROUP BY status")
            return rows == [{"status": "delivered", "n": 80}]

        await eventually(all_delivered, seconds=20, what="the backlog delivered")
        received = Counter(r.headers["webhook-id"] for r in receiver.received("/restart"))
        assert set(received) == set(ids)  # nothing lost
        assert max(received.values()) == 2  # what was in flight at the stop (sent, unrecorded) was sent again
    finally:
        if not stopped:
            first.stop()
        if second is not None:
            second.stop()
