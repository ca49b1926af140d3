"""Heartbeats made or changed with a personal API key run on that key's authority: their agent turns are spent with
the key (its budget, /costs by key); once the key is revoked or expired a run calls no model, fails with the reason
and pauses the config; while the key's budget is spent each run fails without calling the model; enabling the config
with an access token makes it its owner's own again. The model is a fake OpenAI vendor on loopback, the feeds a
local receiver."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import pytest

from tests.harness import GatewayThread
from tests.helpers.accounts import register
from tests.helpers.agents import new_agent
from tests.helpers.chat import OPENAI_KEY, OPENAI_MODEL
from tests.helpers.db import sql
from tests.helpers.heartbeat import HOUR, create, path, runs
from tests.helpers.http import api
from tests.helpers.waiting import eventually
from tests.providers.fake_vendors import FakeVendor, Reply, openai_text_stream
from tests.receivers import Receiver

GATEWAY_OPTIONS = {
    "vendor_keys": {"openai": OPENAI_KEY},
    "settings": {"allow_private_urls": True, "heartbeat_min_interval_s": 2, "worker_poll_s": 0.1},
}
pytestmark = pytest.mark.usefixtures("clean_vendor")

# gpt-4o-mini costs $0.15 per million prompt tokens: each scripted reply costs exactly this much.
TURN_COST = 0.15


def summary() -> Reply:
    return Reply(chunks=openai_text_stream(["Noted."], prompt_tokens=1_000_000, completion_tokens=0))


def with_key(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def new_key(http: aiohttp.ClientSession, account: dict, **fields: Any) -> tuple[str, str]:
    """(id, secret) of a new personal API key of `account`."""
    status, body, _ = await api(http, "POST", "/auth/keys", account, json={"name": uuid.uuid4().hex[:8], **fields})
    assert status == 201, body
    return body["key"]["id"], body["secret"]


async def revoke(http: aiohttp.ClientSession, account: dict, key_id: str) -> None:
    status, body, _ = await api(http, "DELETE", f"/auth/keys/{key_id}", account)
    assert status == 200, body


async def patch(http: aiohttp.ClientSession, heartbeat_id: str, enabled: bool, **auth: Any) -> dict:
    status, body, _ = await api(http, "PATCH", f"/heartbeat/{heartbeat_id}", json={"enabled": enabled}, **auth)
    assert status == 200, body
    return body["heartbeat"]


async def create_with_key(http: aiohttp.ClientSession, owner: dict, secret: str, **fields: Any) -> dict:
    """A config made with the key; waits for the run a new config makes at once (listed with the owner's token)."""
    fields.setdefault("intervalSeconds", HOUR)
    status, body, _ = await api(http, "POST", "/heartbeat", headers=with_key(secret), json=fields)
    assert status == 200, body
    made = body["heartbeat"]

    async def first_run_over() -> bool:
        listed = await runs(http, owner, made["id"])
        return bool(listed) and all(r["status"] != "running" for r in listed)

    await eventually(first_run_over, what="the run a new config makes at once")
    return made


async def run_now(gateway: GatewayThread, http: aiohttp.ClientSession, owner: dict, heartbeat_id: str) -> dict:
    """Makes the config due now and returns the run the scheduler then makes, once it has ended."""
    before = len(await runs(http, owner, heartbeat_id))
    await sql(gateway, "UPDATE heartbeats SET next_run_at = now() WHERE id = %s RETURNING id", (heartbeat_id,))

    async def finished() -> dict | None:
        done = [r for r in await runs(http, owner, heartbeat_id) if r["status"] != "running"]
        return done[0] if len(done) > before else None

    return await eventually(finished, what="the run")


async def woken(http: aiohttp.ClientSession, owner: dict, heartbeat_id: str, runs_before: int = 0) -> str:
    """The session of the latest run's agent turn (that run being past the first `runs_before`), once that turn is
    over: its usage is saved by then."""

    async def session() -> str:
        listed = await runs(http, owner, heartbeat_id)
        if len(listed) <= runs_before or listed[0]["status"] == "running":
            return ""
        assert listed[0]["status"] == "fired" and not listed[0].get("error"), listed[0]
        return listed[0].get("sessionId", "")

    return await eventually(session, seconds=20, what="the agent's turn")


async def usage_keys(gateway: GatewayThread, session_id: str) -> list[str | None]:
    """The key of each turn in the session (one per config, kept across runs), oldest first."""
    rows = await sql(
        gateway, "SELECT api_key_id FROM usage_records WHERE session_id = %s ORDER BY created_at", (session_id,)
    )
    return [r["api_key_id"] for r in rows]


async def heartbeat(http: aiohttp.ClientSession, owner: dict, heartbeat_id: str) -> dict:
    status, body, _ = await api(http, "GET", "/heartbeat", owner)
    assert status == 200, body
    return next(h for h in body["heartbeats"] if h["id"] == heartbeat_id)


class Watch:
    """An rss config of `owner` on a fresh feed that wakes a priced agent; `news()` adds an item that fires."""

    def __init__(self, receiver: Receiver, agent: str) -> None:
        self.receiver, self.agent, self.feed, self.items = receiver, agent, path(), [{"guid": "0", "title": "First"}]
        receiver.feed(self.feed, self.items)

    @property
    def fields(self) -> dict[str, Any]:
        return {"type": "rss", "url": self.receiver.url + self.feed, "agentId": self.agent}

    def news(self) -> None:
        self.items.append({"guid": str(len(self.items)), "title": f"Item {len(self.items)}"})
        self.receiver.feed(self.feed, self.items)


@pytest.fixture
async def owner(http: aiohttp.ClientSession) -> dict:
    return await register(http)


@pytest.fixture
async def watch(http: aiohttp.ClientSession, owner: dict, receiver: Receiver) -> Watch:
    return Watch(receiver, await new_agent(http, owner, model=OPENAI_MODEL))


async def test_a_heartbeat_made_with_a_key_spends_with_that_key(
    http: aiohttp.ClientSession, gateway: GatewayThread, vendor: FakeVendor, owner: dict, watch: Watch
) -> None:
    key_id, secret = await new_key(http, owner, maxCostUsd=0.1)
    vendor.script(summary())
    hb = await create_with_key(http, owner, secret, **watch.fields)
    session_id = await woken(http, owner, hb["id"])
    assert len(vendor.requests) == 1
    assert await usage_keys(gateway, session_id) == [key_id]
    # /costs counts the run's turn under the key, as it would a chat turn made with it.
    status, body, _ = await api(http, "GET", "/costs/breakdown", owner, params={"apiKeyId": key_id})
    assert status == 200, body
    assert body["totalUsd"] == TURN_COST and [(b["key"], b["requests"]) for b in body["byApiKey"]] == [(key_id, 1)]
    # And so does the key's budget: $0.15 spent of $0.10, so calls with the key are refused.
    status, body, _ = await api(http, "GET", "/agents", headers=with_key(secret))
    assert status == 402, body


@pytest.mark.parametrize("lapse", ["revoked", "expired"])
async def test_once_its_key_is_revoked_or_expired_a_run_calls_no_model_and_pauses_the_heartbeat(
    http: aiohttp.ClientSession, gateway: GatewayThread, vendor: FakeVendor, owner: dict, watch: Watch, lapse: str
) -> None:
    key_id, secret = await new_key(http, owner)
    vendor.script(summary())
    hb = await create_with_key(http, owner, secret, **watch.fields)
    await woken(http, owner, hb["id"])
    if lapse == "revoked":
        await revoke(http, owner, key_id)
    else:
        await sql(gateway, "UPDATE api_keys SET expires_at = now() WHERE id = %s RETURNING id", (key_id,))
    watch.news()
    vendor.script(summary())  # what the model would answer, were it asked
    run = await run_now(gateway, http, owner, hb["id"])
    assert run["status"] == "error" and run["error"].startswith(f"api_key_{lapse}: "), run
    assert run.get("items", []) == [] and not run.get("sessionId")
    assert len(vendor.requests) == 1  # only the first run's turn
    # Paused: nothing more runs on the dead key.
    paused = await heartbeat(http, owner, hb["id"])
    assert paused["enabled"] is False and "nextRunAt" not in paused
    # Enabled again with an access token, it is the owner's own: it runs (the held-back item fires) and its turn is
    # not the key's.
    before = len(await runs(http, owner, hb["id"]))
    await patch(http, hb["id"], True, account=owner)
    session_id = await woken(http, owner, hb["id"], before)
    assert len(vendor.requests) == 2
    assert await usage_keys(gateway, session_id) == [key_id, None]


async def test_while_its_keys_budget_is_spent_a_run_calls_no_model(
    http: aiohttp.ClientSession, gateway: GatewayThread, vendor: FakeVendor, owner: dict, watch: Watch
) -> None:
    key_id, secret = await new_key(http, owner, maxCostUsd=0.1)
    vendor.script(summary())
    hb = await create_with_key(http, owner, secret, **watch.fields)
    await woken(http, owner, hb["id"])  # within the budget when it started; $0.15 spent now
    for _ in range(2):
        watch.news()
        vendor.script(summary())
        run = await run_now(gateway, http, owner, hb["id"])
        assert run["status"] == "error" and run["error"].startswith("budget_exceeded: "), run
        assert run.get("items", []) == [] and not run.get("sessionId")
    assert len(vendor.requests) == 1
    # Not paused: runs resume when the month (and with it the budget) starts again.
    assert (await heartbeat(http, owner, hb["id"]))["enabled"] is True
    status, body, _ = await api(http, "GET", "/costs/breakdown", owner, params={"apiKeyId": key_id})
    assert status == 200 and body["totalUsd"] == TURN_COST, body


async def test_a_heartbeat_updated_with_an_access_token_runs_without_the_key(
    http: aiohttp.ClientSession, gateway: GatewayThread, vendor: FakeVendor, owner: dict, watch: Watch
) -> None:
    key_id, secret = await new_key(http, owner)
    vendor.script(summary())
    hb = await create_with_key(http, owner, secret, **watch.fields)
    assert await usage_keys(gateway, await woken(http, owner, hb["id"])) == [key_id]
    await patch(http, hb["id"], True, account=owner)
    await revoke(http, owner, key_id)
    watch.news()
    vendor.script(summary())
    run = await run_now(gateway, http, owner, hb["id"])
    assert run["status"] == "fired", run
    assert await usage_keys(gateway, await woken(http, owner, hb["id"])) == [key_id, None]
    assert len(vendor.requests) == 2


async def test_a_heartbeat_changed_with_a_key_runs_on_that_keys_authority(
    http: aiohttp.ClientSession, gateway: GatewayThread, vendor: FakeVendor, owner: dict, watch: Watch
) -> None:
    key_id, secret = await new_key(http, owner)
    vendor.script(summary())
    hb = await create(http, owner, **watch.fields)
    assert await usage_keys(gateway, await woken(http, owner, hb["id"])) == [None]
    await patch(http, hb["id"], True, headers=with_key(secret))
    watch.news()
    vendor.script(summary())
    await run_now(gateway, http, owner, hb["id"])
    assert await usage_keys(gateway, await woken(http, owner, hb["id"])) == [None, key_id]
    await revoke(http, owner, key_id)
    watch.news()
    run = await run_now(gateway, http, owner, hb["id"])
    assert run["status"] == "error" and run["error"].startswith("api_key_revoked: "), run
    assert len(vendor.requests) == 2
