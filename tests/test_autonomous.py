"""Autonomous execution through the edge: one turn run as a user (the chat reply's shape, stored in a session of
surface "autonomous"), membership and agent access checked per user, batches where one user's failure is only that
user's result, the limits, and timeoutSeconds cutting a stalled provider off with DEADLINE_EXCEEDED."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.harness import API_KEY, GatewayThread
from tests.helpers.accounts import register_users
from tests.helpers.chat import OPENAI_KEY
from tests.helpers.db import sql
from tests.helpers.http import api
from tests.helpers.workspaces import add_member
from tests.providers.fake_vendors import FakeVendor, Reply, openai_text_stream

KEY = {"x-api-key": API_KEY}
GATEWAY_OPTIONS = {"vendor_keys": {"openai": OPENAI_KEY}}


@pytest.fixture(scope="module")
def users(gateway: GatewayThread) -> list[dict]:
    return register_users(gateway, 4)


@pytest.fixture(scope="module")
def team(gateway: GatewayThread, users: list[dict]) -> dict:
    """owner's personal workspace holds agent auto-echo (local/echo) and auto-slow (openai via the FakeVendor);
    member is a member there, viewer a viewer, outsider nothing."""
    owner, member, viewer, _ = users

    async def setup() -> None:
        async with aiohttp.ClientSession(base_url=gateway.http_url) as http:
            for body in ({"id": "auto-echo"}, {"id": "auto-slow", "model": "openai/gpt-4o-mini"}):
                status, answer, _ = await api(http, "POST", "/agents", owner, json=body)
                assert status == 200, answer
            for user, role in ((member, "member"), (viewer, "viewer")):
                await add_member(http, owner, owner["workspaceId"], user, role)

    asyncio.run(setup())
    ids = {name: u["user"]["id"] for name, u in zip(("owner", "member", "viewer", "outsider"), users, strict=True)}
    return {**ids, "ws": owner["workspaceId"]}


async def run(http: aiohttp.ClientSession, **body: object) -> tuple[int, dict]:
    status, answer, _ = await api(http, "POST", "/autonomous/run", json=body, headers=KEY)
    return status, answer


async def test_run_answers_like_chat_as_the_user(
    http: aiohttp.ClientSession, gateway: GatewayThread, team: dict
) -> None:
    status, body = await run(
        http, agentId="auto-echo", userId=team["member"], workspaceId=team["ws"], message="daily report please"
    )
    assert status == 200, body
    assert body["content"] == "Echo: daily report please"
    assert body["model"] == "local/echo"
    assert body["sessionId"].startswith("ses_") and body["messageId"].startswith("msg_")
    assert body["usage"]["totalTokens"] > 0
    (session,) = await sql(gateway, "SELECT * FROM sessions WHERE id = %s", (body["sessionId"],))
    assert (session["user_id"], session["workspace_id"], session["surface"]) == (
        team["member"],
        team["ws"],
        "autonomous",
    )
    # No workspaceId: the user's personal workspace.
    status, body = await run(http, agentId="auto-echo", userId=team["owner"], message="hi", surface="cron")
    assert status == 200, body
    (session,) = await sql(gateway, "SELECT surface, workspace_id FROM sessions WHERE id = %s", (body["sessionId"],))
    assert session == {"surface": "cron", "workspace_id": team["ws"]}


async def test_run_refuses_unknown_users_non_members_viewers_and_inaccessible_agents(
    http: aiohttp.ClientSession, team: dict
) -> None:
    cases = [
        ({"userId": "usr_doesnotexist", "workspaceId": team["ws"]}, 404, "NOT_FOUND"),
        ({"userId": team["outsider"], "workspaceId": team["ws"]}, 403, "PERMISSION_DENIED"),
        ({"userId": team["viewer"], "workspaceId": team["ws"]}, 403, "PERMISSION_DENIED"),
        ({"userId": team["outsider"]}, 403, "PERMISSION_DENIED"),  # auto-echo is not available in their workspace
        ({"userId": team["owner"], "agentId": "no-such-agent"}, 404, "NOT_FOUND"),
        ({"userId": team["owner"], "message": " "}, 400, "INVALID_ARGUMENT"),
        ({"userId": team["owner"], "timeoutSeconds": 901}, 400, "INVALID_ARGUMENT"),
        ({"userId": ""}, 400, "INVALID_ARGUMENT"),
    ]
    for override, status_code, code in cases:
        body = {"agentId": "auto-echo", "message": "hello", **override}
        status, answer = await run(http, **body)
        assert (status, answer["error"]["code"]) == (status_code, code), (override, answer)


async def test_batch_reports_each_user_and_one_failure_never_fails_the_batch(
    http: aiohttp.ClientSession, team: dict
) -> None:
    user_ids = [team["owner"], "usr_doesnotexist", team["member"], team["outsider"], team["viewer"]]
    body = {
        "agentId": "auto-echo",
        "userIds": user_ids,
        "workspaceId": team["ws"],
        "message": "sync",
        "maxConcurrency": 2,
    }
    status, answer, _ = await api(http, "POST", "/autonomous/batch", json=body, headers=KEY)
    assert status == 200, answer
    results = answer["results"]
    assert [r["userId"] for r in results] == user_ids
    assert [(r["status"], r["errorCode"]) for r in results] == [
        ("ok", ""),
        ("error", "NOT_FOUND"),
        ("ok", ""),
        ("error", "PERMISSION_DENIED"),
        ("error", "PERMISSION_DENIED"),
    ]
    assert all(r["content"] == "Echo: sync" and r["sessionId"] for r in results if r["status"] == "ok")
    assert all(r["errorMessage"] and not r["sessionId"] for r in results if r["status"] == "error")
    assert (answer["succeeded"], answer["failed"]) == (2, 3)
    assert answer["usage"]["totalTokens"] == sum(r["usage"]["totalTokens"] for r in results if r["status"] == "ok")

    # Each user's own workspace: the agent is available to its owner only.
    body = {"agentId": "auto-echo", "userIds": [team["owner"], team["member"]], "message": "sync"}
    status, answer, _ = await api(http, "POST", "/autonomous/batch", json=body, headers=KEY)
    assert [(r["status"], r["errorCode"]) for r in answer["results"]] == [("ok", ""), ("error", "PERMISSION_DENIED")]


async def test_batch_limits(http: aiohttp.ClientSession, team: dict) -> None:
    base = {"agentId": "auto-echo", "message": "x"}
    for extra in (
        {"userIds": []},
        {"userIds": [f"usr_{i}" for i in range(101)]},
        {"userIds": [team["owner"], team["owner"]]},
        {"userIds": [team["owner"]], "maxConcurrency": 21},
        {"userIds": [team["owner"]], "timeoutSeconds": -1},
    ):
        status, answer, _ = await api(http, "POST", "/autonomous/batch", json={**base, **extra}, headers=KEY)
        assert status == 400, (extra, answer)
    many = {"userIds": [f"usr_missing_{i}" for i in range(100)], "maxConcurrency": 20}
    status, answer, _ = await api(http, "POST", "/autonomous/batch", json={**base, **many}, headers=KEY)
    assert status == 200 and answer["failed"] == 100


async def test_timeout_seconds_stops_a_stalled_turn(
    http: aiohttp.ClientSession, vendor: FakeVendor, team: dict
) -> None:
    vendor.script(Reply(chunks=openai_text_stream(["Thinking", " forever"]), stall_after=2))
    status, answer = await run(http, agentId="auto-slow", userId=team["owner"], message="go", timeoutSeconds=1)
    assert status == 504, answer
    assert answer["error"]["code"] == "DEADLINE_EXCEEDED"
    vendor.script(
        Reply(chunks=openai_text_stream(["Quick."])),
        Reply(chunks=openai_text_stream(["Stuck"]), stall_after=2),
    )
    body = {
        "agentId": "auto-slow",
        "userIds": [team["owner"], team["member"]],
        "workspaceId": team["ws"],
        "message": "go",
        "maxConcurrency": 1,
        "timeoutSeconds": 1,
    }
    status, answer, _ = await api(http, "POST", "/autonomous/batch", json=body, headers=KEY)
    assert status == 200, answer
    assert [(r["status"], r["errorCode"]) for r in answer["results"]] == [("ok", ""), ("error", "DEADLINE_EXCEEDED")]
    assert answer["results"][0]["content"] == "Quick."
