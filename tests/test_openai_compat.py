"""The OpenAI-compatible surface, driven by clients nobody here wrote: the `openai` SDK (sync and async) and
LangChain's ChatOpenAI, pointed at a live gateway on loopback with a personal API key. Models are agents; a completion
is a turn of the agent (local/echo, or an openai/ agent on the fake vendor to see what the provider was sent),
recorded in a session of surface `openai`; client tools make a round trip; errors are OpenAI's."""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import openai
import pytest
from aiohttp import web
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI

from astra.v1 import openai_pb2, openai_pb2_grpc
from edge.app import create_app
from server.cli import edge_config
from tests.harness import API_KEY, GatewayThread
from tests.helpers.accounts import register_users
from tests.helpers.agents import slug
from tests.helpers.chat import OPENAI_KEY, OPENAI_MODEL, messages_of
from tests.helpers.db import sql
from tests.helpers.http import api
from tests.helpers.waiting import eventually
from tests.helpers.workspaces import add_member, new_workspace_id
from tests.providers.fake_vendors import FakeVendor, Reply, openai_error, openai_text_stream

GLOBAL_AGENT = "openai-compat-global"
_fd, _AGENTS_PATH = tempfile.mkstemp(prefix="astra-agents-", suffix=".yaml")
os.close(_fd)
Path(_AGENTS_PATH).write_text(f"agents:\n  - id: {GLOBAL_AGENT}\n    model: local/echo\n")
atexit.register(lambda: Path(_AGENTS_PATH).unlink(missing_ok=True))
GATEWAY_OPTIONS = {"vendor_keys": {"openai": OPENAI_KEY}, "settings": {"agents_file": _AGENTS_PATH}}

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


class World:
    """Accounts, agents and keys the module's tests share, made once through the edge."""

    def __init__(self, gateway: GatewayThread):
        self.gateway = gateway
        self.owner, self.other, self.viewer, self.member = register_users(gateway, 4)
        self.echo, self.second, self.vendor_agent, self.readonly_granted, self.granted = (slug("oa") for _ in range(5))
        self.foreign = slug("oa")
        asyncio.run(self._build())

    async def _build(self) -> None:
        async with aiohttp.ClientSession(base_url=self.gateway.http_url) as http:

            async def ok(method: str, path: str, account: dict, body: Any, workspace: str | None = None) -> Any:
                status, answer, _ = await api(http, method, path, account, json=body, workspace=workspace)
                assert status in (200, 201), (path, answer)
                return answer

            await ok("POST", "/agents", self.owner, {"id": self.echo, "model": "local/echo"})
            await ok("POST", "/agents", self.owner, {"id": self.second, "model": "local/echo", "skills": ["math"]})
            await ok(
                "POST",
                "/agents",
                self.owner,
                {"id": self.vendor_agent, "model": OPENAI_MODEL, "systemPrompt": "You are terse."},
            )
            # Another workspace shares one agent to the owner's personal workspace, and one read-only.
            team = await new_workspace_id(http, self.other, "Sharing team")
            for agent, readonly in ((self.granted, False), (self.readonly_granted, True)):
                await ok("POST", "/agents", self.other, {"id": agent, "model": "local/echo"}, workspace=team)
                grant = {"receivingWorkspaceId": self.owner["workspaceId"], "agentId": agent, "readonly": readonly}
                await ok("POST", f"/workspaces/{team}/grants", self.other, grant, workspace=team)
            await ok("POST", "/agents", self.other, {"id": self.foreign, "model": "local/echo"})
            await add_member(http, self.owner, self.owner["workspaceId"], self.viewer, "viewer")
            await add_member(http, self.owner, self.owner["workspaceId"], self.member, "member")
            self.key, self.secret = await self.new_key(http, self.owner)
            self.viewer_secret = (await self.new_key(http, self.viewer, workspaceId=self.owner["workspaceId"]))[1]
            self.other_secret = (await self.new_key(http, self.other))[1]
            self.member_secret = (await self.new_key(http, self.member, workspaceId=self.owner["workspaceId"]))[1]

    @staticmethod
    async def new_key(http: aiohttp.ClientSession, account: dict, **fields: Any) -> tuple[dict, str]:
        status, body, _ = await api(http, "POST", "/auth/keys", account, json={"name": slug("key"), **fields})
        assert status == 201, body
        return body["key"], body["secret"]

    @property
    def base_url(self) -> str:
        return f"{self.gateway.http_url}/v1"

    def client(self, secret: str | None = None) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.base_url, api_key=secret or self.secret, max_retries=0)

    def async_client(self, secret: str | None = None) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=self.base_url, api_key=secret or self.secret, max_retries=0)


