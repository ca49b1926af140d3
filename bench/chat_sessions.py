"""One conversation per object over each chat transport, for bench/chat_overhead.py: every turn timed on the shared
clock (bench.common.clock_ns) at the request sent, the first content chunk received and the turn's end (its
stream_done, or `data: [DONE]`), with a seeded realistic user message carrying the marker the fake provider keys its
own timings by."""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass

import aiohttp
import grpc

from astra.v1 import chat_pb2, chat_pb2_grpc
from bench.common import clock_ns

TIMEOUT = aiohttp.ClientTimeout(total=60)
WORDS = (
    "could you please explain how the deployment handles a rolling restart when two replicas share one database and "
    "what happens to requests that are in flight I would like a short summary with the main steps and any settings "
    "that matter also compare it with the approach we discussed yesterday for the staging cluster and say which one "
    "is safer for a small team the logs show a spike of errors around noon maybe related to the cache or the new "
    "release can you check the timeline and suggest what to look at first thanks"
).split()


class RateLimited(Exception):
    """The gateway said 429 / RESOURCE_EXHAUSTED: wait `seconds`, then send the turn again."""

    def __init__(self, seconds: float):
        super().__init__(f"rate limited for {seconds:.1f} s")
        self.seconds = seconds


class TurnFailed(RuntimeError):
    """The turn ended in an error: the bench stops rather than leave a turn out."""


@dataclass
class Turn:
    """One turn as the client saw it, in ns of the shared clock; `reported_ms` is the gateway's own overhead_ms."""

    key: str
    index: int
    marker: str
    sent: int = 0
    first: int = 0
    done: int = 0
    reported_ms: float | None = None


class Talk:
    """A seeded user: messages of 100-400 characters, each ending with a fresh marker `[bench:<hex>]`."""

    def __init__(self, seed: str, low: int = 100, high: int = 400):
        self.rng = random.Random(seed)
        self.low, self.high = low, high

    def next(self) -> tuple[str, str]:
        marker = uuid.uuid4().hex
        tag = f" [bench:{marker}]"
        length = self.rng.randint(self.low, self.high) - len(tag)
        words: list[str] = []
        while sum(len(w) + 1 for w in words) < length:
            words.append(self.rng.choice(WORDS))
        text = " ".join(words)[:length].rstrip()
        return marker, text[0].upper() + text[1:] + "?" + tag


class ChatSession:
    """A conversation on one surface session: open, `turn` n times, close."""

    def __init__(self, key: str, base: str, credential: str, agent: str, surface_id: str):
        self.key, self.base, self.agent, self.surface_id = key, base, agent, surface_id
        self.auth = {"Authorization": f"Bearer {credential}"}
        self.http: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        self.http = aiohttp.ClientSession(headers=self.auth, timeout=TIMEOUT)

    async def close(self) -> None:
        if self.http is not None:
            await self.http.close()

    async def turn(self, turn: Turn, message: str) -> None:
        raise NotImplementedError


def _http_refusal(status: int, headers: dict[str, str], text: str) -> Exception:
    if status == 429:
        return RateLimited(float(headers.get("Retry-After", "1")))
    return TurnFailed(f"HTTP {status}: {text[:300]}")


class SseSession(ChatSession):
    """POST /agent/chat/stream, Server-Sent Events."""

    async def turn(self, turn: Turn, message: str) -> None:
        assert self.http is not None
        body = {"agentId": self.agent, "message": message, "surfaceId": self.surface_id}
        turn.sent = clock_ns()
        async with self.http.post(f"{self.base}/agent/chat/stream", json=body) as resp:
            if resp.status != 200:
                raise _http_refusal(resp.status, dict(resp.headers), await resp.text())
            event = ""
            async for raw in resp.content:
                now = clock_ns()
                if raw.startswith(b"event: "):
                    event = raw[7:].strip().decode()
                elif raw.startswith(b"data: "):
                    if event == "stream_chunk" and not turn.first and json.loads(raw[6:]).get("delta"):
                        turn.first = now
                    elif event == "stream_done":
                        turn.done = now
                        turn.reported_ms = json.loads(raw[6:]).get("overheadMs")
                    elif event == "error":
                        raise _frame_error(json.loads(raw[6:]))


def _frame_error(frame: dict) -> Exception:
    if frame.get("code") == "RESOURCE_EXHAUSTED":
        return RateLimited(float(frame.get("retryAfterMs") or 1000) / 1000)
    return TurnFailed(f"error frame: {frame}")


