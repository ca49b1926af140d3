"""What an MCP tool call adds over a built-in tool.

`astra serve` (a subprocess, embedded PostgreSQL) runs an agent on local/echo, whose `/tool <name> <json>` form makes
every turn one real tool call, of one of three tools that all add two numbers:
- `calculator`, built in;
- `mcp__stdio__add`, from tests/fixtures/mcp_loopback_server.py (the official SDK's MCPServer) as the operator's
  stdio server (ASTRA_MCP_SERVERS_FILE);
- `mcp__http__add`, the same server over streamable HTTP in a process of its own, added as a workspace's server
  through POST /mcp/servers (so its connections pass the outbound guard; ASTRA_ALLOW_PRIVATE_URLS for loopback).

Each run makes N sequential turns of each tool, interleaved (calculator, stdio, http, calculator, ...), over SSE;
warm-up turns first (the stdio child starts, the HTTP session is made). Reported, per tool, the median of the runs'
medians: the tool call's own duration (the tool_result's durationMs, i.e. the runner: schema check and handler) and
the whole turn (request to the end of the stream); the MCP figures minus calculator's are what MCP adds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Gateway, free_port, save

SERVER = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "mcp_loopback_server.py"
TOOLS = {
    "calculator": ("calculator", {"expression": "20+22"}),
    "stdio": ("mcp__stdio__add", {"a": 20, "b": 22}),
    "http": ("mcp__http__add", {"a": 20, "b": 22}),
}


def wait_port(port: int, seconds: float = 20) -> None:
    import socket

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


async def one_turn(http: aiohttp.ClientSession, headers: dict[str, str], agent: str, tool: str, args: dict) -> tuple:
    body = {"agentId": agent, "message": f"/tool {tool} {json.dumps(args)}", "surfaceId": "bench"}
    started = time.perf_counter()
    result = None
    async with http.post("/agent/chat/stream", json=body, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        event = ""
        async for raw in resp.content:
            line = raw.decode().rstrip("\r\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "tool_result":
                result = json.loads(line[6:])
    elapsed = time.perf_counter() - started
    assert result is not None and result["error"] == "" and result["result"] == "42", result
    return elapsed, result["durationMs"] / 1000


async def measure(base_url: str, port: int, n: int, runs: int) -> dict[str, list[dict[str, float]]]:
    async with aiohttp.ClientSession(base_url=base_url) as http:
        account = {"email": f"bench-{time.time_ns()}@example.com", "password": "correct horse battery"}
        async with http.post("/auth/register", json=account) as resp:
            token = (await resp.json())["tokens"]["accessToken"]
        headers = {"Authorization": f"Bearer {token}"}
        url = f"http://127.0.0.1:{port}/mcp"
        async with http.post("/mcp/servers", json={"name": "http", "url": url}, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
        allow = [tool for tool, _ in TOOLS.values()]
        agent = {"id": "bench-mcp", "model": "local/echo", "tools": {"allow": allow}}
        async with http.post("/agents", json=agent, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
        for _ in range(10):  # warm-up: the stdio child, the HTTP session, the caches
            for tool, args in TOOLS.values():
                await one_turn(http, headers, "bench-mcp", tool, args)
        per_run: dict[str, list[dict[str, float]]] = {key: [] for key in TOOLS}
        for _ in range(runs):
            samples: dict[str, list[tuple[float, float]]] = {key: [] for key in TOOLS}
            for _ in range(n):
                for key, (tool, args) in TOOLS.items():
                    samples[key].append(await one_turn(http, headers, "bench-mcp", tool, args))
            for key, pairs in samples.items():
                per_run[key].append(
                    {
                        "turn_ms": statistics.median(t for t, _ in pairs) * 1000,
                        "call_ms": statistics.median(c for _, c in pairs) * 1000,
                    }
                )
        return per_run


def main(n: int, runs: int) -> None:
    port = free_port()
    remote = subprocess.Popen(
        [sys.executable, str(SERVER), str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    folder = tempfile.TemporaryDirectory(prefix="astra-bench-mcp-")
    servers = Path(folder.name) / "servers.yaml"
    stdio = {"name": "stdio", "command": [sys.executable, str(SERVER), "--stdio"]}
    servers.write_text(json.dumps({"servers": [stdio]}))
    env = {"ASTRA_MCP_SERVERS_FILE": str(servers), "ASTRA_ALLOW_PRIVATE_URLS": "true", "ASTRA_CHAT_RATE_PER_MIN": "0"}
    try:
        wait_port(port)
        with Gateway(env=env) as gateway:
            per_run = asyncio.run(measure(gateway.http_url, port, n, runs))
    finally:
        remote.terminate()
        remote.wait(10)
        folder.cleanup()

    figures = {
        key: {
            "call_ms_p50": round(statistics.median(r["call_ms"] for r in rows), 3),
            "turn_ms_p50": round(statistics.median(r["turn_ms"] for r in rows), 3),
            "runs": [{k: round(v, 3) for k, v in r.items()} for r in rows],
        }
        for key, rows in per_run.items()
    }
    base = figures["calculator"]
    added = {
        key: {
            "call_ms": round(figures[key]["call_ms_p50"] - base["call_ms_p50"], 3),
            "turn_ms": round(figures[key]["turn_ms_p50"] - base["turn_ms_p50"], 3),
        }
        for key in ("stdio", "http")
    }
    summary = (
        f"MCP tool call over a built-in one (median of {runs} runs of {n} calls): "
        f"stdio +{added['stdio']['call_ms']} ms per call (turn +{added['stdio']['turn_ms']} ms), "
        f"streamable HTTP +{added['http']['call_ms']} ms per call (turn +{added['http']['turn_ms']} ms); "
        f"calculator itself {base['call_ms_p50']} ms per call, {base['turn_ms_p50']} ms per turn"
    )
    save("mcp_tools", {"n": n, "runs": runs, "tools": figures, "added_over_calculator": added}, summary)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=50, help="calls of each tool per run")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    main(args.n, args.runs)
