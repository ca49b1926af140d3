"""Gateway overhead of a streamed chat turn against a fake OpenAI-compatible provider that answers at once.

Time to first token (TTFT) and to the end of the turn through the gateway over SSE, WebSocket, gRPC and the
OpenAI-compatible /v1/chat/completions (streamed), minus the same times calling the fake provider directly; then
/agent/chat turns per second at 50 and 200 concurrent clients, with the gateway's CPU per turn. Three ways:
`astra serve` as is (its memory indexer gives way to live turns), the same with the indexer never giving way, and
with the indexer held back, as when the workers run elsewhere. Conversations are 10 turns long. Loopback only,
bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import aiohttp
import grpc
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from astra.v1 import chat_pb2, chat_pb2_grpc
from bench.common import Gateway, free_port, percentiles, save, settle

AGENT = "bench-agent"
# Turns per conversation: every 10th turn starts a new session, so history stays at a typical length instead of
# growing to the 200-message window over a run (which would measure history size, not the gateway).
CONVERSATION = 10
PASSWORD = "bench password 123"


def start_fake(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, str(Path(__file__).parent / "fake_openai.py"), "--port", str(port)])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
        except urllib.error.HTTPError:
            return proc  # 404/405: it is up
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("fake provider did not start")


async def direct_turns(url: str, n: int) -> list[tuple[float, float]]:
    """(time to first token, time to the end of the answer) calling the fake provider directly."""
    body = {"model": "bench-model", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    samples = []
    async with aiohttp.ClientSession() as http:
        for _ in range(n):
            started = time.perf_counter()
            first = None
            async with http.post(f"{url}/v1/chat/completions", json=body) as resp:
                async for line in resp.content:
                    if first is None and b'"content": "word' in line:
                        first = time.perf_counter() - started
            samples.append((first, time.perf_counter() - started))
    return samples


async def account(http: aiohttp.ClientSession, gw: Gateway, index: int, create_agent: bool) -> str:
    email = f"bench-{index}-{time.time_ns()}@example.com"
    async with http.post(f"{gw.http_url}/auth/register", json={"email": email, "password": PASSWORD}) as resp:
        body = await resp.json()
    token = body["tokens"]["accessToken"]
    if create_agent:
        agent = {"id": f"{AGENT}-{index}", "model": "openai/bench-model"}
        async with http.post(f"{gw.http_url}/agents", json=agent, headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.status == 200, await r.text()
    return token


async def sse_turns(gw: Gateway, token: str, agent: str, n: int) -> list[tuple[float, float]]:
    samples = []
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http:
        for i in range(n):
            started = time.perf_counter()
            body = {"agentId": agent, "message": f"hello {i}", "surfaceId": f"sse-{i // CONVERSATION}"}
            first = None
            async with http.post(f"{gw.http_url}/agent/chat/stream", json=body, headers=headers) as resp:
                async for line in resp.content:
                    if first is None and line.startswith(b"event: stream_chunk"):
                        first = time.perf_counter() - started
            samples.append((first, time.perf_counter() - started))
    return samples


async def openai_turns(gw: Gateway, token: str, agent: str, n: int) -> list[tuple[float, float]]:
    """POST /v1/chat/completions with stream true, as the openai SDKs send it; `user` keys the session."""
    samples = []
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http:
        for i in range(n):
            started = time.perf_counter()
            body = {
                "model": agent,
                "messages": [{"role": "user", "content": f"hello {i}"}],
                "stream": True,
                "user": f"openai-{i // CONVERSATION}",
            }
            first = None
            async with http.post(f"{gw.http_url}/v1/chat/completions", json=body, headers=headers) as resp:
                assert resp.status == 200, await resp.text()
                async for line in resp.content:
                    if first is None and b'"content":"word' in line:
                        first = time.perf_counter() - started
            samples.append((first, time.perf_counter() - started))
    return samples


async def ws_turns(gw: Gateway, tokens: list[str], agent_for: dict[str, str], n: int) -> list[tuple[float, float]]:
    """Spread over several users: /ws allows 30 messages a minute per user."""
    samples = []
    async with aiohttp.ClientSession() as http:
        per_user = -(-n // len(tokens))
        for token in tokens:
            async with http.ws_connect(f"{gw.http_url}/ws", headers={"Authorization": f"Bearer {token}"}) as ws:
                for i in range(min(per_user, 30, n - len(samples))):
                    started = time.perf_counter()
                    await ws.send_json(
                        {
                            "type": "message",
                            "agentId": agent_for[token],
                            "message": f"hi {i}",
                            "surfaceId": f"ws-{i // CONVERSATION}",
                        }
                    )
                    first = None
                    while True:
                        frame = json.loads((await ws.receive()).data)
                        if frame["type"] == "stream_chunk" and first is None:
                            first = time.perf_counter() - started
                        if frame["type"] in ("stream_done", "error"):
                            assert frame["type"] == "stream_done", frame
                            break
                    samples.append((first, time.perf_counter() - started))
    return samples


async def grpc_turns(gw: Gateway, token: str, agent: str, n: int) -> list[tuple[float, float]]:
    samples = []
    async with grpc.aio.insecure_channel(gw.grpc_target) as channel:
        stub = chat_pb2_grpc.ChatServiceStub(channel)
        metadata = (("authorization", f"Bearer {token}"),)
        for i in range(n):
            started = time.perf_counter()
            call = stub.ChatStream(
                chat_pb2.ChatStreamRequest(
                    agent_id=agent, message=f"hello {i}", surface_id=f"grpc-{i // CONVERSATION}"
                ),
                metadata=metadata,
            )
            first = None
            async for event in call:  # to the end, as the other transports do: a cancel would cost the next turn
                if event.HasField("stream_chunk") and first is None:
                    first = time.perf_counter() - started
            samples.append((first, time.perf_counter() - started))
    return samples


async def chat_rps(gw: Gateway, token: str, agent: str, concurrency: int, seconds: float) -> float:
    done = 0
    deadline = time.perf_counter() + seconds
    headers = {"Authorization": f"Bearer {token}"}

    async def client(i: int, http: aiohttp.ClientSession) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            body = {"agentId": agent, "message": "hello", "surfaceId": f"rps-{i}"}
            async with http.post(f"{gw.http_url}/agent/chat", json=body, headers=headers) as resp:
                await resp.read()
                assert resp.status == 200, resp.status
            done += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(i, http) for i in range(concurrency)))
        return done / (time.perf_counter() - started)


def turn_stats(samples: list[tuple[float, float]]) -> dict[str, dict[str, float]]:
    """Percentiles of (time to first token, time to the end of the turn) samples."""
    return {"ttft": percentiles([t for t, _ in samples]), "turn": percentiles([t for _, t in samples])}


async def indexer_counters(gw: Gateway) -> tuple[float, float]:
    """(memory items embedded, seconds the indexer gave way to turns) from the gateway's /metrics."""
    async with aiohttp.ClientSession() as http, http.get(f"{gw.http_url}/metrics") as resp:
        text = await resp.text()
    values = dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    names = ("astra_memory_items_embedded_total", "astra_memory_index_yielded_seconds_total")
    return (float(values.get(names[0], 0)), float(values.get(names[1], 0)))


