"""The authorization matrix of the multi-tenancy routes, table-driven.

Every route of the contract under /workspaces, /invitations, /agents and /onboarding must have a rule in AUTHZ
(the test fails for a route without one, and for a rule whose route is gone); each rule is exercised for every
role (owner, admin, member, viewer, and an outsider who owns another workspace). Allowed writes must change the
workspace, denied ones must leave it exactly as it was. A second table attacks one workspace's resources
(workspace, members, invitations, stats, restrictions, grants, agents) from another workspace whose owner is the
caller.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from contract.routes import load_routes
from tests.harness import GatewayThread
from tests.helpers.accounts import register, unique_email
from tests.helpers.db import sql
from tests.helpers.http import ABSENT, api
from tests.helpers.workspaces import add_member

PREFIXES = ("/workspaces", "/invitations", "/agents", "/onboarding")
ROLES = ("owner", "admin", "member", "viewer", "outsider")
MEMBER_ROLES = ROLES[:4]


@dataclass
class Call:
    method: str
    path: str
    json: Any = ABSENT
    params: Mapping[str, str] | None = None
    workspace: str | None = None  # X-Workspace-ID


@dataclass
class World:
    gateway: GatewayThread
    accounts: dict[str, dict]  # role -> account
    workspace: str  # W: the workspace every role is measured against
    partner: str  # R: the outsider's second workspace, which W grants agents to
    agent: str  # an agent of W (matrix target)
    shared_agent: str  # an agent of W granted to R (left alone by the matrix)
    outsider_agent: str  # an agent of the outsider's personal workspace
    invitation: str  # a pending invitation of W for someone who is none of the accounts

    def uid(self, role: str) -> str:
        return self.accounts[role]["user"]["id"]

    @property
    def outsider_workspace(self) -> str:
        return self.accounts["outsider"]["workspaceId"]


async def send(http: aiohttp.ClientSession, account: dict, call: Call) -> tuple[int, Any]:
    status, body, _ = await api(
        http, call.method, call.path, account, json=call.json, params=call.params, workspace=call.workspace or None
    )
    return status, body


async def fingerprint(world: World) -> Any:
    """Everything about W a write could change: its row, members, invitations, agents (with versions) and grants
    given."""
    rows = await sql(
        world.gateway,
        "SELECT jsonb_build_object("
        " 'workspace', (SELECT to_jsonb(w) FROM workspaces w WHERE w.id = %(w)s),"
        " 'members', (SELECT jsonb_agg(jsonb_build_object('u', user_id, 'r', role) ORDER BY user_id)"
        "             FROM workspace_members WHERE workspace_id = %(w)s),"
        " 'invitations', (SELECT jsonb_agg(to_jsonb(i) ORDER BY id) FROM workspace_invitations i"
        "                 WHERE workspace_id = %(w)s),"
        " 'agents', (SELECT jsonb_agg(jsonb_build_object('id', id, 'v', version, 'c', config) ORDER BY id)"
        "            FROM agents WHERE workspace_id = %(w)s),"
        " 'grants', (SELECT jsonb_agg(to_jsonb(g) ORDER BY receiving_workspace_id, agent_id)"
        "            FROM agent_grants g WHERE granting_workspace_id = %(w)s)"
        ") AS state",
        {"w": world.workspace},
    )
    return rows[0]["state"]


async def spare_user(world: World) -> str:
    """A user row inserted directly (no argon2), for member routes to add or remove."""
    user_id = f"usr_{uuid.uuid4().hex[:24]}"
    await sql(
        world.gateway,
        "INSERT INTO users (id, email, password_hash) VALUES (%s, %s, 'not-a-hash')",
        (user_id, unique_email("spare")),
    )
    return user_id


def slug() -> str:
    return f"m-{uuid.uuid4().hex[:12]}"


async def invite(http: aiohttp.ClientSession, owner: dict, workspace: str) -> str:
    """A fresh pending invitation of the workspace, for an address that is none of the accounts."""
    body = {"email": unique_email("invitee"), "role": "viewer"}
    status, answer = await send(http, owner, Call("POST", f"/workspaces/{workspace}/members", body))
    assert status == 202, answer
    return answer["invitation"]["id"]


@pytest.fixture(scope="module")
def world(gateway: GatewayThread) -> World:
    """Five accounts, W with owner/admin/member/viewer, a partner workspace R, and agents; built once."""

    async def build() -> World:
        async with aiohttp.ClientSession(base_url=gateway.http_url) as http:
            registered = await asyncio.gather(*(register(http) for _ in ROLES))
            accounts = dict(zip(ROLES, registered, strict=True))
            owner = accounts["owner"]

            async def ok(account: dict, call: Call) -> Any:
                status, body = await send(http, account, call)
                assert status == 200, (call, body)
                return body

            workspace = (await ok(owner, Call("POST", "/workspaces", {"name": "Matrix"})))["workspace"]["id"]
            outsider = accounts["outsider"]
            partner = (await ok(outsider, Call("POST", "/workspaces", {"name": "Partner"})))["workspace"]["id"]
            for role in ("admin", "member", "viewer"):
                await add_member(http, owner, workspace, accounts[role], role)
            invitation = await invite(http, owner, workspace)
            agent, shared, foreign = slug(), slug(), slug()
            await ok(owner, Call("POST", "/agents", {"id": agent}, workspace=workspace))
            await ok(owner, Call("POST", "/agents", {"id": shared}, workspace=workspace))
            await ok(outsider, Call("POST", "/agents", {"id": foreign}))
            grant = {"receivingWorkspaceId": partner, "agentId": shared, "readonly": False}
            await ok(owner, Call("POST", f"/workspaces/{workspace}/grants", grant))
        return World(gateway, accounts, workspace, partner, agent, shared, foreign, invitation)

    return asyncio.run(build())


# ---------------------------------------------------------------------------------------------------------------
# The authorization table: one rule per route.

Build = Callable[[World, aiohttp.ClientSession], Awaitable[Call]]


@dataclass(frozen=True)
class Rule:
    allowed: frozenset[str]  # roles that get `status`
    build: Build  # the call, made the same way for every role (after any set-up it needs)
    writes: bool  # an allowed call changes W (and a denied one must not)
    status: int = 200
    # What every denied role gets, when not the usual 403 for W's members and 404 for the outsider.
    denied: tuple[int, str] | None = None


ANYONE = frozenset(ROLES)  # acts on the caller's own account, not on W
NOBODY: frozenset[str] = frozenset()
MEMBERS = frozenset(MEMBER_ROLES)
WRITERS = frozenset({"owner", "admin"})


def call(method: str, path: Callable[[World], str], json: Any = ABSENT, in_w: bool = False) -> Build:
    async def build(world: World, http: aiohttp.ClientSession) -> Call:
        body = json(world) if callable(json) else json
        return Call(method, path(world), body, workspace=world.workspace if in_w else None)

    return build


async def _add_member(world: World, http: aiohttp.ClientSession) -> Call:
    return Call("POST", f"/workspaces/{world.workspace}/members", {"userId": await spare_user(world), "role": "viewer"})


async def _remove_member(world: World, http: aiohttp.ClientSession) -> Call:
    user_id = await spare_user(world)
    await sql(
        world.gateway,
        "INSERT INTO workspace_members (workspace_id, user_id, role) VALUES (%s, %s, 'viewer')",
        (world.workspace, user_id),
    )
    return Call("DELETE", f"/workspaces/{world.workspace}/members/{user_id}")


async def _revoke_invitation(world: World, http: aiohttp.ClientSession) -> Call:
    invitation = await invite(http, world.accounts["owner"], world.workspace)
    return Call("DELETE", f"/workspaces/{world.workspace}/invitations/{invitation}")


def _answer_invitation(verb: str) -> Build:
    """An invitation of W addressed to none of the accounts: whatever their role in W, nobody may answer it."""

    async def build(world: World, http: aiohttp.ClientSession) -> Call:
        invitation = await invite(http, world.accounts["owner"], world.workspace)
        return Call("POST", f"/invitations/{invitation}/{verb}")

    return build


async def _revoke_grant(world: World, http: aiohttp.ClientSession) -> Call:
    await sql(
        world.gateway,
        "INSERT INTO agent_grants (granting_workspace_id, receiving_workspace_id, agent_id, readonly)"
        " VALUES (%s, %s, %s, true) ON CONFLICT DO NOTHING",
        (world.workspace, world.partner, world.agent),
    )
    params = {"receivingWorkspaceId": world.partner, "agentId": world.agent}
    return Call("DELETE", f"/workspaces/{world.workspace}/grants", params=params)


async def _delete_agent(world: World, http: aiohttp.ClientSession) -> Call:
    agent_id = slug()
    status, body = await send(
        http, world.accounts["owner"], Call("POST", "/agents", {"id": agent_id}, workspace=world.workspace)
    )
    assert status == 200, body
    return Call("DELETE", f"/agents/{agent_id}", workspace=world.workspace)


AUTHZ: dict[tuple[str, str], Rule] = {
    # Workspaces: the path names the workspace; callers send no X-Workspace-ID, so their active workspace is
    # their personal one (where even the outsider is owner) and only the route's own check can refuse them.
    ("POST", "/workspaces"): Rule(ANYONE, call("POST", lambda w: "/workspaces", {"name": "Mine"}), writes=False),
    ("GET", "/workspaces"): Rule(ANYONE, call("GET", lambda w: "/workspaces"), writes=False),
    ("GET", "/workspaces/{workspace_id}"): Rule(
        MEMBERS, call("GET", lambda w: f"/workspaces/{w.workspace}"), writes=False
    ),
    ("PUT", "/workspaces/{workspace_id}/settings"): Rule(
        WRITERS,
        call("PUT", lambda w: f"/workspaces/{w.workspace}/settings", lambda w: {"timezone": "UTC"}),
        writes=True,
    ),
    # Adding a non-member sends an invitation (202), which changes W's invitations.
    ("POST", "/workspaces/{workspace_id}/members"): Rule(WRITERS, _add_member, writes=True, status=202),
    ("GET", "/workspaces/{workspace_id}/invitations"): Rule(
        WRITERS, call("GET", lambda w: f"/workspaces/{w.workspace}/invitations"), writes=False
    ),
    ("DELETE", "/workspaces/{workspace_id}/invitations/{invitation_id}"): Rule(
        WRITERS, _revoke_invitation, writes=True
    ),
    # Invitations: the caller's own list; answering one addressed to someone else is 404 for every role of W.
    ("GET", "/invitations"): Rule(ANYONE, call("GET", lambda w: "/invitations"), writes=False),
    ("POST", "/invitations/{invitation_id}/accept"): Rule(
        NOBODY, _answer_invitation("accept"), writes=True, denied=(404, "NOT_FOUND")
    ),
    ("POST", "/invitations/{invitation_id}/decline"): Rule(
        NOBODY, _answer_invitation("decline"), writes=True, denied=(404, "NOT_FOUND")
    ),
    ("DELETE", "/workspaces/{workspace_id}/members/{user_id}"): Rule(WRITERS, _remove_member, writes=True),
    ("GET", "/workspaces/{workspace_id}/stats"): Rule(
        MEMBERS, call("GET", lambda w: f"/workspaces/{w.workspace}/stats"), writes=False
    ),
    ("PUT", "/workspaces/{workspace_id}/restrictions"): Rule(
        WRITERS, call("PUT", lambda w: f"/workspaces/{w.workspace}/restrictions", None), writes=True
    ),
    ("POST", "/workspaces/{workspace_id}/grants"): Rule(
        WRITERS,
        call(
            "POST",
            lambda w: f"/workspaces/{w.workspace}/grants",
            lambda w: {"receivingWorkspaceId": w.partner, "agentId": w.agent},
        ),
        writes=True,
    ),
    ("DELETE", "/workspaces/{workspace_id}/grants"): Rule(WRITERS, _revoke_grant, writes=True),
    # Agents: the active workspace is W (X-Workspace-ID); for the outsider that header is refused (404).
    ("POST", "/agents"): Rule(WRITERS, call("POST", lambda w: "/agents", lambda w: {"id": slug()}, True), writes=True),
    ("GET", "/agents"): Rule(MEMBERS, call("GET", lambda w: "/agents", in_w=True), writes=False),
    ("GET", "/agents/{agent_id}"): Rule(MEMBERS, call("GET", lambda w: f"/agents/{w.agent}", in_w=True), writes=False),
    ("PUT", "/agents/{agent_id}"): Rule(
        WRITERS,
        call("PUT", lambda w: f"/agents/{w.agent}", lambda w: {"systemPrompt": uuid.uuid4().hex}, True),
        writes=True,
    ),
    ("DELETE", "/agents/{agent_id}"): Rule(WRITERS, _delete_agent, writes=True),
    ("GET", "/agents/{agent_id}/capabilities"): Rule(
        MEMBERS, call("GET", lambda w: f"/agents/{w.agent}/capabilities", in_w=True), writes=False
    ),
    # Onboarding creates a new workspace owned by the caller.
    ("POST", "/onboarding/setup"): Rule(
        ANYONE,
        call(
            "POST",
            lambda w: "/onboarding/setup",
            lambda w: {"workspace": {"name": "Onboarded"}, "agents": [{"id": slug()}]},
        ),
        writes=False,
    ),
}

TENANCY_ROUTES = sorted(
    {(route.http_method, route.template) for route in load_routes() if route.template.startswith(PREFIXES)}
)


def test_every_tenancy_route_has_an_authorization_rule() -> None:
    missing = sorted(set(TENANCY_ROUTES) - set(AUTHZ))
    stale = sorted(set(AUTHZ) - set(TENANCY_ROUTES))
    assert not missing, f"routes without a rule in AUTHZ (add one, with the roles allowed): {missing}"
    assert not stale, f"rules for routes the contract no longer has: {stale}"
    assert len(TENANCY_ROUTES) >= 17


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", TENANCY_ROUTES, ids=[f"{m} {t}" for m, t in TENANCY_ROUTES])
async def test_role_matrix(http: aiohttp.ClientSession, world: World, route: tuple[str, str], role: str) -> None:
    rule = AUTHZ.get(route)
    if rule is None:
        pytest.fail(f"{route[0]} {route[1]} has no authorization rule in AUTHZ")
    request = await rule.build(world, http)
    before = await fingerprint(world)
    status, body = await send(http, world.accounts[role], request)
    after = await fingerprint(world)

    if role in rule.allowed:
        assert status == rule.status, (role, request, body)
        if rule.writes:
            assert after != before, f"{role}: {route} answered 200 but W did not change"
        else:
            assert after == before
        return
    expected = rule.denied or ((404, "NOT_FOUND") if role == "outsider" else (403, "PERMISSION_DENIED"))
    assert (status, body["error"]["code"]) == expected, (role, request, body)
    assert after == before, f"{role}: a refused {route} changed W"


# ---------------------------------------------------------------------------------------------------------------
# Cross-workspace: one workspace's resources attacked from another, by that other workspace's owner.


@dataclass(frozen=True)
class Attack:
    caller: str
    build: Callable[[World], Call]
    status: int
    check: Callable[[World, Any], None] | None = None


def _no_foreign_agents(world: World, body: Any) -> None:
    ids = {a["id"] for a in body["agents"]}
    assert world.agent not in ids and world.shared_agent not in ids
    assert world.outsider_agent in ids


def _assert_origin(body: Any, origin: str) -> None:
    assert body["agent"]["origin"] == origin


def _not_listed(world: World, body: Any) -> None:
    assert world.workspace not in {w["id"] for w in body["workspaces"]}


def _no_invitation_to_w(world: World, body: Any) -> None:
    assert world.workspace not in {i["workspaceId"] for i in body["invitations"]}


CROSS: dict[str, Attack] = {
    # Workspace ids: the outsider (owner of their own workspace) is not a member of W -> 404 everywhere.
    "workspace get": Attack("outsider", lambda w: Call("GET", f"/workspaces/{w.workspace}"), 404),
    "workspace list": Attack("outsider", lambda w: Call("GET", "/workspaces"), 200, _not_listed),
    "workspace settings": Attack(
        "outsider", lambda w: Call("PUT", f"/workspaces/{w.workspace}/settings", {"timezone": "UTC"}), 404
    ),
    "workspace restrictions": Attack(
        "outsider",
        lambda w: Call("PUT", f"/workspaces/{w.workspace}/restrictions", {"allowedProviders": ["local"]}),
        404,
    ),
    "stats": Attack("outsider", lambda w: Call("GET", f"/workspaces/{w.workspace}/stats"), 404),
    "stats with days": Attack(
        "outsider", lambda w: Call("GET", f"/workspaces/{w.workspace}/stats", params={"days": "365"}), 404
    ),
    # Member ids.
    "member add self as owner": Attack(
        "outsider",
        lambda w: Call("POST", f"/workspaces/{w.workspace}/members", {"userId": w.uid("outsider"), "role": "owner"}),
        404,
    ),
    "member remove the owner": Attack(
        "outsider", lambda w: Call("DELETE", f"/workspaces/{w.workspace}/members/{w.uid('owner')}"), 404
    ),
    "member remove through own workspace": Attack(
        "outsider", lambda w: Call("DELETE", f"/workspaces/{w.outsider_workspace}/members/{w.uid('member')}"), 404
    ),
    "member add into foreign workspace via email": Attack(
        "outsider",
        lambda w: Call(
            "POST", f"/workspaces/{w.workspace}/members", {"email": w.accounts["outsider"]["email"], "role": "viewer"}
        ),
        404,
    ),
    # Invitation ids: a workspace's invitations are its admins'; an invitation is answered by its invitee only.
    "invitation list": Attack("outsider", lambda w: Call("GET", f"/workspaces/{w.workspace}/invitations"), 404),
    "invitation revoke": Attack(
        "outsider", lambda w: Call("DELETE", f"/workspaces/{w.workspace}/invitations/{w.invitation}"), 404
    ),
    "invitation revoke through own workspace": Attack(
        "outsider", lambda w: Call("DELETE", f"/workspaces/{w.outsider_workspace}/invitations/{w.invitation}"), 404
    ),
    "invitation accept for someone else": Attack(
        "outsider", lambda w: Call("POST", f"/invitations/{w.invitation}/accept"), 404
    ),
    "invitation decline for someone else": Attack(
        "outsider", lambda w: Call("POST", f"/invitations/{w.invitation}/decline"), 404
    ),
    "invitation accept for someone else by W's owner": Attack(
        "owner", lambda w: Call("POST", f"/invitations/{w.invitation}/accept"), 404
    ),
    "invitations of the caller": Attack("outsider", lambda w: Call("GET", "/invitations"), 200, _no_invitation_to_w),
    # Grant ids.
    "grant from a foreign workspace": Attack(
        "outsider",
        lambda w: Call(
            "POST",
            f"/workspaces/{w.workspace}/grants",
            {"receivingWorkspaceId": w.outsider_workspace, "agentId": w.agent},
        ),
        404,
    ),
    "grant a foreign agent from own workspace": Attack(
        "outsider",
        lambda w: Call(
            "POST",
            f"/workspaces/{w.outsider_workspace}/grants",
            {"receivingWorkspaceId": w.partner, "agentId": w.agent},
        ),
        403,
    ),
    "revoke a foreign grant": Attack(
        "outsider",
        lambda w: Call(
            "DELETE",
            f"/workspaces/{w.workspace}/grants",
            params={"receivingWorkspaceId": w.partner, "agentId": w.shared_agent},
        ),
        404,
    ),
    "revoke a foreign grant through own workspace": Attack(
        "outsider",
        lambda w: Call(
            "DELETE",
            f"/workspaces/{w.outsider_workspace}/grants",
            params={"receivingWorkspaceId": w.partner, "agentId": w.shared_agent},
        ),
        404,
    ),
    # Agent ids: from the caller's own workspace a foreign agent exists but is not available (403)...
    "agent get": Attack("outsider", lambda w: Call("GET", f"/agents/{w.agent}"), 403),
    "agent update": Attack("outsider", lambda w: Call("PUT", f"/agents/{w.agent}", {"systemPrompt": "pwned"}), 403),
    "agent update with if-match star": Attack(
        "outsider", lambda w: Call("PUT", f"/agents/{w.agent}", {"systemPrompt": "pwned", "etag": "*"}), 403
    ),
    "agent delete": Attack("outsider", lambda w: Call("DELETE", f"/agents/{w.agent}"), 403),
    "agent capabilities": Attack("outsider", lambda w: Call("GET", f"/agents/{w.agent}/capabilities"), 403),
    "agent granted to another workspace": Attack("outsider", lambda w: Call("GET", f"/agents/{w.shared_agent}"), 403),
    # A grant lets the receiver use an agent, never change it (the outsider owns R).
    "granted agent is readable by the receiver": Attack(
        "outsider",
        lambda w: Call("GET", f"/agents/{w.shared_agent}", workspace=w.partner),
        200,
        lambda w, body: _assert_origin(body, "granted"),
    ),
    "granted agent update by the receiver": Attack(
        "outsider", lambda w: Call("PUT", f"/agents/{w.shared_agent}", {"systemPrompt": "x"}, workspace=w.partner), 403
    ),
    "granted agent delete by the receiver": Attack(
        "outsider", lambda w: Call("DELETE", f"/agents/{w.shared_agent}", workspace=w.partner), 403
    ),
    "granted agent re-granted by the receiver": Attack(
        "outsider",
        lambda w: Call(
            "POST",
            f"/workspaces/{w.partner}/grants",
            {"receivingWorkspaceId": w.outsider_workspace, "agentId": w.shared_agent},
        ),
        403,
    ),
    "agent list": Attack("outsider", lambda w: Call("GET", "/agents"), 200, _no_foreign_agents),
    "agent create with a taken id": Attack("outsider", lambda w: Call("POST", "/agents", {"id": w.agent}), 409),
    # ...and selecting W with X-Workspace-ID is refused outright (404), whatever the route.
    "agent list in foreign workspace": Attack("outsider", lambda w: Call("GET", "/agents", workspace=w.workspace), 404),
    "agent create in foreign workspace": Attack(
        "outsider", lambda w: Call("POST", "/agents", {"id": slug()}, workspace=w.workspace), 404
    ),
    "agent update in foreign workspace": Attack(
        "outsider", lambda w: Call("PUT", f"/agents/{w.agent}", {}, workspace=w.workspace), 404
    ),
    "onboarding in foreign workspace": Attack(
        "outsider",
        lambda w: Call("POST", "/onboarding/setup", {"workspace": {"name": "x"}}, workspace=w.workspace),
        404,
    ),
    # The other direction: W's admin cannot reach the outsider's agent from W.
    "foreign agent from W": Attack(
        "admin", lambda w: Call("PUT", f"/agents/{w.outsider_agent}", {}, workspace=w.workspace), 403
    ),
    "foreign agent grant from W": Attack(
        "admin",
        lambda w: Call(
            "POST",
            f"/workspaces/{w.workspace}/grants",
            {"receivingWorkspaceId": w.partner, "agentId": w.outsider_agent},
        ),
        403,
    ),
}


@pytest.mark.parametrize("name", list(CROSS))
async def test_cross_workspace_access_is_denied(http: aiohttp.ClientSession, world: World, name: str) -> None:
    attack = CROSS[name]
    before = await fingerprint(world)
    status, body = await send(http, world.accounts[attack.caller], attack.build(world))
    assert status == attack.status, body
    if attack.check:
        attack.check(world, body)
    assert await fingerprint(world) == before
    grants = await sql(
        world.gateway,
        "SELECT agent_id FROM agent_grants WHERE receiving_workspace_id = %s",
        (world.outsider_workspace,),
    )
    assert grants == []


def test_cross_table_covers_every_resource_kind() -> None:
    """Each tenancy route with a path id (workspace, member, grant, stats, agent) is attacked at least once."""
    attacked = {(c.method, c.path) for c in (a.build(_PROBE) for a in CROSS.values())}
    for method, template in TENANCY_ROUTES:
        if "{" not in template:
            continue
        path = template.replace("{workspace_id}", _PROBE.workspace).replace("{agent_id}", _PROBE.agent)
        path = path.replace("{user_id}", "*").replace("{invitation_id}", "*")
        assert any(m == method and _matches(path, p) for m, p in attacked), (
            f"no cross-workspace case for {method} {template}"
        )


def _matches(pattern: str, path: str) -> bool:
    parts, actual = pattern.split("/"), path.split("/")
    return len(parts) == len(actual) and all(p in ("*", a) for p, a in zip(parts, actual, strict=True))


_PROBE = World(
    gateway=None,  # type: ignore[arg-type]
    accounts={role: {"user": {"id": f"usr_{role}"}, "workspaceId": f"ws_{role}", "email": "e"} for role in ROLES},
    workspace="ws_W",
    partner="ws_R",
    agent="agent-w",
    shared_agent="agent-s",
    outsider_agent="agent-x",
    invitation="inv_I",
)
