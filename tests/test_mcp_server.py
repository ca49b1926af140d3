"""/mcp: Astra's agents for MCP clients nobody here wrote, on loopback.

The official `mcp` SDK's client (both protocol eras: the initialize handshake and the 2026-07-28 per-request
envelope) initializes, lists the tools, lists the agents, chats (the reply, the session id, progress notifications
while the turn runs, the session then listed by GET /sessions), searches sessions and memory, as the owner of a
personal API key or with an access token; no credential is a 401 with WWW-Authenticate; an unknown agent is a tool
error; a key of another workspace sees none of this workspace's agents. The MCP Inspector's CLI lists the tools
when npm is there, and `chat` works through an edge apart from its core (`--role edge` + `--role grpc`).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import httpx2
import mcp_types as types
import pytest
from mcp.client import Client, ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.harness import TEST_SECRET, GatewayThread
from tests.helpers.accounts import register, register_users
from tests.helpers.agents import new_agent
from tests.helpers.chat import OPENAI_KEY, OPENAI_MODEL, messages_of
from tests.helpers.db import Postgres
from tests.helpers.http import api
from tests.helpers.processes import base_env, free_port, serve, stop, wait_until_ready
from tests.helpers.waiting import wait_until
from tests.providers.fake_vendors import FakeVendor, Reply, openai_text_stream

TOOLS = {"list_agents", "chat", "search_sessions", "memory_search"}
# The fake OpenAI vendor, for a turn that stalls while a client leaves.
GATEWAY_OPTIONS = {"vendor_keys": {"openai": OPENAI_KEY}}
TIMEOUT = httpx2.Timeout(30, read=60)


@pytest.fixture(scope="module")
def users(gateway: GatewayThread) -> list[dict]:
    return register_users(gateway, 2)


@pytest.fixture(scope="module")
def owner(users: list[dict]) -> dict:
    return users[0]


@pytest.fixture(scope="module")
def agent(gateway: GatewayThread, owner: dict) -> str:
    async def make() -> str:
        async with aiohttp.ClientSession(base_url=gateway.http_url) as http:
            return await new_agent(http, owner, displayName="MCP echo")

    return asyncio.run(make())


async def new_key(http: aiohttp.ClientSession, account: dict) -> str:
    """A personal API key of `account` (in its personal workspace): its secret."""
    status, body, _ = await api(http, "POST", "/auth/keys", account, json={"name": f"mcp-{uuid.uuid4().hex[:6]}"})
    assert status == 201, body
    return body["secret"]


@pytest.fixture(scope="module")
def key(gateway: GatewayThread, owner: dict) -> str:
    async def make() -> str:
        async with aiohttp.ClientSession(base_url=gateway.http_url) as http:
            return await new_key(http, owner)

    return asyncio.run(make())


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


@asynccontextmanager
async def mcp_client(url: str, headers: dict[str, str]) -> AsyncIterator[ClientSession]:
    """The SDK's streamable-HTTP client, initialized (the handshake era)."""
    async with (
        httpx2.AsyncClient(headers=headers, timeout=TIMEOUT) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


class Progress:
    """What a progress callback received."""

    def __init__(self) -> None:
        self.steps: list[tuple[float, str | None]] = []

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.steps.append((progress, message))


def text_of(result: types.CallToolResult) -> str:
    first = result.content[0]
    assert isinstance(first, types.TextContent), result
    return first.text


# -- the SDK's client -----------------------------------------------------------------------------------------------


async def test_a_client_initializes_and_lists_astras_tools(gateway: GatewayThread, key: str) -> None:
    async with (
        httpx2.AsyncClient(headers=bearer(key), timeout=TIMEOUT) as http,
        streamable_http_client(f"{gateway.http_url}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        hello = await session.initialize()
        assert hello.server_info.name == "astra"
        assert hello.capabilities.tools is not None
        assert "list_agents" in (hello.instructions or "")
        listed = await session.list_tools()
    tools = {tool.name: tool for tool in listed.tools}
    assert set(tools) == TOOLS
    chat = tools["chat"].input_schema
    assert set(chat["properties"]) == {"agentId", "message", "sessionId"}
    assert chat["required"] == ["agentId", "message"]
    assert tools["search_sessions"].input_schema["required"] == ["q"]
    assert tools["memory_search"].input_schema["required"] == ["query"]
    assert tools["list_agents"].annotations is not None and tools["list_agents"].annotations.read_only_hint


async def test_list_agents_shows_the_workspaces_agents_with_a_key_or_a_token(
    gateway: GatewayThread, owner: dict, agent: str, key: str
) -> None:
    for credential in (key, owner["tokens"]["accessToken"]):
        async with mcp_client(f"{gateway.http_url}/mcp", bearer(credential)) as session:
            result = await session.call_tool("list_agents", {})
        assert not result.is_error, result
        agents = {a["id"]: a for a in result.structured_content["agents"]}
        assert agents[agent] == {"id": agent, "displayName": "MCP echo", "model": "local/echo", "origin": "own"}
        assert agent in text_of(result)


async def test_chat_answers_with_the_reply_and_its_session_while_streaming_progress(
    gateway: GatewayThread, http: aiohttp.ClientSession, owner: dict, agent: str, key: str
) -> None:
    progress = Progress()
    async with mcp_client(f"{gateway.http_url}/mcp", bearer(key)) as session:
        first = await session.call_tool(
            "chat", {"agentId": agent, "message": "hello from an MCP client"}, progress_callback=progress
        )
        assert not first.is_error, first
        assert text_of(first) == "Echo: hello from an MCP client"
        session_id = first.structured_content["sessionId"]
        assert session_id.startswith("ses_")
        assert first.structured_content["reply"] == "Echo: hello from an MCP client"
        assert session_id in json.dumps([block.model_dump() for block in first.content])

        # local/echo streams word by word: one notification per piece, in order, adding up to the reply.
        assert len(progress.steps) == 6, progress.steps
        assert [step for step, _ in progress.steps] == sorted({step for step, _ in progress.steps})
        assert "".join(message or "" for _, message in progress.steps) == "Echo: hello from an MCP client"

        # The session id continues the conversation; without one a new conversation starts.
        again = await session.call_tool("chat", {"agentId": agent, "message": "second", "sessionId": session_id})
        assert again.structured_content["sessionId"] == session_id
        other = await session.call_tool("chat", {"agentId": agent, "message": "elsewhere"})
        assert other.structured_content["sessionId"] != session_id

    # The conversation is the owner's, like any other: GET /sessions lists it, with its four messages.
    status, body, _ = await api(http, "GET", "/sessions", owner)
    assert status == 200, body
    sessions = {s["id"]: s for s in body["sessions"]}
    assert sessions[session_id]["agentId"] == agent
    assert sessions[session_id]["surface"] == "mcp"
    assert sessions[session_id]["messageCount"] == 4
    status, body, _ = await api(http, "GET", f"/sessions/{session_id}", owner)
    assert status == 200, body
    said = [m["content"] for m in body["messages"]][:2]
    assert said == ["hello from an MCP client", "Echo: hello from an MCP client"]


async def test_search_sessions_and_memory_search_find_the_callers_things(
    gateway: GatewayThread, http: aiohttp.ClientSession, owner: dict, agent: str, key: str
) -> None:
    word = f"zq{uuid.uuid4().hex[:8]}"
    status, body, _ = await api(http, "POST", "/memory/notes", owner, json={"content": f"my walrus is called {word}"})
    assert status == 200, body
    async with mcp_client(f"{gateway.http_url}/mcp", bearer(key)) as session:
        said = await session.call_tool("chat", {"agentId": agent, "message": f'remember {word} & "friends"'})
        session_id = said.structured_content["sessionId"]

        found = await session.call_tool("search_sessions", {"q": word})
        assert not found.is_error, found
        hits = found.structured_content["hits"]
        assert {hit["sessionId"] for hit in hits} == {session_id}
        assert {hit["role"] for hit in hits} == {"user", "assistant"}
        # Plain text for a model to read: the matches marked **so**, no HTML escaping.
        assert all(f'**{word}** & "friends"' in hit["snippet"] for hit in hits), hits

        recalled = await session.call_tool("memory_search", {"query": word})
        assert not recalled.is_error, recalled
        notes = [hit for hit in recalled.structured_content["hits"] if hit["tier"] == "notes"]
        assert [hit["content"] for hit in notes] == [f"my walrus is called {word}"]
        assert word in text_of(recalled)

        # JSON has one number type: a limit written 1.0 is the integer 1 (JSON Schema agrees), 1.5 is refused.
        one = await session.call_tool("search_sessions", {"q": word, "limit": 1.0})
        assert not one.is_error and len(one.structured_content["hits"]) == 1, one
        one = await session.call_tool("memory_search", {"query": word, "limit": 1.0})
        assert not one.is_error and len(one.structured_content["hits"]) == 1, one
        half = await session.call_tool("search_sessions", {"q": word, "limit": 1.5})
        assert half.is_error and text_of(half).startswith("INVALID_ARGUMENT: limit"), half

        nothing = await session.call_tool("search_sessions", {"q": f"absent{uuid.uuid4().hex[:8]}"})
        assert not nothing.is_error and nothing.structured_content == {"hits": []}


async def test_an_unknown_agent_or_a_bad_argument_is_a_tool_error(gateway: GatewayThread, key: str) -> None:
    async with mcp_client(f"{gateway.http_url}/mcp", bearer(key)) as session:
        unknown = await session.call_tool("chat", {"agentId": "no-such-agent", "message": "hi"})
        assert unknown.is_error
        assert text_of(unknown).startswith("NOT_FOUND: ") and "no-such-agent" in text_of(unknown)

        missing = await session.call_tool("chat", {"agentId": "whoever"})
        assert missing.is_error and text_of(missing).startswith("INVALID_ARGUMENT: ")
        assert "message" in text_of(missing)
        empty = await session.call_tool("search_sessions", {"q": ""})
        assert empty.is_error and text_of(empty).startswith("INVALID_ARGUMENT: ")

        # A session of nobody's is not found either, and the client goes on working after errors.
        stray = await session.call_tool("chat", {"agentId": "x-agent", "message": "hi", "sessionId": "ses_nope"})
        assert stray.is_error and text_of(stray).startswith("NOT_FOUND: ")
        assert not (await session.call_tool("list_agents", {})).is_error


async def test_a_key_of_another_workspace_cannot_see_or_chat_with_this_workspaces_agents(
    gateway: GatewayThread, http: aiohttp.ClientSession, owner: dict, users: list[dict], agent: str
) -> None:
    outsider = users[1]
    theirs = await new_key(http, outsider)
    async with mcp_client(f"{gateway.http_url}/mcp", bearer(theirs)) as session:
        listed = await session.call_tool("list_agents", {})
        assert agent not in {a["id"] for a in listed.structured_content["agents"]}
        refused = await session.call_tool("chat", {"agentId": agent, "message": "let me in"})
        assert refused.is_error and text_of(refused).startswith(("NOT_FOUND: ", "PERMISSION_DENIED: "))
    # Naming the owner's workspace does not help: the key acts in its own workspace only.
    headers = {**bearer(theirs), "X-Workspace-ID": owner["workspaceId"]}
    status = await post_initialize(gateway, headers)
    assert status in (403, 404)


async def test_a_client_that_leaves_mid_answer_cancels_the_turn(
    gateway: GatewayThread, http: aiohttp.ClientSession, vendor: FakeVendor, owner: dict, key: str
) -> None:
    vendor.reset()
    agent = await new_agent(http, owner, model=OPENAI_MODEL)
    vendor.script(Reply(chunks=openai_text_stream(["So far ", "so good", "never sent"]), stall_after=3))
    said: list[str] = []
    halfway = asyncio.Event()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        said.append(message or "")
        if "".join(said) == "So far so good":
            halfway.set()

    async with mcp_client(f"{gateway.http_url}/mcp", bearer(key)) as session:
        arguments = {"agentId": agent, "message": "go on"}
        call = asyncio.create_task(session.call_tool("chat", arguments, progress_callback=on_progress))
        await asyncio.wait_for(halfway.wait(), 15)
        call.cancel()
    # Leaving closed the connection while the vendor was still answering: the turn stops, its request with it.

    async def dropped() -> list[int]:
        return vendor.dropped

    assert await wait_until(dropped, what="the vendor seeing the turn go") == [0]
    status, body, _ = await api(http, "GET", "/sessions", owner, params={"agentId": agent})
    assert status == 200 and len(body["sessions"]) == 1, body

    async def stored() -> list[dict]:
        rows = await messages_of(gateway, body["sessions"][0]["id"])
        return rows if len(rows) == 2 else []

    # What was said is kept, as when any other surface's client leaves.
    rows = await wait_until(stored, what="the partial answer stored")
    assert rows[1]["content"] == "So far so good"
    vendor.reset()


async def test_the_callers_conversations_are_resources(
    gateway: GatewayThread, http: aiohttp.ClientSession, users: list[dict], agent: str, key: str
) -> None:
    async with mcp_client(f"{gateway.http_url}/mcp", bearer(key)) as session:
        said = await session.call_tool("chat", {"agentId": agent, "message": "keep this one"})
        session_id = said.structured_content["sessionId"]
        uri = f"astra://sessions/{session_id}"

        templates = await session.list_resource_templates()
        assert [t.uri_template for t in templates.resource_templates] == ["astra://sessions/{sessionId}"]
        listed = await session.list_resources()
        assert uri in {str(resource.uri) for resource in listed.resources}

        read = await session.read_resource(uri)
        content = read.contents[0]
        assert isinstance(content, types.TextResourceContents) and content.mime_type == "application/json"
        body = json.loads(content.text)
        assert body["session"]["id"] == session_id and body["session"]["surface"] == "mcp"
        assert [m["content"] for m in body["messages"]] == ["keep this one", "Echo: keep this one"]

        for missing in ("astra://sessions/ses_000000000000000000000000", "astra://agents/whatever"):
            with pytest.raises(MCPError) as refused:
                await session.read_resource(missing)
            assert refused.value.code == -32002  # the spec's "resource not found"

    # Another user's key cannot read it.
    outsider = await new_key(http, users[1])
    async with mcp_client(f"{gateway.http_url}/mcp", bearer(outsider)) as session:
        assert uri not in {str(resource.uri) for resource in (await session.list_resources()).resources}
        with pytest.raises(MCPError) as refused:
            await session.read_resource(uri)
        assert refused.value.code == -32002


async def test_the_current_protocol_revision_chats_with_progress(gateway: GatewayThread, agent: str, key: str) -> None:
    """The SDK's high-level client in its default mode: `server/discover`, then the 2026-07-28 per-request
    envelope (no initialize, no session)."""
    progress = Progress()
    async with (
        httpx2.AsyncClient(headers=bearer(key), timeout=TIMEOUT) as http,
        Client(streamable_http_client(f"{gateway.http_url}/mcp", http_client=http)) as client,
    ):
        assert client.session._negotiated_version == types.LATEST_PROTOCOL_VERSION
        listed = await client.list_tools()
        assert {tool.name for tool in listed.tools} == TOOLS
        arguments = {"agentId": agent, "message": "modern times"}
        result = await client.call_tool("chat", arguments, progress_callback=progress)
    assert not result.is_error, result
    assert text_of(result) == "Echo: modern times"
    assert result.structured_content["sessionId"].startswith("ses_")
    assert "".join(message or "" for _, message in progress.steps) == "Echo: modern times"


# -- plain HTTP -----------------------------------------------------------------------------------------------------

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "plain-http", "version": "0"},
    },
}
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


