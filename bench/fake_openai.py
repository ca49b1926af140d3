"""A fake OpenAI-compatible server for benchmarks: answers every chat completion at once, streamed.

Run: python bench/fake_openai.py --port 8011 (loopback only). Streams `--chunks` content chunks per answer.
"""

from __future__ import annotations

import argparse
import json
import time

from aiohttp import web


def chunk(delta: dict, finish: str | None = None, usage: dict | None = None) -> bytes:
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": "bench-model",
        "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage:
        body["usage"] = usage
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def make_app(chunks: int) -> web.Application:
    async def completions(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(chunk({"role": "assistant", "content": ""}))
        for i in range(chunks):
            await response.write(chunk({"content": f"word{i} "}))
        await response.write(chunk({}, finish="stop"))
        await response.write(
            chunk({}, usage={"prompt_tokens": 12, "completion_tokens": chunks, "total_tokens": 12 + chunks})
        )
        await response.write(b"data: [DONE]\n\n")
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chunks", type=int, default=5)
    args = parser.parse_args()
    web.run_app(make_app(args.chunks), host="127.0.0.1", port=args.port, print=None, access_log=None)
