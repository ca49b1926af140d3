"""Two gateways on one database, as two replicas behind a load balancer: what one replica does, the other sees."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator

import aiohttp
import psycopg
import pytest

from tests.harness import API_KEY, GatewayThread, test_settings
from tests.helpers.accounts import bearer, register


@pytest.fixture(scope="module")
def replica(gateway: GatewayThread) -> Iterator[GatewayThread]:
    other = GatewayThread(test_settings(gateway.settings.database_url)).start()
    yield other
    other.stop()


@pytest.fixture
async def http2(replica: GatewayThread) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=replica.http_url) as session:
        yield session


async def _agent(http: aiohttp.ClientSession, account: dict, agent_id: str) -> str:
    async with http.post("/agents", json={"id": agent_id, "skills": ["math"]}, headers=bearer(account)) as resp:
        assert resp.status == 200, await resp.text()
    return agent_id


async def test_an_idempotency_key_is_honoured_across_replicas(
    http: aiohttp.ClientSession, http2: aiohttp.ClientSession
) -> None:
    account = await register(http)
    agent = await _agent(http, account, "replica-idem")
    headers = {**bearer(account), "Idempotency-Key": "same-key-everywhere"}
    body = {"agentId": agent, "message": "only once please"}

    async def send(session: aiohttp.ClientSession) -> tuple[int, dict, str]:
        async with session.post("/agent/chat", json=body, headers=headers) as resp:
            return resp.status, await resp.json(), resp.headers.get("Idempotent-Replayed", "")

    # The same request to both replicas at once: one runs the turn; the other is told it is running (409) or,
    # if the first already finished, gets the stored reply.
    results = await asyncio.gather(send(http), send(http2))
    assert sorted(status for status, _, _ in results) in ([200, 200], [200, 409])
    ran = [r for r in results if r[0] == 200 and r[2] != "true"]
    assert len(ran) == 1
    # Later, either replica replays the one stored reply.
    for session in (http, http2):
        status, reply, replayed = await send(session)
        assert (status, replayed) == (200, "true")
        assert reply["messageId"] == ran[0][1]["messageId"]
    async with http.get(f"/sessions/{ran[0][1]['sessionId']}", headers=bearer(account)) as resp:
        messages = (await resp.json())["messages"]
    assert [m["content"] for m in messages if m["role"] == "user"] == ["only once please"]


async def test_presence_written_on_one_replica_is_read_on_the_other(
    http: aiohttp.ClientSession, http2: aiohttp.ClientSession
) -> None:
    account = await register(http)
    agent = await _agent(http, account, "replica-presence")
    async with http.post("/agent/chat", json={"agentId": agent, "message": "hi"}, headers=bearer(account)) as resp:
        assert resp.status == 200
        session_id = (await resp.json())["sessionId"]
    async with http2.get("/agent/presence", headers=bearer(account)) as resp:
        presence = {p["agentId"]: p for p in (await resp.json())["agents"]}
    assert presence[agent]["state"] == "idle"
    assert presence[agent]["sessionId"] == session_id


async def test_a_tool_cache_clear_on_one_replica_empties_it_for_both(
    http: aiohttp.ClientSession, http2: aiohttp.ClientSession, gateway: GatewayThread
) -> None:
    async def stats(session: aiohttp.ClientSession) -> dict:
        async with session.get("/skills/cache/stats") as resp:
            assert resp.status == 200
            return await resp.json()

    # Put an entry in the shared cache directly, as a cached http_fetch would.

    async with await psycopg.AsyncConnection.connect(gateway.settings.database_url, autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO tool_cache (tool, key, value, bytes, expires_at)"
            " VALUES ('http_fetch', 'replica-test', 'cached page', 11, now() + interval '5 minutes')"
        )
    before = {t["tool"]: t for t in (await stats(http2))["tools"]}
    assert before["http_fetch"]["entries"] >= 1
    async with http.post("/skills/cache/clear", params={"tool": "http_fetch"}, headers={"x-api-key": API_KEY}) as resp:
        assert resp.status == 200
    for session in (http, http2):
        after = {t["tool"]: t for t in (await stats(session))["tools"]}
        assert after["http_fetch"]["entries"] == 0


async def _until(
    session: aiohttp.ClientSession,
    method: str,
    path: str,
    headers: dict,
    done: Callable[[int, dict], bool],
    json: dict | None = None,
    seconds: float = 2.0,
) -> tuple[int, dict]:
    """The last (status, body) of a request repeated until `done(status, body)` or `seconds` pass (a notice
    between replicas is async)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        async with session.request(method, path, json=json, headers=headers) as resp:
            result = resp.status, await resp.json()
        if done(*result) or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(0.02)


async def test_a_logout_on_one_replica_revokes_the_token_on_the_other(
    http: aiohttp.ClientSession, http2: aiohttp.ClientSession
) -> None:
    account = await register(http)
    # The other replica has authenticated this token before, so it holds the user's membership row.
    for _ in range(3):
        async with http2.get("/workspaces", headers=bearer(account)) as resp:
            assert resp.status == 200
    async with http.post("/auth/logout", json={}, headers=bearer(account)) as resp:
        assert resp.status == 200
    status, _ = await _until(http2, "GET", "/workspaces", bearer(account), lambda s, b: s == 401)
    assert status == 401