@pytest.fixture(scope="module")
def world(gateway: GatewayThread) -> World:
    return World(gateway)


@pytest.fixture
def fake(vendor: FakeVendor) -> FakeVendor:
    vendor.reset()
    return vendor


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


async def raw(world: World, body: Any, secret: str | None = None, **headers: str) -> aiohttp.ClientResponse:
    """A POST /v1/chat/completions read whole (`.text` holds the body)."""
    sent = {"Authorization": f"Bearer {secret or world.secret}", "Content-Type": "application/json", **headers}
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{world.base_url}/chat/completions", data=data, headers=sent) as resp,
    ):
        resp.text_body = await resp.text()  # type: ignore[attr-defined]
        return resp


# -- models ---------------------------------------------------------------------------------------------------------


def test_models_are_the_agents_the_key_may_chat_with(world: World) -> None:
    page = world.client().models.list()
    models = {m.id: m for m in page.data}
    assert {world.echo, world.second, world.vendor_agent, world.granted, GLOBAL_AGENT} <= set(models)
    # Not another workspace's agent, nor one granted read-only (it cannot be chatted with).
    assert world.foreign not in models and world.readonly_granted not in models
    echo = models[world.echo]
    assert (echo.object, echo.owned_by) == ("model", world.owner["workspaceId"])
    assert isinstance(echo.created, int) and echo.created > 1_700_000_000
    assert models[GLOBAL_AGENT].owned_by == "system"
    # A granted agent does not name the workspace that shared it (its id is that workspace's own business).
    assert models[world.granted].owned_by == "shared"
    # Another user's key sees that user's agents, not these.
    others = {m.id for m in world.client(world.other_secret).models.list().data}
    assert world.foreign in others and world.echo not in others


# -- completions ----------------------------------------------------------------------------------------------------


def test_a_completion_is_one_turn_of_the_agent(world: World) -> None:
    answer = world.client().chat.completions.with_raw_response.create(
        model=world.echo,
        messages=[user("hello there")],
        # Parameters OpenAI has and local/echo cannot honour are taken and ignored, never a 500.
        temperature=0.2,
        max_tokens=50,
        stop=["\n\n"],
        n=1,
        seed=7,
        logprobs=False,
        parallel_tool_calls=False,
        store=False,
        metadata={"purpose": "test"},
        user="end-user-1",
        response_format={"type": "text"},
    )
    completion = answer.parse()
    assert completion.object == "chat.completion" and completion.id.startswith("chatcmpl-")
    assert completion.model == world.echo and isinstance(completion.created, int)
    (choice,) = completion.choices
    assert (choice.index, choice.finish_reason) == (0, "stop")
    assert (choice.message.role, choice.message.content, choice.message.tool_calls) == (
        "assistant",
        "Echo: hello there",
        [],
    )
    usage = completion.usage
    assert usage is not None and usage.completion_tokens == 3
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens > 3
    session = answer.headers["X-Astra-Session-Id"]
    assert session.startswith("ses_") and answer.headers["X-Request-ID"]
    rows = asyncio.run(messages_of(world.gateway, session))
    assert [(r["role"], r["content"]) for r in rows][-2:] == [
        ("user", "hello there"),
        ("assistant", "Echo: hello there"),
    ]


