"""Webhooks on a real gateway with a real local receiver: secrets shown once, signatures checked with a Standard
Webhooks verifier written here from the spec, real events (a chat turn's agent.completed) delivered, retries after
a 500, 410 disabling the endpoint, redirects treated as failures, test dispatches, secret rotation, roles and
workspace isolation, and the SSRF guard refusing private targets."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import aiohttp
import psycopg
import pytest
from psycopg.types.json import JsonbDumper

from server import events
from tests.harness import GatewayThread, test_settings
from tests.helpers.accounts import register
from tests.helpers.db import Postgres, sql
from tests.helpers.http import api
from tests.helpers.waiting import eventually
from tests.helpers.workspaces import add_member, new_workspace
from tests.receivers import Receiver, Reply

GATEWAY_OPTIONS = {"settings": {"allow_private_urls": True, "webhook_retry_schedule": (1, 1), "worker_poll_s": 0.1}}


def verify(secret: str, headers: dict[str, str], body: bytes, tolerance_s: int = 300) -> bool:
    """Standard Webhooks verification: HMAC-SHA256 keyed by base64-decoded secret (after whsec_) over
    "<webhook-id>.<webhook-timestamp>.<body>", compared with any "v1,<base64>" entry of webhook-signature."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id, timestamp, signatures = lower["webhook-id"], lower["webhook-timestamp"], lower["webhook-signature"]
    if abs(time.time() - int(timestamp)) > tolerance_s:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest())
    return any(
        version == "v1" and hmac.compare_digest(sig.encode(), expected)
        for version, _, sig in (s.partition(",") for s in signatures.split(" "))
    )


async def emit(database_url: str, workspace_id: str, event_type: str, data: dict[str, Any]) -> str:
    """An event written the way the system writes one (server.events.emit in a committed transaction)."""
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        conn.adapters.register_dumper(dict, JsonbDumper)  # as the gateway's pool does
        event_id = await events.emit(conn, workspace_id, event_type, data)
        await conn.commit()
    return event_id


@pytest.fixture
async def owner(http: aiohttp.ClientSession) -> dict:
    return await register(http)


def path() -> str:
    return f"/hook/{uuid.uuid4().hex[:10]}"


async def create_webhook(http: aiohttp.ClientSession, account: dict, url: str, **fields: Any) -> dict:
    fields.setdefault("events", ["*"])
    status, body, _ = await api(http, "POST", "/webhooks", account, json={"url": url, **fields})
    assert status == 200, body
    return body["webhook"]


async def deliveries(http: aiohttp.ClientSession, account: dict, webhook_id: str, **params: str) -> list[dict]:
    status, body, _ = await api(http, "GET", f"/webhooks/{webhook_id}/deliveries", account, params=params)
    assert status == 200, body
    return body.get("deliveries", [])


async def test_secret_is_shown_once_and_never_listed(http: aiohttp.ClientSession, owner: dict, receiver: Receiver):
    hook = await create_webhook(http, owner, receiver.url + path(), events=["agent.completed"], description="ci")
    assert hook["secret"].startswith("whsec_") and len(base64.b64decode(hook["secret"][6:])) == 24
    assert hook["enabled"] is True and hook["events"] == ["agent.completed"]
    status, listed, _ = await api(http, "GET", "/webhooks", owner)
    assert status == 200 and [w["id"] for w in listed["webhooks"]] == [hook["id"]]
    status, got, _ = await api(http, "GET", f"/webhooks/{hook['id']}", owner)
    assert status == 200
    for shown in (listed["webhooks"][0], got["webhook"]):
        assert not shown.get("secret") and shown["url"] == hook["url"]
    # A caller-chosen secret is kept; a malformed one is refused.
    mine = "whsec_" + base64.b64encode(b"k" * 32).decode()
    assert (await create_webhook(http, owner, receiver.url + path(), secret=mine))["secret"] == mine
    status, body, _ = await api(
        http, "POST", "/webhooks", owner, json={"url": receiver.url, "events": ["*"], "secret": "nope"}
    )
    assert status == 400, body


async def test_bad_input_is_400(http: aiohttp.ClientSession, owner: dict, receiver: Receiver) -> None:
    for payload in (
        {"url": receiver.url, "events": []},
        {"url": receiver.url, "events": ["chat.exploded"]},
        {"url": "", "events": ["*"]},
        {"url": receiver.url, "events": ["*"], "description": "x" * 501},
    ):
        status, body, _ = await api(http, "POST", "/webhooks", owner, json=payload)
        assert status == 400, (payload, body)


