"""The audit log: which changes leave an entry (auth, workspaces, members, restrictions, grants, agents,
onboarding), that entries commit with their change only, that concurrent appends keep one linear hash chain, that
the table refuses edits, and that an edited or removed row is detected by the diagnostics chain check."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import psycopg
import pytest

from server.audit.log import GENESIS, chain_hash
from tests.harness import API_KEY, GatewayThread
from tests.helpers.accounts import register_users
from tests.helpers.db import sql
from tests.helpers.http import api

KEY = {"x-api-key": API_KEY}


@pytest.fixture(scope="module")
def users(gateway: GatewayThread) -> list[dict]:
    return register_users(gateway, 3)


async def trail(gateway: GatewayThread, user_id: str) -> list[dict[str, Any]]:
    return await sql(gateway, "SELECT * FROM audit_log WHERE target_user_id = %s ORDER BY id", (user_id,))


async def chain_check(http: aiohttp.ClientSession) -> dict[str, Any]:
    status, body, _ = await api(http, "GET", "/diagnostics", headers=KEY)
    assert status == 200, body
    return next(c for c in body["run"]["checks"] if c["id"] == "security.audit_chain")


async def test_auth_events_are_recorded(http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]) -> None:
    a = users[0]
    uid = a["user"]["id"]
    async with http.post("/auth/login", json={"email": a["email"], "password": a["password"]}) as resp:
        login = await resp.json()
    async with http.post("/auth/login", json={"email": a["email"], "password": "not the password"}) as resp:
        assert resp.status == 401
    async with http.post("/auth/login", json={"email": "nobody-audit@example.com", "password": "whatever1"}) as resp:
        assert resp.status == 401
    old = login["tokens"]["refreshToken"]
    async with http.post("/auth/refresh", json={"refreshToken": old}) as resp:
        assert resp.status == 200
    async with http.post("/auth/refresh", json={"refreshToken": old}) as resp:
        assert resp.status == 401  # reuse of a rotated token
    status, _, _ = await api(http, "POST", "/auth/logout", a, json={})
    assert status == 200

    entries = await trail(gateway, uid)
    assert [e["action"] for e in entries] == ["auth.login", "auth.login_failed", "auth.refresh_reuse", "auth.logout"]
    assert all(e["actor"] == uid for e in entries)
    assert entries[1]["details"]["reason"] == "wrong password"
    assert entries[1]["details"]["clientAddress"]
    assert entries[3]["details"]["revokedRefreshTokens"] >= 1
    unknown = await sql(gateway, "SELECT * FROM audit_log WHERE details->>'email' = 'nobody-audit@example.com'", ())
    assert [(e["actor"], e["target_user_id"], e["details"]["reason"]) for e in unknown] == [
        ("anonymous", None, "unknown email")
    ]


async def test_workspace_member_grant_and_agent_changes_are_recorded(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    _, b, c = users
    owner, other = b["user"]["id"], c["user"]["id"]
    # b logged out nothing; register gave fresh tokens.
    status, body, _ = await api(http, "POST", "/workspaces", b, json={"name": "Audited"})
    assert status == 200, body
    ws = body["workspace"]["id"]
    steps = [
        ("PUT", f"/workspaces/{ws}/settings", {"timezone": "Europe/Paris"}),
        ("PUT", f"/workspaces/{ws}/restrictions", {"allowedProviders": ["local"]}),
        ("POST", "/agents", {"id": "audit-agent"}),
        ("PUT", "/agents/audit-agent", {"systemPrompt": "be brief"}),
        ("POST", f"/workspaces/{ws}/grants", {"receivingWorkspaceId": c["workspaceId"], "agentId": "audit-agent"}),
    ]
    for method, path, payload in steps:
        status, body, _ = await api(http, method, path, b, json=payload, workspace=ws)
        assert status == 200, (path, body)
    status, body, _ = await api(http, "POST", f"/workspaces/{ws}/members", b, json={"userId": other, "role": "member"})
    assert status == 202, body
    status, body, _ = await api(http, "POST", f"/invitations/{body['invitation']['id']}/accept", c)
    assert status == 200, body
    params = {"receivingWorkspaceId": c["workspaceId"], "agentId": "audit-agent"}
    status, body, _ = await api(http, "DELETE", f"/workspaces/{ws}/grants", b, params=params, workspace=ws)
    assert status == 200, body
    status, body, _ = await api(http, "DELETE", "/agents/audit-agent", b, workspace=ws)
    assert status == 200, body
    status, body, _ = await api(http, "DELETE", f"/workspaces/{ws}/members/{other}", b, workspace=ws)
    assert status == 200, body
    status, body, _ = await api(
        http, "POST", "/onboarding/setup", b, json={"workspace": {"name": "Onboarded"}, "agents": [{"id": "audit-ob"}]}
    )
    assert status == 200, body

    mine = [(e["action"], e["target"]) for e in await trail(gateway, owner)]
    assert mine[:9] == [
        ("workspace.create", ws),
        ("workspace.settings", ws),
        ("restrictions.set", ws),
        ("agent.create", "audit-agent"),
        ("agent.update", "audit-agent"),
        ("grant.create", "audit-agent"),
        ("grant.revoke", "audit-agent"),
        ("agent.delete", "audit-agent"),
        ("workspace.create", body["workspace"]["id"]),
    ]
    assert mine[9:] == [("agent.create", "audit-ob")]
    # Member changes are on the affected user's trail, with who did them.
    theirs = [(e["action"], e["actor"], e["workspace_id"]) for e in await trail(gateway, other)]
    assert theirs == [("invitation.create", owner, ws), ("invitation.accept", other, ws), ("member.remove", owner, ws)]


async def test_a_change_that_fails_leaves_no_entry(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    b = users[1]
    before = await sql(gateway, "SELECT count(*) AS n FROM audit_log", ())
    # Refused after the audit point would have been reached in a naive implementation: unknown model restriction.
    status, _, _ = await api(http, "POST", "/agents", b, json={"id": "audit-bad", "model": "nope/x"})
    assert status == 400
    status, _, _ = await api(
        http,
        "POST",
        "/onboarding/setup",
        b,
        json={"workspace": {"name": "Half"}, "agents": [{"id": "audit-ok"}, {"id": "Bad Id"}]},
    )
    assert status == 400
    after = await sql(gateway, "SELECT count(*) AS n FROM audit_log", ())
    assert after[0]["n"] == before[0]["n"]


async def test_concurrent_appends_keep_one_linear_chain(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    b = users[1]
    answers = await asyncio.gather(
        *(api(http, "POST", "/workspaces", b, json={"name": f"Concurrent {i}"}) for i in range(12))
    )
    assert all(status == 200 for status, _, _ in answers)
    rows = await sql(gateway, "SELECT * FROM audit_log ORDER BY id", ())
    prev = GENESIS
    for row in rows:
        assert row["prev_hash"] == prev
        assert chain_hash(prev, row) == row["hash"]
        prev = row["hash"]
    check = await chain_check(http)
    assert check["status"] == "pass", check
    assert f"{len(rows)} entries" in check["detail"]


async def test_the_table_refuses_edits_and_an_edited_row_is_detected(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    uid = users[0]["user"]["id"]
    target = (await trail(gateway, uid))[1]
    with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        await sql(gateway, "UPDATE audit_log SET details = '{}' WHERE id = %s", (target["id"],))
    with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        await sql(gateway, "DELETE FROM audit_log WHERE id = %s", (target["id"],))

    # Someone with superuser rights gets past the trigger and rewrites history...
    await sql(gateway, "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update", ())
    try:
        await sql(
            gateway,
            'UPDATE audit_log SET details = details || \'{"reason": "nothing happened"}\' WHERE id = %s',
            (target["id"],),
        )
    finally:
        await sql(gateway, "ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update", ())
    # ...and the chain check names the edited entry.
    check = await chain_check(http)
    assert check["status"] == "fail"
    assert f"broken at entry {target['id']}" in check["detail"] and "edited" in check["detail"]
    _, body, _ = await api(http, "GET", "/diagnostics/history", headers=KEY)
    assert body["runs"][0]["status"] == "fail"