async def test_a_member_removed_on_one_replica_loses_the_workspace_on_the_other(
    http: aiohttp.ClientSession, http2: aiohttp.ClientSession
) -> None:
    owner, member = await register(http), await register(http)
    async with http.post("/workspaces", json={"name": "Shared"}, headers=bearer(owner)) as resp:
        workspace_id = (await resp.json())["workspace"]["id"]
    body = {"userId": member["user"]["id"], "role": "admin"}
    async with http.post(f"/workspaces/{workspace_id}/members", json=body, headers=bearer(owner)) as resp:
        assert resp.status == 202
        invitation = (await resp.json())["invitation"]["id"]
    in_workspace = {**bearer(member), "X-Workspace-ID": workspace_id}
    # Invited is not a member yet; accepted on one replica, the other lets the new admin in on the next call.
    async with http2.get("/agents", headers=in_workspace) as resp:
        assert resp.status == 404, await resp.text()
    async with http.post(f"/invitations/{invitation}/accept", headers=bearer(member)) as resp:
        assert resp.status == 200, await resp.text()
    # Admins may create agents there; the other replica learns the membership and keeps it.
    async with http2.post("/agents", json={"id": "replica-admin-agent"}, headers=in_workspace) as resp:
        assert resp.status == 200, await resp.text()
    async with http.post(
        f"/workspaces/{workspace_id}/members", json={**body, "role": "viewer"}, headers=bearer(owner)
    ) as resp:
        assert resp.status == 200
    # Demoted on one replica: the other refuses the next write at once (no stale admin role).
    viewer_agent = {"id": "replica-viewer-agent"}
    status, body = await _until(http2, "POST", "/agents", in_workspace, lambda s, b: s == 403, viewer_agent)
    assert status == 403, body
    async with http.delete(f"/workspaces/{workspace_id}/members/{member['user']['id']}", headers=bearer(owner)) as r:
        assert r.status == 200, await r.text()
    status, _ = await _until(http2, "GET", "/agents", in_workspace, lambda s, b: s == 404)
    assert status == 404


async def test_an_agent_changed_on_one_replica_is_served_fresh_by_the_other(
    http: aiohttp.ClientSession, http2: aiohttp.ClientSession
) -> None:
    account = await register(http)
    agent = await _agent(http, account, "replica-cached-agent")
    # The other replica has read it, so it keeps version 1.
    for _ in range(3):
        async with http2.get(f"/agents/{agent}", headers=bearer(account)) as resp:
            assert resp.headers["ETag"] == '"v1"'
    async with http.put(f"/agents/{agent}", json={"systemPrompt": "Version two."}, headers=bearer(account)) as resp:
        assert resp.status == 200, await resp.text()
    status, body = await _until(http2, "GET", f"/agents/{agent}", bearer(account), lambda s, b: "v2" in str(b))
    assert (status, body["agent"]["etag"], body["agent"]["systemPrompt"]) == (200, '"v2"', "Version two.")
    async with http.delete(f"/agents/{agent}", headers=bearer(account)) as resp:
        assert resp.status == 200
    status, _ = await _until(http2, "GET", f"/agents/{agent}", bearer(account), lambda s, b: s == 404)
    assert status == 404


async def test_a_grant_revoked_on_one_replica_is_refused_by_the_other(
    http: aiohttp.ClientSession, http2: aiohttp.ClientSession
) -> None:
    owner, receiver = await register(http), await register(http)
    agent = await _agent(http, owner, "replica-granted-agent")
    grants = f"/workspaces/{owner['workspaceId']}/grants"
    grant = {"receivingWorkspaceId": receiver["workspaceId"], "agentId": agent}
    async with http.post(grants, json=grant, headers=bearer(owner)) as resp:
        assert resp.status == 200, await resp.text()
    for _ in range(3):
        async with http2.get(f"/agents/{agent}", headers=bearer(receiver)) as resp:
            assert resp.status == 200
    async with http.delete(grants, params=grant, headers=bearer(owner)) as resp:
        assert resp.status == 200, await resp.text()
    status, _ = await _until(http2, "GET", f"/agents/{agent}", bearer(receiver), lambda s, b: s == 403)
    assert status == 403


async def test_restrictions_set_on_one_replica_bind_chat_on_the_other(
    http: aiohttp.ClientSession, http2: aiohttp.ClientSession
) -> None:
    account = await register(http)
    agent = await _agent(http, account, "replica-restricted-agent")
    chat = {"agentId": agent, "message": "hi"}
    status, body = await _until(http2, "POST", "/agent/chat", bearer(account), lambda s, b: True, chat)
    assert status == 200, body
    restrictions = f"/workspaces/{account['workspaceId']}/restrictions"
    async with http.put(restrictions, json={"allowedProviders": ["openai"]}, headers=bearer(account)) as resp:
        assert resp.status == 200, await resp.text()
    status, body = await _until(http2, "POST", "/agent/chat", bearer(account), lambda s, b: s != 200, chat)
    assert status == 403 and "not allowed in this workspace" in body["error"]["message"], body
