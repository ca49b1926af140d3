"""Admin routes through the edge: the API-key rule of every API-key route (admin, diagnostics, autonomous), process
health, all agents across workspaces, per-user usage by day and model, active sessions and the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from tests.harness import API_KEY, GatewayThread
from tests.helpers.accounts import bearer, register_users
from tests.helpers.db import sql
from tests.helpers.http import api, error_code

KEY = {"x-api-key": API_KEY}

# Every API-key route with a body that would be valid, so only the credentials decide.
API_KEY_ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/admin/health", None),
    ("GET", "/admin/agents", None),
    ("GET", "/admin/usage/usr_nobody", None),
    ("GET", "/admin/sessions/usr_nobody", None),
    ("GET", "/admin/audit/usr_nobody", None),
    ("GET", "/diagnostics", None),
    ("GET", "/diagnostics/quick", None),
    ("GET", "/diagnostics/history", None),
    ("POST", "/autonomous/run", {"agentId": "nope", "userId": "usr_nobody", "message": "hi"}),
    ("POST", "/autonomous/batch", {"agentId": "nope", "userIds": ["usr_nobody"], "message": "hi"}),
]


@pytest.fixture(scope="module")
def users(gateway: GatewayThread) -> list[dict]:
    return register_users(gateway, 3)


async def call(http: aiohttp.ClientSession, method: str, path: str, body: Any, headers: dict[str, str]) -> tuple:
    kwargs: dict[str, Any] = {"headers": headers}
    if body is not None:
        kwargs["json"] = body
    async with http.request(method, path, **kwargs) as resp:
        return resp.status, await resp.json(), resp.headers


@pytest.mark.parametrize(("method", "path", "body"), API_KEY_ROUTES, ids=[r[1] for r in API_KEY_ROUTES])
async def test_api_key_routes_refuse_missing_wrong_and_jwt_credentials(
    http: aiohttp.ClientSession, users: list[dict], method: str, path: str, body: Any
) -> None:
    for headers in ({}, {"x-api-key": "wrong-key-0123456789"}, {"x-api-key": API_KEY + "x"}, bearer(users[0])):
        status, answer, resp_headers = await call(http, method, path, body, headers)
        assert status == 401, (headers, answer)
        assert error_code(answer) == "UNAUTHENTICATED"
        assert "WWW-Authenticate" in resp_headers
    status, answer, _ = await call(http, method, path, body, KEY)
    assert status != 401, answer


async def test_health_reports_process_and_pool_figures(http: aiohttp.ClientSession) -> None:
    status, body, _ = await api(http, "GET", "/admin/health", headers=KEY)
    assert status == 200, body
    assert body["version"]
    assert body["uptimeSeconds"] > 0
    assert int(body["rssBytes"]) > 10 * 2**20
    assert body["eventLoopLagMs"] >= 0
    assert datetime.fromisoformat(body["startedAt"]) <= datetime.now(UTC)
    pool = body["dbPool"]
    assert pool["maxSize"] == 8 and 1 <= pool["size"] <= 8
    assert pool["idle"] + pool["inUse"] == pool["size"]


async def create_agents(http: aiohttp.ClientSession, users: list[dict]) -> None:
    """adm-alpha and adm-beta in the first user's workspace, adm-gamma in the second's (once per module)."""
    a, b = users[0], users[1]
    for owner, agent_id in ((a, "adm-alpha"), (a, "adm-beta"), (b, "adm-gamma")):
        status, body, _ = await api(http, "POST", "/agents", owner, json={"id": agent_id})
        assert status == 200 or error_code(body) == "ALREADY_EXISTS", body


async def test_agents_across_workspaces_paginated_and_filtered(http: aiohttp.ClientSession, users: list[dict]) -> None:
    a, b = users[0], users[1]
    await create_agents(http, users)
    seen: list[dict] = []
    token = ""
    while True:
        params = {"limit": "2", **({"pageToken": token} if token else {})}
        status, body, _ = await api(http, "GET", "/admin/agents", params=params, headers=KEY)
        assert status == 200, body
        assert len(body["agents"]) <= 2
        seen += body["agents"]
        token = body["nextPageToken"]
        if not token:
            break
    by_id = {agent["id"]: agent for agent in seen}
    assert {"adm-alpha", "adm-beta", "adm-gamma"} <= set(by_id)
    assert by_id["adm-gamma"]["workspaceId"] == b["workspaceId"]
    assert by_id["adm-alpha"]["workspaceId"] == a["workspaceId"]

    status, body, _ = await api(http, "GET", "/admin/agents", params={"workspaceId": b["workspaceId"]}, headers=KEY)
    assert [agent["id"] for agent in body["agents"]] == ["adm-gamma"]
    status, body, _ = await api(http, "GET", "/admin/agents", params={"pageToken": token + "x"}, headers=KEY)
    assert status == 400


async def test_usage_by_day_and_model_for_one_user_only(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    a, b = users[0], users[1]
    now = datetime.now(UTC)
    rows = [
        (a, "openai/gpt-4o-mini", 100, 20, "0.010000", now),
        (a, "openai/gpt-4o-mini", 50, 10, "0.005000", now - timedelta(days=2)),
        (a, "local/echo", 5, 5, "0", now),
        (a, "openai/gpt-4o", 1000, 1000, "1.000000", now - timedelta(days=40)),  # outside the 30-day window
        (b, "openai/gpt-4o", 999, 999, "9.000000", now),  # another user's
    ]
    for i, (user, model, prompt, completion, cost, at) in enumerate(rows):
        await sql(
            gateway,
            "INSERT INTO usage_records (id, workspace_id, user_id, agent_id, provider, model, prompt_tokens,"
            " completion_tokens, cost_usd, created_at) VALUES (%s, %s, %s, 'x', %s, %s, %s, %s, %s, %s)",
            (
                f"use_adm_{i}",
                user["workspaceId"],
                user["user"]["id"],
                model.split("/")[0],
                model,
                prompt,
                completion,
                cost,
                at,
            ),
        )
    status, body, _ = await api(http, "GET", f"/admin/usage/{a['user']['id']}", headers=KEY)
    assert status == 200, body
    assert body["days"] == 30
    assert (int(body["promptTokens"]), int(body["completionTokens"]), int(body["totalTokens"])) == (155, 35, 190)
    assert body["costUsd"] == pytest.approx(0.015)
    assert [d["key"] for d in body["byDay"]] == [
        (now - timedelta(days=2)).strftime("%Y-%m-%d"),
        now.strftime("%Y-%m-%d"),
    ]
    assert [(m["key"], int(m["totalTokens"]), m["requests"]) for m in body["byModel"]] == [
        ("openai/gpt-4o-mini", 180, 2),
        ("local/echo", 10, 1),
    ]
    status, body, _ = await api(http, "GET", f"/admin/usage/{a['user']['id']}", params={"days": "365"}, headers=KEY)
    assert int(body["totalTokens"]) == 2190
    status, body, _ = await api(http, "GET", f"/admin/usage/{a['user']['id']}", params={"days": "366"}, headers=KEY)
    assert status == 400
    status, body, _ = await api(http, "GET", "/admin/usage/usr_unknown", headers=KEY)
    assert status == 404


async def test_active_sessions_of_one_user_across_workspaces(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    a, b = users[0], users[1]
    await create_agents(http, users)
    status, body, _ = await api(http, "POST", "/agent/chat", a, json={"agentId": "adm-alpha", "message": "hello"})
    assert status == 200, body
    mine = body["sessionId"]
    status, body, _ = await api(http, "POST", "/agent/chat", b, json={"agentId": "adm-gamma", "message": "hi"})
    assert status == 200, body
    stale = "ses_adm_stale"
    await sql(
        gateway,
        "INSERT INTO sessions (id, workspace_id, user_id, agent_id, origin_agent_id, last_activity_at)"
        " VALUES (%s, %s, %s, 'adm-beta', 'adm-beta', now() - interval '2 days')",
        (stale, a["workspaceId"], a["user"]["id"]),
    )
    status, body, _ = await api(http, "GET", f"/admin/sessions/{a['user']['id']}", headers=KEY)
    assert status == 200, body
    assert [s["id"] for s in body["sessions"]] == [mine]
    assert body["sessions"][0]["userId"] == a["user"]["id"]
    status, body, _ = await api(http, "GET", "/admin/health", headers=KEY)
    assert body["activeSessions"] >= 2
    status, body, _ = await api(http, "GET", "/admin/sessions/usr_unknown", headers=KEY)
    assert status == 404


async def test_audit_trail_is_per_user_newest_first_and_records_admin_calls(
    http: aiohttp.ClientSession, users: list[dict]
) -> None:
    a, c = users[0], users[2]
    async with http.post("/auth/login", json={"email": a["email"], "password": a["password"]}) as resp:
        assert resp.status == 200
    async with http.post("/auth/login", json={"email": a["email"], "password": "wrong password!"}) as resp:
        assert resp.status == 401
    status, body, _ = await api(http, "GET", f"/admin/audit/{a['user']['id']}", headers=KEY)
    assert status == 200, body
    actions = [e["action"] for e in body["entries"]]
    assert actions[:2] == ["auth.login_failed", "auth.login"]
    assert "agent.create" in actions
    assert all(e["targetUserId"] == a["user"]["id"] for e in body["entries"])
    ids = [int(e["id"]) for e in body["entries"]]
    assert ids == sorted(ids, reverse=True)
    failed = body["entries"][0]
    assert failed["actor"] == a["user"]["id"] and failed["details"]["reason"] == "wrong password"
    assert len(failed["hash"]) == 64 and len(failed["prevHash"]) == 64

    # The admin read itself is on the trail now; another user's trail holds none of a's entries.
    status, body, _ = await api(http, "GET", f"/admin/audit/{a['user']['id']}", params={"limit": "1"}, headers=KEY)
    assert body["entries"][0]["action"] == "admin.audit" and body["entries"][0]["actor"] == "api-key"
    assert body["nextPageToken"]
    status, body, _ = await api(http, "GET", f"/admin/audit/{c['user']['id']}", headers=KEY)
    assert status == 200
    assert all(e["targetUserId"] == c["user"]["id"] for e in body["entries"])
    assert not any(e["actor"] == a["user"]["id"] for e in body["entries"])
