"""RSS heartbeats against hostile feeds, through the real scheduler: a body that names a local file is parsed as the
body (never opened), a parse past its deadline fails its run with a recorded error while the next due heartbeat
still runs, and a fetch that keeps redirecting slowly is cut at the config's timeout as a whole; the rss_read tool
parses through the same helper."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import aiohttp
import feedparser
import pytest

from server.net import feeds
from tests.harness import GatewayThread
from tests.helpers.accounts import register
from tests.helpers.db import sql
from tests.helpers.heartbeat import create, path, runs
from tests.helpers.tools import call
from tests.receivers import Receiver, Reply, rss

# As tests/test_heartbeat.py: private URLs allowed (the feeds are on 127.0.0.1), a quick scheduler.
GATEWAY_OPTIONS = {"settings": {"allow_private_urls": True, "heartbeat_min_interval_s": 2, "worker_poll_s": 0.1}}

LOCAL_TITLE = "LOCAL-FILE-ITEM-7f3a9c"
STUCK_TITLE = "STUCK-PARSE-ITEM-51be0d"
PARSE_THREADS: set[str] = set()  # the threads feedparser ran on, while stuck_parses is in place


@pytest.fixture
async def owner(http: aiohttp.ClientSession) -> dict:
    return await register(http)


async def test_a_feed_whose_body_is_a_local_path_is_not_read_from_disk(
    http: aiohttp.ClientSession, owner: dict, receiver: Receiver, gateway: GatewayThread, tmp_path: Path
) -> None:
    local = tmp_path / "local-feed.xml"
    local.write_text(rss([{"guid": "local-1", "title": LOCAL_TITLE, "link": "http://example.com/local"}]))
    feed = path()
    receiver.respond(feed, Reply(200, str(local), {"Content-Type": "application/rss+xml"}))
    hb = await create(http, owner, type="rss", url=receiver.url + feed)  # runs at once
    [run] = await runs(http, owner, hb["id"])
    assert LOCAL_TITLE not in str(run), run
    assert run["status"] == "error" and "not an RSS or Atom feed" in run["error"], run
    fired = await sql(
        gateway,
        "SELECT payload FROM events WHERE workspace_id = %s AND type = 'heartbeat.fired'",
        (owner["workspaceId"],),
    )
    assert fired == []


@pytest.fixture
def stuck_parses(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """feedparser hangs on any body with STUCK_TITLE until the test ends (a pathological feed, made certain);
    the gateway's parse deadline is 0.5 s."""
    release = threading.Event()
    real = feedparser.parse

    def parse(source: Any, *args: Any, **kwargs: Any) -> Any:
        PARSE_THREADS.add(threading.current_thread().name)
        body = source.getvalue() if hasattr(source, "getvalue") else source
        if isinstance(body, bytes) and STUCK_TITLE.encode() in body:
            release.wait(60)
        return real(source, *args, **kwargs)

    monkeypatch.setattr(feedparser, "parse", parse)
    monkeypatch.setattr(feeds, "PARSE_TIMEOUT_S", 0.5)
    yield release
    release.set()


async def test_a_parse_past_its_deadline_fails_the_run_and_the_next_heartbeat_still_runs(
    http: aiohttp.ClientSession, owner: dict, receiver: Receiver, stuck_parses: threading.Event
) -> None:
    stuck, fine = path(), path()
    receiver.feed(stuck, [{"guid": "s", "title": STUCK_TITLE}])
    receiver.feed(fine, [{"guid": "f", "title": "An ordinary item"}])
    started = time.monotonic()
    hb = await create(http, owner, type="rss", url=receiver.url + stuck)  # waits for its first run to end
    [run] = await runs(http, owner, hb["id"])
    assert (run["status"], run["error"]) == ("error", "feed parsing timed out after 0.5 s"), run
    assert run.get("items", []) == [] and 500 <= run["durationMs"] < 5000, run
    assert time.monotonic() - started < 8
    # The parse is still stuck on its thread; the scheduler is not, and the next due heartbeat runs as usual.
    other = await create(http, owner, type="rss", url=receiver.url + fine)
    [run] = await runs(http, owner, other["id"])
    assert run["status"] == "fired" and [i["title"] for i in run["items"]] == ["An ordinary item"], run
    assert not stuck_parses.is_set()
    # Parsing runs on its own executor, never on asyncio's default pool.
    assert PARSE_THREADS and all(name.startswith("astra-feed") for name in PARSE_THREADS), PARSE_THREADS


async def test_the_rss_read_tool_parses_through_the_same_guarded_helper(
    receiver: Receiver, stuck_parses: threading.Event, tmp_path: Path
) -> None:
    local = tmp_path / "local-feed.xml"
    local.write_text(rss([{"guid": "local-1", "title": LOCAL_TITLE}]))
    named, stuck = path(), path()
    receiver.respond(named, Reply(200, str(local), {"Content-Type": "application/rss+xml"}))
    receiver.feed(stuck, [{"guid": "s", "title": STUCK_TITLE}])
    outcome = await call("rss_read", {"url": receiver.url + named})
    assert LOCAL_TITLE not in outcome.result and "is not an RSS or Atom feed" in outcome.error, outcome
    outcome = await call("rss_read", {"url": receiver.url + stuck})
    assert outcome.error.endswith("feed parsing timed out after 0.5 s"), outcome


async def test_a_fetch_is_cut_at_the_configs_timeout_across_redirects(
    http: aiohttp.ClientSession, owner: dict, receiver: Receiver
) -> None:
    """ssrf.fetch's own timeout applies to each hop apart; a run's fetch has one deadline for all of them."""
    hops = [path() for _ in range(4)]
    for here, there in pairwise(hops):
        receiver.respond(here, Reply(302, "", {"Location": receiver.url + there}, delay_s=0.4))
    receiver.feed(hops[-1], [{"guid": "late", "title": "Too late"}])
    hb = await create(http, owner, type="rss", url=receiver.url + hops[0], timeoutMs=1000)
    [run] = await runs(http, owner, hb["id"])
    assert (run["status"], run["error"]) == ("error", "timed out"), run
    assert run["durationMs"] < 1500, run
