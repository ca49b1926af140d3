"""RSS/Atom parsing for every feed the gateway reads (heartbeat monitors, the rss_read tool): the one place that
calls feedparser.

feedparser.parse treats a str or bytes argument that looks like a path or a URL as one and opens it itself, so a
remote feed whose body is "/etc/..." would put a local file's items into runs, webhooks and the agent: bodies are
parsed only from memory (a stream). Parsing is CPU work of unbounded length on a pathological body, so it runs on
a small executor of its own, not asyncio's default pool (DNS lookups, embedded-database start-up), under a
deadline: a parse past it fails its caller with FeedTimeout and releases it. A thread cannot be stopped, so the
parse itself runs on until it ends (bodies are size-capped); meanwhile later parses queue behind it, and time out
there if they must wait too long.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import feedparser

PARSE_THREADS = 2
PARSE_TIMEOUT_S = 10.0  # far above a real feed's parse (milliseconds), well inside a heartbeat run's grace

_executor: ThreadPoolExecutor | None = None


class FeedTimeout(Exception):
    """The body was not parsed within the deadline."""


def parse_in_memory(body: bytes, headers: Mapping[str, str] | None = None) -> Any:
    """The parsed feed (feedparser's result) of a fetched body; never reads anything but the body."""
    response_headers = {k.lower(): v for k, v in (headers or {}).items()}
    return feedparser.parse(io.BytesIO(body), response_headers=response_headers)


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=PARSE_THREADS, thread_name_prefix="astra-feed")
    return _executor


async def parse(body: bytes, headers: Mapping[str, str] | None = None, *, timeout_s: float | None = None) -> Any:
    """parse_in_memory on the feed executor; FeedTimeout after timeout_s (default PARSE_TIMEOUT_S)."""
    deadline = PARSE_TIMEOUT_S if timeout_s is None else timeout_s
    work = asyncio.get_running_loop().run_in_executor(_pool(), parse_in_memory, body, headers)
    try:
        return await asyncio.wait_for(work, deadline)
    except TimeoutError:
        raise FeedTimeout(f"feed parsing timed out after {deadline:g} s") from None