async def test_a_stream_sends_the_role_then_deltas_then_the_finish_and_the_usage(world: World) -> None:
    stream = await world.async_client().chat.completions.create(
        model=world.echo,
        messages=[user("one two three")],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    assert {c.object for c in chunks} == {"chat.completion.chunk"} and len({c.id for c in chunks}) == 1
    *answer, usage = chunks
    assert answer[0].choices[0].delta.role == "assistant" and not answer[0].choices[0].delta.content
    deltas = [c.choices[0].delta.content for c in answer[1:-1]]
    assert len(deltas) == 4 and "".join(deltas) == "Echo: one two three"
    assert [c.choices[0].finish_reason for c in answer] == [None] * (len(answer) - 1) + ["stop"]
    assert usage.choices == [] and usage.usage is not None and usage.usage.completion_tokens == 4

    # On the wire: text/event-stream, `data:` lines with OpenAI's nulls, then [DONE]; without include_usage no
    # usage chunk.
    resp = await raw(world, {"model": world.echo, "messages": [user("hi")], "stream": True})
    assert resp.status == 200 and resp.content_type == "text/event-stream"
    assert resp.headers["X-Astra-Session-Id"].startswith("ses_")
    blocks = resp.text_body.split("\n\n")  # type: ignore[attr-defined]
    assert blocks[-2:] == ["data: [DONE]", ""]
    payloads = [json.loads(b.removeprefix("data: ")) for b in blocks[:-2]]
    assert all(b.startswith("data: ") for b in blocks[:-2])
    assert payloads[1]["choices"][0]["finish_reason"] is None and payloads[-1]["choices"][0]["finish_reason"] == "stop"
    assert all(p["usage"] is None for p in payloads)


async def test_the_conversation_in_messages_is_what_the_provider_sees(world: World, fake: FakeVendor) -> None:
    # local/echo answers the last user message, whatever came before.
    completion = await world.async_client().chat.completions.create(
        model=world.echo,
        messages=[user("first"), {"role": "assistant", "content": "Echo: first"}, user("second")],
    )
    assert completion.choices[0].message.content == "Echo: second"

    # An openai/ agent is sent the agent's system prompt with the caller's system messages, then the conversation.
    fake.script(Reply(chunks=openai_text_stream(["Paris", "."], prompt_tokens=30, completion_tokens=2)))
    completion = world.client().chat.completions.create(
        model=world.vendor_agent,
        messages=[
            {"role": "system", "content": "Answer in one word."},
            user("Capital of Italy?"),
            {"role": "assistant", "content": "Rome."},
            {"role": "user", "content": [{"type": "text", "text": "And of "}, {"type": "text", "text": "France?"}]},
        ],
        temperature=0.1,
        max_completion_tokens=20,
        stop="END",
        user="u-42",
    )
    assert completion.choices[0].message.content == "Paris."
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (30, 2)
    sent = fake.requests[-1].body
    assert sent["messages"] == [
        {"role": "system", "content": "You are terse.\n\nAnswer in one word."},
        {"role": "user", "content": "Capital of Italy?"},
        {"role": "assistant", "content": "Rome."},
        {"role": "user", "content": "And of France?"},
    ]
    assert (sent["temperature"], sent["max_tokens"], sent["stop"], sent["user"]) == (0.1, 20, ["END"], "u-42")
    # Only the turn itself is stored: the caller's history is the caller's.
    session = (await sql(world.gateway, "SELECT id FROM sessions WHERE surface_id = 'u-42'"))[0]["id"]
    rows = await messages_of(world.gateway, session)
    assert [(r["role"], r["content"]) for r in rows] == [("user", "And of France?"), ("assistant", "Paris.")]


def test_client_tools_make_a_round_trip(world: World) -> None:
    client = world.client()
    asked = [user('/tool get_weather {"city": "Paris"}')]
    first = client.chat.completions.create(model=world.echo, messages=asked, tools=[WEATHER_TOOL])
    (choice,) = first.choices
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls
    assert (call.type, call.function.name, json.loads(call.function.arguments)) == (
        "function",
        "get_weather",
        {"city": "Paris"},
    )
    # The client runs the tool and sends the result back with the conversation.
    conversation = [
        *asked,
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 21}'},
    ]
    final = client.chat.completions.with_raw_response.create(
        model=world.echo, messages=conversation, tools=[WEATHER_TOOL]
    )
    answer = final.parse().choices[0]
    assert (answer.finish_reason, answer.message.content) == ("stop", 'get_weather returned: {"temp_c": 21}')
    # Stored as any tool turn: the call, its result (once), the answer; the user's message is not repeated.
    rows = asyncio.run(messages_of(world.gateway, final.headers["X-Astra-Session-Id"]))
    tail = [(r["role"], r["tool_name"] or "", r["content"]) for r in rows][-4:]
    assert tail == [
        ("user", "", '/tool get_weather {"city": "Paris"}'),
        ("assistant", "", ""),
        ("tool", "get_weather", '{"temp_c": 21}'),
        ("assistant", "", 'get_weather returned: {"temp_c": 21}'),
    ]
    assert rows[-3]["tool_calls"]["calls"][0]["id"] == call.id


