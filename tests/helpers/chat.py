"""Chat turns as clients make them: REST (`chat`), SSE (`sse`, `sse_frames`) and WebSocket (`connect`, `message`,
`turn_over`), with the fake OpenAI vendor's key, and the rows a turn leaves behind (`messages_of`)."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from tests.harness import GatewayThread
from tests.helpers.accounts import bearer
from tests.helpers.db import sql
from tests.helpers.http import api
from tests.providers.fake_vendors import OPENAI_DONE, Reply, openai_chunk, openai_usage_chunk

# The OpenAI key chat tests give their gateway (GATEWAY_OPTIONS vendor_keys), so that provider is the FakeVendor.
OPENAI_KEY = "sk-test-astra-chat-0123456789abcdef"
OPENAI_MODEL = "openai/gpt-4o-mini"
CHAT, STREAM = "/agent/chat", "/agent/chat/stream"


async def messages_of(gateway: GatewayThread, session_id: str) -> list[dict[str, Any]]:
    """A session's stored messages in the order the server itself reads them back."""
    return await sql(
        gateway,
        "SELECT id, role, content, agent_id, tool_calls, tool_call_id, tool_name, prompt_tokens, completion_tokens,"
        " cost_usd, error FROM messages WHERE session_id = %s ORDER BY seq",
        (session_id,),
    )


def turn(agent: str, message: str, surface_id: str | None = None, **fields: Any) -> dict[str, Any]:
    """A chat request body; a fresh surfaceId (so a fresh session) unless one is given."""
    return {"agentId": agent, "message": message, "surfaceId": surface_id or uuid.uuid4().hex, **fields}


async def chat(
    http: aiohttp.ClientSession,
    account: dict,
    body: dict[str, Any],
    *,
    workspace: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, Any, Mapping[str, str]]:
    return await api(http, "POST", CHAT, account, json=body, workspace=workspace, headers=headers)


FRAME = re.compile(r"event: ([a-z_]+)\ndata: ([^\n]*)")


def parse_sse(raw: str) -> list[tuple[str, dict]]:
    """Every block of an SSE body as (event, data); comments are dropped, any other shape fails."""
    assert raw.endswith("\n\n"), raw[-200:]
    events = []
    for block in raw[:-2].split("\n\n"):
        if block.startswith(":"):
            continue
        match = FRAME.fullmatch(block)
        assert match, f"not an SSE frame: {block!r}"
        events.append((match.group(1), json.loads(match.group(2))))
    return events


async def sse(
    http: aiohttp.ClientSession,
    account: dict,
    body: dict[str, Any],
    *,
    workspace: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, Any]:
    """POST /agent/chat/stream and read it whole: (200, [(event, data), ...]) or (status, error body)."""
    sent = {**bearer(account), **(headers or {})}
    if workspace is not None:
        sent["X-Workspace-ID"] = workspace
    async with asyncio.timeout(20), http.post(STREAM, json=body, headers=sent) as resp:
        raw = await resp.text()
        if resp.status != 200:
            return resp.status, json.loads(raw)
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        return 200, parse_sse(raw)


async def sse_frames(resp: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, dict]]:
    """Frames of an SSE response as they arrive."""
    event = ""
    async for raw in resp.content:
        line = raw.decode().rstrip("\r\n")
        if line.startswith("event: "):
            event = line[len("event: ") :]
        elif line.startswith("data: "):
            yield event, json.loads(line[len("data: ") :])


def kinds(events: list[tuple[str, dict]]) -> list[str]:
    return [name for name, _ in events]


def of_kind(events: list[tuple[str, dict]], kind: str) -> list[dict]:
    return [data for name, data in events if name == kind]


def deltas(events: list[tuple[str, dict]]) -> list[str]:
    return [data["delta"] for name, data in events if name == "stream_chunk"]


def shape(names: list[str]) -> list[str]:
    """Event kinds with each run of stream_chunk as one: chunks the vendor's writes delivered together reach the
    client as one chunk (server/providers/base.py joined), so how many there are depends on the network."""
    return [name for i, name in enumerate(names) if not (name == "stream_chunk" and names[i - 1 : i] == [name])]


def slow_text(parts: list[str], delay: float, prompt_tokens: int = 10, completion_tokens: int = 4) -> Reply:
    """An OpenAI text stream whose parts arrive `delay` apart (the end of the stream is one last write)."""
    first = openai_chunk({"role": "assistant", "content": "", "refusal": None})
    tail = openai_chunk({}, "stop") + openai_usage_chunk(prompt_tokens, completion_tokens) + OPENAI_DONE
    return Reply(chunks=[first, *(openai_chunk({"content": p}) for p in parts), tail], chunk_delay=delay)


# ---------------------------------------------------------------------------------------------------------------
# WebSocket

Socket = aiohttp.ClientWebSocketResponse


@asynccontextmanager
async def connect(http: aiohttp.ClientSession, account: dict, url: str = "/ws") -> AsyncIterator[Socket]:
    async with http.ws_connect(url, headers=bearer(account), timeout=aiohttp.ClientWSTimeout(ws_close=2)) as sock:
        yield sock


def message(agent: str, text: str, surface_id: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "type": "message",
        "agentId": agent,
        "message": text,
        "surface": "web",
        "surfaceId": surface_id or uuid.uuid4().hex,
        **extra,
    }


async def receive(sock: Socket) -> dict[str, Any]:
    frame = await sock.receive_json(timeout=10)
    assert isinstance(frame, dict) and isinstance(frame.get("type"), str), frame
    return frame


async def receive_turn(sock: Socket) -> list[dict[str, Any]]:
    """Frames until (and including) the turn's stream_done or error; bounded."""
    frames = []
    for _ in range(500):
        frames.append(await receive(sock))
        if frames[-1]["type"] in ("stream_done", "error"):
            return frames
    raise AssertionError(f"no end of turn in {frames[:5]}...")


async def turn_over(sock: Socket, frame: dict[str, Any]) -> list[dict[str, Any]]:
    await sock.send_json(frame)
    return await receive_turn(sock)
