"""What the edge costs: the same RPC through REST and over gRPC directly.

1. GET /readiness vs SystemService.Readiness, sequential (median and p99 per request).
2. GET /agents/:id (authenticated) vs AgentsService.GetAgent at 1, 10 and 100 concurrent clients (req/s, p50,
   p99), driven by wrk and h2load (bench/loadgen.py), with core and edge in one process (`astra serve`), in two
   copies (`astra serve --processes 2`), and split into `--role grpc` + `--role edge`.
Loopback only; every run is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import grpc
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from astra.v1 import agents_pb2, agents_pb2_grpc, system_pb2, system_pb2_grpc
from bench import loadgen
from bench.common import Gateway, SplitGateway, percentiles, save

AGENT = "bench-overhead"


async def sequential(call: Callable[[], Awaitable[None]], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return samples


async def concurrent(call: Callable[[], Awaitable[None]], clients: int, seconds: float) -> dict[str, float]:
    samples: list[float] = []
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await call()
            samples.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    stats = percentiles(samples)
    return {
        "rps": round(len(samples) / (time.perf_counter() - started), 1),
        "p50_ms": stats["p50_ms"],
        "p99_ms": stats["p99_ms"],
    }


async def setup(http_url: str) -> str:
    async with aiohttp.ClientSession() as http:
        body = {"email": f"bench-{time.time_ns()}@example.com", "password": "bench password 123"}
        async with http.post(f"{http_url}/auth/register", json=body) as resp:
            token = (await resp.json())["tokens"]["accessToken"]
        agent = {"id": f"{AGENT}-{time.time_ns() % 10**6}", "displayName": "Bench"}
        async with http.post(f"{http_url}/agents", json=agent, headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.status == 200, await r.text()
            return token + " " + (await r.json())["agent"]["id"]


async def failed_calls(http: aiohttp.ClientSession, http_url: str) -> float:
    """GetAgent calls that ended in a non-OK code, from the gateway's own counters (h2load cannot see gRPC
    status). With several copies this is the copy that answered /metrics: a sample, not the whole."""
    async with http.get(f"{http_url}/metrics") as resp:
        text = await resp.text()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "astra_grpc_requests_total"
        and sample.labels.get("method") == "/astra.v1.AgentsService/GetAgent"
        and sample.labels.get("code") != "OK"
    )


async def measure(http_url: str, grpc_target: str, seconds: float, n: int, with_readiness: bool) -> dict:
    token, agent_id = (await setup(http_url)).split(" ")
    headers = {"Authorization": f"Bearer {token}"}
    metadata = (("authorization", f"Bearer {token}"),)
    result: dict = {}
    connector = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(connector=connector) as http, grpc.aio.insecure_channel(grpc_target) as channel:
        system = system_pb2_grpc.SystemServiceStub(channel)
        agents = agents_pb2_grpc.AgentsServiceStub(channel)

        async def rest_ready() -> None:
            async with http.get(f"{http_url}/readiness") as resp:
                await resp.read()

        async def grpc_ready() -> None:
            await system.Readiness(system_pb2.ReadinessRequest())

        async def rest_agent() -> None:
            async with http.get(f"{http_url}/agents/{agent_id}", headers=headers) as resp:
                await resp.read()
                assert resp.status == 200

        async def grpc_agent() -> None:
            await agents.GetAgent(agents_pb2.GetAgentRequest(agent_id=agent_id), metadata=metadata)

        await sequential(rest_agent, 200)  # warm-up
        await sequential(grpc_agent, 200)
        if with_readiness:
            rest = percentiles(await sequential(rest_ready, n))
            direct = percentiles(await sequential(grpc_ready, n))
            result["readiness_sequential"] = {
                "rest_via_edge": rest,
                "grpc_direct": direct,
                "edge_added_ms": {
                    "p50": round(rest["p50_ms"] - direct["p50_ms"], 3),
                    "p99": round(rest["p99_ms"] - direct["p99_ms"], 3),
                },
            }
        for clients in (1, 10, 100):
            if loadgen.available():
                before = await failed_calls(http, http_url)
                direct = await asyncio.to_thread(
                    loadgen.h2load_grpc,
                    grpc_target,
                    "/astra.v1.AgentsService/GetAgent",
                    agents_pb2.GetAgentRequest(agent_id=agent_id),
                    dict(metadata),
                    clients,
                    seconds,
                )
                direct["failed"] += await failed_calls(http, http_url) - before
                url = f"{http_url}/agents/{agent_id}"
                rest_run = await asyncio.to_thread(loadgen.wrk, url, headers, clients, seconds)
            else:
                rest_run = await concurrent(rest_agent, clients, seconds)
                direct = await concurrent(grpc_agent, clients, seconds)
            result[f"get_agent_c{clients}"] = {"rest_via_edge": rest_run, "grpc_direct": direct}
        c1 = result["get_agent_c1"]
        result["get_agent_edge_added_p50_ms"] = round(c1["rest_via_edge"]["p50_ms"] - c1["grpc_direct"]["p50_ms"], 3)
    return result


async def main(seconds: float, n: int, split: bool) -> None:
    results: dict = {"load_generator": "wrk + h2load" if loadgen.available() else "python asyncio clients"}
    with Gateway() as gw:
        results["one_process"] = await measure(gw.http_url, gw.grpc_target, seconds, n, with_readiness=True)
    if split:
        with Gateway("--processes", "2") as gw:
            results["two_processes"] = await measure(gw.http_url, gw.grpc_target, seconds, n, with_readiness=False)
        with SplitGateway() as gw:
            results["split_roles"] = await measure(gw.http_url, gw.grpc_target, seconds, n, with_readiness=False)
    one = results["one_process"]
    ready = one["readiness_sequential"]["edge_added_ms"]
    c1 = one["get_agent_c1"]
    modes = [m for m in ("one_process", "two_processes", "split_roles") if m in results]
    summary = (
        f"edge adds {ready['p50']} ms p50 / {ready['p99']} ms p99 (GET /readiness, sequential) and "
        f"{one['get_agent_edge_added_p50_ms']} ms p50 (GET /agents/:id at 1 client: REST "
        f"{c1['rest_via_edge']['p50_ms']} ms vs gRPC {c1['grpc_direct']['p50_ms']} ms); "
        + "; ".join(
            f"{mode} c{c}: {run['rest_via_edge']['rps']} REST vs {run['grpc_direct']['rps']} gRPC req/s"
            for mode in modes
            for c in (10, 100)
            for run in (results[mode][f"get_agent_c{c}"],)
        )
        + f" ({results['load_generator']})"
    )
    save("edge_overhead", results, summary)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-s", "--seconds", type=float, default=5.0, help="duration of each concurrent run")
    parser.add_argument("-n", type=int, default=2000, help="sequential readiness requests per path")
    parser.add_argument("--no-split", action="store_true", help="one process only (skip --processes 2 and split roles)")
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.n, not args.no_split))
