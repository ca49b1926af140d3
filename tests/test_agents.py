"""Agents through the edge and over gRPC: CRUD with slug ids and field-specific validation, config versions and
optimistic concurrency (ETag / If-Match / agent.etag), origins (own, granted, global), global agents from
ASTRA_AGENTS_FILE, restriction enforcement and capabilities."""

from __future__ import annotations

import asyncio
import atexit
import os
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest

from astra.v1 import agents_pb2, agents_pb2_grpc, common_pb2
from server.skills.catalog import Catalog
from server.tools.catalog import BUILTIN_TOOLS
from tests.harness import GatewayThread
from tests.helpers.accounts import register
from tests.helpers.agents import slug
from tests.helpers.db import sql
from tests.helpers.http import ABSENT, api
from tests.helpers.workspaces import add_member

# Global agents, written at import time so the module's gateway loads them at start-up.
_AGENTS_YAML = """\
agents:
  - id: global-helper
    displayName: Global helper
    model: local/echo
    systemPrompt: Helps everyone.
    temperature: 0.3
    skills: [math]
  - id: global-claude
    model: anthropic/claude-sonnet-4
    max_output_tokens: 2048
"""
_fd, _AGENTS_PATH = tempfile.mkstemp(prefix="astra-agents-", suffix=".yaml")
os.close(_fd)
Path(_AGENTS_PATH).write_text(_AGENTS_YAML)
atexit.register(lambda: Path(_AGENTS_PATH).unlink(missing_ok=True))
# The self-hosted model these tests name (an agent's own baseUrl) is on a host the operator allows.
GATEWAY_OPTIONS = {"settings": {"agents_file": _AGENTS_PATH, "provider_hosts": ("127.0.0.1:8000",)}}
GLOBAL_IDS = ["global-claude", "global-helper"]


@pytest.fixture(scope="module")
def users(gateway: GatewayThread) -> list[dict]:
    """Three accounts registered once for the module (argon2 makes each registration costly)."""

    async def go() -> list[dict]:
        async with aiohttp.ClientSession(base_url=gateway.http_url) as session:
            return list(await asyncio.gather(*(register(session) for _ in range(3))))

    return asyncio.run(go())


async def new_workspace(http: aiohttp.ClientSession, owner: dict, name: str = "Agents") -> str:
    status, body, _ = await api(http, "POST", "/workspaces", owner, json={"name": name})
    assert status == 200, body
    return body["workspace"]["id"]


async def create(
    http: aiohttp.ClientSession, account: dict, workspace: str | None = None, **fields: Any
) -> tuple[int, Any, Mapping[str, str]]:
    fields.setdefault("id", slug())
    return await api(http, "POST", "/agents", account, workspace=workspace, json=fields)


async def created(http: aiohttp.ClientSession, account: dict, workspace: str | None = None, **fields: Any) -> dict:
    status, body, _ = await create(http, account, workspace, **fields)
    assert status == 200, body
    return body["agent"]


async def versions(gateway: GatewayThread, agent_id: str) -> list[dict[str, Any]]:
    return await sql(
        gateway,
        "SELECT version, model, config, changed_by FROM agent_versions WHERE agent_id = %s ORDER BY version",
        (agent_id,),
    )


def grpc_metadata(account: dict, workspace: str | None = None) -> tuple[tuple[str, str], ...]:
    metadata = [("authorization", f"Bearer {account['tokens']['accessToken']}")]
    if workspace:
        metadata.append(("x-workspace-id", workspace))
    return tuple(metadata)


# ---------------------------------------------------------------------------------------------------------------
# Create and validation