async def test_client_tool_calls_stream_as_deltas_and_the_agents_own_tools_stay_server_side(world: World) -> None:
    client = world.async_client()
    stream = await client.chat.completions.create(
        model=world.echo,
        messages=[user('/tool get_weather {"city": "Oslo"}')],
        tools=[WEATHER_TOOL],
        stream=True,
    )
    chunks = [chunk async for chunk in stream]
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert [(tc.index, tc.function.name, tc.function.arguments) for tc in calls] == [
        (0, "get_weather", '{"city": "Oslo"}')
    ]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert not "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)  # the turn ended at the call

    # The agent's own tool (math's calculator) runs in the gateway: the client sees only the answer.
    completion = await client.chat.completions.create(
        model=world.second,
        messages=[user('/tool calculator {"expression": "6*7"}')],
        tools=[WEATHER_TOOL],
    )
    (choice,) = completion.choices
    assert choice.finish_reason == "stop" and choice.message.tool_calls == []
    assert choice.message.content.startswith("calculator returned:") and "42" in choice.message.content

    # A client tool may not take the name of one of the agent's own.
    clash = {**WEATHER_TOOL, "function": {**WEATHER_TOOL["function"], "name": "calculator"}}
    with pytest.raises(openai.BadRequestError) as refused:
        await client.chat.completions.create(model=world.second, messages=[user("hi")], tools=[clash])
    assert "calculator" in refused.value.message


# -- errors ---------------------------------------------------------------------------------------------------------


def _error(exc: openai.APIStatusError) -> dict[str, Any]:
    body = exc.response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    return body["error"]


async def test_errors_are_openais_with_the_statuses_the_sdk_maps(world: World) -> None:
    client = world.async_client()
    with pytest.raises(openai.AuthenticationError) as bad_key:
        await world.async_client("ak_" + "x" * 43).models.list()
    assert _error(bad_key.value)["type"] == "authentication_error" and bad_key.value.code == "invalid_api_key"
    assert bad_key.value.response.headers["WWW-Authenticate"].startswith("Bearer")

    for model in ("no-such-agent", world.foreign, world.readonly_granted):
        with pytest.raises(openai.NotFoundError) as missing:
            await client.chat.completions.create(model=model, messages=[user("hi")])
        assert missing.value.code == "model_not_found", model
        assert _error(missing.value)["type"] == "invalid_request_error"

    for messages in ([], [{"role": "wizard", "content": "hi"}], [{"role": "assistant", "content": "hi"}]):
        with pytest.raises(openai.BadRequestError) as refused:
            await client.chat.completions.create(model=world.echo, messages=messages)
        assert _error(refused.value)["type"] == "invalid_request_error", messages
    resp = await raw(world, '{"model": "x", "messages": [')
    assert resp.status == 400 and json.loads(resp.text_body)["error"]["type"] == "invalid_request_error"  # type: ignore[attr-defined]

    # A viewer may not chat: 403.
    with pytest.raises(openai.PermissionDeniedError) as denied:
        await world.async_client(world.viewer_secret).chat.completions.create(model=world.echo, messages=[user("x")])
    assert denied.value.code == "permission_denied"

    # No Astra error body anywhere under /v1, unknown paths and methods included.
    async with aiohttp.ClientSession() as http:
        for method, path, status in (("GET", "/v1/nothing", 404), ("POST", "/v1/models", 405)):
            async with http.request(method, f"{world.gateway.http_url}{path}") as answer:
                body = await answer.json()
                assert answer.status == status and set(body["error"]) == {"message", "type", "param", "code"}


async def test_a_provider_failure_is_a_server_error_or_the_streams_last_line(world: World, fake: FakeVendor) -> None:
    client = world.async_client()
    fake.script(Reply(status=400, body=openai_error("context too long")))
    with pytest.raises(openai.InternalServerError) as failed:
        await client.chat.completions.create(model=world.vendor_agent, messages=[user("hi")])
    assert (failed.value.status_code, failed.value.code) == (502, "provider_error")
    assert _error(failed.value)["type"] == "server_error" and "context too long" not in failed.value.message

    # Cut after the first words: what was said arrives, then the error as the stream's last line (no [DONE]).
    fake.script(Reply(chunks=openai_text_stream(["Hel", "lo", " world"]), cut_after=2))
    stream = await client.chat.completions.create(model=world.vendor_agent, messages=[user("hi")], stream=True)
    said = []
    with pytest.raises(openai.APIError) as cut:
        async for chunk in stream:
            said.append(chunk.choices[0].delta.content or "")
    assert "".join(said) == "Hel" and cut.value.code == "provider_error"


