"""Tools that read the web: http_fetch (a page as readable text) and rss_read (a feed's latest items).

Every request goes through the SSRF guard (server.net.ssrf.fetch), with a time limit and a size cap; private
and loopback targets are refused unless ASTRA_ALLOW_PRIVATE_URLS=true.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import aiohttp

from server.net import feeds, ssrf
from server.tools.runtime import ToolContext, ToolInputError

FETCH_TIMEOUT_S = 10.0
DEFAULT_MAX_BYTES = 512 * 1024
FEED_MAX_BYTES = 2 * 1024 * 1024
MAX_TEXT_CHARS = 12_000
SUMMARY_CHARS = 300
HEADERS = {
    "User-Agent": "AstraGateway/0.1 (+https://github.com/astra; tool http_fetch)",
    "Accept": "text/html,application/xhtml+xml,text/plain,application/json,application/xml;q=0.9,*/*;q=0.5",
}
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript")
TEXT_SUFFIXES = ("+json", "+xml")

# Elements whose content is never readable text, and elements that start a new line.
_SKIP = frozenset({"script", "style", "noscript", "template", "svg", "iframe", "object", "canvas"})
_BLOCK = frozenset(
    "address article aside blockquote br dd div dl dt figcaption figure footer form h1 h2 h3 h4 h5 h6 header hr li"
    " main nav ol p pre section table td th tr ul".split()
)


class _TextExtractor(HTMLParser):
    """Readable text of an HTML document: the title apart, scripts and styles dropped, blocks on their own lines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self._skipping: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in _SKIP:
            self._skipping.append(tag)
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <br/>, <script/>: nothing opens, so nothing may be left waiting for a closing tag.
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif self._skipping and tag == self._skipping[-1]:
            self._skipping.pop()
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not self._skipping:
            self.parts.append(data)


def _squeeze(text: str) -> str:
    lines = (re.sub(r"[ \t\r\f\v\u00a0]+", " ", line).strip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def html_to_text(html: str) -> tuple[str, str]:
    """(title, readable text) of an HTML document."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    return _squeeze(" ".join(parser.title)), _squeeze("".join(parser.parts))


def _content_type(headers: dict[str, str]) -> tuple[str, str]:
    """(media type, charset) from a Content-Type header."""
    raw = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    media, _, params = raw.partition(";")
    match = re.search(r"charset=\"?([\w.:-]+)", params, re.IGNORECASE)
    return media.strip().lower(), match.group(1) if match else "utf-8"


def _decode(body: bytes, charset: str) -> str:
    try:
        return body.decode(charset, errors="replace")
    except LookupError:  # an unknown charset name from the server
        return body.decode("utf-8", errors="replace")


async def _fetch(url: str, context: ToolContext, max_bytes: int) -> ssrf.FetchResult:
    allow_private = bool(context.outbound and context.outbound.allow_private)
    try:
        result = await ssrf.fetch(
            url, headers=HEADERS, timeout_s=FETCH_TIMEOUT_S, max_bytes=max_bytes, allow_private=allow_private
        )
    except ssrf.BlockedURL as exc:
        raise ToolInputError(f"refused to fetch {url}: {exc}") from None
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise ToolInputError(f"could not fetch {url}: {ssrf.describe(exc)}") from None
    if result.status >= 400:
        raise ToolInputError(f"{result.url} answered HTTP {result.status}")
    return result


def _cap(text: str, limit: int = MAX_TEXT_CHARS) -> tuple[str, bool]:
    return (text, False) if len(text) <= limit else (text[:limit], True)


async def http_fetch(arguments: dict[str, Any], context: ToolContext) -> str:
    url = arguments["url"]
    result = await _fetch(url, context, arguments.get("max_bytes", DEFAULT_MAX_BYTES))
    media, charset = _content_type(result.headers)
    if media and not (media.startswith(TEXT_TYPES) or media.endswith(TEXT_SUFFIXES)):
        raise ToolInputError(f"{result.url} is {media}, not text")
    raw = _decode(result.body, charset)
    title, text = html_to_text(raw) if media in ("text/html", "application/xhtml+xml") else ("", raw.strip())
    text, cut = _cap(text)
    header = [f"URL: {result.url}", f"Status: {result.status}"] + ([f"Title: {title}"] if title else [])
    notes = " [truncated]" if cut or result.truncated else ""
    return "\n".join(header) + "\n\n" + text + notes


def _summary(entry: Any) -> str:
    raw = entry.get("summary") or ""
    _, text = html_to_text(raw)
    text = " ".join(text.split())
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


async def rss_read(arguments: dict[str, Any], context: ToolContext) -> str:
    url, limit = arguments["url"], arguments.get("limit", 10)
    result = await _fetch(url, context, FEED_MAX_BYTES)
    try:
        # From memory, on the feed executor, under a deadline (server.net.feeds).
        feed = await feeds.parse(result.body, result.headers)
    except feeds.FeedTimeout as exc:
        raise ToolInputError(f"{result.url}: {exc}") from None
    if not feed.entries and (feed.bozo or not feed.feed):
        raise ToolInputError(f"{result.url} is not an RSS or Atom feed")
    lines = [f"Feed: {feed.feed.get('title') or result.url}", f"URL: {result.url}", ""]
    for number, entry in enumerate(feed.entries[:limit], start=1):
        when = entry.get("published") or entry.get("updated") or ""
        lines.append(f"{number}. {entry.get('title') or '(untitled)'}" + (f" ({when})" if when else ""))
        if entry.get("link"):
            lines.append(f"   {entry['link']}")
        summary = _summary(entry)
        if summary:
            lines.append(f"   {summary}")
    if not feed.entries:
        lines.append("(no items)")
    text, _ = _cap("\n".join(lines))
    return text
