"""Per-request overhead of the edge: GET /readiness through REST vs SystemService.Readiness over gRPC.

Both run against one `astra serve` (core and edge in one process, as shipped), sequentially (latency) and with
concurrent clients (throughput). Loopback only; bounded request counts.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import aiohttp
import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from astra.v1 import system_pb2, system_pb2_grpc
from bench.common import Gateway, percentiles, save


async def rest_latency(url: str, n: int) -> list[float]:
    samples = []
    async with aiohttp.ClientSession() as http:
        for _ in range(n):
            started = time.perf_counter()
            async with http.get(f"{url}/readiness") as resp:
                await resp.read()
                assert resp.status == 200
            samples.append(time.perf_counter() - started)
    return samples


async def grpc_latency(target: str, n: int) -> list[float]:
    samples = []
    async with grpc.aio.insecure_channel(target) as channel:
        stub = system_pb2_grpc.SystemServiceStub(channel)
        for _ in range(n):
            started = time.perf_counter()
            await stub.Readiness(system_pb2.ReadinessRequest())
            samples.append(time.perf_counter() - started)
    return samples


async def throughput(make_call, concurrency: int, seconds: float) -> float:
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await make_call()
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - started)


async def main(n: int, concurrency: int, seconds: float) -> None:
    with Gateway() as gw:
        # Warm both paths (connections, caches, JIT-free but allocator-warm).
        await rest_latency(gw.http_url, 200)
        await grpc_latency(gw.grpc_target, 200)
        rest = percentiles(await rest_latency(gw.http_url, n))
        direct = percentiles(await grpc_latency(gw.grpc_target, n))

        async with aiohttp.ClientSession() as http, grpc.aio.insecure_channel(gw.grpc_target) as channel:
            stub = system_pb2_grpc.SystemServiceStub(channel)

            async def rest_call() -> None:
                async with http.get(f"{gw.http_url}/readiness") as resp:
                    await resp.read()

            async def grpc_call() -> None:
                await stub.Readiness(system_pb2.ReadinessRequest())

            rest_rps = await throughput(rest_call, concurrency, seconds)
            grpc_rps = await throughput(grpc_call, concurrency, seconds)

    added_p50 = round(rest["p50_ms"] - direct["p50_ms"], 3)
    added_p99 = round(rest["p99_ms"] - direct["p99_ms"], 3)
    save(
        "edge_overhead",
        {
            "rpc": "SystemService.Readiness (GET /readiness)",
            "sequential": {"rest_via_edge": rest, "grpc_direct": direct},
            "edge_added_ms": {"p50": added_p50, "p99": added_p99},
            "throughput_rps": {
                "concurrency": concurrency,
                "rest_via_edge": round(rest_rps),
                "grpc_direct": round(grpc_rps),
            },
        },
        f"edge overhead: +{added_p50} ms p50, +{added_p99} ms p99 "
        f"(REST {rest['p50_ms']}/{rest['p99_ms']} ms vs gRPC {direct['p50_ms']}/{direct['p99_ms']} ms p50/p99); "
        f"{round(rest_rps)} vs {round(grpc_rps)} req/s at {concurrency} clients",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=3000, help="sequential requests per path")
    parser.add_argument("-c", "--concurrency", type=int, default=20)
    parser.add_argument("-s", "--seconds", type=float, default=5.0, help="duration of each throughput run")
    args = parser.parse_args()
    asyncio.run(main(args.n, args.concurrency, args.seconds))