async def test_a_key_over_its_rate_gets_rate_limit_error_and_a_revoked_key_authentication_error(
    world: World,
) -> None:
    async with aiohttp.ClientSession(base_url=world.gateway.http_url) as http:
        key, secret = await World.new_key(http, world.owner, maxRequestsPerMinute=2)
        client = world.async_client(secret)
        for _ in range(2):
            await client.chat.completions.create(model=world.echo, messages=[user("hi")])
        with pytest.raises(openai.RateLimitError) as limited:
            await client.chat.completions.create(model=world.echo, messages=[user("hi")])
        assert limited.value.code == "rate_limit_exceeded" and _error(limited.value)["type"] == "rate_limit_error"
        assert int(limited.value.response.headers["Retry-After"]) >= 1

        key, secret = await World.new_key(http, world.owner)
        await world.async_client(secret).models.list()
        status, body, _ = await api(http, "DELETE", f"/auth/keys/{key['id']}", world.owner)
        assert status == 200, body
    with pytest.raises(openai.AuthenticationError) as revoked:
        await world.async_client(secret).chat.completions.create(model=world.echo, messages=[user("hi")])
    assert "revoked" in revoked.value.message


# -- sessions, costs, idempotency -------------------------------------------------------------------------------------


async def test_turns_land_in_sessions_and_costs_and_x_astra_session_id_continues_one(
    world: World, fake: FakeVendor
) -> None:
    client = world.async_client()
    fake.script(Reply(chunks=openai_text_stream(["Hello", "!"], prompt_tokens=10, completion_tokens=2)))
    first = await client.chat.completions.with_raw_response.create(
        model=world.vendor_agent, messages=[user("My name is Ada.")], user=f"ada-{uuid.uuid4().hex[:6]}"
    )
    session = first.headers["X-Astra-Session-Id"]
    async with aiohttp.ClientSession(base_url=world.gateway.http_url) as http:
        status, body, _ = await api(http, "GET", "/sessions", world.owner, params={"agentId": world.vendor_agent})
        assert status == 200, body
        listed = {s["id"]: s for s in body["sessions"]}
        assert listed[session]["surface"] == "openai" and listed[session]["messageCount"] == 2
        status, body, _ = await api(http, "GET", "/costs", world.owner)
        assert status == 200, body
        assert world.key["id"] in {b["key"] for b in body["byApiKey"]}

        # And in the audit log, with the key that opened it.
        async def audited() -> list[dict[str, Any]]:
            status, body, _ = await api(
                http, "GET", f"/admin/audit/{world.owner['user']['id']}", headers={"x-api-key": API_KEY}
            )
            assert status == 200, body
            return [e for e in body["entries"] if e["action"] == "openai.session.create" and e["target"] == session]

        [entry] = await eventually(audited, what="the session's audit entry")
        assert entry["details"]["apiKeyId"] == world.key["id"]
        assert entry["details"]["agentId"] == world.vendor_agent

    # The header continues the session with the server's history: only the new message need be sent.
    fake.script(Reply(chunks=openai_text_stream(["Ada", "."])))
    second = await client.chat.completions.with_raw_response.create(
        model=world.vendor_agent, messages=[user("What is my name?")], extra_headers={"X-Astra-Session-Id": session}
    )
    assert second.headers["X-Astra-Session-Id"] == session
    assert [m["content"] for m in fake.requests[-1].body["messages"]] == [
        "You are terse.",
        "My name is Ada.",
        "Hello!",
        "What is my name?",
    ]
    # Only the caller's own sessions: another member of the workspace cannot continue this one.
    with pytest.raises(openai.BadRequestError) as foreign:
        await world.async_client(world.member_secret).chat.completions.create(
            model=world.vendor_agent, messages=[user("hi")], extra_headers={"X-Astra-Session-Id": session}
        )
    assert f"session {session} not found" in foreign.value.message
    assert len(fake.requests) == 2


