"""Heartbeat monitors on a real gateway against a real local feed/status server: validation, roles and isolation,
rss items firing once (new, keyword-matched, case-insensitive) with heartbeat.fired and an agent turn for the
config's owner, http monitors firing on up/down changes, feed errors, enable/disable, and a run lost mid-way
recorded as an error by the next claim."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import pytest

from tests.harness import GatewayThread
from tests.helpers.accounts import register
from tests.helpers.db import sql
from tests.helpers.heartbeat import create, path, runs
from tests.helpers.http import api
from tests.helpers.waiting import eventually
from tests.helpers.workspaces import add_member, new_workspace
from tests.receivers import Receiver, Reply

GATEWAY_OPTIONS = {"settings": {"allow_private_urls": True, "heartbeat_min_interval_s": 2, "worker_poll_s": 0.1}}


@pytest.fixture
async def owner(http: aiohttp.ClientSession) -> dict:
    return await register(http)


async def quiet_feed(http: aiohttp.ClientSession, account: dict, receiver: Receiver) -> dict:
    """An RSS config on a feed with no items, after its first run."""
    feed = path()
    receiver.feed(feed, [])
    return await create(http, account, type="rss", url=receiver.url + feed)


async def run_now(gateway: GatewayThread, http: aiohttp.ClientSession, account: dict, heartbeat_id: str) -> dict:
    """Makes the config due now and waits for the run the scheduler then makes; returns it."""
    before = len(await runs(http, account, heartbeat_id))
    await sql(gateway, "UPDATE heartbeats SET next_run_at = now() WHERE id = %s RETURNING id", (heartbeat_id,))

    async def finished() -> dict | None:
        done = [r for r in await runs(http, account, heartbeat_id) if r["status"] != "running"]
        return done[0] if len(done) > before else None

    return await eventually(finished, what="the run")


async def test_validation_and_defaults(http: aiohttp.ClientSession, owner: dict, receiver: Receiver) -> None:
    url = receiver.url + path()
    for payload in (
        {"type": "ftp", "url": url},
        {"type": "rss"},
        {"type": "rss", "url": url, "intervalSeconds": 1},  # below ASTRA_HEARTBEAT_MIN_INTERVAL_S (2 here)
        {"type": "http", "url": url, "method": "DELETE"},
        {"type": "http", "url": url, "expectStatus": 999},
        {"type": "http", "url": url, "timeoutMs": 60000},
        {"type": "http", "url": url, "keywords": ["x"]},
        {"type": "rss", "url": url, "intervalSeconds": 10**7},
    ):
        status, body, _ = await api(http, "POST", "/heartbeat", owner, json=payload)
        assert status == 400, (payload, body)
    status, body, _ = await api(http, "POST", "/heartbeat", owner, json={"type": "rss", "url": url, "agentId": "nope"})
    assert status == 404, body
    made = await create(http, owner, type="http", url=url, enabled=False)
    assert (made["method"], made["expectStatus"], made["timeoutMs"], made["enabled"]) == ("GET", 200, 10000, False)
    assert made["id"].startswith("hb_") and "nextRunAt" not in made
    default = await create(http, owner, type="rss", url=url, intervalSeconds=0)
    assert default["intervalSeconds"] == 300 and "nextRunAt" in default


async def test_roles_and_isolation(http: aiohttp.ClientSession, owner: dict, receiver: Receiver) -> None:
    team = (await new_workspace(http, owner, name="Watch"))["id"]
    viewer, stranger = await register(http), await register(http)
    await add_member(http, owner, team, viewer, "member")
    status, body, _ = await api(
        http, "POST", "/heartbeat", owner, workspace=team, json={"type": "rss", "url": receiver.url, "enabled": False}
    )
    assert status == 200, body
    hb = body["heartbeat"]["id"]
    status, body, _ = await api(http, "GET", "/heartbeat", viewer, workspace=team)
    assert status == 200 and [h["id"] for h in body["heartbeats"]] == [hb]
    status, _, _ = await api(http, "GET", f"/heartbeat/{hb}/runs", viewer, workspace=team)
    assert status == 200
    for method, suffix, payload in (
        ("POST", "", {"type": "rss", "url": receiver.url}),
        ("PATCH", f"/{hb}", {"enabled": True}),
        ("DELETE", f"/{hb}", None),
    ):
        kwargs = {"json": payload} if payload is not None else {}
        status, body, _ = await api(http, method, "/heartbeat" + suffix, viewer, workspace=team, **kwargs)
        assert status == 403, (method, body)
    for method, suffix, payload in (("GET", f"/{hb}/runs", None), ("PATCH", f"/{hb}", {"enabled": True})):
        kwargs = {"json": payload} if payload is not None else {}
        status, _, _ = await api(http, method, "/heartbeat" + suffix, stranger, **kwargs)
        assert status == 404
    status, body, _ = await api(http, "GET", "/heartbeat", stranger)
    assert status == 200 and body.get("heartbeats", []) == []


async def test_rss_fires_once_per_new_matching_item_and_wakes_the_agent(
    http: aiohttp.ClientSession, owner: dict, receiver: Receiver, gateway: GatewayThread
) -> None:
    feed = path()
    items = [
        {"guid": "a", "title": "Kubernetes 2.0 released", "link": "http://example.com/a"},
        {"guid": "b", "title": "Cooking tips", "link": "http://example.com/b"},
        {"guid": "c", "title": "Notes", "description": "a KUBERNETES upgrade story", "link": "http://example.com/c"},
    ]
    receiver.feed(feed, items)
    status, body, _ = await api(http, "POST", "/agents", owner, json={"id": f"w-{uuid.uuid4().hex[:8]}"})
    assert status == 200, body
    agent = body["agent"]["id"]
    hb = await create(http, owner, type="rss", url=receiver.url + feed, keywords=["kubernetes"], agentId=agent)
    first = (await runs(http, owner, hb["id"]))[0]  # the run a new config makes at once
    assert first["status"] == "fired", first
    assert [i["title"] for i in first["items"]] == ["Kubernetes 2.0 released", "Notes"]
    assert first["items"][1]["matchedKeywords"] == ["kubernetes"] and first["items"][0]["url"] == "http://example.com/a"
    assert first["durationMs"] > 0 and "finishedAt" in first
    # The same feed again: nothing new.
    again = await run_now(gateway, http, owner, hb["id"])
    assert again["status"] == "ok" and again.get("items", []) == []
    # One new matching item and one new non-matching item: only the match fires.
    receiver.feed(feed, [*items, {"guid": "d", "title": "kubernetes tips"}, {"guid": "e", "title": "Gardening"}])
    third = await run_now(gateway, http, owner, hb["id"])
    assert third["status"] == "fired" and [i["title"] for i in third["items"]] == ["kubernetes tips"]
    fired = await sql(
        gateway,
        "SELECT payload FROM events WHERE workspace_id = %s AND type = 'heartbeat.fired' ORDER BY seq",
        (owner["workspaceId"],),
    )
    assert [len(e["payload"]["data"]["items"]) for e in fired] == [2, 1]
    assert fired[0]["payload"]["data"]["heartbeatId"] == hb["id"]
    # The agent was woken for the owner in the heartbeat surface, with the items in the message.

    async def session_of_third() -> str:
        latest = (await runs(http, owner, hb["id"]))[0]
        assert not latest.get("error"), latest
        return latest.get("sessionId", "")

    session_id = await eventually(session_of_third, seconds=20, what="the agent's session")
    rows = await sql(
        gateway,
        "SELECT s.user_id, s.surface, s.surface_id, m.content FROM sessions s JOIN messages m ON m.session_id = s.id"
        " WHERE s.id = %s AND m.role = 'user' ORDER BY m.created_at",
        (session_id,),
    )
    assert rows[-1]["user_id"] == owner["user"]["id"]
    assert (rows[-1]["surface"], rows[-1]["surface_id"]) == ("heartbeat", hb["id"])
    assert "kubernetes tips" in rows[-1]["content"]
    # Run history filters by status.
    assert [r["status"] for r in await runs(http, owner, hb["id"], status="fired")] == ["fired", "fired"]


async def test_http_monitor_fires_on_state_changes(
    http: aiohttp.ClientSession, owner: dict, receiver: Receiver, gateway: GatewayThread
) -> None:
    target = path()
    receiver.respond(target, Reply(200, "all systems operational"))
    hb = await create(http, owner, type="http", url=receiver.url + target, expectContains="operational")
    outcomes = []
    for reply in (
        Reply(200, "all systems operational"),
        Reply(500, "oops"),
        Reply(500, "oops"),
        Reply(200, "degraded"),
        Reply(200, "operational"),
    ):
        receiver.respond(target, reply)
        run = await run_now(gateway, http, owner, hb["id"])
        outcomes.append((run["status"], run.get("statusCode", 0)))
    assert outcomes == [("ok", 200), ("fired", 500), ("ok", 500), ("ok", 200), ("fired", 200)]
    history = await runs(http, owner, hb["id"], status="fired")
    assert "up again" in history[0]["items"][0]["title"] and "down" in history[1]["items"][0]["title"]


async def test_feed_errors_disable_and_delete(
    http: aiohttp.ClientSession, owner: dict, receiver: Receiver, gateway: GatewayThread
) -> None:
    broken = path()
    receiver.respond(broken, Reply(200, "this is not xml <<<"))
    hb = await create(http, owner, type="rss", url=receiver.url + broken)
    run = await run_now(gateway, http, owner, hb["id"])
    assert run["status"] == "error" and "not an RSS" in run["error"]
    receiver.respond(broken, Reply(503, "later"))
    run = await run_now(gateway, http, owner, hb["id"])
    assert run["status"] == "error" and "503" in run["error"]
    status, body, _ = await api(http, "PATCH", f"/heartbeat/{hb['id']}", owner, json={"enabled": False})
    assert status == 200 and body["heartbeat"]["enabled"] is False and "nextRunAt" not in body["heartbeat"]
    status, body, _ = await api(http, "PATCH", f"/heartbeat/{hb['id']}", owner, json={"enabled": True})
    assert status == 200 and "nextRunAt" in body["heartbeat"]
    status, _, _ = await api(http, "DELETE", f"/heartbeat/{hb['id']}", owner)
    assert status == 200
    status, _, _ = await api(http, "GET", f"/heartbeat/{hb['id']}/runs", owner)
    assert status == 404


async def test_a_run_that_died_is_recorded_as_error_on_the_next_claim(
    http: aiohttp.ClientSession, owner: dict, receiver: Receiver, gateway: GatewayThread
) -> None:
    hb = await quiet_feed(http, owner, receiver)
    await sql(
        gateway,
        "INSERT INTO heartbeat_runs (id, heartbeat_id, started_at) VALUES ('run_lost', %s, now() - interval '1 hour')"
        " RETURNING id",
        (hb["id"],),
    )
    await run_now(gateway, http, owner, hb["id"])
    lost = [r for r in await runs(http, owner, hb["id"]) if r["id"] == "run_lost"]
    assert lost[0]["status"] == "error" and "did not finish" in lost[0]["error"]


async def test_a_run_in_flight_is_neither_overlapped_nor_closed_as_lost(
    http: aiohttp.ClientSession, owner: dict, receiver: Receiver, gateway: GatewayThread
) -> None:
    hb = await quiet_feed(http, owner, receiver)
    # A run another replica is still making, and the config falls due again meanwhile.
    await sql(
        gateway, "INSERT INTO heartbeat_runs (id, heartbeat_id) VALUES ('run_busy', %s) RETURNING id", (hb["id"],)
    )
    await sql(gateway, "UPDATE heartbeats SET next_run_at = now() WHERE id = %s RETURNING id", (hb["id"],))
    await asyncio.sleep(1.0)  # ten scheduler polls
    listed = await runs(http, owner, hb["id"])
    assert [(r["id"], r["status"]) for r in listed if r["status"] == "running"] == [("run_busy", "running")]
    assert len(listed) == 2
    # Once it is over, the config runs again.
    await sql(
        gateway, "UPDATE heartbeat_runs SET status = 'ok', finished_at = now() WHERE id = 'run_busy' RETURNING id"
    )
    assert (await run_now(gateway, http, owner, hb["id"]))["status"] == "ok"


async def test_list_pages_and_filters_by_agent(http: aiohttp.ClientSession, owner: dict, receiver: Receiver) -> None:
    status, body, _ = await api(http, "POST", "/agents", owner, json={"id": f"l-{uuid.uuid4().hex[:8]}"})
    assert status == 200, body
    agent = body["agent"]["id"]
    made = [await create(http, owner, type="rss", url=receiver.url + path(), enabled=False) for _ in range(3)]
    woken = await create(http, owner, type="rss", url=receiver.url + path(), agentId=agent, enabled=False)
    seen: list[str] = []
    token = ""
    while True:
        params = {"limit": "2", **({"pageToken": token} if token else {})}
        status, body, _ = await api(http, "GET", "/heartbeat", owner, params=params)
        assert status == 200, body
        seen += [h["id"] for h in body["heartbeats"]]
        token = body.get("nextPageToken", "")
        if not token:
            break
    assert seen == [h["id"] for h in [*made, woken]]
    status, body, _ = await api(http, "GET", "/heartbeat", owner, params={"agentId": agent})
    assert status == 200 and [h["id"] for h in body["heartbeats"]] == [woken["id"]]
