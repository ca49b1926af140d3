"""Personal API keys: made once with their secret (201), listed without it, accepted wherever an access token is
(REST, SSE, /ws, gRPC) as their owner in their one workspace only, refused once revoked (on every replica) or
expired, held to their own rate limit (429) and monthly budget (402), stamped with lastUsedAt at most once a minute,
audited, and counted in /costs by key."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import grpc
import pytest

from astra.v1 import agents_pb2, agents_pb2_grpc, auth_pb2, auth_pb2_grpc, chat_pb2, chat_pb2_grpc
from tests.harness import GatewayThread, test_settings
from tests.helpers.accounts import register_users
from tests.helpers.agents import new_agent
from tests.helpers.chat import parse_sse, turn
from tests.helpers.db import sql
from tests.helpers.http import api, error_code
from tests.helpers.waiting import eventually
from tests.helpers.workspaces import add_member, new_workspace_id

KEYS = "/auth/keys"
BUDGET_SPENT = "the API key's monthly budget is spent"


@pytest.fixture(scope="module")
def users(gateway: GatewayThread) -> list[dict]:
    return register_users(gateway, 4)


@pytest.fixture(scope="module")
def replica(gateway: GatewayThread) -> Iterator[GatewayThread]:
    """A second gateway on the same database."""
    other = GatewayThread(test_settings(gateway.settings.database_url)).start()
    yield other
    other.stop()


@pytest.fixture
async def http2(replica: GatewayThread) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=replica.http_url) as session:
        yield session


def with_key(secret: str, workspace: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {secret}"}
    if workspace is not None:
        headers["X-Workspace-ID"] = workspace
    return headers


async def create_key(
    http: aiohttp.ClientSession, account: dict, workspace: str | None = None, **fields: Any
) -> tuple[dict, str]:
    """A new key of `account` (its `key` and its secret)."""
    fields.setdefault("name", f"key-{uuid.uuid4().hex[:6]}")
    status, body, _ = await api(http, "POST", KEYS, account, json=fields, workspace=workspace)
    assert status == 201, body
    return body["key"], body["secret"]


async def as_key(
    http: aiohttp.ClientSession, method: str, path: str, secret: str, workspace: str | None = None, **kw: Any
) -> tuple[int, Any, Any]:
    return await api(http, method, path, headers=with_key(secret, workspace), **kw)


async def listed(http: aiohttp.ClientSession, account: dict) -> dict[str, dict]:
    status, body, _ = await api(http, "GET", KEYS, account)
    assert status == 200, body
    return {k["id"]: k for k in body.get("keys", [])}


def key_metadata(secret: str, workspace: str | None = None) -> tuple[tuple[str, str], ...]:
    metadata: tuple[tuple[str, str], ...] = (("authorization", f"Bearer {secret}"),)
    return (*metadata, ("x-workspace-id", workspace)) if workspace else metadata


async def grpc_status(call: Any) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


# -- making and listing ------------------------------------------------------------------------------------------


async def test_a_key_is_made_with_its_secret_once_and_listed_without_it(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    owner = users[0]
    body = {"name": "laptop", "maxRequestsPerMinute": 100, "maxCostUsd": 12.5}
    status, made, _ = await api(http, "POST", KEYS, owner, json=body)
    assert status == 201, made
    key, secret = made["key"], made["secret"]
    assert secret.startswith("ak_") and len(secret) == 46
    assert key["id"].startswith("key_") and key["name"] == "laptop"
    assert len(key["prefix"]) == 8 and secret[3:11] == key["prefix"]
    assert key["workspaceId"] == owner["workspaceId"]  # the personal workspace by default
    assert (key["maxRequestsPerMinute"], key["maxCostUsd"]) == (100, 12.5)
    assert "createdAt" in key and "lastUsedAt" not in key and "expiresAt" not in key

    # Lists never show a secret; revoked keys are not listed.
    status, page, _ = await api(http, "GET", KEYS, owner)
    assert status == 200, page
    assert secret not in str(page) and "secret" not in str(page)
    assert [k["id"] for k in page["keys"]] == [key["id"]]
    assert page["keys"][0]["prefix"] == key["prefix"]

    # Only a hash of the secret is stored.
    rows = await sql(gateway, "SELECT * FROM api_keys WHERE id = %s", (key["id"],))
    assert rows[0]["secret_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert not any(secret in str(value) for value in rows[0].values())

    # Paged like other lists.
    second, _ = await create_key(http, owner)
    status, first_page, _ = await api(http, "GET", KEYS, owner, params={"limit": "1"})
    assert [k["id"] for k in first_page["keys"]] == [key["id"]] and first_page["nextPageToken"]
    params = {"limit": "1", "pageToken": first_page["nextPageToken"]}
    status, next_page, _ = await api(http, "GET", KEYS, owner, params=params)
    assert [k["id"] for k in next_page["keys"]] == [second["id"]] and not next_page["nextPageToken"]

    # Over gRPC the same call answers the secret too.
    async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
        answer = await auth_pb2_grpc.AuthServiceStub(channel).CreateApiKey(
            auth_pb2.CreateApiKeyRequest(name="grpc"),
            metadata=(("authorization", f"Bearer {owner['tokens']['accessToken']}"),),
        )
    assert answer.secret.startswith("ak_" + answer.key.prefix) and answer.key.workspace_id == owner["workspaceId"]


async def test_bad_key_requests_are_refused_with_400(http: aiohttp.ClientSession, users: list[dict]) -> None:
    owner = users[0]
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    for body in (
        {},
        {"name": "   "},
        {"name": "x" * 101},
        {"name": "ok", "expiresAt": past},
        {"name": "ok", "maxRequestsPerMinute": -1},
        {"name": "ok", "maxRequestsPerMinute": 1001},
        {"name": "ok", "maxCostUsd": -1},
        {"name": "ok", "maxCostUsd": "NaN"},
        {"name": "ok", "maxCostUsd": "Infinity"},
    ):
        status, answer, _ = await api(http, "POST", KEYS, owner, json=body)
        assert (status, error_code(answer)) == (400, "INVALID_ARGUMENT"), (body, answer)
    assert await listed(http, users[3]) == {}


async def test_a_key_is_made_only_for_a_workspace_of_the_caller(http: aiohttp.ClientSession, users: list[dict]) -> None:
    owner, outsider = users[0], users[1]
    team = await new_workspace_id(http, owner, "Keys team")
    key, _ = await create_key(http, owner, workspaceId=team)
    assert key["workspaceId"] == team
    # The call's workspace (X-Workspace-ID) when the body names none.
    key, _ = await create_key(http, owner, workspace=team)
    assert key["workspaceId"] == team
    for body in ({"name": "x", "workspaceId": team}, {"name": "x", "workspaceId": "ws_missing"}):
        status, answer, _ = await api(http, "POST", KEYS, outsider, json=body)
        assert (status, error_code(answer)) == (404, "NOT_FOUND"), answer


async def test_keys_cannot_manage_keys_nor_log_out(http: aiohttp.ClientSession, users: list[dict]) -> None:
    owner = users[0]
    key, secret = await create_key(http, owner)
    for method, path, body in (
        ("POST", KEYS, {"name": "successor"}),
        ("GET", KEYS, None),
        ("DELETE", f"{KEYS}/{key['id']}", None),
        ("POST", "/auth/logout", {}),
    ):
        kw = {"json": body} if body is not None else {}
        status, answer, _ = await as_key(http, method, path, secret, **kw)
        assert (status, error_code(answer)) == (403, "PERMISSION_DENIED"), (path, answer)
    assert key["id"] in await listed(http, owner)


# -- using a key -------------------------------------------------------------------------------------------------


async def test_a_key_works_on_rest_sse_ws_and_grpc(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    owner = users[0]
    agent = await new_agent(http, owner)
    key, secret = await create_key(http, owner)

    # REST
    status, body, _ = await as_key(http, "GET", "/agents", secret)
    assert status == 200 and agent in [a["id"] for a in body["agents"]], body
    status, body, _ = await as_key(http, "POST", "/agent/chat", secret, json=turn(agent, "over rest"))
    assert status == 200 and body["content"] == "Echo: over rest", body
    # The session is the owner's.
    status, session, _ = await api(http, "GET", f"/sessions/{body['sessionId']}", owner)
    assert status == 200, session

    # SSE
    async with http.post("/agent/chat/stream", json=turn(agent, "over sse"), headers=with_key(secret)) as resp:
        assert resp.status == 200, await resp.text()
        events = parse_sse(await resp.text())
    assert events[-1][0] == "stream_done", events

    # /ws, with the key in the Authorization header and, as browsers send it, in ?token=
    for url, headers in (("/ws", with_key(secret)), (f"/ws?token={secret}", {})):
        async with http.ws_connect(url, headers=headers) as ws:
            await ws.send_json({"type": "message", "agentId": agent, "message": "over ws", "surfaceId": url[-8:]})
            frames = []
            while not frames or frames[-1]["type"] not in ("stream_done", "error"):
                frames.append(await ws.receive_json(timeout=10))
        assert frames[-1]["type"] == "stream_done", frames

    # gRPC metadata
    async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
        me = await auth_pb2_grpc.AuthServiceStub(channel).Introspect(
            auth_pb2.IntrospectRequest(), metadata=key_metadata(secret)
        )
        assert (me.user_id, me.workspace_id, me.role, me.api_key_id) == (
            owner["user"]["id"],
            owner["workspaceId"],
            "owner",
            key["id"],
        )
        assert not me.HasField("expires_at")  # the key does not expire
        agents = await agents_pb2_grpc.AgentsServiceStub(channel).ListAgents(
            agents_pb2.ListAgentsRequest(), metadata=key_metadata(secret)
        )
        assert agent in [a.id for a in agents.agents]
        reply = await chat_pb2_grpc.ChatServiceStub(channel).Chat(
            chat_pb2.ChatRequest(agent_id=agent, message="over grpc"), metadata=key_metadata(secret)
        )
        assert reply.content == "Echo: over grpc"


async def test_a_malformed_or_unknown_key_is_401(http: aiohttp.ClientSession, gateway: GatewayThread) -> None:
    for secret in ("ak_", "ak_short", "ak_" + "A" * 43, "ak_" + "!" * 43):
        status, body, headers = await as_key(http, "GET", "/agents", secret)
        assert (status, error_code(body)) == (401, "UNAUTHENTICATED"), body
        assert body["error"]["message"] == "invalid API key"  # read as a key, not as a malformed access token
        assert headers["WWW-Authenticate"].startswith("Bearer")
    async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
        introspect = auth_pb2_grpc.AuthServiceStub(channel).Introspect
        code = await grpc_status(introspect(auth_pb2.IntrospectRequest(), metadata=key_metadata("ak_" + "B" * 43)))
    assert code == grpc.StatusCode.UNAUTHENTICATED


async def test_a_key_acts_only_in_its_workspace_with_the_owners_current_role(
    http: aiohttp.ClientSession, users: list[dict]
) -> None:
    owner, member = users[0], users[1]
    team = await new_workspace_id(http, owner, "Key scope")
    personal_agent = await new_agent(http, owner)
    team_agent = await new_agent(http, owner, workspace=team)
    _, secret = await create_key(http, owner, workspaceId=team)

    # The key sees its workspace's agents only, and cannot use another workspace's.
    status, body, _ = await as_key(http, "GET", "/agents", secret)
    ids = [a["id"] for a in body["agents"]]
    assert status == 200 and team_agent in ids and personal_agent not in ids, body
    status, body, _ = await as_key(http, "POST", "/agent/chat", secret, json=turn(personal_agent, "hi"))
    assert (status, error_code(body)) == (403, "PERMISSION_DENIED"), body
    status, body, _ = await as_key(http, "GET", f"/agents/{personal_agent}", secret)
    assert status == 403, body
    # X-Workspace-ID naming another workspace (one the owner is in, even) is refused like one the caller is not in.
    status, body, _ = await as_key(http, "GET", "/agents", secret, workspace=owner["workspaceId"])
    assert (status, error_code(body)) == (404, "NOT_FOUND"), body
    status, body, _ = await as_key(http, "GET", "/agents", secret, workspace=team)
    assert status == 200, body
    # The owner's JWT still reaches both.
    status, body, _ = await api(http, "GET", "/agents", owner)
    assert status == 200 and personal_agent in [a["id"] for a in body["agents"]]

    # A viewer's key reads but never runs agents; promoted, the same key runs them; removed, it stops working.
    await add_member(http, owner, team, member, "viewer")
    _, member_secret = await create_key(http, member, workspaceId=team)
    status, body, _ = await as_key(http, "GET", "/agents", member_secret)
    assert status == 200, body
    status, body, _ = await as_key(http, "POST", "/agent/chat", member_secret, json=turn(team_agent, "hi"))
    assert status == 403, body
    await add_member(http, owner, team, member, "member")
    status, body, _ = await as_key(http, "POST", "/agent/chat", member_secret, json=turn(team_agent, "hi"))
    assert status == 200, body
    status, body, _ = await api(http, "DELETE", f"/workspaces/{team}/members/{member['user']['id']}", owner)
    assert status == 200, body
    status, body, _ = await as_key(http, "GET", "/agents", member_secret)
    assert (status, error_code(body)) == (401, "UNAUTHENTICATED"), body


# -- revocation and expiry ---------------------------------------------------------------------------------------


async def test_a_revoked_key_is_refused_at_once_on_every_replica(
    http: aiohttp.ClientSession, http2: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    owner = users[0]
    key, secret = await create_key(http, owner)
    # Both replicas have authenticated the key, so both hold its row.
    for session in (http, http2, http, http2):
        status, body, _ = await as_key(session, "GET", "/agents", secret)
        assert status == 200, body
    status, body, _ = await api(http, "DELETE", f"{KEYS}/{key['id']}", owner)
    assert status == 200, body
    # The replica that revoked it refuses the next call; the other as soon as the notice arrives.
    status, body, _ = await as_key(http, "GET", "/agents", secret)
    assert (status, error_code(body)) == (401, "UNAUTHENTICATED"), body

    async def refused_on_replica() -> bool:
        status, _, _ = await as_key(http2, "GET", "/agents", secret)
        return status == 401

    await eventually(refused_on_replica, seconds=2, what="the replica refusing the revoked key")


@pytest.mark.parametrize("port", ["rest", "ws", "grpc"])
async def test_a_revoked_key_cannot_open_a_socket_or_call_grpc(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict], port: str
) -> None:
    owner = users[0]
    key, secret = await create_key(http, owner)
    status, _, _ = await api(http, "DELETE", f"{KEYS}/{key['id']}", owner)
    assert status == 200
    if port == "rest":
        status, body, _ = await as_key(http, "POST", "/agent/chat/stream", secret, json=turn("any", "hi"))
        assert status == 401, body
    elif port == "ws":
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            async with http.ws_connect("/ws", headers=with_key(secret)):
                pass
        assert refused.value.status == 401
    else:
        async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
            call = auth_pb2_grpc.AuthServiceStub(channel).Introspect(
                auth_pb2.IntrospectRequest(), metadata=key_metadata(secret)
            )
            assert await grpc_status(call) == grpc.StatusCode.UNAUTHENTICATED
    # Gone from the list; revoking it again, like revoking another user's key, is 404.
    assert key["id"] not in await listed(http, owner)
    status, body, _ = await api(http, "DELETE", f"{KEYS}/{key['id']}", owner)
    assert (status, error_code(body)) == (404, "NOT_FOUND"), body


async def test_an_open_socket_closes_once_its_key_is_revoked(http: aiohttp.ClientSession, users: list[dict]) -> None:
    owner = users[0]
    agent = await new_agent(http, owner)
    key, secret = await create_key(http, owner)
    async with http.ws_connect("/ws", headers=with_key(secret)) as ws:
        status, _, _ = await api(http, "DELETE", f"{KEYS}/{key['id']}", owner)
        assert status == 200
        await ws.send_json({"type": "message", "agentId": agent, "message": "still there?"})
        frame = await ws.receive_json(timeout=10)
        assert (frame["type"], frame["code"]) == ("error", "unauthenticated"), frame
        closing = await ws.receive(timeout=10)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert ws.close_code == 4401


async def test_someone_elses_key_cannot_be_revoked(http: aiohttp.ClientSession, users: list[dict]) -> None:
    owner, other = users[0], users[1]
    key, secret = await create_key(http, owner)
    for key_id in (key["id"], "key_000000000000000000000000"):
        status, body, _ = await api(http, "DELETE", f"{KEYS}/{key_id}", other)
        assert (status, error_code(body)) == (404, "NOT_FOUND"), body
    assert key["id"] in await listed(http, owner) and key["id"] not in await listed(http, other)
    status, _, _ = await as_key(http, "GET", "/agents", secret)
    assert status == 200


async def test_an_expired_key_is_401(http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]) -> None:
    owner = users[0]
    expires = datetime.now(UTC) + timedelta(seconds=1.5)
    key, secret = await create_key(http, owner, expiresAt=expires.isoformat())
    assert abs(datetime.fromisoformat(key["expiresAt"].replace("Z", "+00:00")) - expires) < timedelta(milliseconds=1)
    status, body, _ = await as_key(http, "GET", "/agents", secret)
    assert status == 200, body
    async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
        me = await auth_pb2_grpc.AuthServiceStub(channel).Introspect(
            auth_pb2.IntrospectRequest(), metadata=key_metadata(secret)
        )
        assert abs(me.expires_at.ToDatetime(tzinfo=UTC) - expires) < timedelta(milliseconds=1)
        await asyncio.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.1)
        call = auth_pb2_grpc.AuthServiceStub(channel).Introspect(
            auth_pb2.IntrospectRequest(), metadata=key_metadata(secret)
        )
        assert await grpc_status(call) == grpc.StatusCode.UNAUTHENTICATED
    status, body, _ = await as_key(http, "GET", "/agents", secret)
    assert (status, error_code(body)) == (401, "UNAUTHENTICATED"), body
    assert "expired" in body["error"]["message"]
    # Still listed (with its expiry) until revoked.
    assert key["id"] in await listed(http, owner)


# -- limits ------------------------------------------------------------------------------------------------------


async def test_a_key_over_its_rate_gets_429_with_retry_after(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    owner = users[2]
    _, secret = await create_key(http, owner, maxRequestsPerMinute=3)
    _, unlimited = await create_key(http, owner)
    # Introspect (the /ws upgrade's and /mcp's identity check) is not a call of its own: the calls after it count.
    async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
        for _ in range(5):
            await auth_pb2_grpc.AuthServiceStub(channel).Introspect(
                auth_pb2.IntrospectRequest(), metadata=key_metadata(secret)
            )
    for _ in range(3):
        status, body, _ = await as_key(http, "GET", "/agents", secret)
        assert status == 200, body
    status, body, headers = await as_key(http, "GET", "/agents", secret)
    assert (status, error_code(body)) == (429, "RESOURCE_EXHAUSTED"), body
    assert headers["Retry-After"].isdigit() and 0 < int(headers["Retry-After"]) <= 60
    # gRPC calls with the key share its window.
    async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
        call = agents_pb2_grpc.AgentsServiceStub(channel).ListAgents(
            agents_pb2.ListAgentsRequest(), metadata=key_metadata(secret)
        )
        assert await grpc_status(call) == grpc.StatusCode.RESOURCE_EXHAUSTED
    # The limit is the key's: the owner's other key and access token are not held to it.
    status, _, _ = await as_key(http, "GET", "/agents", unlimited)
    assert status == 200
    status, _, _ = await api(http, "GET", "/agents", owner)
    assert status == 200


async def _spend(
    gateway: GatewayThread,
    key: dict,
    owner: dict,
    cost: float,
    at: str = "now()",
    session: str | None = None,
    tool_cost: float = 0,
) -> None:
    """A turn's usage row made with the key (and, with tool_cost, a priced tool call of that turn: same session,
    same time), as the chat turn writes them."""
    await sql(
        gateway,
        "WITH turn AS (INSERT INTO usage_records (id, workspace_id, user_id, agent_id, session_id, provider, model,"
        "  prompt_tokens, completion_tokens, cost_usd, api_key_id, created_at)"
        f" VALUES (%s, %s, %s, 'spender', %s, 'openai', 'openai/gpt-4o', 100, 50, %s, %s, {at})"
        " RETURNING workspace_id, session_id, agent_id, created_at)"
        " INSERT INTO tool_calls (id, workspace_id, session_id, agent_id, tool, status, cost_usd, created_at)"
        " SELECT %s, workspace_id, session_id, agent_id, 'priced_tool', 'ok', %s, created_at FROM turn WHERE %s > 0",
        (
            f"use_{uuid.uuid4().hex}",
            key["workspaceId"],
            owner["user"]["id"],
            session,
            cost,
            key["id"],
            f"tc_{uuid.uuid4().hex}",
            tool_cost,
            tool_cost,
        ),
    )


async def _session(http: aiohttp.ClientSession, owner: dict, agent: str) -> str:
    status, body, _ = await api(http, "POST", "/agent/chat", owner, json=turn(agent, "a session to spend in"))
    assert status == 200, body
    return body["sessionId"]


async def test_a_key_over_its_monthly_budget_gets_402(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    owner = users[2]
    agent = await new_agent(http, owner)
    key, secret = await create_key(http, owner, maxCostUsd=1)
    _, other_secret = await create_key(http, owner, maxCostUsd=1)
    # Spend of an earlier month does not count; this month's below the budget neither.
    await _spend(gateway, key, owner, 5, "date_trunc('month', now()) - interval '1 day'")
    await _spend(gateway, key, owner, 0.6)
    status, body, _ = await as_key(http, "POST", "/agent/chat", secret, json=turn(agent, "hi"))
    assert status == 200, body
    # A priced tool call of a turn made with the key counts too: 0.6 + 0.3 + 0.1 reaches the budget.
    await _spend(gateway, key, owner, 0.3, session=await _session(http, owner, agent), tool_cost=0.1)
    for path, kw in (("/agents", {}), ("/agent/chat", {"json": turn(agent, "hi")})):
        status, body, headers = await as_key(http, "GET" if not kw else "POST", path, secret, **kw)
        assert (status, error_code(body)) == (402, "RESOURCE_EXHAUSTED"), body
        assert body["error"]["message"] == BUDGET_SPENT
        assert int(headers["Retry-After"]) <= 31 * 86400  # the start of next month
    status, body, _ = await as_key(http, "POST", "/agent/chat/stream", secret, json=turn(agent, "hi"))
    assert status == 402, body
    async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
        try:
            await chat_pb2_grpc.ChatServiceStub(channel).Chat(
                chat_pb2.ChatRequest(agent_id=agent, message="hi"), metadata=key_metadata(secret)
            )
        except grpc.aio.AioRpcError as exc:
            assert (exc.code(), exc.details()) == (grpc.StatusCode.RESOURCE_EXHAUSTED, BUDGET_SPENT)
        else:
            pytest.fail("a key past its budget ran a turn over gRPC")
    # Another key of the same owner has a budget of its own.
    status, body, _ = await as_key(http, "GET", "/agents", other_secret)
    assert status == 200, body


async def test_calls_refused_for_the_budget_do_not_use_up_the_keys_rate(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    owner = users[2]
    key, secret = await create_key(http, owner, maxCostUsd=1, maxRequestsPerMinute=2)
    await _spend(gateway, key, owner, 1)
    for _ in range(3):
        status, body, _ = await as_key(http, "GET", "/agents", secret)
        assert (status, body["error"]["message"]) == (402, BUDGET_SPENT), body
    # The owner clears the month's spend (a refund, say): the key has its whole rate, unspent by the refusals.
    await sql(gateway, "DELETE FROM usage_records WHERE api_key_id = %s", (key["id"],))
    for _ in range(2):
        status, body, _ = await as_key(http, "GET", "/agents", secret)
        assert status == 200, body
    status, body, _ = await as_key(http, "GET", "/agents", secret)
    assert status == 429, body


async def test_costs_by_key(http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]) -> None:
    owner = users[3]
    agent = await new_agent(http, owner)
    first, _ = await create_key(http, owner)
    second, _ = await create_key(http, owner)
    await _spend(gateway, first, owner, 0.25)
    # A priced tool call counts under its turn's key.
    await _spend(gateway, first, owner, 0.375, session=await _session(http, owner, agent), tool_cost=0.125)
    await _spend(gateway, second, owner, 0.125)
    status, body, _ = await api(http, "GET", "/costs/breakdown", owner)
    assert status == 200, body
    by_key = {b["key"]: b for b in body["byApiKey"]}
    assert set(by_key) == {first["id"], second["id"]}
    assert (by_key[first["id"]]["costUsd"], by_key[first["id"]]["requests"]) == (0.75, 2)
    assert by_key[second["id"]]["costUsd"] == 0.125
    status, body, _ = await api(http, "GET", "/costs/breakdown", owner, params={"apiKeyId": second["id"]})
    assert status == 200, body
    assert body["totalUsd"] == 0.125 and [b["key"] for b in body["byApiKey"]] == [second["id"]]
    assert body.get("byTool", []) == []
    status, body, _ = await api(http, "GET", "/costs/breakdown", owner, params={"apiKeyId": first["id"]})
    assert status == 200, body
    assert body["totalUsd"] == 0.75
    assert {b["key"]: b["costUsd"] for b in body["byTool"]} == {"priced_tool": 0.5}  # its turn's spend and its own
    status, body, _ = await api(http, "GET", "/costs", owner)
    assert status == 200, body
    assert {b["key"]: b["costUsd"] for b in body["byApiKey"]} == {first["id"]: 0.75, second["id"]: 0.125}


async def test_a_turn_made_with_a_key_is_counted_against_that_key(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    owner = users[3]
    agent = await new_agent(http, owner)
    key, secret = await create_key(http, owner)
    async with http.post("/agent/chat", json=turn(agent, "spent with a key"), headers=with_key(secret)) as resp:
        assert resp.status == 200, await resp.text()
        keyed = (await resp.json())["sessionId"]
    status, body, _ = await api(http, "POST", "/agent/chat", owner, json=turn(agent, "spent with a token"))
    assert status == 200, body
    rows = await sql(
        gateway, "SELECT session_id, api_key_id FROM usage_records WHERE session_id = ANY(%s)",
        ([keyed, body["sessionId"]],),
    )  # fmt: skip
    assert {r["session_id"]: r["api_key_id"] for r in rows} == {keyed: key["id"], body["sessionId"]: None}


async def test_a_key_cannot_reach_its_owners_other_workspaces_through_workspace_routes(
    http: aiohttp.ClientSession, users: list[dict]
) -> None:
    owner = users[3]
    team = await new_workspace_id(http, owner, "Key reach")
    _, secret = await create_key(http, owner)
    for method, path, body in [
        ("GET", f"/workspaces/{team}", None),
        ("GET", "/workspaces", None),
        ("POST", f"/workspaces/{team}/members", {"email": "intruder@example.com", "role": "admin"}),
        ("GET", "/invitations", None),
    ]:
        async with http.request(method, path, json=body, headers=with_key(secret)) as resp:
            answer = await resp.json()
            assert (resp.status, error_code(answer)) == (403, "PERMISSION_DENIED"), (path, answer)
    status, body, _ = await api(http, "GET", f"/workspaces/{team}/invitations", owner)
    assert status == 200 and body.get("invitations", []) == [], body


# -- last use and audit ------------------------------------------------------------------------------------------


async def test_last_used_at_is_stamped_at_most_once_a_minute(
    http: aiohttp.ClientSession, http2: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    owner = users[1]
    key, secret = await create_key(http, owner)
    assert "lastUsedAt" not in (await listed(http, owner))[key["id"]]
    status, _, _ = await as_key(http, "GET", "/agents", secret)
    assert status == 200

    async def stamped() -> str | None:
        return (await listed(http, owner))[key["id"]].get("lastUsedAt")

    first = await eventually(stamped, seconds=5, what="lastUsedAt")
    # Calls within the minute, on this replica and on another (which has not stamped it itself), leave it.
    for session in (http, http2, http2):
        status, _, _ = await as_key(session, "GET", "/agents", secret)
        assert status == 200
    await asyncio.sleep(0.5)
    assert await stamped() == first


async def test_keys_made_revoked_and_used_are_audited(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    owner = users[3]
    key, secret = await create_key(http, owner, name="audited")
    agent = await new_agent(http, owner)
    status, body, _ = await as_key(http, "DELETE", f"/agents/{agent}", secret)
    assert status == 200, body
    status, _, _ = await api(http, "DELETE", f"{KEYS}/{key['id']}", owner)
    assert status == 200
    entries = await sql(
        gateway,
        "SELECT actor, action, target, workspace_id, details FROM audit_log WHERE target_user_id = %s"
        " AND action IN ('api_key.create', 'api_key.revoke') AND target = %s ORDER BY id",
        (owner["user"]["id"], key["id"]),
    )
    assert [e["action"] for e in entries] == ["api_key.create", "api_key.revoke"]
    assert all(e["actor"] == owner["user"]["id"] and e["workspace_id"] == owner["workspaceId"] for e in entries)
    assert entries[0]["details"]["name"] == "audited" and entries[0]["details"]["prefix"] == key["prefix"]
    # What the key did names it.
    deleted = await sql(
        gateway, "SELECT details FROM audit_log WHERE action = 'agent.delete' AND target = %s", (agent,)
    )
    assert deleted and deleted[0]["details"]["apiKeyId"] == key["id"]