async def test_create_fills_defaults_and_records_version_one(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    owner = users[0]
    agent_id = slug("writer")
    status, body, headers = await create(http, owner, id=agent_id, systemPrompt="Be brief.", temperature=0)
    assert status == 200, body
    agent = body["agent"]
    assert agent["id"] == agent_id
    assert agent["workspaceId"] == owner["workspaceId"]  # personal workspace without X-Workspace-ID
    assert agent["origin"] == "own"
    assert agent["displayName"] == agent_id
    assert agent["model"] == "local/echo"
    assert agent["temperature"] == 0
    assert (agent["maxOutputTokens"], agent["maxContextTokens"]) == (1024, 8192)
    assert agent["etag"] == '"v1"' == headers["ETag"]
    assert agent["createdAt"] and agent["updatedAt"]

    rows = await versions(gateway, agent_id)
    assert [(r["version"], r["model"], r["changed_by"]) for r in rows] == [(1, "local/echo", owner["user"]["id"])]
    assert rows[0]["config"]["systemPrompt"] == "Be brief."
    assert "etag" not in rows[0]["config"] and "workspaceId" not in rows[0]["config"]

    # Output-only fields in the request are ignored.
    status, body, _ = await create(http, owner, workspaceId="ws_someoneelse", origin="global", etag='"v9"')
    assert status == 200, body
    assert (body["agent"]["workspaceId"], body["agent"]["origin"], body["agent"]["etag"]) == (
        owner["workspaceId"],
        "own",
        '"v1"',
    )


@pytest.mark.parametrize(
    "agent_id",
    ["", "a", "-leading-dash", "Upper", "has_underscore", "has space", "dot.ted", "x" * 65, "ünïcode"],
)
async def test_agent_id_must_be_a_slug(http: aiohttp.ClientSession, users: list[dict], agent_id: str) -> None:
    status, body, _ = await create(http, users[0], id=agent_id)
    assert status == 400, body
    assert body["error"]["code"] == "INVALID_ARGUMENT"
    assert body["error"]["message"].startswith("id"), body


async def test_slug_boundaries_and_taken_ids(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    owner, other = users[0], users[1]
    short, longest = f"{uuid.uuid4().hex[:1]}1", "z" + uuid.uuid4().hex[:15] + "-" * 48
    for agent_id in (short, longest):
        await created(http, owner, id=agent_id)
    taken = await created(http, owner)
    # Ids are unique across the deployment: own workspace, another user's workspace, a global agent.
    for account, agent_id in [(owner, taken["id"]), (other, taken["id"]), (other, "global-helper")]:
        status, body, _ = await create(http, account, id=agent_id)
        assert (status, body["error"]["code"]) == (409, "ALREADY_EXISTS"), body
    assert len(await versions(gateway, taken["id"])) == 1


@pytest.mark.parametrize(
    ("fields", "names"),
    [
        ({"model": "mystery/model-1"}, ["model", "mystery"]),
        ({"model": "no-slash"}, ["model"]),
        ({"model": "openai/"}, ["model"]),
        ({"temperature": 2.01}, ["temperature"]),
        ({"temperature": -0.5}, ["temperature"]),
        ({"skills": ["math", "astrology"]}, ["skills", "astrology"]),
        ({"tools": {"allow": ["teleport"]}}, ["tools.allow", "teleport"]),
        ({"tools": {"deny": ["teleport"]}}, ["tools.deny", "teleport"]),
        ({"spawn": {"enabled": True, "maxDepth": 4}}, ["spawn.maxDepth"]),
        ({"spawn": {"allowedTargets": ["Not A Slug"]}}, ["spawn.allowedTargets"]),
        ({"memory": {"tiers": ["dreams"]}}, ["memory.tiers", "dreams"]),
        ({"memory": {"minRelevance": 1.5}}, ["memory.minRelevance"]),
        ({"maxOutputTokens": -1}, ["maxOutputTokens"]),
        ({"maxContextTokens": 10}, ["maxContextTokens"]),
        ({"baseUrl": "ftp://models.example.com"}, ["baseUrl"]),
        ({"displayName": "d" * 101}, ["displayName"]),
    ],
)
async def test_invalid_fields_are_400_naming_the_field(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict], fields: dict, names: list[str]
) -> None:
    agent_id = slug("invalid")
    status, body, _ = await create(http, users[0], id=agent_id, **fields)
    assert status == 400, body
    assert body["error"]["code"] == "INVALID_ARGUMENT"
    for name in names:
        assert name in body["error"]["message"], body
    assert await sql(gateway, "SELECT 1 FROM agents WHERE id = %s", (agent_id,)) == []


async def test_boundary_values_are_accepted(http: aiohttp.ClientSession, users: list[dict]) -> None:
    agent = await created(
        http,
        users[0],
        temperature=2,
        spawn={"enabled": True, "maxDepth": 3, "allowedTargets": ["global-helper"]},
        memory={"tiers": ["session", "daily", "profile", "notes"], "maxContextChunks": 50, "minRelevance": 1},
        model="openai/gpt-4o-mini",
        baseUrl="http://127.0.0.1:8000/v1",
    )
    assert agent["temperature"] == 2
    assert agent["spawn"] == {"enabled": True, "maxDepth": 3, "allowedTargets": ["global-helper"]}
    assert agent["baseUrl"] == "http://127.0.0.1:8000/v1"


# ---------------------------------------------------------------------------------------------------------------
# List and get


async def test_list_marks_origins_and_pages(http: aiohttp.ClientSession, users: list[dict]) -> None:
    owner, granter = users[0], users[1]
    workspace = await new_workspace(http, owner, "Listing")
    own = sorted([(await created(http, owner, workspace))["id"] for _ in range(3)])
    source = await new_workspace(http, granter, "Source")
    granted = await created(http, granter, source)
    hidden = await created(http, granter, source)  # not granted: never listed
    status, body, _ = await api(
        http,
        "POST",
        f"/workspaces/{source}/grants",
        granter,
        json={"receivingWorkspaceId": workspace, "agentId": granted["id"]},
    )
    assert status == 200, body

    status, body, _ = await api(http, "GET", "/agents", owner, workspace=workspace)
    assert status == 200, body
    origins = {a["id"]: a["origin"] for a in body["agents"]}
    assert origins == {
        **{agent_id: "own" for agent_id in own},
        granted["id"]: "granted",
        **{agent_id: "global" for agent_id in GLOBAL_IDS},
    }
    assert hidden["id"] not in origins
    by_id = {a["id"]: a for a in body["agents"]}
    assert by_id["global-helper"]["workspaceId"] == ""
    assert by_id["global-helper"]["displayName"] == "Global helper"
    assert by_id[granted["id"]]["workspaceId"] == source
    assert [a["id"] for a in body["agents"]] == sorted(origins)

    for origin, expected in [("own", own), ("granted", [granted["id"]]), ("global", GLOBAL_IDS)]:
        status, body, _ = await api(http, "GET", "/agents", owner, workspace=workspace, params={"origin": origin})
        assert status == 200, body
        assert [a["id"] for a in body["agents"]] == expected
    status, body, _ = await api(http, "GET", "/agents", owner, workspace=workspace, params={"origin": "stolen"})
    assert status == 400, body

    # Pages of 2 walk everything once, in id order.
    seen: list[str] = []
    token, first_token = "", ""
    while True:
        params = {"limit": "2", **({"pageToken": token} if token else {})}
        status, body, _ = await api(http, "GET", "/agents", owner, workspace=workspace, params=params)
        assert status == 200, body
        assert len(body["agents"]) <= 2
        seen += [a["id"] for a in body["agents"]]
        token = body["nextPageToken"]
        first_token = first_token or token
        if not token:
            break
    assert seen == sorted(origins)

    altered = first_token[:-2] + ("AA" if first_token[-2:] != "AA" else "BB")
    for params, where in [
        ({"pageToken": altered}, workspace),
        ({"pageToken": first_token, "origin": "own"}, workspace),  # a token of another list
        ({"pageToken": first_token}, owner["workspaceId"]),  # a token of another workspace's list
    ]:
        status, body, _ = await api(http, "GET", "/agents", owner, workspace=where, params=params)
        assert (status, body["error"]["code"]) == (400, "INVALID_ARGUMENT"), (params, body)


async def test_get_own_global_unknown_and_unavailable(http: aiohttp.ClientSession, users: list[dict]) -> None:
    owner, stranger = users[0], users[2]
    agent = await created(http, owner, skills=["memory"])

    status, body, headers = await api(http, "GET", f"/agents/{agent['id']}", owner)
    assert status == 200, body
    assert body["agent"]["skills"] == ["memory"]
    assert body["agent"]["etag"] == headers["ETag"] == '"v1"'

    status, body, _ = await api(http, "GET", "/agents/global-helper", stranger)
    assert status == 200, body
    assert (body["agent"]["origin"], body["agent"]["temperature"], body["agent"]["skills"]) == ("global", 0.3, ["math"])
    status, body, _ = await api(http, "GET", "/agents/global-claude", stranger)
    assert body["agent"]["maxOutputTokens"] == 2048  # snake_case in the YAML file is accepted

    # Another workspace's agent exists but is not available here: 403; an unknown id: 404.
    status, body, _ = await api(http, "GET", f"/agents/{agent['id']}", stranger)
    assert (status, body["error"]["code"]) == (403, "PERMISSION_DENIED"), body
    status, body, _ = await api(http, "GET", "/agents/no-such-agent", stranger)
    assert (status, body["error"]["code"]) == (404, "NOT_FOUND"), body


# ---------------------------------------------------------------------------------------------------------------
# Update: full replacement, versions, ETag / If-Match


async def test_update_replaces_config_and_honours_if_match(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    owner = users[0]
    agent = await created(http, owner, skills=["math"], systemPrompt="v1 prompt", temperature=1.5)
    path = f"/agents/{agent['id']}"

    status, body, headers = await api(
        http, "PUT", path, owner, json={"systemPrompt": "v2 prompt"}, headers={"If-Match": agent["etag"]}
    )
    assert status == 200, body
    updated = body["agent"]
    assert updated["etag"] == headers["ETag"] == '"v2"'
    assert updated["systemPrompt"] == "v2 prompt"
    assert updated["skills"] == [] and "temperature" not in updated  # a PUT replaces the whole config
    assert updated["createdAt"] == agent["createdAt"]
    assert updated["updatedAt"] >= agent["updatedAt"]

    # A stale If-Match is 412 and changes nothing.
    status, body, _ = await api(
        http, "PUT", path, owner, json={"systemPrompt": "lost update"}, headers={"If-Match": agent["etag"]}
    )
    assert (status, body["error"]["code"]) == (412, "FAILED_PRECONDITION"), body
    assert '"v2"' in body["error"]["message"]
    status, body, headers = await api(http, "GET", path, owner)
    assert body["agent"]["systemPrompt"] == "v2 prompt" and headers["ETag"] == '"v2"'

    # "*" and no If-Match at all both update unconditionally; so does a matching etag in the body.
    status, body, _ = await api(http, "PUT", path, owner, json={"systemPrompt": "v3"}, headers={"If-Match": "*"})
    assert (status, body["agent"]["etag"]) == (200, '"v3"'), body
    status, body, _ = await api(http, "PUT", path, owner, json={"systemPrompt": "v4", "model": "openai/gpt-4o-mini"})
    assert (status, body["agent"]["etag"]) == (200, '"v4"'), body
    status, body, _ = await api(http, "PUT", path, owner, json={"systemPrompt": "v5", "etag": '"v4"'})
    assert (status, body["agent"]["etag"]) == (200, '"v5"'), body
    status, body, _ = await api(http, "PUT", path, owner, json={"systemPrompt": "v6", "etag": '"v1"'})
    assert status == 412, body

    rows = await versions(gateway, agent["id"])
    assert [r["version"] for r in rows] == [1, 2, 3, 4, 5]
    assert [r["config"]["systemPrompt"] for r in rows] == ["v1 prompt", "v2 prompt", "v3", "v4", "v5"]
    assert [r["model"] for r in rows] == ["local/echo"] * 3 + ["openai/gpt-4o-mini", "local/echo"]
    assert {r["changed_by"] for r in rows} == {owner["user"]["id"]}
    current = await sql(gateway, "SELECT version FROM agents WHERE id = %s", (agent["id"],))
    assert current == [{"version": 5}]

    # The id cannot change; an invalid config is refused without a new version; unknown ids are 404.
    status, body, _ = await api(http, "PUT", path, owner, json={"id": "renamed-agent"})
    assert status == 400, body
    status, body, _ = await api(http, "PUT", path, owner, json={"temperature": 3})
    assert status == 400 and "temperature" in body["error"]["message"], body
    assert len(await versions(gateway, agent["id"])) == 5
    status, body, _ = await api(http, "PUT", "/agents/no-such-agent", owner, json={})
    assert status == 404, body


async def test_concurrent_updates_with_the_same_etag_one_wins(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    owner = users[0]
    agent = await created(http, owner)
    results = await asyncio.gather(
        *(
            api(
                http,
                "PUT",
                f"/agents/{agent['id']}",
                owner,
                json={"systemPrompt": f"writer {i}"},
                headers={"If-Match": '"v1"'},
            )
            for i in range(4)
        )
    )
    assert sorted(r[0] for r in results) == [200, 412, 412, 412], [r[1] for r in results]
    assert [r["version"] for r in await versions(gateway, agent["id"])] == [1, 2]


async def test_grpc_update_with_etag_and_errors(channel: grpc.aio.Channel, users: list[dict]) -> None:
    owner, stranger = users[0], users[2]
    stub = agents_pb2_grpc.AgentsServiceStub(channel)
    metadata = grpc_metadata(owner)
    agent_id = slug("grpc")
    call = stub.CreateAgent(
        agents_pb2.CreateAgentRequest(agent=common_pb2.Agent(id=agent_id, skills=["math"])), metadata=metadata
    )
    made = await call
    assert made.agent.etag == '"v1"'
    assert dict(await call.trailing_metadata())["etag"] == '"v1"'

    call = stub.UpdateAgent(
        agents_pb2.UpdateAgentRequest(
            agent_id=agent_id, agent=common_pb2.Agent(etag='"v1"', system_prompt="over gRPC", temperature=0.7)
        ),
        metadata=metadata,
    )
    updated = await call
    assert updated.agent.etag == '"v2"'
    assert updated.agent.system_prompt == "over gRPC"
    assert updated.agent.HasField("temperature") and updated.agent.temperature == pytest.approx(0.7)
    assert dict(await call.trailing_metadata())["etag"] == '"v2"'

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.UpdateAgent(
            agents_pb2.UpdateAgentRequest(agent_id=agent_id, agent=common_pb2.Agent(etag='"v1"')), metadata=metadata
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert dict(err.value.trailing_metadata()).get("x-http-status") == "412"

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetAgent(agents_pb2.GetAgentRequest(agent_id="no-such-agent"), metadata=metadata)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    for rpc, request in [
        (stub.GetAgent, agents_pb2.GetAgentRequest(agent_id=agent_id)),
        (stub.UpdateAgent, agents_pb2.UpdateAgentRequest(agent_id=agent_id, agent=common_pb2.Agent())),
        (stub.DeleteAgent, agents_pb2.DeleteAgentRequest(agent_id=agent_id)),
        (stub.GetAgentCapabilities, agents_pb2.GetAgentCapabilitiesRequest(agent_id=agent_id)),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await rpc(request, metadata=grpc_metadata(stranger))
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED, rpc
    # A workspace header naming a workspace the caller is not in: NOT_FOUND.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ListAgents(agents_pb2.ListAgentsRequest(), metadata=grpc_metadata(stranger, owner["workspaceId"]))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert (await stub.GetAgent(agents_pb2.GetAgentRequest(agent_id=agent_id), metadata=metadata)).agent.etag == '"v2"'


# ---------------------------------------------------------------------------------------------------------------
# Delete


async def test_delete_removes_the_agent_its_versions_and_grants(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    owner, receiver = users[0], users[1]
    workspace = await new_workspace(http, owner, "Deleting")
    agent = await created(http, owner, workspace)
    await api(
        http,
        "POST",
        f"/workspaces/{workspace}/grants",
        owner,
        json={"receivingWorkspaceId": receiver["workspaceId"], "agentId": agent["id"]},
    )
    status, body, _ = await api(http, "DELETE", f"/agents/{agent['id']}", owner, workspace=workspace)
    assert (status, body) == (200, {}), body
    status, body, _ = await api(http, "GET", f"/agents/{agent['id']}", owner, workspace=workspace)
    assert status == 404, body
    status, body, _ = await api(http, "GET", f"/agents/{agent['id']}", receiver)
    assert status == 404, body
    assert await versions(gateway, agent["id"]) == []
    assert await sql(gateway, "SELECT 1 FROM agent_grants WHERE agent_id = %s", (agent["id"],)) == []
    status, body, _ = await api(http, "DELETE", f"/agents/{agent['id']}", owner, workspace=workspace)
    assert status == 404, body
    # The id is free again.
    await created(http, owner, workspace, id=agent["id"])


# ---------------------------------------------------------------------------------------------------------------
# Granted and global agents are never writable here


async def test_granted_agents_are_not_writable_by_the_receiver(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    granter, receiver = users[1], users[0]
    source = await new_workspace(http, granter, "Granter")
    agent = await created(http, granter, source, systemPrompt="original")
    status, body, _ = await api(
        http,
        "POST",
        f"/workspaces/{source}/grants",
        granter,
        json={"receivingWorkspaceId": receiver["workspaceId"], "agentId": agent["id"], "readonly": False},
    )
    assert status == 200, body
    # The receiver is owner of their own workspace, and the grant is not read-only: still no writes.
    status, body, _ = await api(http, "GET", f"/agents/{agent['id']}", receiver)
    assert (status, body["agent"]["origin"]) == (200, "granted"), body
    status, body, _ = await api(http, "PUT", f"/agents/{agent['id']}", receiver, json={"systemPrompt": "hijacked"})
    assert (status, body["error"]["code"]) == (403, "PERMISSION_DENIED"), body
    assert "granted" in body["error"]["message"]
    status, body, _ = await api(http, "DELETE", f"/agents/{agent['id']}", receiver)
    assert status == 403, body
    rows = await sql(gateway, "SELECT version, config FROM agents WHERE id = %s", (agent["id"],))
    assert rows[0]["version"] == 1 and rows[0]["config"]["systemPrompt"] == "original"


async def test_global_agents_are_listed_everywhere_and_read_only(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    owner = users[0]
    team = await new_workspace(http, owner, "Team with globals")
    for account, workspace in [(owner, None), (owner, team), (users[1], None), (users[2], None)]:
        status, body, _ = await api(http, "GET", "/agents", account, workspace=workspace, params={"origin": "global"})
        assert status == 200, body
        assert [(a["id"], a["origin"], a["workspaceId"]) for a in body["agents"]] == [
            (agent_id, "global", "") for agent_id in GLOBAL_IDS
        ]
    for method, json in [("PUT", {"systemPrompt": "mine now"}), ("DELETE", ABSENT)]:
        status, body, _ = await api(http, method, "/agents/global-helper", owner, workspace=team, json=json)
        assert (status, body["error"]["code"]) == (403, "PERMISSION_DENIED"), body
        assert "global" in body["error"]["message"]
    status, body, _ = await api(http, "PUT", "/agents/global-helper", owner, json={}, headers={"If-Match": '"v1"'})
    assert status == 403, body
    rows = await sql(gateway, "SELECT workspace_id, version, config FROM agents WHERE id = 'global-helper'")
    assert len(rows) == 1
    assert (rows[0]["workspace_id"], rows[0]["version"]) == (None, 1)
    assert rows[0]["config"]["systemPrompt"] == "Helps everyone."


async def test_global_agents_load_idempotently_at_start_up(gateway: GatewayThread) -> None:
    before = await sql(gateway, "SELECT id, version, updated_at FROM agents WHERE workspace_id IS NULL ORDER BY id")
    assert [(r["id"], r["version"]) for r in before] == [(agent_id, 1) for agent_id in GLOBAL_IDS]
    versions_before = await sql(gateway, "SELECT agent_id, version FROM agent_versions ORDER BY agent_id, version")

    # A second gateway on the same database (a restart, or another replica) syncs the same file again.
    second = await asyncio.to_thread(lambda: GatewayThread(gateway.settings).start())
    try:
        after = await sql(gateway, "SELECT id, version, updated_at FROM agents WHERE workspace_id IS NULL ORDER BY id")
        assert after == before
        assert await sql(gateway, "SELECT agent_id, version FROM agent_versions ORDER BY agent_id, version") == (
            versions_before
        )
    finally:
        await asyncio.to_thread(second.stop)


def test_agents_file_is_parsed_with_field_errors(tmp_path: Path) -> None:
    from server.agents.global_file import parse_agents_file
    from server.config import ConfigError

    catalog = Catalog.load()
    bad = tmp_path / "agents.yaml"
    for text, expected in [
        ("agents:\n  - id: ok-agent\n  - id: Bad_Id\n", "agents[1].id"),
        ("agents:\n  - id: ok-agent\n    temperature: 9\n", "agents[0].temperature"),
        ("agents:\n  - id: ok-agent\n  - id: ok-agent\n", "unique"),
        ("just a string\n", "expected a list"),
    ]:
        bad.write_text(text)
        with pytest.raises(ConfigError) as err:
            parse_agents_file(str(bad), catalog)
        assert expected in str(err.value), text
    assert [a.id for a in parse_agents_file(_AGENTS_PATH, catalog)] == ["global-helper", "global-claude"]


# ---------------------------------------------------------------------------------------------------------------
# Restrictions are enforced wherever a model is chosen


async def test_restrictions_enforced_on_create_and_update(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    owner = users[0]
    workspace = await new_workspace(http, owner, "Restricted agents")
    restrictions = f"/workspaces/{workspace}/restrictions"

    status, body, _ = await api(http, "PUT", restrictions, owner, json={"allowedProviders": ["local", "openai"]})
    assert status == 200, body
    blocked = slug("blocked")
    status, body, _ = await create(http, owner, workspace, id=blocked, model="anthropic/claude-sonnet-4")
    assert (status, body["error"]["code"]) == (403, "PERMISSION_DENIED"), body
    assert "anthropic" in body["error"]["message"]
    assert await sql(gateway, "SELECT 1 FROM agents WHERE id = %s", (blocked,)) == []
    agent = await created(http, owner, workspace, model="openai/gpt-4o-mini")

    status, body, _ = await api(
        http, "PUT", restrictions, owner, json={"allowedModels": ["openai/gpt-4o-mini", "local/echo"]}
    )
    assert status == 200, body
    status, body, _ = await create(http, owner, workspace, model="openai/gpt-4o")
    assert status == 403 and "openai/gpt-4o" in body["error"]["message"], body
    status, body, _ = await api(
        http, "PUT", f"/agents/{agent['id']}", owner, workspace=workspace, json={"model": "openai/gpt-4o"}
    )
    assert status == 403 and "openai/gpt-4o" in body["error"]["message"], body
    assert [r["version"] for r in await versions(gateway, agent["id"])] == [1]
    status, body, _ = await api(
        http, "PUT", f"/agents/{agent['id']}", owner, workspace=workspace, json={"model": "local/echo"}
    )
    assert (status, body["agent"]["model"]) == (200, "local/echo"), body

    # The workspace's default model goes through the same check when an agent names no model.
    status, body, _ = await api(
        http, "PUT", f"/workspaces/{workspace}/settings", owner, json={"defaultModel": "anthropic/claude-sonnet-4"}
    )
    assert status == 200, body
    status, body, _ = await create(http, owner, workspace)
    assert status == 403 and "anthropic" in body["error"]["message"], body
    await api(http, "PUT", f"/workspaces/{workspace}/settings", owner, json={"defaultModel": "openai/gpt-4o-mini"})
    assert (await created(http, owner, workspace))["model"] == "openai/gpt-4o-mini"

    # Lifting the restrictions lifts the refusal; other workspaces were never restricted.
    assert (await created(http, owner, model="anthropic/claude-sonnet-4"))["model"] == "anthropic/claude-sonnet-4"
    status, body, _ = await api(http, "PUT", restrictions, owner, json=None)
    assert status == 200, body
    assert (await created(http, owner, workspace, model="anthropic/claude-sonnet-4"))["origin"] == "own"


# ---------------------------------------------------------------------------------------------------------------
# Capabilities


async def test_capabilities_resolve_tools_skills_spawn_and_model(
    http: aiohttp.ClientSession, users: list[dict]
) -> None:
    owner = users[0]
    catalog = Catalog.load()
    agent = await created(
        http,
        owner,
        skills=["research", "math"],
        tools={"allow": ["memory_search", "calculator"], "deny": ["rss_read"]},
        spawn={"enabled": True, "allowedTargets": ["global-helper"], "maxDepth": 2},
        memory={"tiers": ["session", "profile"], "maxContextChunks": 5, "minRelevance": 0.25, "autoExtract": True},
        temperature=0.5,
        maxContextTokens=4096,
    )
    status, caps, _ = await api(http, "GET", f"/agents/{agent['id']}/capabilities", owner)
    assert status == 200, caps
    assert (caps["agentId"], caps["origin"]) == (agent["id"], "own")
    # research's tools, then math's, then allow; minus deny.
    assert [(t["name"], t["skillId"]) for t in caps["tools"]] == [
        ("http_fetch", "research"),
        ("current_time", "research"),
        ("calculator", "math"),
        ("memory_search", ""),
    ]
    for tool in caps["tools"]:
        assert tool["parameters"] == BUILTIN_TOOLS[tool["name"]].parameters
        assert tool["description"] == BUILTIN_TOOLS[tool["name"]].description
    assert [(s["id"], s["displayName"], s["promptContext"], s["toolNames"]) for s in caps["skills"]] == [
        (s.id, s.display_name, s.prompt_context, list(s.tools))
        for s in (catalog.skills["research"], catalog.skills["math"])
    ]
    assert caps["skills"][0]["toolNames"] == ["http_fetch", "rss_read", "current_time"]  # before allow/deny
    assert caps["spawn"] == {"enabled": True, "allowedTargets": ["global-helper"], "maxDepth": 2}
    assert caps["memory"] == {
        "tiers": ["session", "profile"],
        "maxContextChunks": 5,
        "minRelevance": 0.25,
        "autoExtract": True,
    }
    assert caps["model"] == {
        "provider": "local",
        "model": "echo",
        "temperature": 0.5,
        "maxOutputTokens": 1024,
        "maxContextTokens": 4096,
        "providerAvailable": True,
    }
    assert (caps["canChat"], caps["cannotChatReason"]) == (True, "")

    status, caps, _ = await api(http, "GET", "/agents/global-helper/capabilities", owner)
    assert status == 200, caps
    assert caps["origin"] == "global"
    assert [t["name"] for t in caps["tools"]] == ["calculator"]
    assert caps["canChat"] is True


async def test_capabilities_say_why_the_caller_cannot_chat(http: aiohttp.ClientSession, users: list[dict]) -> None:
    owner, viewer = users[0], users[1]
    workspace = await new_workspace(http, owner, "Chat checks")
    await add_member(http, owner, workspace, viewer, "viewer")
    echo = await created(http, owner, workspace)
    keyless = await created(http, owner, workspace, model="openai/gpt-4o-mini")
    self_hosted = await created(http, owner, workspace, model="openai/llama-3", baseUrl="http://127.0.0.1:8000/v1")

    async def caps(agent_id: str, account: dict = owner) -> dict:
        status, body, _ = await api(http, "GET", f"/agents/{agent_id}/capabilities", account, workspace=workspace)
        assert status == 200, body
        return body

    assert (await caps(echo["id"]))["canChat"] is True
    as_viewer = await caps(echo["id"], viewer)
    assert as_viewer["canChat"] is False and "viewer" in as_viewer["cannotChatReason"]

    anthropic = await caps("global-claude")
    assert anthropic["canChat"] is False
    assert anthropic["model"]["providerAvailable"] is False
    assert "ANTHROPIC_API_KEY" in anthropic["cannotChatReason"]
    assert (anthropic["model"]["provider"], anthropic["model"]["maxOutputTokens"]) == ("anthropic", 2048)

    openai = await caps(keyless["id"])
    assert openai["canChat"] is False and "OPENAI_API_KEY" in openai["cannotChatReason"]
    assert (await caps(self_hosted["id"]))["model"]["providerAvailable"] is True
    assert (await caps(self_hosted["id"]))["canChat"] is True

    # A model the workspace no longer allows: readable, but not for chat; the reason names the model.
    status, body, _ = await api(
        http, "PUT", f"/workspaces/{workspace}/restrictions", owner, json={"allowedModels": ["openai/llama-3"]}
    )
    assert status == 200, body
    restricted = await caps(echo["id"])
    assert restricted["canChat"] is False and "local/echo" in restricted["cannotChatReason"]
    assert (await caps(self_hosted["id"]))["canChat"] is True
    status, body, _ = await api(
        http, "PUT", f"/workspaces/{workspace}/restrictions", owner, json={"allowedProviders": ["openai"]}
    )
    assert status == 200, body
    helper = await caps("global-helper")  # global agents too are subject to the workspace's restrictions
    assert helper["canChat"] is False and "local" in helper["cannotChatReason"]


async def test_capabilities_survive_a_skill_that_left_the_catalog(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    agent = await created(http, users[0], skills=["math"])
    await sql(
        gateway,
        "UPDATE agents SET config = jsonb_set(config, '{skills}', '[\"math\", \"retired-skill\"]') WHERE id = %s",
        (agent["id"],),
    )
    status, caps, _ = await api(http, "GET", f"/agents/{agent['id']}/capabilities", users[0])
    assert status == 200, caps
    assert [s["id"] for s in caps["skills"]] == ["math"]
    assert [t["name"] for t in caps["tools"]] == ["calculator"]