async def run(fake_url: str, n: int, concurrency: tuple[int, ...], seconds: float, env: dict[str, str]) -> dict:
    # One user drives every SSE, gRPC and /agent/chat turn here, far above ASTRA_CHAT_RATE_PER_MIN: the limit is off.
    # The /ws turns still pay for their window's count, which is the same statement.
    env = {
        "OPENAI_BASE_URL": f"{fake_url}/v1",
        "OPENAI_API_KEY": "bench-key",
        "ASTRA_DB_POOL_MAX": "20",
        "ASTRA_CHAT_RATE_PER_MIN": "0",
        **env,
    }
    with Gateway(env=env) as gw:
        async with aiohttp.ClientSession() as http:
            ws_users = max(2, -(-n // 30))
            tokens = [await account(http, gw, i, create_agent=True) for i in range(ws_users)]
        agents = {t: f"{AGENT}-{i}" for i, t in enumerate(tokens)}
        token, agent = tokens[0], agents[tokens[0]]
        # Warm-up: connections, pools, caches.
        await direct_turns(fake_url, 50)
        await sse_turns(gw, token, agent, 20)
        await grpc_turns(gw, token, agent, 20)
        await openai_turns(gw, token, agent, 20)
        settle(gw.proc.pid)

        direct = await direct_turns(fake_url, n)
        base = turn_stats(direct)
        result: dict = {"direct_provider": base, "transports": {}, "chat_rps": {}}
        embedded_before, yielded_before = await indexer_counters(gw)
        started = time.perf_counter()
        sequential = (
            ("sse", await sse_turns(gw, token, agent, n)),
            ("ws", await ws_turns(gw, tokens, agents, n)),
            ("grpc", await grpc_turns(gw, token, agent, n)),
            ("openai", await openai_turns(gw, token, agent, n)),
        )
        elapsed = time.perf_counter() - started
        embedded, yielded = await indexer_counters(gw)
        # What the indexer got done meanwhile: each turn stored two messages to embed.
        result["indexer_during_sequential_turns"] = {
            "messages_written": 2 * len(sequential) * n,
            "embedded": int(embedded - embedded_before),
            "embedded_per_s": round((embedded - embedded_before) / elapsed, 1),
            "yielded_s": round(yielded - yielded_before, 2),
            "elapsed_s": round(elapsed, 2),
        }
        for name, samples in sequential:
            stats = turn_stats(samples)
            # What the gateway adds: to the first token, and to the whole turn (which includes storing the reply).
            added = {
                f"added_{what}": {q: round(stats[what][q] - base[what][q], 3) for q in ("p50_ms", "p99_ms")}
                for what in ("ttft", "turn")
            }
            result["transports"][name] = {**stats, **added}
        # CPU of the gateway process (core, edge and workers) per turn, over each throughput run.
        process = psutil.Process(gw.proc.pid)
        for clients in concurrency:
            cpu_before = sum(process.cpu_times()[:2])
            rps = await chat_rps(gw, token, agent, clients, seconds)
            cpu_ms = (sum(process.cpu_times()[:2]) - cpu_before) * 1000 / max(1, rps * seconds)
            turns = {"turns_per_s": round(rps, 1), "gateway_cpu_ms_per_turn": round(cpu_ms, 2)}
            result["chat_rps"][f"c{clients}"] = turns
    return result


MODES = {
    # `astra serve` as is: the memory indexer embeds every new message on the same two cores, giving way to live
    # turns (ASTRA_MEMORY_INDEX_SHARE, 0.25 of its time while turns run).
    "one_process": {},
    # The same with the indexer never giving way: what the turns pay when embedding competes for the cores.
    "one_process_share_1": {"ASTRA_MEMORY_INDEX_SHARE": "1"},
    # The request path alone, as when the workers run elsewhere (deploy/: their own Deployment).
    "workers_elsewhere": {"ASTRA_MEMORY_INDEX_INTERVAL_S": "3600"},
}


async def main(n: int, concurrency: tuple[int, ...], seconds: float, modes: list[str]) -> None:
    fake_port = free_port()
    fake = start_fake(fake_port)
    fake_url = f"http://127.0.0.1:{fake_port}"
    try:
        results = {mode: await run(fake_url, n, concurrency, seconds, MODES[mode]) for mode in modes}
    finally:
        fake.terminate()
        fake.wait(10)

    def line(mode: str) -> str:
        r = results[mode]

        def added(what: str) -> str:
            return ", ".join(f"{t} +{v[what]['p50_ms']}/{v[what]['p99_ms']} ms" for t, v in r["transports"].items())

        rps = ", ".join(
            f"{v['turns_per_s']} turns/s at {c[1:]} clients ({v['gateway_cpu_ms_per_turn']} ms CPU/turn)"
            for c, v in r["chat_rps"].items()
        )
        indexer = r["indexer_during_sequential_turns"]
        return (
            f"{mode}: TTFT added (p50/p99) {added('added_ttft')}; whole turn added {added('added_turn')};"
            f" indexer embedded {indexer['embedded']} of {indexer['messages_written']} new messages meanwhile"
            f" ({indexer['embedded_per_s']}/s); /agent/chat {rps}"
        )

    save("chat_overhead", results, "\n".join(line(mode) for mode in results))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=300, help="turns per transport")
    parser.add_argument("-c", "--concurrency", type=int, nargs="+", default=[50, 200])
    parser.add_argument("-s", "--seconds", type=float, default=10.0)
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    args = parser.parse_args()
    asyncio.run(main(args.n, tuple(args.concurrency), args.seconds, args.modes))
