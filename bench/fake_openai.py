"""A fake OpenAI-compatible server for benchmarks: answers every chat completion at once, streamed like a real model,
and records when it did so on the machine's monotonic clock.

Run: python bench/fake_openai.py --port 8011 [--port 8012 …] (loopback only; one process, one table of timings for
every port). An answer is 30-40 content chunks of a few words (`--chunks`), chosen by a generator seeded with the
request's marker, so a turn's answer is the same in every run; nothing sleeps.

A bench puts a marker `[bench:<id>]` in the user message; for the request whose last user message holds one, the
server records (bench.common.clock_ns: CLOCK_MONOTONIC, so the bench's own process reads the same clock):
`arrived_ns` (the request's headers read: the handler starts), `first_ns` (the first content chunk written to the
socket), `last_ns` (`data: [DONE]` written). GET /timings gives them all (`?marker=<id>` one of them, 404 if
unknown); DELETE /timings forgets them. GET / answers 200 once the server is up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import sys
import time
from pathlib import Path
from typing import Any

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import clock_ns

MARKER = re.compile(r"\[bench:([A-Za-z0-9_-]{1,64})\]")
WORDS = (
    "the gateway model answer request stream token session agent memory context history provider latency client "
    "server message window turn budget cache socket event reply user system prompt a of to in and is that it for "
    "with as on this be are we can you your will should would could more less time first last every each one two"
).split()


def chunk(delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None) -> bytes:
    body: dict[str, Any] = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": "gpt-4o-mini",
        "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage:
        body["usage"] = usage
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def marker_of(body: dict[str, Any]) -> str:
    """The marker in the request's last user message ("" if none): earlier turns' markers ride along in history."""
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            text = content if isinstance(content, str) else json.dumps(content)
            found = MARKER.search(text or "")
            return found.group(1) if found else ""
    return ""


def answer(marker: str, low: int, high: int) -> list[str]:
    """low..high content pieces of 1-4 words each, like a model's token stream."""
    rng = random.Random(marker or "none")
    return [
        (" " if i else "") + " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4)))
        for i in range(rng.randint(low, high))
    ]


def usage(body: dict[str, Any], pieces: list[str]) -> dict[str, int]:
    prompt = sum(len(str(m.get("content") or "")) for m in body.get("messages") or []) // 4 + 1
    completion = sum(len(p.split()) for p in pieces)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def make_app(low: int, high: int) -> web.Application:
    timings: dict[str, dict[str, int]] = {}

    async def completions(request: web.Request) -> web.StreamResponse:
        arrived = clock_ns()  # aiohttp calls the handler once the headers are read
        body = await request.json()
        marker = marker_of(body)
        pieces = answer(marker, low, high)
        record: dict[str, int] = {"arrived_ns": arrived, "calls": 1}
        if marker:
            if marker in timings:  # a retried call: keep the first, say there were more
                timings[marker]["calls"] += 1
                record = {"calls": 0}
            else:
                timings[marker] = record
        if not body.get("stream"):
            text = "".join(pieces)
            message = {"role": "assistant", "content": text}
            reply = {
                "id": "chatcmpl-bench",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": "gpt-4o-mini",
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": usage(body, pieces),
            }
            response = web.json_response(reply)
            await response.prepare(request)
            await response.write_eof()
            record["first_ns"] = record["last_ns"] = clock_ns()
            return response
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(chunk({"role": "assistant", "content": ""}))
        for i, piece in enumerate(pieces):
            await response.write(chunk({"content": piece}))
            if i == 0:
                record["first_ns"] = clock_ns()
        await response.write(chunk({}, finish="stop"))
        await response.write(chunk({}, usage=usage(body, pieces)))
        await response.write(b"data: [DONE]\n\n")
        record["last_ns"] = clock_ns()
        return response

    async def get_timings(request: web.Request) -> web.Response:
        marker = request.query.get("marker")
        if marker is None:
            return web.json_response({"timings": timings})
        if marker not in timings:
            raise web.HTTPNotFound(text=f"no request with marker {marker!r}")
        return web.json_response(timings[marker])

    async def clear_timings(request: web.Request) -> web.Response:
        timings.clear()
        return web.json_response({"cleared": True})

    async def up(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application(client_max_size=64 * 1024**2)
    app.router.add_post("/v1/chat/completions", completions)
    app.router.add_get("/timings", get_timings)
    app.router.add_delete("/timings", clear_timings)
    app.router.add_get("/", up)
    return app


def chunk_range(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    return int(low), int(high or low)


async def serve(ports: list[int], low: int, high: int) -> None:
    runner = web.AppRunner(make_app(low, high), access_log=None)
    await runner.setup()
    for port in ports:
        await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, action="append", required=True, help="repeat to listen on several")
    parser.add_argument("--chunks", type=chunk_range, default=(30, 40), help="content chunks per answer: N or A-B")
    args = parser.parse_args()
    asyncio.run(serve(args.port, *args.chunks))