async def post_initialize(gateway: GatewayThread, headers: dict[str, str]) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{gateway.http_url}/mcp", json=INITIALIZE, headers={**ACCEPT, **headers}) as resp,
    ):
        return resp.status


async def test_no_credential_or_a_bad_one_is_a_401_with_a_challenge(gateway: GatewayThread, key: str) -> None:
    async with aiohttp.ClientSession(base_url=gateway.http_url) as http:
        async with http.post("/mcp", json=INITIALIZE, headers=ACCEPT) as resp:
            assert resp.status == 401
            assert resp.headers["WWW-Authenticate"] == 'Bearer realm="astra"'
            assert "Mcp-Session-Id" not in resp.headers
            assert (await resp.json())["error"]["code"] == "UNAUTHENTICATED"
        for wrong in ("ak_" + "0" * 43, "not-a-token", key[:-1] + ("A" if key[-1] != "A" else "B")):
            async with http.post("/mcp", json=INITIALIZE, headers={**ACCEPT, **bearer(wrong)}) as resp:
                assert resp.status == 401, wrong
                assert resp.headers["WWW-Authenticate"] == 'Bearer realm="astra", error="invalid_token"'
        # With the key the same request is answered by the MCP server (over SSE, as the client accepts it).
        async with http.post("/mcp", json=INITIALIZE, headers={**ACCEPT, **bearer(key)}) as resp:
            assert resp.status == 200
            assert resp.content_type == "text/event-stream"
            assert '"serverInfo"' in await resp.text()


