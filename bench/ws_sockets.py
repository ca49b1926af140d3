"""WebSocket capacity: 1,000 idle authenticated sockets (memory per socket, pong latency) and 200 sockets
streaming a turn at once (local/echo). Loopback only; bounded counts."""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from pathlib import Path

import aiohttp
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Gateway, percentiles, save


async def register(http: aiohttp.ClientSession, url: str, i: int) -> str:
    body = {"email": f"ws-{i}-{time.time_ns()}@example.com", "password": "bench password 123"}
    async with http.post(f"{url}/auth/register", json=body) as resp:
        return (await resp.json())["tokens"]["accessToken"]


async def main(idle: int, streaming: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * idle + 1000)), hard))
    with Gateway() as gw:
        server = psutil.Process(gw.proc.pid)
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as http:
            idle_user = await register(http, gw.http_url, 0)
            await asyncio.sleep(1)
            baseline = server.memory_info().rss
            sockets = [
                await http.ws_connect(f"{gw.http_url}/ws?token={idle_user}", heartbeat=None) for _ in range(idle)
            ]
            await asyncio.sleep(1)
            with_idle = server.memory_info().rss
            pongs = []
            for ws in sockets[:: max(1, idle // 200)]:
                started = time.perf_counter()
                await ws.send_json({"type": "ping"})
                assert (await ws.receive_json(timeout=10))["type"] == "pong"
                pongs.append(time.perf_counter() - started)
            for ws in sockets:
                await ws.close()

            # /ws allows 30 messages a minute per user: each user streams on 25 sockets with its own agent.
            streams: list[tuple[aiohttp.ClientWebSocketResponse, str]] = []
            for u in range(-(-streaming // 25)):
                token = await register(http, gw.http_url, u + 1)
                agent_id = f"ws-bench-{u}-{time.time_ns() % 10**6}"
                headers = {"Authorization": f"Bearer {token}"}
                async with http.post(f"{gw.http_url}/agents", json={"id": agent_id}, headers=headers) as resp:
                    assert resp.status == 200, await resp.text()
                for _ in range(min(25, streaming - len(streams))):
                    streams.append((await http.ws_connect(f"{gw.http_url}/ws?token={token}", heartbeat=None), agent_id))

            async def stream(ws: aiohttp.ClientWebSocketResponse, agent_id: str, i: int) -> float:
                started = time.perf_counter()
                await ws.send_json(
                    {"type": "message", "agentId": agent_id, "message": f"hello number {i}", "surfaceId": f"bench-{i}"}
                )
                while True:
                    frame = await ws.receive_json(timeout=120)
                    if frame["type"] in ("stream_done", "error"):
                        assert frame["type"] == "stream_done", frame
                        return time.perf_counter() - started

            turn_times = await asyncio.gather(*(stream(ws, agent_id, i) for i, (ws, agent_id) in enumerate(streams)))
            for ws, _ in streams:
                await ws.close()
    per_socket_kb = (with_idle - baseline) / idle / 1024
    save(
        "ws_sockets",
        {
            "idle_sockets": idle,
            "extra_rss_mb": round((with_idle - baseline) / 2**20, 1),
            "per_socket_kb": round(per_socket_kb, 1),
            "pong_latency": percentiles(pongs),
            "streaming_turns": percentiles(turn_times),
        },
        f"{idle} idle sockets: +{round((with_idle - baseline) / 2**20, 1)} MB ({round(per_socket_kb, 1)} KB each); "
        f"pong p50 {percentiles(pongs)['p50_ms']} ms; {len(turn_times)} streamed turns p50 "
        f"{percentiles(turn_times)['p50_ms']} ms",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--streaming", type=int, default=200, help="sockets streaming a turn at the same time")
    args = parser.parse_args()
    asyncio.run(main(args.idle, args.streaming))
