"""Where a streamed chat turn's time goes, from its OpenTelemetry trace: `astra serve` exports its spans over OTLP to
a receiver in this script, sequential SSE turns go through it to the fake OpenAI-compatible provider
(bench/fake_openai.py), and each span's start and end are printed as the median offset from the start of the edge's
request span, over every turn. Tracing costs each span some microseconds (README, "Tracing"), so the offsets are a
little above what an untraced turn takes; what they show is the order and the size of each step.

  .venv/bin/python bench/chat_trace.py [--turns 100] [--session-turns 25]

Loopback only; bounded; the gateway and the fake are stopped on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.chat_overhead import MODEL, PASSWORD, SYSTEM_PROMPT, fake_provider
from bench.chat_sessions import TIMEOUT, SseSession, Talk, Turn
from bench.common import Gateway, free_port


class Receiver:
    """OTLP/HTTP traces on loopback: every span's name, ids, parent and times (ns since the epoch)."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_post("/v1/traces", self._export)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        port = free_port()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"

    async def _export(self, request: web.Request) -> web.Response:
        export = ExportTraceServiceRequest.FromString(await request.read())
        for resource_spans in export.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append(
                        {
                            "name": span.name,
                            "trace": span.trace_id.hex(),
                            "id": span.span_id.hex(),
                            "parent": span.parent_span_id.hex(),
                            "start": span.start_time_unix_nano,
                            "end": span.end_time_unix_nano,
                            "events": {e.name: e.time_unix_nano for e in span.events},
                        }
                    )
        answer = ExportTraceServiceResponse().SerializeToString()
        return web.Response(body=answer, content_type="application/x-protobuf")

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def label(span: dict[str, Any], by_id: dict[str, dict[str, Any]]) -> str:
    """A span's name with its parent's, so that the same query under two phases stays apart."""
    parent = by_id.get(span["parent"])
    name = span["name"]
    if parent is not None and not name.startswith(("turn.", "POST ", "/astra")):
        return f"{parent['name']} > {name}"
    return name


def offsets(spans: list[dict[str, Any]]) -> dict[str, list[tuple[float, float]]]:
    """(start, end) in ms from the edge request's start, per span label, over every turn's trace."""
    by_trace: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for span in spans:
        by_trace[span["trace"]].append(span)
    found: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for trace in by_trace.values():
        roots = [s for s in trace if s["name"] == "POST /agent/chat/stream"]
        if len(roots) != 1:
            continue
        zero = roots[0]["start"]
        by_id = {s["id"]: s for s in trace}
        seen: dict[str, int] = defaultdict(int)
        for span in sorted(trace, key=lambda s: s["start"]):
            name = label(span, by_id)
            seen[name] += 1
            key = name if seen[name] == 1 else f"{name} #{seen[name]}"
            found[key].append(((span["start"] - zero) / 1e6, (span["end"] - zero) / 1e6))
            for event, at in span["events"].items():
                found[f"{key} @{event}"].append(((at - zero) / 1e6, (at - zero) / 1e6))
    return found


async def main(args: argparse.Namespace) -> None:
    receiver = Receiver()
    await receiver.start()
    fake_proc, _, provider_env = fake_provider(args.chunks)
    env = {**provider_env, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_BSP_SCHEDULE_DELAY": "200"}
    try:
        with Gateway(env=env) as gw:
            async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
                email = f"trace-{uuid.uuid4().hex[:8]}@example.com"
                async with http.post(f"{gw.http_url}/auth/register", json={"email": email, "password": PASSWORD}) as r:
                    token = (await r.json())["tokens"]["accessToken"]
                auth = {"Authorization": f"Bearer {token}"}
                body = {"id": "traced", "model": MODEL, "systemPrompt": SYSTEM_PROMPT}
                async with http.post(f"{gw.http_url}/agents", json=body, headers=auth) as r:
                    assert r.ok, await r.text()
            talk = Talk("trace")
            done = 0
            while done < args.warmup + args.turns:
                session = SseSession("trace", gw.http_url, token, "traced", f"trace-{done}")
                await session.open()
                try:
                    for _ in range(min(args.session_turns, args.warmup + args.turns - done)):
                        if done == args.warmup:
                            await asyncio.sleep(1)  # the warm-up's spans are exported before they are dropped
                            receiver.spans.clear()
                        marker, text = talk.next()
                        await session.turn(Turn("trace", done, marker), text)
                        done += 1
                finally:
                    await session.close()
            await asyncio.sleep(1.5)  # the last batch of spans
    finally:
        fake_proc.terminate()
        fake_proc.wait(10)
        await receiver.stop()
    found = offsets(receiver.spans)
    rows = sorted(found.items(), key=lambda item: statistics.median(s for s, _ in item[1]))
    print(f"{args.turns} sequential SSE turns, {args.session_turns} per session; ms from the edge request's start,")
    print("median over the turns (start -> end, and the duration):")
    for name, times in rows:
        if len(times) < args.turns // 2:
            continue
        start = statistics.median(s for s, _ in times)
        end = statistics.median(e for _, e in times)
        took = statistics.median(e - s for s, e in times)
        when = f"{start:7.3f}" if start == end else f"{start:7.3f} -> {end:7.3f}  ({took:.3f})"
        print(f"  {when:<32} {name}")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--turns", type=int, default=100)
    parser.add_argument("--session-turns", type=int, default=25)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--chunks", default="30-40")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse()))
