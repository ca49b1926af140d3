"""Skills routes (no auth) and the tool result cache on a real gateway: the catalogue with tool counts and paging,
a skill's detail, cache stats that move with hits and misses and go back to zero after a clear (one tool or all),
a clear on one replica seen by another, bad tool arguments in a turn, and session_search scoped to its caller.

Tools run through chat turns with the offline local/echo provider (`/tool <name> <json>`), against a real local
HTTP server; the gateway allows private URLs so that server can be reached."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from server.tools.cache import cache_key
from server.tools.catalog import BUILTIN_TOOLS, ToolSpec
from server.tools.runtime import ToolContext, ToolOutcome, ToolRunner
from tests.harness import API_KEY, GatewayThread, test_settings
from tests.helpers.accounts import bearer, register_users
from tests.helpers.agents import new_agent
from tests.helpers.chat import of_kind, sse, turn
from tests.helpers.db import sql
from tests.helpers.http import api

GATEWAY_OPTIONS = {"settings": {"allow_private_urls": True}}
PAGE = "<html><head><title>Cached page</title></head><body><p>Version one of the page.</p></body></html>"


@dataclass
class Site:
    url: str
    hits: list[str]


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    hits: list[str] = []

    async def page(request: web.Request) -> web.Response:
        hits.append(request.path_qs)
        return web.Response(text=PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield Site(f"http://127.0.0.1:{runner.addresses[0][1]}", hits)
    await runner.cleanup()


@pytest.fixture(scope="module")
def users(gateway: GatewayThread) -> list[dict]:
    return register_users(gateway, 2)


@pytest.fixture
async def researcher(http: aiohttp.ClientSession, users: list[dict]) -> str:
    return await new_agent(http, users[0], skills=["research"])


async def get(http: aiohttp.ClientSession, path: str, **params: Any) -> tuple[int, Any]:
    status, body, _ = await api(http, "GET", path, params=params or None)
    return status, body


async def stats(http: aiohttp.ClientSession) -> dict[str, dict[str, Any]]:
    """Cache figures by tool, plus "" for the total (bytes is an int64, a string in proto JSON)."""
    status, body = await get(http, "/skills/cache/stats")
    assert status == 200, body
    figures = {t["tool"]: t for t in body["tools"]} | {"": {**body["total"], "tool": ""}}
    return {
        tool: {key: f.get(key, 0) for key in ("entries", "hits", "misses", "hitRatio")} | {"bytes": int(f["bytes"])}
        for tool, f in figures.items()
    }


async def clear(
    http: aiohttp.ClientSession, tool: str | None = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """Clears the cache with the operator's API key (or the headers given)."""
    sent = {"x-api-key": API_KEY} if headers is None else headers
    params = {"tool": tool} if tool else None
    status, body, _ = await api(http, "POST", "/skills/cache/clear", params=params, headers=sent)
    return status, body


async def fetch_via_turn(http: aiohttp.ClientSession, account: dict, agent: str, url: str) -> dict[str, Any]:
    """One turn in which the agent calls http_fetch; the tool_result frame."""
    status, events = await sse(http, account, turn(agent, "/tool http_fetch " + json.dumps({"url": url})))
    assert status == 200, events
    assert events[-1][0] == "stream_done", events
    return of_kind(events, "tool_result")[0]


# ---------------------------------------------------------------------------------------------------------------
# The catalogue


async def test_skills_are_listed_with_tool_counts_without_auth(http: aiohttp.ClientSession) -> None:
    status, body = await get(http, "/skills")
    assert status == 200, body
    assert [(s["id"], s["toolCount"], s["category"]) for s in body["skills"]] == [
        ("conversations", 2, "memory"),
        ("math", 1, "utility"),
        ("memory", 2, "memory"),
        ("research", 3, "knowledge"),
    ]
    # The list is a summary: tools and prompt context come with the detail.
    assert all(s["tools"] == [] and s["promptContext"] == "" for s in body["skills"]), body
    assert body["skills"][3]["displayName"] == "Web research"

    status, body = await get(http, "/skills", category="memory")
    assert [s["id"] for s in body["skills"]] == ["conversations", "memory"]

    status, first = await get(http, "/skills", limit="3")
    assert [s["id"] for s in first["skills"]] == ["conversations", "math", "memory"] and first["nextPageToken"]
    status, second = await get(http, "/skills", limit="3", pageToken=first["nextPageToken"])
    assert [s["id"] for s in second["skills"]] == ["research"] and second["nextPageToken"] == ""
    token = first["nextPageToken"]
    status, body = await get(
        http, "/skills", limit="3", pageToken=token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    )
    assert (status, body["error"]["code"]) == (400, "INVALID_ARGUMENT")