async def test_roles_and_workspace_isolation(http: aiohttp.ClientSession, owner: dict, receiver: Receiver) -> None:
    team = (await new_workspace(http, owner, name="Hooks"))["id"]
    member, stranger = await register(http), await register(http)
    await add_member(http, owner, team, member, "member")
    status, body, _ = await api(
        http, "POST", "/webhooks", owner, workspace=team, json={"url": receiver.url + path(), "events": ["*"]}
    )
    assert status == 200
    hook_id = body["webhook"]["id"]
    status, listed, _ = await api(http, "GET", "/webhooks", member, workspace=team)
    assert status == 200 and [w["id"] for w in listed["webhooks"]] == [hook_id]
    assert not listed["webhooks"][0].get("secret")
    for method, suffix, payload in (
        ("POST", "", {"url": receiver.url, "events": ["*"]}),
        ("PUT", f"/{hook_id}", {"url": receiver.url, "events": ["*"]}),
        ("DELETE", f"/{hook_id}", None),
        ("POST", f"/{hook_id}/test", {}),
    ):
        kwargs = {"json": payload} if payload is not None else {}
        status, body, _ = await api(http, method, "/webhooks" + suffix, member, workspace=team, **kwargs)
        assert status == 403, (method, suffix, body)
    # Another user's personal workspace never sees it.
    for suffix in (f"/{hook_id}", f"/{hook_id}/deliveries"):
        status, _, _ = await api(http, "GET", "/webhooks" + suffix, stranger)
        assert status == 404
    status, _, _ = await api(http, "DELETE", f"/webhooks/{hook_id}", stranger)
    assert status == 404
    status, listed, _ = await api(http, "GET", "/webhooks", stranger)
    assert status == 200 and listed.get("webhooks", []) == []


async def test_a_chat_turn_is_delivered_signed(http: aiohttp.ClientSession, owner: dict, receiver: Receiver) -> None:
    where = path()
    receiver.respond(where, Reply(200, "thanks"))
    hook = await create_webhook(http, owner, receiver.url + where, events=["agent.completed"])
    status, body, _ = await api(
        http, "POST", "/agents", owner, json={"id": f"a-{uuid.uuid4().hex[:8]}", "model": "local/echo"}
    )
    assert status == 200, body
    agent = body["agent"]["id"]
    status, reply, _ = await api(http, "POST", "/agent/chat", owner, json={"agentId": agent, "message": "ping"})
    assert status == 200, reply
    got = await eventually(lambda: receiver.received(where), what="the delivery")
    assert len(got) == 1
    request = got[0]
    assert request.method == "POST" and request.headers["Content-Type"] == "application/json"
    assert verify(hook["secret"], request.headers, request.body)
    assert not verify("whsec_" + base64.b64encode(b"x" * 24).decode(), request.headers, request.body)
    envelope = json.loads(request.body)
    assert envelope["type"] == "agent.completed" and set(envelope) == {"type", "timestamp", "data"}
    assert envelope["data"]["agentId"] == agent
    rows = await eventually(lambda: deliveries(http, owner, hook["id"], status="delivered"), what="the record")
    assert rows[0]["attempt"] == 1 and rows[0]["statusCode"] == 200 and rows[0]["responseExcerpt"] == "thanks"
    assert rows[0]["eventId"] == request.headers["webhook-id"] and rows[0]["latencyMs"] > 0
    assert "nextRetryAt" not in rows[0] and "deliveredAt" in rows[0]


async def test_a_500_is_retried_until_success(
    http: aiohttp.ClientSession, owner: dict, receiver: Receiver, gateway: GatewayThread
) -> None:
    where = path()
    receiver.respond(where, Reply(500, "boom"), Reply(200, "ok"))
    hook = await create_webhook(http, owner, receiver.url + where, events=["memory.written"])
    event_id = await emit(gateway.settings.database_url, owner["workspaceId"], "memory.written", {"memoryId": "m1"})
    got = await eventually(lambda: len(receiver.received(where)) >= 2 and receiver.received(where), what="the retry")
    assert [r.headers["webhook-id"] for r in got] == [event_id, event_id]
    assert got[1].at - got[0].at >= 0.9  # the schedule's first step (1 s here)
    assert all(verify(hook["secret"], r.headers, r.body) for r in got)
    rows = await eventually(lambda: deliveries(http, owner, hook["id"], status="delivered"), what="delivered")
    everything = await deliveries(http, owner, hook["id"])
    assert [(d["attempt"], d.get("statusCode")) for d in everything] == [(2, 200), (1, 500)]
    assert everything[1]["error"] and "nextRetryAt" in everything[1] and rows[0]["attempt"] == 2
    assert everything[1]["responseExcerpt"] == "boom"
    # The failed list holds the first attempt only; an unknown status filter is refused.
    assert [d["attempt"] for d in await deliveries(http, owner, hook["id"], status="failed")] == [1]
    status, _, _ = await api(http, "GET", f"/webhooks/{hook['id']}/deliveries", owner, params={"status": "lost"})
    assert status == 400


