"""Agents use the tools of MCP servers (Astra as an MCP client), against real servers on loopback: the published
`mcp-server-time` over stdio (an operator's server, from ASTRA_MCP_SERVERS_FILE), an MCP server built on the
official SDK served over streamable HTTP from a child process (a workspace's server, added through
POST /mcp/servers), and, when npx is present, `@modelcontextprotocol/server-everything` from the npm registry.

Tools are called with local/echo's `/tool <name> <json>` form, so every turn below is a real turn: the tool_call and
tool_result events, the tool_calls row, a tool error instead of a failed turn."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest

from server.config import ConfigError, load_settings
from server.mcp import names
from server.mcp.connection import OPERATOR_ERROR
from server.mcp.results import render
from server.mcp.targets import load_servers_file
from tests.harness import GatewayThread, test_settings
from tests.helpers.accounts import bearer, register
from tests.helpers.agents import new_agent
from tests.helpers.chat import OPENAI_KEY, OPENAI_MODEL, STREAM, of_kind, sse, sse_frames, turn
from tests.helpers.db import Postgres, sql
from tests.helpers.http import api
from tests.helpers.mcp import LoopbackServer, wait_for_port
from tests.helpers.processes import free_port
from tests.helpers.waiting import eventually
from tests.helpers.workspaces import add_member, new_workspace_id
from tests.providers.fake_vendors import (
    OPENAI_DONE,
    FakeVendor,
    Reply,
    openai_chunk,
    openai_text_stream,
    openai_tool_call_args,
    openai_tool_call_start,
)

TIME_COMMAND = [sys.executable, "-m", "mcp_server_time", "--local-timezone", "UTC"]
CALL_TIMEOUT_S = 2.0


@pytest.fixture(scope="module")
def switch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """While this file exists, the `clock` server (mcp-server-time behind a shell test) starts."""
    path = tmp_path_factory.mktemp("switch") / "on"
    path.touch()
    return path


@pytest.fixture(scope="module")
def servers_file(tmp_path_factory: pytest.TempPathFactory, loopback: LoopbackServer, switch: Path) -> Path:
    """The operator's servers: mcp-server-time over stdio (twice: `clock` starts only while `switch` exists), and
    the loopback server over HTTP with a header."""
    path = tmp_path_factory.mktemp("mcp") / "servers.yaml"
    time_server = {"name": "time", "command": TIME_COMMAND, "env": {"TZ": "UTC"}}
    script = f'test -f "$SWITCH" || {{ echo "clock is switched off" >&2; exit 3; }}; exec {shlex.join(TIME_COMMAND)}'
    clock = {"name": "clock", "command": ["sh", "-c", script], "env": {"SWITCH": str(switch)}}
    ops = {"name": "ops", "url": loopback.url, "headers": {"Authorization": "Bearer operator-key"}}
    path.write_text(json.dumps({"servers": [time_server, clock, ops]}))
    return path


@pytest.fixture(scope="module")
def skills_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("skills")
    (path / "clock.yaml").write_text("id: clock\ndescription: Tells the time.\ntools: [mcp__time__get_current_time]\n")
    return path


@pytest.fixture(scope="module")
def gateway(postgres: Postgres, servers_file: Path, skills_dir: Path, vendor: FakeVendor) -> Iterator[GatewayThread]:
    """A gateway with the operator's MCP servers and a skill naming one of their tools, private URLs allowed (the
    loopback servers), OpenAI models answered by the fake vendor."""
    settings = test_settings(
        postgres.fresh_database("mcp_client"),
        mcp_servers_file=str(servers_file),
        skills_dir=str(skills_dir),
        openai_base_url=f"{vendor.url}/v1",
        openai_api_key=OPENAI_KEY,
        allow_private_urls=True,
        mcp_call_timeout_s=CALL_TIMEOUT_S,
        mcp_connect_timeout_s=5.0,
    )
    gw = GatewayThread(settings).start()
    yield gw
    gw.stop()


async def tool_turn(
    http: aiohttp.ClientSession, account: dict, agent: str, tool: str, arguments: Any, workspace: str | None = None
) -> tuple[dict, dict, list[tuple[str, dict]]]:
    """One `/tool` turn over SSE: (its tool_result, its stream_done, every event)."""
    status, events = await sse(http, account, turn(agent, f"/tool {tool} {json.dumps(arguments)}"), workspace=workspace)
    assert status == 200, events
    assert [e for e, _ in events if e == "error"] == [], events
    results, done = of_kind(events, "tool_result"), of_kind(events, "stream_done")
    assert len(results) == 1 and len(done) == 1, events
    return results[0], done[0], events


async def add_server(
    http: aiohttp.ClientSession, account: dict, name: str, url: str, headers: dict[str, str] | None = None, **kw: Any
) -> tuple[int, Any]:
    status, body, _ = await api(
        http, "POST", "/mcp/servers", account, json={"name": name, "url": url, "headers": headers or {}}, **kw
    )
    return status, body


async def listed(http: aiohttp.ClientSession, account: dict, workspace: str | None = None) -> dict[str, dict]:
    status, body, _ = await api(http, "GET", "/mcp/servers", account, workspace=workspace)
    assert status == 200, body
    return {s["name"]: s for s in body["servers"]}


# ------------------------------------------------------------------------------------------- stdio: mcp-server-time


async def test_an_agent_calls_the_real_time_server_over_stdio(http: aiohttp.ClientSession, gateway: GatewayThread):
    owner = await register(http)
    agent = await new_agent(http, owner, tools={"allow": ["mcp__time__get_current_time"]})
    result, done, _ = await tool_turn(http, owner, agent, "mcp__time__get_current_time", {"timezone": "UTC"})
    assert result["error"] == "" and result["name"] == "mcp__time__get_current_time", result
    answer = json.loads(result["result"])
    assert answer["timezone"] == "UTC"
    shown = datetime.fromisoformat(answer["datetime"])
    assert abs((shown - datetime.now(UTC)).total_seconds()) < 120
    assert done["toolsUsed"] == ["mcp__time__get_current_time"]
    assert done["content"].startswith("mcp__time__get_current_time returned: {")
    # Recorded like any other tool call.
    rows = await sql(gateway, "SELECT tool, status FROM tool_calls WHERE session_id = %s", (done["sessionId"],))
    assert [(r["tool"], r["status"]) for r in rows] == [("mcp__time__get_current_time", "ok")]


async def test_wrong_arguments_give_a_tool_error_not_a_failed_turn(http: aiohttp.ClientSession) -> None:
    owner = await register(http)
    agent = await new_agent(http, owner, tools={"allow": ["mcp__time__*"]})
    # Refused by the tool's own input schema before the server is asked.
    result, done, _ = await tool_turn(http, owner, agent, "mcp__time__get_current_time", {"tz": "UTC"})
    assert "'timezone' is a required property" in result["error"], result
    assert done["content"].startswith('mcp__time__get_current_time returned: {"error"')
    # Well-formed, but the server answers isError.
    result, done, _ = await tool_turn(http, owner, agent, "mcp__time__get_current_time", {"timezone": "Mars/Olympus"})
    assert "Mars/Olympus" in result["error"] and result["result"] == "", result
    assert done["sessionId"]


async def test_capabilities_and_the_listing_show_mcp_tools_and_each_servers_health(
    http: aiohttp.ClientSession,
) -> None:
    owner = await register(http)
    agent = await new_agent(
        http, owner, tools={"allow": ["mcp__time__*", "calculator"], "deny": ["mcp__time__convert_time"]}
    )
    status, body, _ = await api(http, "GET", f"/agents/{agent}/capabilities", owner)
    assert status == 200, body
    tools = {t["name"]: t for t in body["tools"]}
    assert set(tools) == {"calculator", "mcp__time__get_current_time"}
    assert tools["mcp__time__get_current_time"]["parameters"]["required"] == ["timezone"]
    servers = await listed(http, owner)
    time_server = servers["time"]
    assert time_server["source"] == "operator" and time_server["transport"] == "stdio"
    assert time_server["health"] == "up" and time_server["toolCount"] == 2, time_server
    assert sorted(time_server["tools"]) == ["mcp__time__convert_time", "mcp__time__get_current_time"]
    assert time_server["url"] == "" and time_server["id"] == "" and time_server["headerNames"] == []
    # Only the form of an MCP name is checked when an agent is saved: its server may come later.
    status, body, _ = await api(
        http, "POST", "/agents", owner, json={"id": "bad-mcp", "tools": {"allow": ["mcp__Not A Server__x"]}}
    )
    assert status == 400 and "mcp__<server>__<tool>" in body["error"]["message"], body


async def test_an_agent_gets_mcp_tools_through_a_skill_and_the_operators_http_server(
    http: aiohttp.ClientSession,
) -> None:
    owner = await register(http)
    agent = await new_agent(http, owner, skills=["clock"], tools={"allow": ["mcp__ops__whoami"]})
    status, body, _ = await api(http, "GET", f"/agents/{agent}/capabilities", owner)
    assert status == 200, body
    assert {(t["name"], t["skillId"]) for t in body["tools"]} == {
        ("mcp__time__get_current_time", "clock"),
        ("mcp__ops__whoami", ""),
    }
    result, _, _ = await tool_turn(http, owner, agent, "mcp__time__get_current_time", {"timezone": "Europe/Paris"})
    assert json.loads(result["result"])["timezone"] == "Europe/Paris"
    # The operator's header reaches its server; its URL and headers are not shown to workspaces.
    result, _, _ = await tool_turn(http, owner, agent, "mcp__ops__whoami", {})
    assert json.loads(result["result"])["authorization"] == "Bearer operator-key"
    ops = (await listed(http, owner))["ops"]
    assert (ops["source"], ops["transport"], ops["url"], ops["headerNames"]) == ("operator", "streamable_http", "", [])
    status, body, _ = await api(http, "GET", "/skills/clock", owner)
    assert status == 200 and [t["name"] for t in body["skill"]["tools"]] == ["mcp__time__get_current_time"], body


async def test_an_agent_without_the_tool_cannot_call_it(http: aiohttp.ClientSession) -> None:
    owner = await register(http)
    agent = await new_agent(http, owner, tools={"allow": ["mcp__time__convert_time"]})
    status, events = await sse(http, owner, turn(agent, '/tool mcp__time__get_current_time {"timezone": "UTC"}'))
    assert status == 200 and of_kind(events, "tool_call") == [], events  # not offered, so not called
    assert of_kind(events, "stream_done")[0]["content"].startswith("Echo: /tool")


async def test_a_vendor_model_is_offered_the_mcp_tools_and_cannot_run_one_the_agent_lacks(
    http: aiohttp.ClientSession, vendor: FakeVendor
) -> None:
    vendor.reset()
    owner = await register(http)
    agent = await new_agent(http, owner, model=OPENAI_MODEL, tools={"allow": ["mcp__time__convert_time"]})
    call = [
        openai_chunk(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [openai_tool_call_start(0, "call_1", "mcp__time__get_current_time")],
            }
        ),
        openai_chunk({"tool_calls": [openai_tool_call_args(0, '{"timezone": "UTC"}')]}),
        openai_chunk({}, "tool_calls"),
        OPENAI_DONE,
    ]
    vendor.script(Reply(chunks=call), Reply(chunks=openai_text_stream(["no"], 5, 1)))
    status, events = await sse(http, owner, turn(agent, "what time is it?"))
    assert status == 200, events
    [result] = of_kind(events, "tool_result")
    assert result["error"] == "tool mcp__time__get_current_time is not one this agent has", result
    assert of_kind(events, "stream_done")[0]["content"] == "no"
    [tool] = vendor.requests[0].body["tools"]
    assert tool["function"]["name"] == "mcp__time__convert_time"
    assert tool["function"]["parameters"]["required"] == ["source_timezone", "time", "target_timezone"]
    vendor.reset()


async def test_a_stdio_server_that_dies_is_restarted_with_backoff(
    http: aiohttp.ClientSession, switch: Path, caplog: pytest.LogCaptureFixture
) -> None:
    owner = await register(http)
    agent = await new_agent(http, owner, tools={"allow": ["mcp__clock__get_current_time"]})
    await tool_turn(http, owner, agent, "mcp__clock__get_current_time", {"timezone": "UTC"})
    [child] = time_children("clock")  # one child, shared by every turn of the process
    switch.unlink()  # noqa: ASYNC240
    child.kill()
    # Restarted at once, then again after 0.5 s, 1 s, ...: each attempt fails, and says why in the log; members see
    # only that the operator's server is unavailable (its stderr may name the operator's hosts and paths).
    down = await eventually(lambda: _clock(http, owner, "down", OPERATOR_ERROR), seconds=10, what="down")
    assert "switched off" not in down["lastError"]
    await eventually(
        lambda: any("clock is switched off" in getattr(r, "error", "") for r in caplog.records),
        seconds=10,
        what="the reason in the log",
    )
    assert down["tools"] == ["mcp__clock__convert_time", "mcp__clock__get_current_time"]  # still known
    result, _, _ = await tool_turn(http, owner, agent, "mcp__clock__get_current_time", {"timezone": "UTC"})
    assert result["error"].startswith("MCP server clock is unavailable"), result  # at once, while it is down
    switch.touch()  # noqa: ASYNC240
    await eventually(lambda: _clock(http, owner, "up"), seconds=20, what="the server restarted")
    result, _, _ = await tool_turn(http, owner, agent, "mcp__clock__get_current_time", {"timezone": "UTC"})
    assert result["error"] == "" and json.loads(result["result"])["timezone"] == "UTC"
    assert [c.pid for c in time_children("clock")] != [child.pid]


async def _clock(http: aiohttp.ClientSession, account: dict, health: str, error: str = "") -> dict | None:
    server = (await listed(http, account))["clock"]
    return server if server["health"] == health and error in server["lastError"] else None


async def test_stdio_children_start_on_first_use_and_stop_with_the_gateway(
    postgres: Postgres, servers_file: Path
) -> None:
    already = {p.pid for p in time_children()}  # the module's gateway's child
    gw = GatewayThread(test_settings(postgres.fresh_database("mcp_lifecycle"), mcp_servers_file=str(servers_file)))
    gw.start()
    try:
        async with aiohttp.ClientSession(base_url=gw.http_url) as http:
            owner = await register(http)
            agent = await new_agent(http, owner, tools={"allow": ["mcp__time__get_current_time"]})
            assert [p for p in time_children() if p.pid not in already] == []  # nothing started before it is used
            await tool_turn(http, owner, agent, "mcp__time__get_current_time", {"timezone": "UTC"})
            await tool_turn(http, owner, agent, "mcp__time__get_current_time", {"timezone": "UTC"})
            [child] = [p for p in time_children() if p.pid not in already]  # one, shared by the turns
    finally:
        gw.stop()
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE


def time_children(server: str = "time") -> list[psutil.Process]:
    """The live mcp-server-time children of this process (the gateways run in it) serving `server`."""
    found = []
    for p in psutil.Process().children(recursive=True):
        try:
            if p.status() == psutil.STATUS_ZOMBIE or "mcp_server_time" not in " ".join(p.cmdline()):
                continue
            if ("SWITCH" in p.environ()) == (server == "clock"):
                found.append(p)
        except psutil.NoSuchProcess:
            continue
    return found


# ------------------------------------------------------------------------------ a workspace's streamable-HTTP server


async def test_a_workspace_server_over_streamable_http_gets_its_headers_and_never_lists_their_values(
    http: aiohttp.ClientSession, loopback: LoopbackServer, gateway: GatewayThread
) -> None:
    owner = await register(http)
    secret = "Bearer s3cret-" + os.urandom(6).hex()
    status, body = await add_server(http, owner, "loop", loopback.url, {"Authorization": secret, "X-Team": "blue"})
    assert status == 200, body
    created = body["server"]
    assert created["id"].startswith("mcps_") and created["source"] == "workspace"
    assert created["headers"] == {"Authorization": secret, "X-Team": "blue"}  # shown this once
    assert created["health"] == "up" and "mcp__loop__whoami" in created["tools"], created
    status, raw, _ = await api(http, "GET", "/mcp/servers", owner)
    assert status == 200 and secret not in json.dumps(raw)
    server = {s["name"]: s for s in raw["servers"]}["loop"]
    assert server["headerNames"] == ["Authorization", "X-Team"] and server["headers"] == {}
    assert server["url"] == loopback.url and server["transport"] == "streamable_http"
    agent = await new_agent(http, owner, tools={"allow": ["mcp__loop__*"]})
    result, _, _ = await tool_turn(http, owner, agent, "mcp__loop__whoami", {})
    assert json.loads(result["result"]) == {"authorization": secret, "x-team": "blue"}
    result, _, _ = await tool_turn(http, owner, agent, "mcp__loop__add", {"a": 2, "b": 40})
    assert result["result"] == "42" and result["error"] == ""
    # Images and resources reach the model as short notes; isError answers as tool errors.
    result, _, _ = await tool_turn(http, owner, agent, "mcp__loop__picture", {})
    assert result["result"].splitlines() == [
        "a red square",
        "[image: image/png, about 68 bytes, not shown]",
        "[resource: file:///notes.txt, text/plain, not shown]",
    ]
    result, _, _ = await tool_turn(http, owner, agent, "mcp__loop__fails", {})
    assert result["error"] == "the sky fell" and result["result"] == ""
    audit = await sql(gateway, "SELECT action, details FROM audit_log WHERE target = %s ORDER BY id", (created["id"],))
    assert [a["action"] for a in audit] == ["mcp_server.create"]
    assert secret not in json.dumps(audit[0]["details"], default=str)


async def test_owners_and_admins_add_and_remove_servers_and_each_workspace_sees_its_own(
    http: aiohttp.ClientSession, loopback: LoopbackServer, gateway: GatewayThread
) -> None:
    owner, member, stranger = await register(http), await register(http), await register(http)
    team = await new_workspace_id(http, owner)
    await add_member(http, owner, team, member, "member")
    status, body = await add_server(http, member, "loop", loopback.url, workspace=team)
    assert status == 403, body
    status, body = await add_server(http, owner, "loop", loopback.url, workspace=team)
    assert status == 200, body
    server_id = body["server"]["id"]
    assert "loop" in await listed(http, member, team)  # members see the workspace's servers
    assert "loop" not in await listed(http, stranger)  # another workspace does not
    status, body, _ = await api(http, "DELETE", f"/mcp/servers/{server_id}", member, workspace=team)
    assert status == 403, body
    status, body, _ = await api(http, "DELETE", f"/mcp/servers/{server_id}", stranger)
    assert status == 404, body
    # Names: taken in the workspace, an operator server's, malformed.
    status, body = await add_server(http, owner, "loop", loopback.url, workspace=team)
    assert status == 409, body
    status, body = await add_server(http, owner, "time", loopback.url, workspace=team)
    assert status == 409 and "operator" in body["error"]["message"], body
    for bad in ("Loop", "a__b", "_x", "x" * 33, ""):
        status, body = await add_server(http, owner, bad, loopback.url, workspace=team)
        assert status == 400, (bad, body)
    status, body = await add_server(http, owner, "h", loopback.url, {"Content-Type": "x"}, workspace=team)
    assert status == 400, body
    status, body = await add_server(http, owner, "h", "ftp://example.com/mcp", workspace=team)
    assert status == 400, body
    status, body, _ = await api(http, "DELETE", f"/mcp/servers/{server_id}", owner, workspace=team)
    assert status == 200, body
    assert "loop" not in await listed(http, owner, team)
    actions = await sql(gateway, "SELECT action FROM audit_log WHERE target = %s ORDER BY id", (server_id,))
    assert [a["action"] for a in actions] == ["mcp_server.create", "mcp_server.delete"]


async def test_a_slow_tool_times_out_and_a_server_that_is_down_gives_a_tool_error(
    http: aiohttp.ClientSession,
) -> None:
    server = LoopbackServer().start()
    try:
        owner = await register(http)
        status, body = await add_server(http, owner, "flaky", server.url)
        assert status == 200, body
        agent = await new_agent(http, owner, tools={"allow": ["mcp__flaky__*"]})
        started = time.monotonic()
        result, done, _ = await tool_turn(http, owner, agent, "mcp__flaky__slow", {"seconds": 30})
        assert result["error"] == f"tool mcp__flaky__slow timed out after {CALL_TIMEOUT_S:g}s", result
        assert time.monotonic() - started < CALL_TIMEOUT_S + 3 and done["sessionId"]
        # The call was abandoned on the server too.
        await eventually(lambda: _cancelled(http, owner, agent), seconds=5, what="the slow call cancelled")
        server.stop()
        result, done, _ = await tool_turn(http, owner, agent, "mcp__flaky__add", {"a": 1, "b": 2})
        assert "MCP server flaky" in result["error"] and result["result"] == "", result
        assert done["content"].startswith('mcp__flaky__add returned: {"error"')
        servers = await listed(http, owner)
        assert servers["flaky"]["health"] in ("down", "connecting") and servers["flaky"]["lastError"], servers
        # Back on the same address: the session is made again (with backoff) and the tools work.
        server.start()
        await eventually(lambda: _up(http, owner, "flaky"), seconds=15, what="the server seen up again")
        result, _, _ = await tool_turn(http, owner, agent, "mcp__flaky__add", {"a": 1, "b": 2})
        assert result["result"] == "3", result
    finally:
        server.stop()


async def _cancelled(http: aiohttp.ClientSession, owner: dict, agent: str) -> bool:
    result, _, _ = await tool_turn(http, owner, agent, "mcp__flaky__stats", {})
    return json.loads(result["result"])["cancelled"] >= 1


async def _up(http: aiohttp.ClientSession, owner: dict, name: str) -> bool:
    return (await listed(http, owner))[name]["health"] == "up"


async def test_a_call_is_cancelled_on_the_server_when_the_client_leaves_the_turn(
    http: aiohttp.ClientSession, loopback: LoopbackServer
) -> None:
    owner = await register(http)
    status, body = await add_server(http, owner, "leaving", loopback.url)
    assert status == 200, body
    agent = await new_agent(http, owner, tools={"allow": ["mcp__leaving__*"]})
    before = await _stats(http, owner, agent)
    body = turn(agent, '/tool mcp__leaving__slow {"seconds": 30}')
    async with asyncio.timeout(10), http.post(STREAM, json=body, headers=bearer(owner)) as resp:
        async for event, _ in sse_frames(resp):
            if event == "tool_call":
                break
        # The client goes away once the server runs the tool.
        await eventually(lambda: _stats(http, owner, agent, calls_above=before["slow_calls"]), what="the call")
    after = await eventually(
        lambda: _stats(http, owner, agent, cancelled_above=before["cancelled"]), seconds=5, what="the call cancelled"
    )
    # Cancelled with the turn, well before the call's own timeout would have cut it.
    assert after["cancelled_after_s"] < CALL_TIMEOUT_S - 0.5, after


async def _stats(
    http: aiohttp.ClientSession, owner: dict, agent: str, calls_above: float = -1, cancelled_above: float = -1
) -> dict | None:
    result, _, _ = await tool_turn(http, owner, agent, "mcp__leaving__stats", {})
    stats = json.loads(result["result"])
    return stats if stats["slow_calls"] > calls_above and stats["cancelled"] > cancelled_above else None


async def test_the_tool_list_is_refreshed_when_the_server_says_it_changed(http: aiohttp.ClientSession) -> None:
    server = LoopbackServer().start()
    try:
        owner = await register(http)
        status, body = await add_server(http, owner, "growing", server.url)
        assert status == 200 and "mcp__growing__fresh" not in body["server"]["tools"], body
        agent = await new_agent(http, owner, tools={"allow": ["mcp__growing__*"]})
        result, _, _ = await tool_turn(http, owner, agent, "mcp__growing__grow", {})
        assert result["result"] == "grown"

        async def has_fresh() -> bool:
            _, body, _ = await api(http, "GET", f"/agents/{agent}/capabilities", owner)
            return "mcp__growing__fresh" in {t["name"] for t in body["tools"]}

        await eventually(has_fresh, seconds=5, what="the new tool listed")
        result, _, _ = await tool_turn(http, owner, agent, "mcp__growing__fresh", {})
        assert result["result"] == "fresh and new"
    finally:
        server.stop()


# ------------------------------------------------------------------------------------ the outbound guard, replicas


async def test_the_guard_refuses_a_workspace_server_on_a_private_address_without_connecting(
    postgres: Postgres,
) -> None:
    accepted: list[Any] = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    port = listener.getsockname()[1]

    async def watch() -> None:
        loop = asyncio.get_running_loop()
        while True:
            conn, _ = await loop.sock_accept(listener)
            accepted.append(conn)

    watcher = asyncio.create_task(watch())
    url = postgres.fresh_database("mcp_guard")
    gw = GatewayThread(test_settings(url, mcp_connect_timeout_s=2.0)).start()
    try:
        async with aiohttp.ClientSession(base_url=gw.http_url) as http:
            owner = await register(http)
            for target in (f"http://127.0.0.1:{port}/mcp", f"http://localhost:{port}/mcp", "http://10.1.2.3/mcp"):
                status, body = await add_server(http, owner, "inside", target)
                assert status == 400 and "refused" in body["error"]["message"], (target, body)
            # A row that got past the route (written before the rules tightened) is refused on connection too.
            await sql(
                gw,
                "INSERT INTO mcp_servers (id, workspace_id, name, url) VALUES ('mcps_sneaky', %s, 'sneaky', %s)",
                (owner["workspaceId"], f"http://127.0.0.1:{port}/mcp"),
            )
            agent = await new_agent(http, owner, tools={"allow": ["mcp__sneaky__anything"]})
            status, body, _ = await api(http, "GET", f"/agents/{agent}/capabilities", owner)
            assert status == 200 and body["tools"] == [], body
            server = (await listed(http, owner))["sneaky"]
            assert server["health"] in ("down", "connecting") and "refused" in server["lastError"], server
        await asyncio.sleep(0.2)
        assert accepted == []
    finally:
        gw.stop()
        watcher.cancel()
        listener.close()


async def test_two_replicas_serve_the_same_workspace_servers(postgres: Postgres, loopback: LoopbackServer) -> None:
    url = postgres.fresh_database("mcp_replicas")
    settings = test_settings(url, allow_private_urls=True, mcp_connect_timeout_s=5.0)
    first, second = GatewayThread(settings).start(), GatewayThread(settings).start()
    try:
        async with (
            aiohttp.ClientSession(base_url=first.http_url) as one,
            aiohttp.ClientSession(base_url=second.http_url) as two,
        ):
            owner = await register(one)
            agent = await new_agent(one, owner, tools={"allow": ["mcp__shared__add"]})
            # The second replica has looked (and cached that there is nothing) before the server is added.
            assert "shared" not in await listed(two, owner)
            status, body = await add_server(one, owner, "shared", loopback.url, {"Authorization": "Bearer x"})
            assert status == 200, body
            server_id = body["server"]["id"]
            for http in (one, two):
                result, _, _ = await tool_turn(http, owner, agent, "mcp__shared__add", {"a": 20, "b": 22})
                assert result["result"] == "42", result
            assert (await listed(two, owner))["shared"]["health"] == "up"
            status, body, _ = await api(one, "DELETE", f"/mcp/servers/{server_id}", owner)
            assert status == 200, body

            async def gone_from_second() -> bool:
                return "shared" not in await listed(two, owner)

            await eventually(gone_from_second, seconds=5, what="the deletion seen by the other replica")
            status, events = await sse(two, owner, turn(agent, '/tool mcp__shared__add {"a": 1, "b": 1}'))
            assert status == 200 and of_kind(events, "tool_call") == [], events
    finally:
        first.stop()
        second.stop()


# ------------------------------------------------------------------------------- npm: server-everything (optional)


@pytest.fixture(scope="module")
def everything() -> Iterator[str]:
    """@modelcontextprotocol/server-everything over streamable HTTP, from the npm registry (skipped without npx)."""
    npx = shutil.which("npx")
    if npx is None:
        pytest.skip("npx is not installed")
    port = free_port()
    proc = subprocess.Popen(
        [npx, "-y", "@modelcontextprotocol/server-everything", "streamableHttp"],
        env={**os.environ, "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        try:
            wait_for_port(port, 180, proc)
        except RuntimeError as exc:
            pytest.skip(f"server-everything did not start: {exc}")
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


async def test_server_everything_from_npm_as_a_workspace_server(http: aiohttp.ClientSession, everything: str) -> None:
    owner = await register(http)
    status, body = await add_server(http, owner, "everything", everything)
    assert status == 200, body
    tools = (await listed(http, owner))["everything"]["tools"]
    assert "mcp__everything__echo" in tools, tools
    agent = await new_agent(http, owner, tools={"allow": ["mcp__everything__*"]})
    result, _, _ = await tool_turn(http, owner, agent, "mcp__everything__echo", {"message": "hello from astra"})
    assert result["error"] == "" and "hello from astra" in result["result"], result


# ----------------------------------------------------------------------------------------------- without a gateway


def test_a_bad_servers_file_stops_start_up_with_a_clear_message(tmp_path: Path) -> None:
    cases = {
        "servers: {}": "one key, servers: a list",
        "servers:\n  - name: Bad Name\n    command: [x]": "servers[0].name must be",
        "servers:\n  - name: a\n    command: [x]\n  - name: a\n    url: http://h/mcp": "names server 'a' twice",
        "servers:\n  - name: a": "either command (stdio) or url",
        "servers:\n  - name: a\n    command: []": "non-empty list of strings",
        "servers:\n  - name: a\n    url: ftp://h/mcp": "must be an http(s) URL",
        "servers:\n  - name: a\n    url: http://h/mcp\n    shell: true": "unknown keys: shell",
        "servers: [": "not valid YAML",
    }
    for text, message in cases.items():
        path = tmp_path / "servers.yaml"
        path.write_text(text)
        with pytest.raises(ConfigError, match=re.escape(message)):
            load_servers_file(str(path))
    with pytest.raises(ConfigError, match="cannot be read"):
        load_servers_file(str(tmp_path / "missing.yaml"))
    good = tmp_path / "good.yaml"
    good.write_text("servers:\n  - {name: t, command: [python, -m, x], env: {TZ: UTC}}\n  - {name: e, url: http://h/m}")
    servers = load_servers_file(str(good))
    assert servers["t"].transport == "stdio" and servers["t"].env == (("TZ", "UTC"),)
    assert servers["e"].transport == "streamable_http"
    with pytest.raises(ConfigError, match="ASTRA_MCP_CALL_TIMEOUT_S"):
        load_settings({"ASTRA_MCP_CALL_TIMEOUT_S": "0"})


def test_tool_names_stay_unambiguous() -> None:
    assert names.split("mcp__time__get_current_time") == ("time", "get_current_time")
    assert names.split("mcp__my_server__a__b") == ("my_server", "a__b")
    assert names.split("mcp__time__*") == ("time", "*")
    assert names.split("mcp__a__b__") is not None and names.split("mcp___a__b") is None
    assert names.agent_tool_name("files", "read.file") == "mcp__files__read_file"
    assert names.agent_tool_name("files", "x" * 60) is None  # beyond what providers accept
    assert names.matches("mcp__a__*", "mcp__a__t") and not names.matches("mcp__a__*", "mcp__ab__t")


def test_results_become_text_for_the_model() -> None:
    import mcp_types as types

    structured = types.CallToolResult(
        content=[types.TextContent(type="text", text="see data")], structured_content={"n": 1}
    )
    assert render(structured) == ('see data\n{"n":1}', False)
    carried = types.CallToolResult(
        content=[types.TextContent(type="text", text='{"n": 1}')], structured_content={"n": 1}
    )
    assert render(carried) == ('{"n": 1}', False)
    link = types.CallToolResult(content=[types.ResourceLink(type="resource_link", uri="file:///a", name="a")])
    assert render(link) == ("[resource link: file:///a (a)]", False)
    assert render(types.CallToolResult(content=[], is_error=True)) == ("", True)
