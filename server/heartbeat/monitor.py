"""What one heartbeat run observes: new matching feed items (rss) or the endpoint's up/down state (http).
Every fetch goes through the SSRF guard."""

from __future__ import annotations

import asyncio
import calendar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser

from server.net import ssrf

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


async def fetch_feed(config: dict[str, Any], allow_private: bool) -> tuple[int, list[FeedItem]]:
    """(HTTP status, items) of the config's feed; RunError when it cannot be read."""
    try:
        result = await ssrf.fetch(
            config["url"], timeout_s=config["timeout_ms"] / 1000, max_bytes=MAX_FEED_BYTES, allow_private=allow_private
        )
    except Exception as exc:
        raise RunError(ssrf.describe(exc)) from None
    if not 200 <= result.status < 300:
        raise RunError(f"the feed answered HTTP {result.status}")
    return result.status, await asyncio.to_thread(parse_feed, result.body)


def parse_feed(body: bytes) -> list[FeedItem]:
    parsed = feedparser.parse(body)
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
        result = await ssrf.fetch(
            config["url"],
            method=config["method"],
            timeout_s=config["timeout_ms"] / 1000,
            allow_private=allow_private,
        )
    except ssrf.BlockedURL as exc:
        raise RunError(ssrf.describe(exc)) from None
    except Exception as exc:
        return Health("down", 0, ssrf.describe(exc))
    if result.status != expect:
        return Health("down", result.status, f"HTTP {result.status}, expected {expect}")
    if config["expect_contains"] and config["expect_contains"] not in result.body.decode("utf-8", errors="replace"):
        return Health("down", result.status, f"the body does not contain {config['expect_contains']!r}")
    return Health("up", result.status)
