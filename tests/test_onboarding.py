"""POST /onboarding/setup: a workspace and its agents in one transaction; any invalid agent is a 400 naming it
("agents[1]....") and leaves nothing behind (checked in the database)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
import grpc
import pytest

from astra.v1 import common_pb2, onboarding_pb2, onboarding_pb2_grpc
from tests.harness import GatewayThread
from tests.helpers.accounts import bearer, register
from tests.helpers.db import sql


async def setup(
    http: aiohttp.ClientSession, account: dict | None, body: Any, workspace: str | None = None
) -> tuple[int, Any]:
    headers = bearer(account) if account else {}
    if workspace:
        headers["X-Workspace-ID"] = workspace
    async with http.post("/onboarding/setup", json=body, headers=headers) as resp:
        return resp.status, await resp.json()


async def get(http: aiohttp.ClientSession, path: str, account: dict, workspace: str | None = None) -> tuple[int, Any]:
    headers: dict[str, str] = bearer(account)
    if workspace:
        headers["X-Workspace-ID"] = workspace
    async with http.get(path, headers=headers) as resp:
        return resp.status, await resp.json()


@pytest.fixture(scope="module")
def users(gateway: GatewayThread) -> list[dict]:
    async def go() -> list[dict]:
        async with aiohttp.ClientSession(base_url=gateway.http_url) as session:
            return list(await asyncio.gather(*(register(session) for _ in range(2))))

    return asyncio.run(go())


def slug(prefix: str = "onb") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def footprint(gateway: GatewayThread, user_id: str, agent_ids: list[str]) -> dict[str, Any]:
    """What a setup by this user with these agent ids would leave in the database."""
    workspaces = await sql(gateway, "SELECT id FROM workspaces WHERE created_by = %s ORDER BY id", (user_id,))
    memberships = await sql(gateway, "SELECT workspace_id FROM workspace_members WHERE user_id = %s", (user_id,))
    agents = await sql(gateway, "SELECT id FROM agents WHERE id = ANY(%s)", (agent_ids,))
    agent_versions = await sql(gateway, "SELECT agent_id FROM agent_versions WHERE agent_id = ANY(%s)", (agent_ids,))
    return {
        "workspaces": [r["id"] for r in workspaces],
        "memberships": len(memberships),
        "agents": [r["id"] for r in agents],
        "versions": [r["agent_id"] for r in agent_versions],
    }


async def test_setup_creates_the_workspace_and_all_agents(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    owner = users[0]
    first, second = slug("support"), slug("triage")
    status, body = await setup(
        http,
        owner,
        {
            "workspace": {
                "name": "Acme Support",
                "plan": "pro",
                "settings": {"defaultModel": "openai/gpt-4o-mini", "timezone": "Europe/Paris", "dailyResetHour": 5},
            },
            "agents": [
                {"id": first, "displayName": "Support", "skills": ["memory"], "systemPrompt": "Help customers."},
                {"id": second, "model": "local/echo", "temperature": 0.2, "etag": '"v7"', "origin": "global"},
            ],
        },
    )
    assert status == 200, body
    workspace = body["workspace"]
    assert (workspace["name"], workspace["plan"], workspace["role"], workspace["personal"]) == (
        "Acme Support",
        "pro",
        "owner",
        False,
    )
    assert workspace["settings"]["timezone"] == "Europe/Paris"
    assert workspace["memberCount"] == 1
    agents = {a["id"]: a for a in body["agents"]}
    assert list(agents) == [first, second]
    assert agents[first]["model"] == "openai/gpt-4o-mini"  # the new workspace's default model
    assert agents[second]["model"] == "local/echo"
    for agent in agents.values():
        assert (agent["workspaceId"], agent["origin"], agent["etag"]) == (workspace["id"], "own", '"v1"')

    rows = await sql(
        gateway, "SELECT id, workspace_id, version FROM agents WHERE id = ANY(%s) ORDER BY id", ([*agents],)
    )
    assert {(r["id"], r["workspace_id"], r["version"]) for r in rows} == {(a, workspace["id"], 1) for a in agents}
    assert sorted(
        r["agent_id"]
        for r in await sql(gateway, "SELECT agent_id FROM agent_versions WHERE agent_id = ANY(%s)", ([*agents],))
    ) == sorted(agents)
    members = await sql(
        gateway, "SELECT user_id, role FROM workspace_members WHERE workspace_id = %s", (workspace["id"],)
    )
    assert members == [{"user_id": owner["user"]["id"], "role": "owner"}]

    # The agents are usable in the new workspace at once.
    status, listed = await get(http, "/agents", owner, workspace["id"])
    assert status == 200, listed
    assert [a["id"] for a in listed["agents"] if a["origin"] == "own"] == sorted(agents)
    status, caps = await get(http, f"/agents/{first}/capabilities", owner, workspace["id"])
    assert status == 200 and [s["id"] for s in caps["skills"]] == ["memory"], caps


async def test_setup_without_agents(http: aiohttp.ClientSession, users: list[dict]) -> None:
    status, body = await setup(http, users[1], {"workspace": {"name": "Solo"}})
    assert status == 200, body
    assert body["agents"] == [] and body["workspace"]["plan"] == "free"
    status, listed = await get(http, "/workspaces", users[1])
    assert body["workspace"]["id"] in [w["id"] for w in listed["workspaces"]]


@pytest.mark.parametrize(
    ("bad_agent", "named"),
    [
        ({"id": "Not_A_Slug"}, "agents[1].id"),
        ({"temperature": 5}, "agents[1].temperature"),
        ({"skills": ["memory", "alchemy"]}, "agents[1].skills"),
        ({"tools": {"allow": ["teleport"]}}, "agents[1].tools.allow"),
        ({"tools": {"deny": ["teleport"]}}, "agents[1].tools.deny"),
        ({"model": "mystery/model-x"}, "agents[1].model"),
        ({"spawn": {"enabled": True, "maxDepth": 4}}, "agents[1].spawn.maxDepth"),
        ({"memory": {"tiers": ["dreams"]}}, "agents[1].memory.tiers"),
        ({"id": "DUPLICATE"}, "agents[1].id"),  # replaced by agents[0]'s id below
    ],
    ids=["id", "temperature", "skill", "tools-allow", "tools-deny", "provider", "spawn-depth", "memory-tier", "dup-id"],
)
async def test_an_invalid_agent_is_named_and_nothing_is_created(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict], bad_agent: dict, named: str
) -> None:
    owner = users[0]
    good, bad, last = slug("good"), slug("bad"), slug("last")
    bad_agent = {"id": bad, **bad_agent}
    if bad_agent["id"] == "DUPLICATE":
        bad_agent["id"] = good
    ids = [good, bad, last]
    before = await footprint(gateway, owner["user"]["id"], ids)

    status, body = await setup(
        http,
        owner,
        {"workspace": {"name": "Doomed"}, "agents": [{"id": good}, bad_agent, {"id": last}]},
    )
    assert (status, body["error"]["code"]) == (400, "INVALID_ARGUMENT"), body
    assert body["error"]["message"].startswith(named), body
    assert await footprint(gateway, owner["user"]["id"], ids) == before
    assert before["agents"] == [] and before["versions"] == []


async def test_a_taken_agent_id_rolls_back_the_workspace_and_earlier_agents(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    owner, other = users[0], users[1]
    taken = slug("taken")
    async with http.post("/agents", json={"id": taken}, headers=bearer(other)) as resp:
        assert resp.status == 200, await resp.text()
    good, late = slug("good"), slug("late")
    before = await footprint(gateway, owner["user"]["id"], [good, late])

    # agents[0] and the workspace are inserted before agents[1] fails on the unique id: all rolled back.
    status, body = await setup(
        http,
        owner,
        {"workspace": {"name": "Collides"}, "agents": [{"id": good}, {"id": taken}, {"id": late}]},
    )
    assert (status, body["error"]["code"]) == (409, "ALREADY_EXISTS"), body
    assert taken in body["error"]["message"]
    assert await footprint(gateway, owner["user"]["id"], [good, late]) == before
    rows = await sql(gateway, "SELECT workspace_id FROM agents WHERE id = %s", (taken,))
    assert rows == [{"workspace_id": other["workspaceId"]}]  # the existing agent is untouched


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"workspace": {"name": ""}, "agents": [{"id": "fine-agent"}]}, "name"),
        ({"workspace": {"name": "x", "plan": "platinum"}, "agents": [{"id": "fine-agent"}]}, "plan"),
        ({"workspace": {"name": "x", "settings": {"dailyResetHour": 30}}}, "dailyResetHour"),
        ({"workspace": {"name": "x", "settings": {"defaultModel": "nope"}}}, "defaultModel"),
        ({"workspace": {"name": "x"}, "agents": [{"id": f"bulk-{i}"} for i in range(51)]}, "at most 50"),
        ({"workspace": {"name": "x"}, "agents": [{"id": "fine-agent", "unknownField": 1}]}, "unknownField"),
    ],
    ids=["name", "plan", "reset-hour", "default-model", "too-many-agents", "unknown-field"],
)
async def test_an_invalid_workspace_creates_nothing(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict], body: dict, named: str
) -> None:
    owner = users[1]
    ids = ["fine-agent", *[f"bulk-{i}" for i in range(51)]]
    before = await footprint(gateway, owner["user"]["id"], ids)
    status, answer = await setup(http, owner, body)
    assert status == 400, answer
    assert named in answer["error"]["message"], answer
    assert await footprint(gateway, owner["user"]["id"], ids) == before


async def test_the_callers_workspace_restrictions_do_not_bind_the_new_one(
    http: aiohttp.ClientSession, users: list[dict]
) -> None:
    """Restrictions belong to a workspace: those of the workspace the caller is acting in do not apply."""
    owner = users[1]
    async with http.post("/workspaces", json={"name": "Locked down"}, headers=bearer(owner)) as resp:
        assert resp.status == 200, await resp.text()
        locked = (await resp.json())["workspace"]["id"]
    async with http.put(
        f"/workspaces/{locked}/restrictions", json={"allowedProviders": ["local"]}, headers=bearer(owner)
    ) as resp:
        assert resp.status == 200, await resp.text()
    agent_id = slug("free")
    status, body = await setup(
        http,
        owner,
        {"workspace": {"name": "Unrestricted"}, "agents": [{"id": agent_id, "model": "anthropic/claude-sonnet-4"}]},
        workspace=locked,
    )
    assert status == 200, body
    assert body["agents"][0]["model"] == "anthropic/claude-sonnet-4"
    assert body["workspace"]["id"] != locked


async def test_setup_needs_a_caller(http: aiohttp.ClientSession, users: list[dict]) -> None:
    status, body = await setup(http, None, {"workspace": {"name": "Anonymous"}})
    assert (status, body["error"]["code"]) == (401, "UNAUTHENTICATED"), body
    # A workspace header naming someone else's workspace: 404 before anything is created.
    status, body = await setup(http, users[0], {"workspace": {"name": "Sneaky"}}, workspace=users[1]["workspaceId"])
    assert status == 404, body


async def test_setup_over_grpc(channel: grpc.aio.Channel, gateway: GatewayThread, users: list[dict]) -> None:
    stub = onboarding_pb2_grpc.OnboardingServiceStub(channel)
    metadata = (("authorization", f"Bearer {users[0]['tokens']['accessToken']}"),)
    agent_id = slug("grpc")
    answer = await stub.Setup(
        onboarding_pb2.SetupRequest(
            workspace=onboarding_pb2.WorkspaceSpec(name="Over gRPC"),
            agents=[common_pb2.Agent(id=agent_id, skills=["math"])],
        ),
        metadata=metadata,
    )
    assert answer.workspace.role == "owner"
    assert [a.id for a in answer.agents] == [agent_id]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Setup(
            onboarding_pb2.SetupRequest(
                workspace=onboarding_pb2.WorkspaceSpec(name="Broken"),
                agents=[common_pb2.Agent(id=slug("ok")), common_pb2.Agent(id=slug("bad"), temperature=-1)],
            ),
            metadata=metadata,
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith("agents[1].temperature")
    assert await sql(gateway, "SELECT 1 FROM workspaces WHERE name = 'Broken'") == []