async def test_there_is_no_standalone_stream_or_session_to_end(gateway: GatewayThread, key: str) -> None:
    # Stateless: GET (a server-to-client stream) and DELETE (ending a session) are 405, as the transport's spec
    # lets a server answer when it offers neither.
    async with aiohttp.ClientSession(base_url=gateway.http_url) as http:
        for method in ("GET", "DELETE"):
            headers = {**bearer(key), "Accept": "text/event-stream"}
            async with http.request(method, "/mcp", headers=headers) as resp:
                assert resp.status == 405, method
                assert resp.headers["Allow"] == "POST"


# -- the MCP Inspector ----------------------------------------------------------------------------------------------

# Its 2.x CLI takes --header (0.x had no way to send one); npm on an older Node would otherwise pick 0.x.
INSPECTOR = "@modelcontextprotocol/inspector@^2"


@pytest.fixture(scope="module")
def inspector(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The MCP Inspector installed into a temporary prefix (never globally); skips without npm or the registry."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed")
    prefix = tmp_path_factory.mktemp("inspector")
    try:
        done = subprocess.run(
            [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--loglevel=error", INSPECTOR],
            capture_output=True,
            timeout=300,
        )
    except subprocess.TimeoutExpired:
        pytest.skip("installing the MCP Inspector took too long")
    binary = prefix / "node_modules" / ".bin" / "mcp-inspector"
    if done.returncode != 0 or not binary.exists():
        pytest.skip(f"the MCP Inspector could not be installed: {done.stderr.decode(errors='replace')[-300:]}")
    return binary


def test_the_mcp_inspector_cli_lists_astras_tools(
    inspector: Path, gateway: GatewayThread, key: str, tmp_path: Path
) -> None:
    url = f"{gateway.http_url}/mcp"
    command = [str(inspector), "--cli", url, "--transport", "http", "--method", "tools/list"]
    # Its catalog of servers goes to a file of the test's, not the user's home.
    env = {**os.environ, "NO_COLOR": "1", "MCP_CATALOG_PATH": str(tmp_path / "mcp.json")}
    authorized = [*command, "--header", f"Authorization: Bearer {key}"]
    done = subprocess.run(authorized, capture_output=True, timeout=90, env=env)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    listed = json.loads(done.stdout)
    assert {tool["name"] for tool in listed["tools"]} == TOOLS
    # Without the key the Inspector is refused (and, with no browser to log in with, says so).
    refused = subprocess.run(command, capture_output=True, timeout=90, env=env)
    assert refused.returncode != 0
    assert "auth" in refused.stderr.decode(errors="replace").lower()
    assert "list_agents" not in refused.stdout.decode(errors="replace")


# -- an edge apart from its core ------------------------------------------------------------------------------------


async def test_chat_works_through_an_edge_apart_from_its_core(tmp_path: Path, postgres: Postgres) -> None:
    grpc_port, http_port = free_port(), free_port()
    database = postgres.fresh_database("mcp_split")
    core_env = base_env(ASTRA_GRPC_PORT=str(grpc_port), DATABASE_URL=database, JWT_SECRET=TEST_SECRET)
    edge_env = base_env(ASTRA_HTTP_PORT=str(http_port), ASTRA_GRPC_TARGET=f"127.0.0.1:{grpc_port}")
    procs = [serve(["--role", "grpc"], core_env, tmp_path, tmp_path / "core.log")]
    procs.append(serve(["--role", "edge"], edge_env, tmp_path, tmp_path / "edge.log"))
    url = f"http://127.0.0.1:{http_port}"
    try:
        async with aiohttp.ClientSession(base_url=url) as http:
            await wait_until_ready(http, procs[1], 60)
            account = await register(http)
            agent = await new_agent(http, account)
            secret = await new_key(http, account)
        progress = Progress()
        async with mcp_client(f"{url}/mcp", bearer(secret)) as session:
            result = await session.call_tool(
                "chat", {"agentId": agent, "message": "over the network"}, progress_callback=progress
            )
            unknown = await session.call_tool("chat", {"agentId": "nobody-here", "message": "hi"})
        assert not result.is_error, result
        assert text_of(result) == "Echo: over the network"
        assert result.structured_content["sessionId"].startswith("ses_")
        assert "".join(message or "" for _, message in progress.steps) == "Echo: over the network"
        assert unknown.is_error and text_of(unknown).startswith("NOT_FOUND: ")
    finally:
        for proc in procs:
            stop(proc)
