"""What one heartbeat run observes: new matching feed items (rss) or the endpoint's up/down state (http).
Every fetch goes through the SSRF guard, and a run has hard deadlines: its fetch as a whole (DNS, redirects and the
body included) within the config's timeout, and its feed parsing within server.net.feeds' (a body is parsed from
memory only, on an executor of its own)."""

from __future__ import annotations

import asyncio
import calendar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from server.net import feeds, ssrf

MAX_ITEMS = 50  # items recorded (and sent to the agent) per fire
MAX_FEED_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class Health:
    """An http monitor's observation."""

    state: str  # up or down
    status_code: int = 0
    detail: str = ""  # why it is down


@dataclass(frozen=True)
class FeedItem:
    key: str
    title: str
    url: str
    summary: str
    published_at: str


class RunError(Exception):
    """The run could not observe anything (refused URL, unreachable feed, unparseable body)."""


async def _fetch(config: dict[str, Any], allow_private: bool, **options: Any) -> ssrf.FetchResult:
    """ssrf.fetch with the config's timeout as a deadline on the whole fetch: the guard's own timeout applies to
    each redirect hop apart and not to the address lookup."""
    timeout_s = config["timeout_ms"] / 1000
    return await asyncio.wait_for(
        ssrf.fetch(config["url"], timeout_s=timeout_s, allow_private=allow_private, **options), timeout_s
    )


async def fetch_feed(config: dict[str, Any], allow_private: bool) -> tuple[int, list[FeedItem]]:
    """(HTTP status, items) of the config's feed; RunError when it cannot be read or parsed in time."""
    try:
        result = await _fetch(config, allow_private, max_bytes=MAX_FEED_BYTES)
    except Exception as exc:
        raise RunError(ssrf.describe(exc)) from None
    if not 200 <= result.status < 300:
        raise RunError(f"the feed answered HTTP {result.status}")
    try:
        parsed = await feeds.parse(result.body)
    except feeds.FeedTimeout as exc:
        raise RunError(str(exc)) from None
    return result.status, feed_items(parsed)


def feed_items(parsed: Any) -> list[FeedItem]:
    """The items of a parsed feed; RunError when the body was not a feed."""
    if parsed.bozo and not parsed.entries:
        raise RunError(f"not an RSS or Atom feed: {type(parsed.get('bozo_exception')).__name__}")
    items: list[FeedItem] = []
    for entry in parsed.entries:
        key = entry.get("id") or entry.get("link") or entry.get("title")
        if not key:
            continue
        published = entry.get("published_parsed") or entry.get("updated_parsed")
        items.append(
            FeedItem(
                key=key[:1000],
                title=entry.get("title", "")[:500],
                url=entry.get("link", "")[:2000],
                summary=entry.get("summary", "")[:2000],
                published_at=datetime.fromtimestamp(calendar.timegm(published), UTC).isoformat() if published else "",
            )
        )
    return items


def matching(items: list[FeedItem], new_keys: set[str], keywords: list[str]) -> list[dict[str, Any]]:
    """The new items whose title or summary contains a keyword (case-insensitive); every new item when none."""
    found: list[dict[str, Any]] = []
    for item in items:
        if item.key not in new_keys:
            continue
        text = f"{item.title}\n{item.summary}".casefold()
        matched = [k for k in keywords if k.casefold() in text]
        if keywords and not matched:
            continue
        found.append(
            {
                "title": item.title,
                "url": item.url,
                "summary": item.summary,
                **({"publishedAt": item.published_at} if item.published_at else {}),
                "matchedKeywords": matched,
            }
        )
    return found[:MAX_ITEMS]


async def observe_http(config: dict[str, Any], allow_private: bool) -> Health:
    expect = config["expect_status"] or 200
    try:
        result = await _fetch(config, allow_private, method=config["method"])
    except ssrf.BlockedURL as exc:
        raise RunError(ssrf.describe(exc)) from None
    except Exception as exc:
        return Health("down", 0, ssrf.describe(exc))
    if result.status != expect:
        return Health("down", result.status, f"HTTP {result.status}, expected {expect}")
    if config["expect_contains"] and config["expect_contains"] not in result.body.decode("utf-8", errors="replace"):
        return Health("down", result.status, f"the body does not contain {config['expect_contains']!r}")
    return Health("up", result.status)