async def test_a_skill_comes_with_its_tool_schemas_and_prompt_context(http: aiohttp.ClientSession) -> None:
    status, body = await get(http, "/skills/research")
    assert status == 200, body
    skill = body["skill"]
    assert (skill["id"], skill["toolCount"]) == ("research", 3)
    assert [t["name"] for t in skill["tools"]] == ["http_fetch", "rss_read", "current_time"]
    assert all(t["skillId"] == "research" and t["description"] for t in skill["tools"])
    fetch = skill["tools"][0]["parameters"]
    assert fetch["required"] == ["url"] and fetch["properties"]["url"]["type"] == "string"
    assert "http_fetch" in skill["promptContext"]

    status, body = await get(http, "/skills/astrology")
    assert (status, body["error"]["code"]) == (404, "NOT_FOUND")


# ---------------------------------------------------------------------------------------------------------------
# The tool result cache


async def test_cache_stats_move_with_hits_and_misses_and_a_clear_resets_them(
    http: aiohttp.ClientSession, users: list[dict], researcher: str, site: Site
) -> None:
    assert (await clear(http))[0] == 200
    before = await stats(http)
    # Every cacheable tool is listed from the start; uncached ones are not.
    assert (
        before["http_fetch"]
        == before["rss_read"]
        == {
            "entries": 0,
            "hits": 0,
            "misses": 0,
            "hitRatio": 0,
            "bytes": 0,
        }
    )
    assert "calculator" not in before and "current_time" not in before

    url = f"{site.url}/report"
    first = await fetch_via_turn(http, users[0], researcher, url)
    assert "Version one of the page." in first["result"]
    # The same call again (even from another user: public pages are shared) is served from the cache.
    other_agent = await new_agent(http, users[1], skills=["research"])
    second = await fetch_via_turn(http, users[1], other_agent, url)
    third = await fetch_via_turn(http, users[0], researcher, url)
    assert second["result"] == third["result"] == first["result"]
    assert site.hits == ["/report"]

    after = await stats(http)
    assert after["http_fetch"]["entries"] == 1 and after["http_fetch"]["bytes"] == len(first["result"].encode())
    assert (after["http_fetch"]["hits"], after["http_fetch"]["misses"]) == (2, 1)
    assert after["http_fetch"]["hitRatio"] == pytest.approx(2 / 3)
    assert after[""]["hits"] == 2 and after[""]["entries"] == 1

    # Other arguments are another entry.
    await fetch_via_turn(http, users[0], researcher, f"{site.url}/report?page=2")
    assert site.hits == ["/report", "/report?page=2"]
    assert (await stats(http))["http_fetch"]["entries"] == 2

    # Clearing another tool leaves http_fetch alone; clearing http_fetch empties it and zeroes its counters.
    assert await clear(http, "rss_read") == (200, {"clearedEntries": 0, "tool": "rss_read"})
    assert (await stats(http))["http_fetch"]["entries"] == 2
    assert await clear(http, "http_fetch") == (200, {"clearedEntries": 2, "tool": "http_fetch"})
    assert (await stats(http))["http_fetch"] == before["http_fetch"]
    await fetch_via_turn(http, users[0], researcher, url)
    assert site.hits == ["/report", "/report?page=2", "/report"]
    assert (await stats(http))["http_fetch"]["misses"] == 1

    # An unknown tool is refused; a clear of everything answers with what it removed.
    status, body = await clear(http, "teleport")
    assert (status, body["error"]["code"]) == (404, "NOT_FOUND")
    assert await clear(http) == (200, {"clearedEntries": 1, "tool": ""})


async def test_clearing_the_cache_needs_the_operators_api_key(
    http: aiohttp.ClientSession, users: list[dict], researcher: str, site: Site
) -> None:
    await fetch_via_turn(http, users[0], researcher, f"{site.url}/report?keep=1")
    entries = (await stats(http))["http_fetch"]["entries"]
    assert entries >= 1
    # Nobody, a signed-in user and a wrong key are all refused, and the cache keeps its entries.
    for headers in ({}, bearer(users[0]), {"x-api-key": API_KEY + "x"}):
        status, body = await clear(http, headers=headers)
        assert (status, body["error"]["code"]) == (401, "UNAUTHENTICATED"), (headers, body)
    assert (await stats(http))["http_fetch"]["entries"] == entries
    # Reading the statistics stays public.
    assert (await get(http, "/skills/cache/stats"))[0] == 200


async def test_a_clear_on_one_replica_reaches_the_others(
    gateway: GatewayThread,
    http: aiohttp.ClientSession,
    users: list[dict],
    researcher: str,
    site: Site,
) -> None:
    replica = await asyncio.to_thread(
        GatewayThread(test_settings(gateway.settings.database_url, allow_private_urls=True)).start
    )
    try:
        async with aiohttp.ClientSession(base_url=replica.http_url) as other:
            await clear(http)
            url = f"{site.url}/replicated"
            await fetch_via_turn(http, users[0], researcher, url)
            await fetch_via_turn(http, users[0], researcher, url)
            # The other replica sees the first one's entry and counters...
            figures = (await stats(other))["http_fetch"]
            assert (figures["entries"], figures["hits"], figures["misses"]) == (1, 1, 1)
            # ...and its clear empties the cache the first one reads.
            assert await clear(other, "http_fetch") == (200, {"clearedEntries": 1, "tool": "http_fetch"})
            await fetch_via_turn(http, users[0], researcher, url)
            assert site.hits == ["/replicated", "/replicated"]
    finally:
        await asyncio.to_thread(replica.stop)