async def test_retries_stop_after_the_schedule(
    http: aiohttp.ClientSession, owner: dict, receiver: Receiver, gateway: GatewayThread
) -> None:
    where = path()
    receiver.respond(where, Reply(503, "down"))
    hook = await create_webhook(http, owner, receiver.url + where, events=["agent.failed"])
    await emit(gateway.settings.database_url, owner["workspaceId"], "agent.failed", {"error": "x"})
    await eventually(lambda: len(receiver.received(where)) >= 3, what="three attempts")
    await asyncio.sleep(1.1)
    assert len(receiver.received(where)) == 3  # 1 + the two retries of the schedule
    rows = await deliveries(http, owner, hook["id"])
    assert [d["attempt"] for d in rows] == [3, 2, 1] and "nextRetryAt" not in rows[0]


async def test_410_disables_the_webhook(
    http: aiohttp.ClientSession, owner: dict, receiver: Receiver, gateway: GatewayThread
) -> None:
    where = path()
    receiver.respond(where, Reply(410, "gone"))
    hook = await create_webhook(http, owner, receiver.url + where, events=["session.handoff"])
    await emit(gateway.settings.database_url, owner["workspaceId"], "session.handoff", {"sessionId": "s"})

    async def disabled() -> bool:
        _, body, _ = await api(http, "GET", f"/webhooks/{hook['id']}", owner)
        return body["webhook"]["enabled"] is False and body["webhook"]

    webhook = await eventually(disabled, what="disabled")
    assert "410" in webhook["disabledReason"]
    await emit(gateway.settings.database_url, owner["workspaceId"], "session.handoff", {"sessionId": "t"})
    await asyncio.sleep(1.1)
    assert len(receiver.received(where)) == 1  # no retry, and later events are not sent
    rows = await deliveries(http, owner, hook["id"])
    assert len(rows) == 1 and rows[0]["statusCode"] == 410 and "nextRetryAt" not in rows[0]


async def test_redirects_are_failures_and_not_followed(
    http: aiohttp.ClientSession, owner: dict, receiver: Receiver, gateway: GatewayThread
) -> None:
    where, target = path(), path()
    receiver.respond(where, Reply(302, "", {"Location": receiver.url + target}))
    receiver.respond(target, Reply(200))
    hook = await create_webhook(http, owner, receiver.url + where, events=["heartbeat.fired"])
    await emit(gateway.settings.database_url, owner["workspaceId"], "heartbeat.fired", {"heartbeatId": "h"})
    rows = await eventually(lambda: deliveries(http, owner, hook["id"], status="failed"), what="the failure")
    assert rows[0]["statusCode"] == 302 and "nextRetryAt" in rows[0]
    assert receiver.received(target) == []


async def test_only_subscribed_events_from_after_creation_are_delivered(
    http: aiohttp.ClientSession, owner: dict, receiver: Receiver, gateway: GatewayThread
) -> None:
    url, ws = gateway.settings.database_url, owner["workspaceId"]
    where = path()
    receiver.respond(where, Reply(200))
    before = await emit(url, ws, "memory.written", {"n": 0})
    hook = await create_webhook(http, owner, receiver.url + where, events=["memory.written"])
    await emit(url, ws, "agent.failed", {"n": 1})  # not subscribed
    after = await emit(url, ws, "memory.written", {"n": 2})
    await eventually(lambda: receiver.received(where), what="delivery")
    await asyncio.sleep(0.5)
    assert [r.headers["webhook-id"] for r in receiver.received(where)] == [after]
    assert before != after and len(await deliveries(http, owner, hook["id"])) == 1