def test_an_idempotency_key_replays_the_completion(world: World) -> None:
    client = world.client()
    key = {"Idempotency-Key": f"oa-{uuid.uuid4().hex}"}
    body: dict[str, Any] = {"model": world.echo, "messages": [user("once")], "extra_headers": key}
    first = client.chat.completions.with_raw_response.create(**body)
    again = client.chat.completions.with_raw_response.create(**body)
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert again.parse().id == first.parse().id
    assert again.headers["X-Astra-Session-Id"] == first.headers["X-Astra-Session-Id"]
    rows = asyncio.run(messages_of(world.gateway, first.headers["X-Astra-Session-Id"]))
    assert [r["content"] for r in rows].count("once") == 1
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(model=world.echo, messages=[user("twice")], extra_headers=key)


# -- other clients --------------------------------------------------------------------------------------------------


def test_langchain_chat_openai_invokes_and_streams(world: World) -> None:
    llm = ChatOpenAI(base_url=world.base_url, api_key=world.secret, model=world.echo, max_retries=0)
    reply = llm.invoke([SystemMessage("Be brief."), HumanMessage("hi"), AIMessage("Echo: hi"), HumanMessage("bye")])
    assert isinstance(reply, AIMessage) and reply.content == "Echo: bye"
    assert reply.response_metadata["finish_reason"] == "stop"
    chunks = list(llm.stream("stream me"))
    assert len(chunks) > 2 and "".join(str(c.content) for c in chunks) == "Echo: stream me"


async def test_grpc_callers_get_the_same_service(world: World, gateway: GatewayThread) -> None:
    metadata = (("authorization", f"Bearer {world.secret}"),)
    async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
        stub = openai_pb2_grpc.OpenAIServiceStub(channel)
        listed = await stub.ListModels(openai_pb2.ListModelsRequest(), metadata=metadata)
        assert world.echo in {m.id for m in listed.data}
        request = openai_pb2.CreateChatCompletionRequest(
            model=world.echo, messages=[openai_pb2.ChatCompletionRequestMessage(role="user")]
        )
        request.messages[0].content.string_value = "over grpc"
        call = stub.CreateChatCompletion(request, metadata=metadata)
        answers = [answer async for answer in call]
        assert [a.WhichOneof("result") for a in answers] == ["completion"]
        assert answers[0].completion.choices[0].message.content == "Echo: over grpc"
        assert dict(await call.trailing_metadata())["x-astra-session-id"].startswith("ses_")


async def test_an_edge_of_its_own_names_the_session_before_the_first_chunk(
    world: World, gateway: GatewayThread
) -> None:
    """As deployed with `--role edge`: the edge reaches the core over a gRPC channel, and a stream's headers, which
    go out before its first chunk, still name the session."""
    runner = web.AppRunner(create_app(edge_config(gateway.settings, gateway.grpc_target)))
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
        client = openai.AsyncOpenAI(base_url=base, api_key=world.secret, max_retries=0)
        request = {"model": world.echo, "messages": [user("over the network")], "user": uuid.uuid4().hex}
        whole = await client.chat.completions.with_raw_response.create(**request)
        session = whole.headers["X-Astra-Session-Id"]
        assert session.startswith("ses_") and whole.parse().choices[0].message.content == "Echo: over the network"
        async with client.chat.completions.with_streaming_response.create(**request, stream=True) as streamed:
            assert streamed.headers["X-Astra-Session-Id"] == session
            chunks = [chunk async for chunk in await streamed.parse()]
        assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Echo: over the network"
    finally:
        await runner.cleanup()


def test_embeddings_are_the_memory_models_vectors(world: World) -> None:
    client = world.client()
    texts = ["a small cat sleeps", "a little kitten naps", "quarterly stock prices fell"]
    # The SDK asks for base64 unless told otherwise, and decodes it.
    answer = client.embeddings.create(model="all-MiniLM-L6-v2", input=texts)
    assert answer.model == "all-MiniLM-L6-v2" and [d.index for d in answer.data] == [0, 1, 2]
    vectors = [d.embedding for d in answer.data]
    assert all(len(v) == 384 and abs(sum(x * x for x in v) - 1) < 1e-3 for v in vectors)

    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2]) + 0.2
    floats = client.embeddings.create(model="any", input=texts[0], encoding_format="float", dimensions=384)
    assert max(abs(x - y) for x, y in zip(floats.data[0].embedding, vectors[0], strict=True)) < 1e-6
    assert answer.usage.prompt_tokens > 0
    for bad in ({"input": [[1, 2, 3]]}, {"input": "x", "dimensions": 1536}, {"input": []}):
        with pytest.raises(openai.BadRequestError):
            client.embeddings.create(model="all-MiniLM-L6-v2", **bad)