async def test_expired_entries_are_not_served_and_are_swept_by_later_writes(
    gateway: GatewayThread, http: aiohttp.ClientSession, users: list[dict], researcher: str, site: Site
) -> None:
    await clear(http)
    url = f"{site.url}/expired"
    key = cache_key(BUILTIN_TOOLS["http_fetch"], {"url": url}, "", "")
    for tool_key in (key, "some-other-key"):
        await sql(
            gateway,
            "INSERT INTO tool_cache (tool, key, value, bytes, expires_at)"
            " VALUES ('http_fetch', %s, 'STALE', 5, now() - interval '1 second')",
            (tool_key,),
        )
    assert (await stats(http))["http_fetch"]["entries"] == 0  # expired entries are not counted

    result = await fetch_via_turn(http, users[0], researcher, url)
    assert "Version one of the page." in result["result"] and site.hits == ["/expired"]
    rows = await sql(gateway, "SELECT key, value, expires_at > now() AS live FROM tool_cache ORDER BY key")
    assert [(r["key"], r["live"]) for r in rows] == [(key, True)] and rows[0]["value"] == result["result"]


async def test_a_cached_call_costs_nothing_and_private_results_stay_with_their_user(gateway: GatewayThread) -> None:
    """A priced tool cached per user, run by a runner on this gateway's database: the first call runs and costs its
    price, the same call again is served from the cache for free, and another user's identical call runs anew."""
    calls: list[str] = []

    async def lookup(arguments: dict[str, Any], context: ToolContext) -> str:
        calls.append(context.user_id)
        return f"account of {context.user_id}: {arguments['q']}"

    spec = ToolSpec(
        "crm_lookup",
        "Look a customer up in the user's CRM.",
        {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
        cache_ttl_s=60,
        cache_scope="user",
        cost_usd_per_call=Decimal("0.25"),
    )
    assert gateway.core is not None and gateway.core.deps is not None
    tools = ToolRunner({"crm_lookup": spec}, {"crm_lookup": lookup}, cache=gateway.core.deps.tools.cache)

    def run(user: str) -> ToolOutcome:
        return gateway.run(tools.run("crm_lookup", '{"q": "acme"}', ToolContext(user, "ws_1", "ses_1", "agent")))

    first, again, other = run("usr_a"), run("usr_a"), run("usr_b")
    assert (first.result, first.cached, first.cost_usd) == ("account of usr_a: acme", False, Decimal("0.25"))
    assert (again.result, again.cached, again.cost_usd) == ("account of usr_a: acme", True, Decimal(0))
    assert (other.result, other.cached, other.cost_usd) == ("account of usr_b: acme", False, Decimal("0.25"))
    assert calls == ["usr_a", "usr_b"]
    await gateway_clear(gateway, "crm_lookup")


async def gateway_clear(gateway: GatewayThread, tool: str) -> None:
    await sql(gateway, "DELETE FROM tool_cache WHERE tool = %s", (tool,))
    await sql(gateway, "DELETE FROM tool_cache_counters WHERE tool = %s", (tool,))


async def test_bad_tool_arguments_come_back_to_the_model_as_an_error(
    http: aiohttp.ClientSession, users: list[dict], researcher: str, site: Site
) -> None:
    await clear(http)
    status, events = await sse(http, users[0], turn(researcher, '/tool http_fetch {"url": 5}'))
    assert status == 200 and events[-1][0] == "stream_done", events
    result = of_kind(events, "tool_result")[0]
    assert result["error"] == "invalid arguments (url): 5 is not of type 'string'"
    assert "invalid arguments" in events[-1][1]["content"]
    # Nothing was fetched, and a call refused before it ran is neither a hit nor a miss.
    assert site.hits == []
    assert (await stats(http))["http_fetch"]["misses"] == 0


# ---------------------------------------------------------------------------------------------------------------
# session_search


async def test_session_search_finds_only_the_callers_earlier_messages(
    http: aiohttp.ClientSession, users: list[dict]
) -> None:
    owner, other = users
    mine = await new_agent(http, owner, skills=["conversations"])
    theirs = await new_agent(http, other, skills=["conversations"])
    assert (await sse(http, owner, turn(mine, "The zebra migration plan is approved for Tuesday")))[0] == 200
    assert (await sse(http, other, turn(theirs, "My private zebra password is swordfish")))[0] == 200

    status, events = await sse(http, owner, turn(mine, '/tool session_search {"query": "zebra"}'))
    assert status == 200, events
    found = of_kind(events, "tool_result")[0]["result"]
    assert "**zebra** migration plan" in found
    assert "swordfish" not in found and "password" not in found
    # The conversation asking is left out: its own question is not an "earlier message".
    assert "session_search" not in found

    status, events = await sse(http, other, turn(theirs, '/tool session_search {"query": "migration plan"}'))
    assert of_kind(events, "tool_result")[0]["result"] == "No earlier messages match 'migration plan'."