async def test_test_dispatch_and_secret_rotation(http: aiohttp.ClientSession, owner: dict, receiver: Receiver) -> None:
    where = path()
    receiver.respond(where, Reply(200, "y" * 5000))
    hook = await create_webhook(http, owner, receiver.url + where, events=["agent.completed"], description="d")
    status, body, _ = await api(http, "POST", f"/webhooks/{hook['id']}/test", owner, json={})
    assert status == 200, body
    record = body["delivery"]
    assert record["eventType"] == "webhook.test" and record["statusCode"] == 200 and record["attempt"] == 1
    assert record["responseExcerpt"] == "y" * 1024
    sent = receiver.received(where)[-1]
    assert sent.headers["webhook-id"] == record["eventId"] and verify(hook["secret"], sent.headers, sent.body)
    assert json.loads(sent.body)["type"] == "webhook.test"
    # A custom test payload of another type.
    status, body, _ = await api(
        http, "POST", f"/webhooks/{hook['id']}/test", owner, json={"eventType": "memory.written", "data": {"k": 1}}
    )
    assert status == 200 and json.loads(receiver.received(where)[-1].body)["data"] == {"k": 1}
    # Rotation: the new secret is returned once and signs from now on; the old one no longer verifies.
    status, body, _ = await api(
        http,
        "PUT",
        f"/webhooks/{hook['id']}",
        owner,
        json={"url": hook["url"], "events": ["*"], "description": "d2", "rotateSecret": True},
    )
    assert status == 200, body
    rotated = body["webhook"]
    assert rotated["secret"] != hook["secret"] and rotated["events"] == ["*"] and rotated["enabled"] is True
    status, body, _ = await api(http, "POST", f"/webhooks/{hook['id']}/test", owner, json={})
    sent = receiver.received(where)[-1]
    assert verify(rotated["secret"], sent.headers, sent.body) and not verify(hook["secret"], sent.headers, sent.body)
    # An update without rotation shows no secret; delete removes it and its history.
    status, body, _ = await api(
        http, "PUT", f"/webhooks/{hook['id']}", owner, json={"url": hook["url"], "events": ["*"], "enabled": False}
    )
    assert status == 200 and not body["webhook"].get("secret") and body["webhook"]["enabled"] is False
    status, _, _ = await api(http, "DELETE", f"/webhooks/{hook['id']}", owner)
    assert status == 200
    status, _, _ = await api(http, "GET", f"/webhooks/{hook['id']}/deliveries", owner)
    assert status == 404


async def test_deliveries_are_paginated(
    http: aiohttp.ClientSession, owner: dict, receiver: Receiver, gateway: GatewayThread
) -> None:
    where = path()
    receiver.respond(where, Reply(200))
    hook = await create_webhook(http, owner, receiver.url + where, events=["memory.written"])
    for n in range(5):
        await emit(gateway.settings.database_url, owner["workspaceId"], "memory.written", {"n": n})
    await eventually(lambda: len(receiver.received(where)) == 5, what="five deliveries")
    seen: list[str] = []
    token = ""
    while True:
        params = {"limit": "2", **({"pageToken": token} if token else {})}
        status, body, _ = await api(http, "GET", f"/webhooks/{hook['id']}/deliveries", owner, params=params)
        assert status == 200, body
        seen += [d["id"] for d in body["deliveries"]]
        token = body.get("nextPageToken", "")
        if not token:
            break
    assert len(seen) == len(set(seen)) == 5
    status, _, _ = await api(
        http, "GET", f"/webhooks/{hook['id']}/deliveries", owner, params={"pageToken": token + "x" or "bogus"}
    )
    assert status == 400


async def test_the_ssrf_guard_refuses_private_targets(postgres: Postgres, receiver: Receiver) -> None:
    settings = test_settings(postgres.fresh_database("hooks_guard"), worker_poll_s=0.1)
    gateway = GatewayThread(settings).start()
    try:
        async with aiohttp.ClientSession(base_url=gateway.http_url) as http:
            owner = await register(http)
            for url in (
                receiver.url + "/x",
                "http://127.0.0.1/",
                "http://10.0.0.1/hook",
                "http://169.254.169.254/latest/meta-data",
                "http://[::1]/",
                "http://100.64.0.1/",
                "file:///etc/passwd",
                "gopher://example.com/",
            ):
                status, body, _ = await api(http, "POST", "/webhooks", owner, json={"url": url, "events": ["*"]})
                assert status == 400, (url, body)
                assert "refused" in body["error"]["message"]
                status, body, _ = await api(
                    http, "POST", "/heartbeat", owner, json={"type": "http", "url": url, "intervalSeconds": 3600}
                )
                assert status == 400, (url, body)
            # A webhook that reached the database pointing at loopback (e.g. made while the guard was off) is
            # still refused at send time: recorded as a failure, never sent.
            where = path()
            receiver.respond(where, Reply(200))
            rows = await sql(
                gateway,
                "INSERT INTO webhooks (id, workspace_id, url, events, secret) VALUES ('wh_x', %s, %s, '{*}', %s)"
                " RETURNING id",
                (owner["workspaceId"], receiver.url + where, "whsec_" + base64.b64encode(b"s" * 24).decode()),
            )
            assert rows
            await emit(settings.database_url, owner["workspaceId"], "memory.written", {})
            failed = await eventually(
                lambda: deliveries(http, owner, "wh_x", status="failed"), what="the refused attempt"
            )
            assert "refused" in failed[0]["error"] and failed[0].get("statusCode", 0) == 0
            assert receiver.received(where) == []
    finally:
        gateway.stop()