class WsSession(ChatSession):
    """One /ws socket for the conversation, `message` frames in, events out."""

    async def open(self) -> None:
        await super().open()
        assert self.http is not None
        self.ws = await self.http.ws_connect(f"{self.base}/ws")

    async def close(self) -> None:
        if self.http is not None:
            await self.ws.close()
        await super().close()

    async def turn(self, turn: Turn, message: str) -> None:
        frame = {"type": "message", "agentId": self.agent, "message": message, "surfaceId": self.surface_id}
        turn.sent = clock_ns()
        await self.ws.send_json(frame)
        while True:
            received = await self.ws.receive(timeout=60)
            now = clock_ns()
            if received.type != aiohttp.WSMsgType.TEXT:
                raise TurnFailed(f"socket: {received.type} {received.data}")
            event = json.loads(received.data)
            if event["type"] == "stream_chunk" and not turn.first and event.get("delta"):
                turn.first = now
            elif event["type"] == "stream_done":
                turn.done = now
                turn.reported_ms = event.get("overheadMs")
                return
            elif event["type"] == "error":
                raise _frame_error(event)


class GrpcSession(ChatSession):
    """ChatService.ChatStream on the core's own port, one channel for the conversation."""

    def __init__(self, key: str, target: str, credential: str, agent: str, surface_id: str):
        super().__init__(key, target, credential, agent, surface_id)
        self.metadata = (("authorization", self.auth["Authorization"]),)

    async def open(self) -> None:
        self.channel = grpc.aio.insecure_channel(self.base)
        self.stub = chat_pb2_grpc.ChatServiceStub(self.channel)

    async def close(self) -> None:
        await self.channel.close()

    async def turn(self, turn: Turn, message: str) -> None:
        request = chat_pb2.ChatStreamRequest(agent_id=self.agent, message=message, surface_id=self.surface_id)
        turn.sent = clock_ns()
        call = self.stub.ChatStream(request, metadata=self.metadata, timeout=60)
        try:
            async for event in call:  # read to the end: a cancelled call would cost the next turn
                now = clock_ns()
                kind = event.WhichOneof("event")
                if kind == "stream_chunk" and not turn.first and event.stream_chunk.delta:
                    turn.first = now
                elif kind == "stream_done":
                    turn.done = now
                    turn.reported_ms = event.stream_done.overhead_ms
                elif kind == "error":
                    raise TurnFailed(f"error event: {event.error}")
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                trailers = dict(exc.trailing_metadata() or ())
                raise RateLimited(float(trailers.get("retry-after-ms", 1000)) / 1000) from None
            raise TurnFailed(f"gRPC {exc.code().name}: {exc.details()}") from None


class OpenAISession(ChatSession):
    """POST /v1/chat/completions streamed, as the openai SDKs send it: the client holds the conversation and sends it
    whole each turn; `user` keys the gateway's session. `model` is the agent id."""

    def __init__(self, key: str, base: str, credential: str, agent: str, surface_id: str):
        super().__init__(key, base, credential, agent, surface_id)
        self.messages: list[dict[str, str]] = []

    def body(self, message: str) -> dict:
        return {
            "model": self.agent,
            "messages": [*self.messages, {"role": "user", "content": message}],
            "stream": True,
            "stream_options": {"include_usage": True},
            "user": self.surface_id,
        }

    async def turn(self, turn: Turn, message: str) -> None:
        assert self.http is not None
        body = self.body(message)
        content: list[str] = []
        turn.sent = clock_ns()
        async with self.http.post(f"{self.base}/v1/chat/completions", json=body) as resp:
            if resp.status != 200:
                raise _http_refusal(resp.status, dict(resp.headers), await resp.text())
            async for raw in resp.content:
                now = clock_ns()
                if not raw.startswith(b"data: "):
                    continue
                if raw[6:].strip() == b"[DONE]":
                    turn.done = now
                    break
                chunk = json.loads(raw[6:])
                delta = chunk["choices"][0]["delta"].get("content") if chunk.get("choices") else None
                if delta:
                    turn.first = turn.first or now
                    content.append(delta)
        self.messages += [body["messages"][-1], {"role": "assistant", "content": "".join(content)}]


class DirectSession(OpenAISession):
    """The same client calling the fake provider itself: what a gateway that cost nothing would show (the client
    library and loopback alone). One message per request: history makes no difference to the fake."""

    def body(self, message: str) -> dict:
        return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": message}], "stream": True}

    async def turn(self, turn: Turn, message: str) -> None:
        await super().turn(turn, message)
        self.messages.clear()


SESSIONS: dict[str, type[ChatSession]] = {
    "sse": SseSession,
    "ws": WsSession,
    "grpc": GrpcSession,
    "openai": OpenAISession,
}
