"""Workspaces through the edge: creation and listing, invitations (the same answer for any invitee, accept,
decline, expiry, revocation, audit) and roles, typed settings, last-owner protection, restrictions,
cross-workspace agent grants (expiry and revocation) and the usage stats computed in SQL over rows inserted
directly."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import grpc
import psycopg
import pytest

from astra.v1 import common_pb2, workspaces_pb2, workspaces_pb2_grpc
from tests.harness import GatewayThread
from tests.helpers.accounts import register, register_users, unique_email
from tests.helpers.db import sql
from tests.helpers.http import api, error_code
from tests.helpers.workspaces import add_member, new_workspace


@pytest.fixture(scope="module")
def users(gateway: GatewayThread) -> list[dict]:
    return register_users(gateway, 4)


async def create_agent(
    http: aiohttp.ClientSession, caller: dict, workspace_id: str, agent_id: str | None = None, **fields: Any
) -> dict:
    agent_id = agent_id or f"agent-{uuid.uuid4().hex[:10]}"
    status, body, _ = await api(
        http, "POST", "/agents", caller, workspace=workspace_id, json={"id": agent_id, **fields}
    )
    assert status == 200, body
    return body


async def roles_of(gateway: GatewayThread, workspace_id: str) -> dict[str, str]:
    rows = await sql(gateway, "SELECT user_id, role FROM workspace_members WHERE workspace_id = %s", (workspace_id,))
    return {r["user_id"]: r["role"] for r in rows}


# ---------------------------------------------------------------------------------------------------------------
# Create, list, get


async def test_create_makes_the_creator_owner_and_validates_name_and_plan(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    owner = users[0]
    workspace = await new_workspace(http, owner, name="  Research  ", plan="pro")
    assert workspace["id"].startswith("ws_")
    assert (workspace["name"], workspace["plan"], workspace["role"]) == ("Research", "pro", "owner")
    assert workspace["personal"] is False
    assert workspace["memberCount"] == 1
    assert await roles_of(gateway, workspace["id"]) == {owner["user"]["id"]: "owner"}

    default_plan = await new_workspace(http, owner, name="Defaults")
    assert default_plan["plan"] == "free"

    for body, field in [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "ok", "plan": "gold"}, "plan"),
        ({"name": "ok", "settings": {"timezone": "Mars/Olympus"}}, "timezone"),
    ]:
        status, answer, _ = await api(http, "POST", "/workspaces", owner, json=body)
        assert status == 400, (body, answer)
        assert field in answer["error"]["message"], answer

    status, answer, _ = await api(http, "POST", "/workspaces", None, json={"name": "anon"})
    assert status == 401, answer


async def test_list_shows_only_the_callers_workspaces_with_their_role(
    http: aiohttp.ClientSession, users: list[dict]
) -> None:
    owner, other = users[0], users[1]
    shared = await new_workspace(http, owner, name="Shared")
    private = await new_workspace(http, owner, name="Private")
    await add_member(http, owner, shared["id"], other, "viewer")

    status, body, _ = await api(http, "GET", "/workspaces", other, params={"limit": "200"})
    assert status == 200, body
    seen = {w["id"]: w for w in body["workspaces"]}
    assert shared["id"] in seen and private["id"] not in seen
    assert seen[shared["id"]]["role"] == "viewer"
    assert seen[shared["id"]]["memberCount"] == 2
    personal = [w for w in body["workspaces"] if w["personal"]]
    assert [w["id"] for w in personal] == [other["workspaceId"]]
    assert personal[0]["role"] == "owner"


async def test_list_pages_with_signed_tokens(http: aiohttp.ClientSession) -> None:
    account = await register(http)
    created = [(await new_workspace(http, account, name=f"W{i}"))["id"] for i in range(4)]

    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        params = {"limit": "2", **({"pageToken": token} if token else {})}
        status, body, _ = await api(http, "GET", "/workspaces", account, params=params)
        assert status == 200, body
        assert len(body["workspaces"]) <= 2
        seen += [w["id"] for w in body["workspaces"]]
        pages += 1
        token = body["nextPageToken"]
        if not token:
            break
    assert pages == 3  # personal + 4 created = 5 workspaces in pages of 2
    assert seen == [account["workspaceId"], *created]  # oldest first, no repeats

    _, first, _ = await api(http, "GET", "/workspaces", account, params={"limit": "2"})
    good = first["nextPageToken"]
    altered = good[:-2] + ("AA" if good[-2:] != "AA" else "BB")
    for bad in (altered, "not-a-token", good + "x"):
        status, body, _ = await api(http, "GET", "/workspaces", account, params={"pageToken": bad})
        assert status == 400, (bad, body)
        assert error_code(body) == "INVALID_ARGUMENT"
    # A token is bound to its list: another user's token does not page this user's workspaces.
    other = await register(http)
    status, body, _ = await api(http, "GET", "/workspaces", other, params={"pageToken": good})
    assert status == 400, body
    status, body, _ = await api(http, "GET", "/workspaces", account, params={"limit": "-1"})
    assert status == 400, body


async def test_get_is_for_members_only(http: aiohttp.ClientSession, users: list[dict]) -> None:
    owner, member, outsider = users[0], users[1], users[3]
    workspace = await new_workspace(http, owner, name="Members only")
    await add_member(http, owner, workspace["id"], member, "member")

    status, body, _ = await api(http, "GET", f"/workspaces/{workspace['id']}", member)
    assert status == 200, body
    assert body["workspace"]["role"] == "member"
    assert {m["userId"]: m["role"] for m in body["members"]} == {
        owner["user"]["id"]: "owner",
        member["user"]["id"]: "member",
    }
    assert {m["email"] for m in body["members"]} == {owner["email"], member["email"]}
    assert body["grantsGiven"] == [] and body["grantsReceived"] == []

    # A non-member and an unknown id get the same 404: workspace ids cannot be probed.
    status, hidden, _ = await api(http, "GET", f"/workspaces/{workspace['id']}", outsider)
    assert status == 404, hidden
    status, missing, _ = await api(http, "GET", "/workspaces/ws_doesnotexist", outsider)
    assert status == 404, missing
    assert error_code(hidden) == error_code(missing) == "NOT_FOUND"


# ---------------------------------------------------------------------------------------------------------------
# Settings

FULL_SETTINGS = {
    "defaultModel": "openai/gpt-4o-mini",
    "timezone": "Europe/Berlin",
    "sessionIdleTimeoutMinutes": 45,
    "dailyResetHour": 4,
    "memoryRetentionDays": 90,
}


async def test_update_settings_typed_and_checked(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    owner, admin = users[0], users[1]
    workspace = await new_workspace(http, owner, name="Settings")
    await add_member(http, owner, workspace["id"], admin, "admin")
    path = f"/workspaces/{workspace['id']}/settings"

    status, body, _ = await api(http, "PUT", path, admin, json={**FULL_SETTINGS, "extras": {"theme": "dark"}})
    assert status == 200, body
    settings = body["workspace"]["settings"]
    assert {k: settings[k] for k in FULL_SETTINGS} == FULL_SETTINGS
    assert settings["extras"] == {"theme": "dark"}
    stored = await sql(gateway, "SELECT settings FROM workspaces WHERE id = %s", (workspace["id"],))
    assert stored[0]["settings"]["timezone"] == "Europe/Berlin"
    status, body, _ = await api(http, "GET", f"/workspaces/{workspace['id']}", owner)
    assert body["workspace"]["settings"]["dailyResetHour"] == 4

    # Boundaries are accepted.
    for good in ({"dailyResetHour": 0}, {"dailyResetHour": 23}, {"sessionIdleTimeoutMinutes": 43200}):
        status, body, _ = await api(http, "PUT", path, owner, json=good)
        assert status == 200, (good, body)

    for bad, field in [
        ({"timezone": "Nowhere/Atlantis"}, "timezone"),
        ({"dailyResetHour": 24}, "dailyResetHour"),
        ({"dailyResetHour": -1}, "dailyResetHour"),
        ({"sessionIdleTimeoutMinutes": 0}, "sessionIdleTimeoutMinutes"),
        ({"memoryRetentionDays": 3651}, "memoryRetentionDays"),
        ({"defaultModel": "gpt-4o"}, "defaultModel"),
        ({"defaultModel": "mystery/model-1"}, "mystery"),
        ({"dailyResetHour": "four"}, "dailyResetHour"),
        ({"unknownSetting": 1}, "unknownSetting"),
    ]:
        status, body, _ = await api(http, "PUT", path, owner, json=bad)
        assert status == 400, (bad, body)
        assert field in body["error"]["message"], (bad, body)


async def test_update_settings_keeps_fields_left_out(http: aiohttp.ClientSession, users: list[dict]) -> None:
    owner = users[0]
    workspace = await new_workspace(http, owner, name="Partial")
    path = f"/workspaces/{workspace['id']}/settings"
    status, body, _ = await api(http, "PUT", path, owner, json=FULL_SETTINGS)
    assert status == 200, body
    status, body, _ = await api(http, "PUT", path, owner, json={"timezone": "Asia/Tokyo"})
    assert status == 200, body
    settings = body["workspace"]["settings"]
    assert settings["timezone"] == "Asia/Tokyo"
    assert settings.get("defaultModel") == "openai/gpt-4o-mini"
    assert settings.get("dailyResetHour") == 4


async def test_memory_retention_zero_means_forever(http: aiohttp.ClientSession, users: list[dict]) -> None:
    workspace = await new_workspace(http, users[0], name="Forever")
    status, body, _ = await api(
        http, "PUT", f"/workspaces/{workspace['id']}/settings", users[0], json={"memoryRetentionDays": 0}
    )
    assert status == 200, body


# ---------------------------------------------------------------------------------------------------------------
# Members and roles


INVITATION_KEYS = {"id", "workspaceId", "role", "status", "createdAt", "expiresAt"}


async def invite(http: aiohttp.ClientSession, caller: dict, workspace_id: str, **body: Any) -> dict:
    status, answer, _ = await api(http, "POST", f"/workspaces/{workspace_id}/members", caller, json=body)
    assert status == 202, answer
    return answer["invitation"]


async def my_invitations(http: aiohttp.ClientSession, account: dict) -> list[dict]:
    status, body, _ = await api(http, "GET", "/invitations", account)
    assert status == 200, body
    return body["invitations"]


async def respond(http: aiohttp.ClientSession, account: dict, invitation_id: str, verb: str) -> tuple[int, Any]:
    status, body, _ = await api(http, "POST", f"/invitations/{invitation_id}/{verb}", account)
    return status, body


async def test_an_invitation_answers_the_same_whether_or_not_the_email_has_an_account(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    owner, registered = users[0], users[1]
    workspace = await new_workspace(http, owner, name="Invites")
    path = f"/workspaces/{workspace['id']}/members"
    unknown = unique_email("nobody")

    answers = []
    for body in (
        {"email": registered["email"].upper(), "role": "viewer"},
        {"email": unknown.upper(), "role": "viewer"},
        {"userId": registered["user"]["id"], "role": "viewer"},
        {"userId": "usr_doesnotexist", "role": "viewer"},
    ):
        status, answer, _ = await api(http, "POST", path, owner, json=body)
        answers.append((status, answer))
    # Same status, same shape, nothing about the account (no user id, no name, no email).
    assert [status for status, _ in answers] == [202] * 4, answers
    for _, answer in answers:
        assert list(answer) == ["invitation"], answer
        invitation = answer["invitation"]
        assert set(invitation) == INVITATION_KEYS, invitation
        assert (invitation["workspaceId"], invitation["role"], invitation["status"]) == (
            workspace["id"],
            "viewer",
            "pending",
        )
        assert invitation["id"].startswith("inv_")
        created = datetime.fromisoformat(invitation["createdAt"])
        expires = datetime.fromisoformat(invitation["expiresAt"])
        assert expires - created == timedelta(days=7)
        assert registered["user"]["id"] not in json.dumps(answer)
    assert len({answer["invitation"]["id"] for _, answer in answers}) == 4

    # Nobody was added; the emails are stored lower-cased.
    assert await roles_of(gateway, workspace["id"]) == {owner["user"]["id"]: "owner"}
    rows = await sql(
        gateway,
        "SELECT invitee_email, invitee_user_id FROM workspace_invitations WHERE workspace_id = %s ORDER BY created_at",
        (workspace["id"],),
    )
    assert {r["invitee_email"] for r in rows} - {None} == {registered["email"].lower(), unknown.lower()}

    # Inviting the same person again sends the pending invitation again: same id, new role and expiry, one row.
    first = answers[1][1]["invitation"]
    again = await invite(http, owner, workspace["id"], email=unknown, role="admin")
    assert again["id"] == first["id"]
    assert again["role"] == "admin"
    assert again["expiresAt"] >= first["expiresAt"]
    rows = await sql(gateway, "SELECT role FROM workspace_invitations WHERE lower(invitee_email) = %s", (unknown,))
    assert rows == [{"role": "admin"}]

    for bad in (
        {"role": "member"},
        {"email": "not-an-address", "role": "member"},
        {"userId": "usr with spaces"},
        {"userId": "a@b.example"},
        {"email": unknown, "role": "superuser"},
    ):
        status, body, _ = await api(http, "POST", path, owner, json=bad)
        assert (status, error_code(body)) == (400, "INVALID_ARGUMENT"), (bad, body)


async def test_the_invitee_lists_accepts_and_then_sees_the_workspace(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    owner = users[0]
    invitee = await register(http, email=f"Mixed.Case-{uuid.uuid4().hex[:8]}@Example.com")
    workspace = await new_workspace(http, owner, name="Welcome")
    sent = await invite(http, owner, workspace["id"], email=invitee["email"], role="viewer")
    # Not a member until accepting.
    status, body, _ = await api(http, "GET", f"/workspaces/{workspace['id']}", invitee)
    assert status == 404, body

    listed = await my_invitations(http, invitee)
    assert [i["id"] for i in listed] == [sent["id"]]
    assert listed[0]["workspaceName"] == "Welcome"
    assert (listed[0]["role"], listed[0]["status"]) == ("viewer", "pending")
    assert "email" not in listed[0] and "userId" not in listed[0]
    assert sent["id"] not in {i["id"] for i in await my_invitations(http, users[1])}  # nobody else sees it

    status, body = await respond(http, invitee, sent["id"], "accept")
    assert status == 200, body
    assert (body["workspace"]["id"], body["workspace"]["role"], body["workspace"]["memberCount"]) == (
        workspace["id"],
        "viewer",
        2,
    )
    status, body, _ = await api(http, "GET", f"/workspaces/{workspace['id']}", invitee)
    assert status == 200, body
    assert body["workspace"]["role"] == "viewer"
    # The membership works at once for the X-Workspace-ID of other routes (the membership cache).
    status, body, _ = await api(http, "GET", "/agents", invitee, workspace=workspace["id"])
    assert status == 200, body
    _, listed_ws, _ = await api(http, "GET", "/workspaces", invitee)
    assert workspace["id"] in {w["id"] for w in listed_ws["workspaces"]}

    assert await my_invitations(http, invitee) == []
    status, body = await respond(http, invitee, sent["id"], "accept")
    assert (status, error_code(body)) == (400, "FAILED_PRECONDITION"), body
    rows = await sql(gateway, "SELECT status FROM workspace_invitations WHERE id = %s", (sent["id"],))
    assert rows == [{"status": "accepted"}]

    # By user id too.
    other = users[2]
    by_id = await invite(http, owner, workspace["id"], userId=other["user"]["id"], role="member")
    assert [i["id"] for i in await my_invitations(http, other)] == [by_id["id"]]
    status, body = await respond(http, other, by_id["id"], "accept")
    assert status == 200, body
    assert await roles_of(gateway, workspace["id"]) == {
        owner["user"]["id"]: "owner",
        invitee["user"]["id"]: "viewer",
        other["user"]["id"]: "member",
    }


async def test_a_declined_invitation_is_dropped(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    owner, invitee = users[0], users[1]
    workspace = await new_workspace(http, owner, name="No thanks")
    sent = await invite(http, owner, workspace["id"], email=invitee["email"])
    status, body = await respond(http, invitee, sent["id"], "decline")
    assert status == 200, body
    assert sent["id"] not in {i["id"] for i in await my_invitations(http, invitee)}
    status, body = await respond(http, invitee, sent["id"], "accept")
    assert (status, error_code(body)) == (400, "FAILED_PRECONDITION"), body
    assert "declined" in body["error"]["message"]
    assert invitee["user"]["id"] not in await roles_of(gateway, workspace["id"])
    status, body, _ = await api(http, "GET", f"/workspaces/{workspace['id']}/invitations", owner)
    assert body["invitations"] == []


async def test_an_expired_invitation_cannot_be_accepted_until_sent_again(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    owner, invitee = users[0], users[1]
    workspace = await new_workspace(http, owner, name="Too late")
    sent = await invite(http, owner, workspace["id"], userId=invitee["user"]["id"], role="admin")
    expire = "UPDATE workspace_invitations SET expires_at = now() - interval '1 minute' WHERE id = %s"
    await sql(gateway, expire, (sent["id"],))
    assert sent["id"] not in {i["id"] for i in await my_invitations(http, invitee)}
    status, body = await respond(http, invitee, sent["id"], "accept")
    assert (status, error_code(body)) == (400, "FAILED_PRECONDITION"), body
    assert "expired" in body["error"]["message"]
    assert invitee["user"]["id"] not in await roles_of(gateway, workspace["id"])
    # The workspace still lists it, as expired; inviting again renews the same invitation.
    _, listed, _ = await api(http, "GET", f"/workspaces/{workspace['id']}/invitations", owner)
    assert [(i["id"], i["status"]) for i in listed["invitations"]] == [(sent["id"], "expired")]
    again = await invite(http, owner, workspace["id"], userId=invitee["user"]["id"], role="admin")
    assert (again["id"], again["status"]) == (sent["id"], "pending")
    status, body = await respond(http, invitee, sent["id"], "accept")
    assert status == 200, body
    assert body["workspace"]["role"] == "admin"


async def test_someone_elses_invitation_is_not_found(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    owner, invitee, stranger = users[0], users[1], users[3]
    workspace = await new_workspace(http, owner, name="Not yours")
    sent = await invite(http, owner, workspace["id"], email=invitee["email"], role="member")
    # Neither a stranger nor the workspace's own owner can act on it, and it looks like an unknown id.
    for caller in (stranger, owner):
        for verb in ("accept", "decline"):
            status, body = await respond(http, caller, sent["id"], verb)
            assert (status, error_code(body)) == (404, "NOT_FOUND"), (verb, body)
    status, unknown = await respond(http, stranger, "inv_doesnotexist", "accept")
    assert (status, error_code(unknown)) == (404, "NOT_FOUND")
    assert workspace["id"] not in {i["workspaceId"] for i in await my_invitations(http, stranger)}
    assert stranger["user"]["id"] not in await roles_of(gateway, workspace["id"])
    rows = await sql(gateway, "SELECT status FROM workspace_invitations WHERE id = %s", (sent["id"],))
    assert rows == [{"status": "pending"}]
    status, body = await respond(http, invitee, sent["id"], "accept")
    assert status == 200, body


async def test_owners_and_admins_list_and_revoke_invitations_members_cannot(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    owner, admin, member, outsider = users
    workspace = await new_workspace(http, owner, name="Managed")
    await add_member(http, owner, workspace["id"], admin, "admin")
    await add_member(http, owner, workspace["id"], member, "member")
    invitations = f"/workspaces/{workspace['id']}/invitations"
    by_email = await invite(http, admin, workspace["id"], email=unique_email("pending"), role="viewer")
    by_id = await invite(http, owner, workspace["id"], userId=outsider["user"]["id"], role="member")
    as_owner = await invite(http, owner, workspace["id"], email=unique_email("future-owner"), role="owner")

    status, body, _ = await api(http, "GET", invitations, admin)
    assert status == 200, body
    listed = {i["id"]: i for i in body["invitations"]}
    assert list(listed) == [by_email["id"], by_id["id"], as_owner["id"]]  # oldest first
    assert listed[by_email["id"]]["email"].startswith("pending-")
    assert listed[by_id["id"]]["userId"] == outsider["user"]["id"]
    assert "email" not in listed[by_id["id"]]
    assert all(i["status"] == "pending" for i in listed.values())
    status, page, _ = await api(http, "GET", invitations, owner, params={"limit": "2"})
    assert len(page["invitations"]) == 2 and page["nextPageToken"]
    status, rest, _ = await api(http, "GET", invitations, owner, params={"pageToken": page["nextPageToken"]})
    assert [i["id"] for i in rest["invitations"]] == [as_owner["id"]]

    # Members and viewers may not list or revoke; an outsider does not see the workspace at all.
    status, body, _ = await api(http, "GET", invitations, member)
    assert (status, error_code(body)) == (403, "PERMISSION_DENIED"), body
    status, body, _ = await api(http, "DELETE", f"{invitations}/{by_id['id']}", member)
    assert (status, error_code(body)) == (403, "PERMISSION_DENIED"), body
    status, body, _ = await api(http, "GET", invitations, outsider)
    assert (status, error_code(body)) == (404, "NOT_FOUND"), body

    # An admin revokes; the invitee no longer sees it and cannot accept it.
    status, body, _ = await api(http, "DELETE", f"{invitations}/{by_id['id']}", admin)
    assert status == 200, body
    assert workspace["id"] not in {i["workspaceId"] for i in await my_invitations(http, outsider)}
    status, body = await respond(http, outsider, by_id["id"], "accept")
    assert (status, error_code(body)) == (400, "FAILED_PRECONDITION"), body
    status, body, _ = await api(http, "DELETE", f"{invitations}/{by_id['id']}", admin)
    assert status == 404, body
    # Only an owner revokes an invitation to become owner; another workspace's invitation is not found here.
    status, body, _ = await api(http, "DELETE", f"{invitations}/{as_owner['id']}", admin)
    assert (status, error_code(body)) == (403, "PERMISSION_DENIED"), body
    other = await new_workspace(http, owner, name="Elsewhere")
    status, body, _ = await api(http, "DELETE", f"/workspaces/{other['id']}/invitations/{as_owner['id']}", owner)
    assert status == 404, body
    status, body, _ = await api(http, "DELETE", f"{invitations}/{as_owner['id']}", owner)
    assert status == 200, body
    _, body, _ = await api(http, "GET", invitations, owner)
    assert [i["id"] for i in body["invitations"]] == [by_email["id"]]


async def test_an_existing_members_role_still_changes_at_once(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    owner, member = users[0], users[1]
    workspace = await new_workspace(http, owner, name="Roles")
    await add_member(http, owner, workspace["id"], member, "viewer")
    path = f"/workspaces/{workspace['id']}/members"

    status, body, _ = await api(http, "POST", path, owner, json={"email": member["email"].upper(), "role": "admin"})
    assert status == 200, body
    assert list(body) == ["member"]
    assert (body["member"]["userId"], body["member"]["role"]) == (member["user"]["id"], "admin")
    # Default role is member.
    status, body, _ = await api(http, "POST", path, owner, json={"userId": member["user"]["id"]})
    assert status == 200, body
    assert body["member"]["role"] == "member"
    assert await roles_of(gateway, workspace["id"]) == {owner["user"]["id"]: "owner", member["user"]["id"]: "member"}
    pending = "SELECT 1 FROM workspace_invitations WHERE workspace_id = %s AND status = 'pending'"
    assert await sql(gateway, pending, (workspace["id"],)) == []


async def test_invitations_are_audited(http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]) -> None:
    owner, a, b, c = users
    workspace = await new_workspace(http, owner, name="Audited invitations")
    ws, me = workspace["id"], owner["user"]["id"]
    unknown = unique_email("unregistered")
    accepted = await invite(http, owner, ws, email=a["email"], role="member")
    declined = await invite(http, owner, ws, userId=b["user"]["id"], role="viewer")
    revoked = await invite(http, owner, ws, email=unknown, role="viewer")
    assert (await respond(http, a, accepted["id"], "accept"))[0] == 200
    assert (await respond(http, b, declined["id"], "decline"))[0] == 200
    status, body, _ = await api(http, "DELETE", f"/workspaces/{ws}/invitations/{revoked['id']}", owner)
    assert status == 200, body

    entries = await sql(
        gateway,
        "SELECT action, actor, target_user_id, target, details FROM audit_log"
        " WHERE workspace_id = %s AND action LIKE 'invitation.%%' ORDER BY id",
        (ws,),
    )
    assert [(e["action"], e["actor"], e["target_user_id"], e["target"]) for e in entries] == [
        ("invitation.create", me, a["user"]["id"], accepted["id"]),
        ("invitation.create", me, b["user"]["id"], declined["id"]),
        ("invitation.create", me, None, revoked["id"]),
        ("invitation.accept", a["user"]["id"], a["user"]["id"], accepted["id"]),
        ("invitation.decline", b["user"]["id"], b["user"]["id"], declined["id"]),
        ("invitation.revoke", me, me, revoked["id"]),
    ]
    assert entries[2]["details"]["email"] == unknown
    assert entries[3]["details"] == {"role": "member", "invitedBy": me, "joined": True}
    assert c["user"]["id"] not in {e["target_user_id"] for e in entries}


async def test_admins_cannot_make_change_or_remove_owners(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    owner, admin, member = users[0], users[1], users[2]
    workspace = await new_workspace(http, owner, name="Admin limits")
    await add_member(http, owner, workspace["id"], admin, "admin")
    members = f"/workspaces/{workspace['id']}/members"

    # An admin may invite and re-role non-owners...
    sent = await invite(http, admin, workspace["id"], userId=member["user"]["id"], role="admin")
    assert (await respond(http, member, sent["id"], "accept"))[0] == 200
    status, body, _ = await api(http, "POST", members, admin, json={"userId": member["user"]["id"], "role": "viewer"})
    assert status == 200, body
    # ...but not invite or make an owner, demote an owner, or remove one.
    status, body, _ = await api(http, "POST", members, admin, json={"email": unique_email("boss"), "role": "owner"})
    assert status == 403, body
    status, body, _ = await api(http, "POST", members, admin, json={"userId": member["user"]["id"], "role": "owner"})
    assert status == 403, body
    status, body, _ = await api(http, "POST", members, admin, json={"userId": admin["user"]["id"], "role": "owner"})
    assert status == 403, body
    status, body, _ = await api(http, "POST", members, admin, json={"userId": owner["user"]["id"], "role": "member"})
    assert status == 403, body
    status, body, _ = await api(http, "DELETE", f"{members}/{owner['user']['id']}", admin)
    assert status == 403, body
    assert await roles_of(gateway, workspace["id"]) == {
        owner["user"]["id"]: "owner",
        admin["user"]["id"]: "admin",
        member["user"]["id"]: "viewer",
    }

    # An admin may remove a non-owner; removing someone who is not a member is 404.
    status, body, _ = await api(http, "DELETE", f"{members}/{member['user']['id']}", admin)
    assert status == 200, body
    status, body, _ = await api(http, "DELETE", f"{members}/{member['user']['id']}", admin)
    assert status == 404, body
    # The removed user no longer sees the workspace.
    status, body, _ = await api(http, "GET", f"/workspaces/{workspace['id']}", member)
    assert status == 404, body


async def test_members_may_leave_but_not_remove_others(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    owner, member, viewer = users[0], users[1], users[2]
    workspace = await new_workspace(http, owner, name="Leaving")
    await add_member(http, owner, workspace["id"], member, "member")
    await add_member(http, owner, workspace["id"], viewer, "viewer")
    members = f"/workspaces/{workspace['id']}/members"

    status, body, _ = await api(http, "DELETE", f"{members}/{viewer['user']['id']}", member)
    assert status == 403, body
    status, body, _ = await api(http, "DELETE", f"{members}/{member['user']['id']}", member)
    assert status == 200, body
    assert member["user"]["id"] not in await roles_of(gateway, workspace["id"])
    status, body, _ = await api(http, "DELETE", f"{members}/{viewer['user']['id']}", viewer)
    assert status == 200, body
    assert await roles_of(gateway, workspace["id"]) == {owner["user"]["id"]: "owner"}


async def test_the_last_owner_cannot_be_removed_or_demoted(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    owner, second = users[0], users[1]
    workspace = await new_workspace(http, owner, name="Ownership")
    members = f"/workspaces/{workspace['id']}/members"
    me = owner["user"]["id"]

    status, body, _ = await api(http, "POST", members, owner, json={"userId": me, "role": "admin"})
    assert (status, error_code(body)) == (400, "FAILED_PRECONDITION"), body
    assert "last owner" in body["error"]["message"]
    status, body, _ = await api(http, "DELETE", f"{members}/{me}", owner)
    assert (status, error_code(body)) == (400, "FAILED_PRECONDITION"), body
    assert await roles_of(gateway, workspace["id"]) == {me: "owner"}

    # With a second owner the first may step down; then the second is the last one.
    await add_member(http, owner, workspace["id"], second, "owner")
    status, body, _ = await api(http, "POST", members, owner, json={"userId": me, "role": "member"})
    assert status == 200, body
    status, body, _ = await api(http, "DELETE", f"{members}/{second['user']['id']}", second)
    assert (status, error_code(body)) == (400, "FAILED_PRECONDITION"), body
    status, body, _ = await api(http, "POST", members, second, json={"userId": second["user"]["id"], "role": "viewer"})
    assert (status, error_code(body)) == (400, "FAILED_PRECONDITION"), body
    status, body, _ = await api(http, "DELETE", f"{members}/{me}", second)
    assert status == 200, body
    assert await roles_of(gateway, workspace["id"]) == {second["user"]["id"]: "owner"}


async def test_concurrent_mutual_demotion_leaves_an_owner(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    a, b = users[0], users[1]
    for _ in range(3):
        workspace = await new_workspace(http, a, name="Race")
        await add_member(http, a, workspace["id"], b, "owner")
        members = f"/workspaces/{workspace['id']}/members"
        results = await asyncio.gather(
            api(http, "POST", members, a, json={"userId": b["user"]["id"], "role": "member"}),
            api(http, "POST", members, b, json={"userId": a["user"]["id"], "role": "member"}),
        )
        statuses = sorted(r[0] for r in results)
        assert statuses[0] == 200 and statuses[1] in (400, 403), results
        assert list((await roles_of(gateway, workspace["id"])).values()).count("owner") == 1


# ---------------------------------------------------------------------------------------------------------------
# Restrictions (the route; enforcement on agents is in test_agents)


async def test_restrictions_set_replace_and_lift(http: aiohttp.ClientSession, users: list[dict]) -> None:
    owner = users[0]
    workspace = await new_workspace(http, owner, name="Restricted")
    path = f"/workspaces/{workspace['id']}/restrictions"

    status, body, _ = await api(
        http,
        "PUT",
        path,
        owner,
        json={"allowedProviders": ["openai", "local", "openai"], "allowedModels": ["openai/gpt-4o-mini"]},
    )
    assert status == 200, body
    assert body["workspace"]["restrictions"] == {
        "allowedProviders": ["local", "openai"],
        "allowedModels": ["openai/gpt-4o-mini"],
    }
    # A null list lifts that one restriction.
    status, body, _ = await api(http, "PUT", path, owner, json={"allowedProviders": ["local"], "allowedModels": None})
    assert status == 200, body
    assert body["workspace"]["restrictions"] == {"allowedProviders": ["local"]}
    status, body, _ = await api(http, "GET", f"/workspaces/{workspace['id']}", owner)
    assert body["workspace"]["restrictions"] == {"allowedProviders": ["local"]}
    # A null body (or {}) removes every restriction.
    status, body, _ = await api(http, "PUT", path, owner, json=None)
    assert status == 200, body
    assert not body["workspace"].get("restrictions")
    status, body, _ = await api(http, "PUT", path, owner, json={"allowedModels": ["local/echo"]})
    assert body["workspace"]["restrictions"] == {"allowedModels": ["local/echo"]}
    status, body, _ = await api(http, "PUT", path, owner, json={})
    assert status == 200, body
    assert not body["workspace"].get("restrictions")

    for bad, word in [
        ({"allowedProviders": []}, "allowedProviders"),
        ({"allowedModels": []}, "allowedModels"),
        ({"allowedProviders": ["cohere"]}, "cohere"),
        ({"allowedModels": ["gpt-4o"]}, "allowedModels"),
        ({"allowedProviders": [1]}, "allowedProviders"),
    ]:
        status, body, _ = await api(http, "PUT", path, owner, json=bad)
        assert status == 400, (bad, body)
        assert word in body["error"]["message"], (bad, body)


async def test_unrestricted_workspace_has_no_restrictions_over_grpc(
    channel: grpc.aio.Channel, users: list[dict]
) -> None:
    stub = workspaces_pb2_grpc.WorkspacesServiceStub(channel)
    metadata = (("authorization", f"Bearer {users[0]['tokens']['accessToken']}"),)
    answer = await stub.GetWorkspace(
        workspaces_pb2.GetWorkspaceRequest(workspace_id=users[0]["workspaceId"]), metadata=metadata
    )
    assert not answer.workspace.HasField("restrictions")


# ---------------------------------------------------------------------------------------------------------------
# Grants


async def test_grants_create_validate_expire_and_revoke(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    granter, receiver = users[0], users[2]
    source = await new_workspace(http, granter, name="Granting")
    target = receiver["workspaceId"]  # the receiver's personal workspace
    agent = (await create_agent(http, granter, source["id"]))["agent"]
    grants = f"/workspaces/{source['id']}/grants"
    future = (datetime.now(UTC) + timedelta(days=7)).isoformat().replace("+00:00", "Z")

    status, body, _ = await api(
        http,
        "POST",
        grants,
        granter,
        json={"receivingWorkspaceId": target, "agentId": agent["id"], "readonly": False, "expiresAt": future},
    )
    assert status == 200, body
    grant = body["grant"]
    assert (grant["grantingWorkspaceId"], grant["receivingWorkspaceId"], grant["agentId"]) == (
        source["id"],
        target,
        agent["id"],
    )
    assert grant["readonly"] is False and grant["expiresAt"]

    # The receiver sees it with origin "granted" and can use it; the grant shows on both sides.
    status, body, _ = await api(http, "GET", f"/agents/{agent['id']}", receiver)
    assert status == 200, body
    assert body["agent"]["origin"] == "granted"
    assert body["agent"]["workspaceId"] == source["id"]
    _, listed, _ = await api(http, "GET", "/agents", receiver, params={"origin": "granted"})
    assert [a["id"] for a in listed["agents"]] == [agent["id"]]
    _, mine, _ = await api(http, "GET", f"/workspaces/{target}", receiver)
    assert [g["agentId"] for g in mine["grantsReceived"]] == [agent["id"]]
    _, theirs, _ = await api(http, "GET", f"/workspaces/{source['id']}", granter)
    assert [g["receivingWorkspaceId"] for g in theirs["grantsGiven"]] == [target]

    # Expiry: ignored, not deleted. The grant is read (and kept by the gateway's cache) while live, then lapses
    # with no write at all: the cached copy must stop being served on time.
    await sql(
        gateway,
        "UPDATE agent_grants SET expires_at = now() + interval '1.5 seconds' WHERE receiving_workspace_id = %s"
        " AND agent_id = %s",
        (target, agent["id"]),
    )
    await asyncio.sleep(0.3)  # the change's notice reaches the gateway
    status, body, _ = await api(http, "GET", f"/agents/{agent['id']}", receiver)
    assert status == 200, body
    await asyncio.sleep(1.5)
    status, body, _ = await api(http, "GET", f"/agents/{agent['id']}", receiver)
    assert (status, error_code(body)) == (403, "PERMISSION_DENIED"), body
    status, body, _ = await api(http, "GET", f"/agents/{agent['id']}/capabilities", receiver)
    assert status == 403, body
    _, listed, _ = await api(http, "GET", "/agents", receiver)
    assert agent["id"] not in [a["id"] for a in listed["agents"]]
    rows = await sql(gateway, "SELECT expires_at FROM agent_grants WHERE agent_id = %s", (agent["id"],))
    assert len(rows) == 1 and rows[0]["expires_at"] < datetime.now(UTC)
    _, theirs, _ = await api(http, "GET", f"/workspaces/{source['id']}", granter)
    assert [g["agentId"] for g in theirs["grantsGiven"]] == [agent["id"]]

    # Granting again replaces the grant (no expiry now): available again.
    status, body, _ = await api(
        http, "POST", grants, granter, json={"receivingWorkspaceId": target, "agentId": agent["id"]}
    )
    assert status == 200, body
    assert "expiresAt" not in body["grant"]
    assert body["grant"]["readonly"] is False
    status, body, _ = await api(http, "GET", f"/agents/{agent['id']}", receiver)
    assert status == 200, body

    # Revoke with query parameters; then the agent exists but is unavailable (403); a second revoke is 404.
    params = {"receivingWorkspaceId": target, "agentId": agent["id"]}
    status, body, _ = await api(http, "DELETE", grants, granter, params=params)
    assert status == 200, body
    assert await sql(gateway, "SELECT 1 FROM agent_grants WHERE agent_id = %s", (agent["id"],)) == []
    status, body, _ = await api(http, "GET", f"/agents/{agent['id']}", receiver)
    assert status == 403, body
    status, body, _ = await api(http, "DELETE", grants, granter, params=params)
    assert status == 404, body
    status, body, _ = await api(http, "DELETE", grants, granter, params={"agentId": agent["id"]})
    assert status == 400, body


async def test_grant_validation(http: aiohttp.ClientSession, users: list[dict]) -> None:
    granter, stranger = users[0], users[3]
    source = await new_workspace(http, granter, name="Grant checks")
    agent = (await create_agent(http, granter, source["id"]))["agent"]
    foreign = (await create_agent(http, stranger, stranger["workspaceId"]))["agent"]
    grants = f"/workspaces/{source['id']}/grants"
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat().replace("+00:00", "Z")

    for body, expected in [
        ({"receivingWorkspaceId": stranger["workspaceId"], "agentId": foreign["id"]}, 403),  # not its agent
        ({"receivingWorkspaceId": stranger["workspaceId"], "agentId": "no-such-agent"}, 404),
        ({"receivingWorkspaceId": "ws_doesnotexist", "agentId": agent["id"]}, 404),
        ({"receivingWorkspaceId": source["id"], "agentId": agent["id"]}, 400),  # to itself
        ({"receivingWorkspaceId": stranger["workspaceId"], "agentId": agent["id"], "expiresAt": past}, 400),
        ({"agentId": agent["id"]}, 400),
        ({"receivingWorkspaceId": stranger["workspaceId"]}, 400),
    ]:
        status, answer, _ = await api(http, "POST", grants, granter, json=body)
        assert status == expected, (body, answer)


async def test_readonly_grant_cannot_chat(http: aiohttp.ClientSession, users: list[dict]) -> None:
    granter, receiver = users[0], users[2]
    source = await new_workspace(http, granter, name="Read only")
    agent = (await create_agent(http, granter, source["id"]))["agent"]
    status, body, _ = await api(
        http,
        "POST",
        f"/workspaces/{source['id']}/grants",
        granter,
        json={"receivingWorkspaceId": receiver["workspaceId"], "agentId": agent["id"], "readonly": True},
    )
    assert status == 200, body
    status, body, _ = await api(http, "GET", f"/agents/{agent['id']}/capabilities", receiver)
    assert status == 200, body
    assert body["origin"] == "granted"
    assert body["canChat"] is False
    assert "read-only" in body["cannotChatReason"] or "readonly" in body["cannotChatReason"]


# ---------------------------------------------------------------------------------------------------------------
# Stats: rows inserted directly, aggregates checked against hand-computed values.


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


async def insert_session(conn: psycopg.AsyncConnection, **values: Any) -> None:
    """A sessions row; fills origin_agent_id (the agent a session was opened with) when the schema has it."""
    cur = await conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'sessions' AND column_name = %s",
        ("origin_agent_id",),
    )
    if await cur.fetchone():
        values.setdefault("origin_agent_id", values["agent_id"])
    columns = ", ".join(values)
    placeholders = ", ".join(["%s"] * len(values))
    await conn.execute(f"INSERT INTO sessions ({columns}) VALUES ({placeholders})", tuple(values.values()))


async def seed_stats(gateway: GatewayThread, workspace_id: str, other_workspace_id: str, a: str, b: str) -> str:
    """Sessions, messages, usage and tool calls for the stats test; returns the id of an extra (old) user."""
    now = datetime.now(UTC)
    ago = lambda days: now - timedelta(days=days, minutes=5)  # noqa: E731
    old_user = _id("usr")
    async with await psycopg.AsyncConnection.connect(gateway.settings.database_url) as conn:
        await conn.execute(
            "INSERT INTO users (id, email, password_hash) VALUES (%s, %s, 'x')", (old_user, unique_email("old"))
        )

        async def session(ws: str, user: str, agent: str, days: float, messages: int, status: str) -> str:
            sid = _id("ses")
            await insert_session(
                conn,
                id=sid,
                workspace_id=ws,
                user_id=user,
                agent_id=agent,
                surface_id=sid,
                status=status,
                message_count=messages,
                created_at=ago(days),
                last_activity_at=ago(days),
            )
            for i in range(messages):
                await conn.execute(
                    "INSERT INTO messages (id, session_id, role, content, created_at) VALUES (%s, %s, %s, %s, %s)",
                    (_id("msg"), sid, "user" if i % 2 == 0 else "assistant", f"m{i}", ago(days)),
                )
            return sid

        await session(workspace_id, a, "alpha", 1, 3, "active")
        await session(workspace_id, b, "alpha", 2, 2, "archived")
        await session(workspace_id, b, "beta", 3, 4, "active")
        await session(workspace_id, a, "gamma", 5, 3, "archived")
        await session(workspace_id, b, "delta", 6, 2, "active")
        await session(workspace_id, a, "epsilon", 7, 1, "archived")
        await session(workspace_id, b, "zeta", 8, 1, "archived")
        await session(workspace_id, old_user, "old", 40, 10, "archived")
        await session(other_workspace_id, a, "alpha", 1, 7, "active")  # another workspace: never counted

        for ws, agent, prompt, completion, cost, days in [
            (workspace_id, "alpha", 100, 50, "0.010000", 1),
            (workspace_id, "alpha", 200, 100, "0.020000", 2),
            (workspace_id, "beta", 10, 5, "0.001000", 3),
            (workspace_id, "zeta", 60, 40, "0.005000", 8),
            (workspace_id, "old", 1000, 1000, "1.000000", 40),
            (other_workspace_id, "alpha", 5000, 5000, "9.000000", 1),
        ]:
            await conn.execute(
                "INSERT INTO usage_records (id, workspace_id, user_id, agent_id, provider, model, prompt_tokens,"
                " completion_tokens, cost_usd, created_at) VALUES (%s, %s, %s, %s, 'openai', 'openai/gpt-4o-mini',"
                " %s, %s, %s, %s)",
                (_id("use"), ws, a, agent, prompt, completion, cost, ago(days)),
            )

        for ws, tool, status, duration, days in [
            (workspace_id, "memory_search", "ok", 10, 1),
            (workspace_id, "memory_search", "error", 20, 2),
            (workspace_id, "memory_search", "ok", 30, 3),
            (workspace_id, "calculator", "ok", 5, 1),
            (workspace_id, "calculator", "ok", 15, 4),
            (workspace_id, "http_fetch", "error", 100, 2),
            (workspace_id, "http_fetch", "error", 300, 2),
            (workspace_id, "current_time", "ok", 1, 1),
            (workspace_id, "rss_read", "ok", 50, 1),
            (workspace_id, "session_search", "error", 7, 1),
            *[(workspace_id, "old_tool", "ok", 1, 40)] * 4,
            *[(other_workspace_id, "calculator", "error", 1, 1)] * 10,
        ]:
            await conn.execute(
                "INSERT INTO tool_calls (id, workspace_id, agent_id, tool, status, duration_ms, created_at)"
                " VALUES (%s, %s, 'alpha', %s, %s, %s, %s)",
                (_id("tc"), ws, tool, status, duration, ago(days)),
            )
        await conn.commit()
    return old_user


def _agents(stats: dict) -> list[tuple[str, int, int, int, float]]:
    return [
        (a["agentId"], a["sessions"], a["messages"], int(a["totalTokens"]), round(a["costUsd"], 6))
        for a in stats["topAgents"]
    ]


def _tools(stats: dict) -> list[tuple[str, int, int, float]]:
    return [(t["tool"], t["calls"], t["errors"], round(t["avgDurationMs"], 3)) for t in stats["topTools"]]


async def test_stats_aggregates_in_the_window(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    a, b, viewer = users[0], users[1], users[2]
    workspace = await new_workspace(http, a, name="Stats")
    other = await new_workspace(http, a, name="Other stats")
    await add_member(http, a, workspace["id"], b, "member")
    await add_member(http, a, workspace["id"], viewer, "viewer")
    await seed_stats(gateway, workspace["id"], other["id"], a["user"]["id"], b["user"]["id"])
    path = f"/workspaces/{workspace['id']}/stats"

    before = datetime.now(UTC)
    status, stats, _ = await api(http, "GET", path, viewer)  # any member may read stats
    assert status == 200, stats
    assert stats["workspaceId"] == workspace["id"]
    assert stats["days"] == 30
    start = datetime.fromisoformat(stats["windowStart"])
    end = datetime.fromisoformat(stats["windowEnd"])
    assert abs((end - before).total_seconds()) < 30
    assert abs((end - start) - timedelta(days=30)) < timedelta(seconds=1)
    assert stats["sessionsTotal"] == 7
    assert stats["sessionsActive"] == 3
    assert stats["messagesTotal"] == 16
    assert (int(stats["promptTokens"]), int(stats["completionTokens"]), int(stats["totalTokens"])) == (370, 195, 565)
    assert stats["costUsd"] == pytest.approx(0.036)
    assert stats["activeUsers"] == 2
    assert _agents(stats) == [
        ("alpha", 2, 5, 450, 0.03),
        ("beta", 1, 4, 15, 0.001),
        ("gamma", 1, 3, 0, 0.0),
        ("delta", 1, 2, 0, 0.0),
        ("zeta", 1, 1, 100, 0.005),  # ties with epsilon on messages; more tokens ranks it first
    ]
    assert _tools(stats) == [
        ("memory_search", 3, 1, 20.0),
        ("calculator", 2, 0, 10.0),
        ("http_fetch", 2, 2, 200.0),
        ("current_time", 1, 0, 1.0),
        ("rss_read", 1, 0, 50.0),
    ]

    # A wider window takes in the old rows.
    status, wide, _ = await api(http, "GET", path, a, params={"days": "60"})
    assert status == 200, wide
    assert wide["days"] == 60
    assert (wide["sessionsTotal"], wide["sessionsActive"], wide["messagesTotal"]) == (8, 3, 26)
    assert int(wide["totalTokens"]) == 2565
    assert wide["costUsd"] == pytest.approx(1.036)
    assert wide["activeUsers"] == 3
    assert [x[0] for x in _agents(wide)] == ["old", "alpha", "beta", "gamma", "delta"]
    assert _agents(wide)[0] == ("old", 1, 10, 2000, 1.0)
    assert _tools(wide)[0] == ("old_tool", 4, 0, 1.0)

    # A narrow window: rows seeded 1 and 2 days ago only (3 days + 5 minutes is outside a 3-day window).
    status, narrow, _ = await api(http, "GET", path, a, params={"days": "3"})
    assert status == 200, narrow
    assert (narrow["sessionsTotal"], narrow["sessionsActive"], narrow["messagesTotal"]) == (2, 1, 5)
    assert int(narrow["totalTokens"]) == 450 and narrow["activeUsers"] == 2
    assert _agents(narrow) == [("alpha", 2, 5, 450, 0.03)]
    assert _tools(narrow) == [
        ("http_fetch", 2, 2, 200.0),
        ("memory_search", 2, 1, 15.0),
        ("calculator", 1, 0, 5.0),
        ("current_time", 1, 0, 1.0),
        ("rss_read", 1, 0, 50.0),
    ]

    # An empty workspace has zeros, not nulls.
    status, empty, _ = await api(http, "GET", f"/workspaces/{a['workspaceId']}/stats", a)
    assert status == 200, empty
    assert (empty["sessionsTotal"], empty["messagesTotal"], int(empty["totalTokens"]), empty["costUsd"]) == (0, 0, 0, 0)
    assert empty["topAgents"] == [] and empty["topTools"] == [] and empty["activeUsers"] == 0

    for days in ("366", "-1", "1000", "abc"):
        status, body, _ = await api(http, "GET", path, a, params={"days": days})
        assert status == 400, (days, body)
    status, body, _ = await api(http, "GET", path, a, params={"days": "365"})
    assert status == 200, body


async def test_stats_days_zero_is_rejected(http: aiohttp.ClientSession, users: list[dict]) -> None:
    status, body, _ = await api(
        http, "GET", f"/workspaces/{users[0]['workspaceId']}/stats", users[0], params={"days": "0"}
    )
    assert status == 400, body


async def test_stats_active_users_are_those_who_sent_a_message(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    owner = users[0]
    workspace = await new_workspace(http, owner, name="Quiet")
    now = datetime.now(UTC)
    sid = _id("ses")
    async with await psycopg.AsyncConnection.connect(gateway.settings.database_url, autocommit=True) as conn:
        # The user's only message is 40 days old; the session was touched yesterday by an assistant message.
        await insert_session(
            conn,
            id=sid,
            workspace_id=workspace["id"],
            user_id=owner["user"]["id"],
            agent_id="alpha",
            created_at=now - timedelta(days=40),
            last_activity_at=now - timedelta(days=1),
        )
        for role, days in (("user", 40), ("assistant", 1)):
            await conn.execute(
                "INSERT INTO messages (id, session_id, role, content, created_at) VALUES (%s, %s, %s, 'x', %s)",
                (_id("msg"), sid, role, now - timedelta(days=days)),
            )
    status, stats, _ = await api(http, "GET", f"/workspaces/{workspace['id']}/stats", owner)
    assert status == 200, stats
    assert stats["messagesTotal"] == 1
    assert stats["activeUsers"] == 0


# ---------------------------------------------------------------------------------------------------------------
# Direct gRPC


async def test_grpc_non_member_gets_not_found(channel: grpc.aio.Channel, users: list[dict]) -> None:
    stub = workspaces_pb2_grpc.WorkspacesServiceStub(channel)
    owner, outsider = users[0], users[3]
    created = await stub.CreateWorkspace(
        workspaces_pb2.CreateWorkspaceRequest(
            name="gRPC", plan="enterprise", settings=common_pb2.WorkspaceSettings(daily_reset_hour=0)
        ),
        metadata=(("authorization", f"Bearer {owner['tokens']['accessToken']}"),),
    )
    assert created.workspace.role == "owner"
    assert created.workspace.settings.HasField("daily_reset_hour")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetWorkspaceStats(
            workspaces_pb2.GetWorkspaceStatsRequest(workspace_id=created.workspace.id),
            metadata=(("authorization", f"Bearer {outsider['tokens']['accessToken']}"),),
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_grpc_invitation_round_trip(channel: grpc.aio.Channel, users: list[dict]) -> None:
    stub = workspaces_pb2_grpc.WorkspacesServiceStub(channel)
    owner, invitee = users[0], users[1]

    def auth(account: dict) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {account['tokens']['accessToken']}"),)

    request = workspaces_pb2.CreateWorkspaceRequest(name="gRPC invites")
    created = await stub.CreateWorkspace(request, metadata=auth(owner))
    workspace_id = created.workspace.id
    call = stub.AddWorkspaceMember(
        workspaces_pb2.AddWorkspaceMemberRequest(workspace_id=workspace_id, email=invitee["email"], role="member"),
        metadata=auth(owner),
    )
    answer = await call
    assert answer.WhichOneof("outcome") == "invitation"
    assert answer.invitation.status == "pending"
    assert answer.invitation.WhichOneof("invitee") is None and not answer.invitation.HasField("workspace_name")
    assert dict(await call.trailing_metadata())["x-http-status"] == "202"

    listed = await stub.ListInvitations(workspaces_pb2.ListInvitationsRequest(), metadata=auth(invitee))
    mine = [(i.id, i.workspace_name) for i in listed.invitations if i.workspace_id == workspace_id]
    assert mine == [(answer.invitation.id, "gRPC invites")]
    accepted = await stub.AcceptInvitation(
        workspaces_pb2.AcceptInvitationRequest(invitation_id=answer.invitation.id), metadata=auth(invitee)
    )
    assert (accepted.workspace.id, accepted.workspace.role) == (workspace_id, "member")

    changed = await stub.AddWorkspaceMember(
        workspaces_pb2.AddWorkspaceMemberRequest(
            workspace_id=workspace_id, user_id=invitee["user"]["id"], role="viewer"
        ),
        metadata=auth(owner),
    )
    assert changed.WhichOneof("outcome") == "member" and changed.member.role == "viewer"
