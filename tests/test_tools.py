"""The tool runtime and the built-in tools that need no database: argument validation before a handler runs,
timeouts, http_fetch and rss_read against a real local HTTP server (with ASTRA_ALLOW_PRIVATE_URLS on) and the SSRF
guard refusing private targets without ever connecting (with it off), the calculator, current_time, and
third-party tools registered through the `astra.tools` entry-point group."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from server.config import ConfigError
from server.skills.catalog import Catalog
from server.tools import registry
from server.tools.catalog import BUILTIN_TOOLS
from server.tools.handlers import web as web_tools
from server.tools.runtime import ToolContext, ToolRunner
from tests.helpers.tools import call, context, runner

PAGE = """<!doctype html><html><head><title>Quarterly  report</title><style>body{color:red}</style>
<script>var secret = "do not show";</script></head>
<body><nav>Home</nav><h1>Results</h1><p>Revenue grew&nbsp;12%&amp;more.</p><p>Second   paragraph.</p>
<noscript>enable js</noscript></body></html>"""
RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>Astra news</title><link>http://example.com/</link>
<item><title>First post</title><link>http://example.com/1</link><pubDate>Mon, 02 Nov 2026 10:00:00 GMT</pubDate>
<description>&lt;p&gt;Hello &lt;b&gt;world&lt;/b&gt;&lt;/p&gt;</description></item>
<item><title>Second post</title><link>http://example.com/2</link></item>
<item><title>Third post</title><link>http://example.com/3</link></item>
</channel></rss>"""
ATOM = """<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Atom feed</title>
<entry><title>Atom entry</title><link href="http://example.com/a"/><updated>2026-11-01T00:00:00Z</updated>
<summary>Short summary</summary></entry></feed>"""


@dataclass
class Site:
    url: str
    hits: list[str]


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    """A real HTTP server on loopback; it records every request it receives."""
    hits: list[str] = []

    async def page(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(text=PAGE, content_type="text/html", charset="utf-8")

    async def big(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(text="x" * 50_000, content_type="text/plain")

    async def streamed(request: web.Request) -> web.StreamResponse:
        """30 000 bytes of text sent in three chunks, as a real server sends a long page."""
        hits.append(request.path)
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        try:
            for letter in "abc":
                await response.write(letter.encode() * 10_000)
                await asyncio.sleep(0.02)
            await response.write_eof()
        except ConnectionResetError:
            pass  # the client stopped reading at its size cap
        return response

    async def slow(request: web.Request) -> web.Response:
        hits.append(request.path)
        await asyncio.sleep(2)
        return web.Response(text="late")

    async def route(request: web.Request) -> web.Response:
        hits.append(request.path)
        name = request.match_info["name"]
        if name == "rss":
            return web.Response(text=RSS, content_type="application/rss+xml")
        if name == "atom":
            return web.Response(text=ATOM, content_type="application/atom+xml")
        if name == "json":
            return web.json_response({"ok": True})
        if name == "image":
            return web.Response(body=b"\x89PNG\r\n", content_type="image/png")
        if name == "redirect":
            raise web.HTTPFound("/page")
        raise web.HTTPNotFound()

    app = web.Application()
    app.router.add_get("/page", page)
    app.router.add_get("/big", big)
    app.router.add_get("/slow", slow)
    app.router.add_get("/streamed", streamed)
    app.router.add_get("/{name}", route)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    yield Site(f"http://127.0.0.1:{runner.addresses[0][1]}", hits)
    await runner.cleanup()


# ---------------------------------------------------------------------------------------------------------------
# Argument validation happens before the handler runs; a bad call is an error result, never an exception


async def test_bad_calls_are_error_results_and_the_handler_never_runs() -> None:
    calls: list[dict[str, Any]] = []

    async def spy(arguments: dict[str, Any], ctx: ToolContext) -> str:
        calls.append(arguments)
        return "ran"

    cases = [
        ("calculator", "{not json", "not valid JSON"),
        ("calculator", "{}", "'expression' is a required property"),
        ("calculator", '{"expression": 42}', "invalid arguments (expression)"),
        ("calculator", '{"expression": "1+1", "extra": true}', "Additional properties are not allowed"),
        ("calculator", '{"expression": ""}', "invalid arguments (expression)"),
        ("rss_read", '{"url": "http://example.com", "limit": 500}', "invalid arguments (limit)"),
        ("no_such_tool", "{}", "unknown tool 'no_such_tool'"),
    ]
    tools = ToolRunner(dict(BUILTIN_TOOLS), {"calculator": spy, "rss_read": spy})
    for name, arguments, expected in cases:
        outcome = await tools.run(name, arguments, context(True))
        assert expected in outcome.error, (name, arguments, outcome)
        assert outcome.result == "" and not outcome.cached
    assert calls == []
    # The same runner runs a good call.
    assert (await tools.run("calculator", '{"expression": "1+1"}', context(True))).result == "ran"


async def test_a_slow_handler_times_out_and_a_crash_is_a_generic_error() -> None:
    async def hangs(arguments: dict[str, Any], ctx: ToolContext) -> str:
        await asyncio.sleep(10)
        return "never"

    async def crashes(arguments: dict[str, Any], ctx: ToolContext) -> str:
        raise RuntimeError("internal detail /srv/secret")

    started = asyncio.get_running_loop().time()
    outcome = await call("calculator", {"expression": "1"}, timeout_s=0.2, calculator=hangs)
    assert outcome.error == "tool calculator timed out after 0.2s"
    assert asyncio.get_running_loop().time() - started < 2
    outcome = await call("calculator", {"expression": "1"}, calculator=crashes)
    assert outcome.error == "tool calculator failed" and "secret" not in outcome.error


async def test_calculator_does_arithmetic_and_nothing_else() -> None:
    assert (await call("calculator", {"expression": "(2 + 3) * 4 - 10 / 4"})).result == "17.5"
    assert (await call("calculator", {"expression": "2 ** 10 // 3 % 7"})).result == "5"
    for expression, expected in [
        ("__import__('os').system('true')", "unsupported element"),
        ("(1).__class__", "unsupported element"),
        ("1/0", "division by zero"),
        ("9 ** 99999", "too large"),
        ("1 +", "not an arithmetic expression"),
    ]:
        assert expected in (await call("calculator", {"expression": expression})).error, expression


async def test_current_time_honours_the_time_zone() -> None:
    result = (await call("current_time", {"timezone": "Asia/Kolkata"})).result
    stamp = datetime.fromisoformat(result.split(" ")[0])
    assert stamp.utcoffset() is not None and stamp.utcoffset().total_seconds() == 5.5 * 3600
    assert "Asia/Kolkata" in result
    assert "unknown time zone" in (await call("current_time", {"timezone": "Mars/Olympus"})).error


# ---------------------------------------------------------------------------------------------------------------
# http_fetch


async def test_http_fetch_returns_readable_text_of_a_page(site: Site) -> None:
    outcome = await call("http_fetch", {"url": f"{site.url}/page"})
    assert outcome.error == ""
    head, _, text = outcome.result.partition("\n\n")
    assert head.splitlines() == [f"URL: {site.url}/page", "Status: 200", "Title: Quarterly report"]
    assert text.splitlines() == ["Home", "", "Results", "", "Revenue grew 12%&more.", "", "Second paragraph."]
    assert "secret" not in outcome.result and "color" not in outcome.result and "enable js" not in outcome.result


async def test_http_fetch_follows_redirects_reads_json_and_refuses_binary_and_errors(site: Site) -> None:
    outcome = await call("http_fetch", {"url": f"{site.url}/redirect"})
    assert outcome.result.startswith(f"URL: {site.url}/page\nStatus: 200")
    assert json.loads((await call("http_fetch", {"url": f"{site.url}/json"})).result.split("\n\n", 1)[1]) == {
        "ok": True
    }
    assert "is image/png, not text" in (await call("http_fetch", {"url": f"{site.url}/image"})).error
    assert "answered HTTP 404" in (await call("http_fetch", {"url": f"{site.url}/missing"})).error


async def test_http_fetch_caps_the_size_and_the_time(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    outcome = await call("http_fetch", {"url": f"{site.url}/big", "max_bytes": 1000})
    body = outcome.result.split("\n\n", 1)[1]
    assert body == "x" * 1000 + " [truncated]"
    # Without max_bytes the text is still capped well below the tool runtime's limit.
    outcome = await call("http_fetch", {"url": f"{site.url}/big"})
    assert len(outcome.result) < 12_100 and outcome.result.endswith(" [truncated]")

    monkeypatch.setattr(web_tools, "FETCH_TIMEOUT_S", 0.3)
    started = asyncio.get_running_loop().time()
    outcome = await call("http_fetch", {"url": f"{site.url}/slow"})
    assert "timed out" in outcome.error, outcome
    assert asyncio.get_running_loop().time() - started < 3


async def test_http_fetch_reads_a_body_sent_in_several_chunks(site: Site) -> None:
    outcome = await call("http_fetch", {"url": f"{site.url}/streamed", "max_bytes": 25_000})
    body = outcome.result.split("\n\n", 1)[1]
    # 25 000 bytes were asked for: the text cap (12 000 characters) applies, and it spans the first two chunks.
    assert body == "a" * 10_000 + "b" * 2_000 + " [truncated]"


async def test_the_ssrf_guard_refuses_private_targets_without_connecting(site: Site) -> None:
    """With ASTRA_ALLOW_PRIVATE_URLS off, nothing private is reached: not the loopback server (which would answer),
    not cloud metadata, not other schemes, however the address is spelled."""
    port = site.url.rsplit(":", 1)[1]
    for url, reason in [
        (f"{site.url}/page", "loopback"),
        (f"http://localhost:{port}/page", "loopback"),
        (f"http://2130706433:{port}/page", "loopback"),  # 127.0.0.1 as one decimal number
        (f"http://[::ffff:127.0.0.1]:{port}/page", "loopback"),
        (f"http://[::1]:{port}/page", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a"),  # cloud metadata
        ("http://10.0.0.8/", "private"),
        ("http://0.0.0.0/", "0.0.0.0 is a"),
        ("file:///etc/passwd", "only http and https"),
        ("ftp://example.com/x", "only http and https"),
    ]:
        for tool in ("http_fetch", "rss_read"):
            outcome = await call(tool, {"url": url}, allow_private=False)
            assert outcome.error.startswith(f"refused to fetch {url}"), (tool, url, outcome)
            assert reason in outcome.error, (tool, url, outcome.error)
    assert site.hits == []
    # The same request goes through once private URLs are allowed.
    assert (await call("http_fetch", {"url": f"{site.url}/page"}, allow_private=True)).error == ""
    assert site.hits == ["/page"]


async def test_without_deps_the_guard_defaults_to_refusing(site: Site) -> None:
    outcome = await runner().run("http_fetch", json.dumps({"url": f"{site.url}/page"}), ToolContext("u", "w", "s", "a"))
    assert "refused" in outcome.error and site.hits == []


# ---------------------------------------------------------------------------------------------------------------
# rss_read


async def test_rss_read_lists_items_of_rss_and_atom_feeds(site: Site) -> None:
    outcome = await call("rss_read", {"url": f"{site.url}/rss", "limit": 2})
    assert outcome.error == ""
    assert outcome.result.splitlines() == [
        "Feed: Astra news",
        f"URL: {site.url}/rss",
        "",
        "1. First post (Mon, 02 Nov 2026 10:00:00 GMT)",
        "   http://example.com/1",
        "   Hello world",
        "2. Second post",
        "   http://example.com/2",
    ]
    atom = (await call("rss_read", {"url": f"{site.url}/atom"})).result
    assert atom.splitlines()[0] == "Feed: Atom feed"
    assert "1. Atom entry (2026-11-01T00:00:00Z)" in atom and "Short summary" in atom


async def test_rss_read_refuses_what_is_not_a_feed(site: Site) -> None:
    assert "is not an RSS or Atom feed" in (await call("rss_read", {"url": f"{site.url}/json"})).error
    assert "answered HTTP 404" in (await call("rss_read", {"url": f"{site.url}/nothing"})).error


# ---------------------------------------------------------------------------------------------------------------
# Third-party tools and skill manifests


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, str, str], None]]:
    """Installs a module as the one `astra.tools` entry point: plugin(module name, source, entry point value)."""
    installed: list[str] = []
    monkeypatch.syspath_prepend(str(tmp_path))

    def install(name: str, source: str, value: str) -> None:
        (tmp_path / f"{name}.py").write_text(source)
        installed.append(name)
        point = EntryPoint(name=name, value=value, group="astra.tools")
        monkeypatch.setattr(registry, "entry_points", lambda group: [point] if group == "astra.tools" else [])

    yield install
    for name in installed:
        sys.modules.pop(name, None)


async def test_a_tool_from_an_entry_point_is_registered_and_usable_in_a_skill(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plugin: Callable[[str, str, str], None]
) -> None:
    plugin(
        "astra_weather_plugin",
        "from server.tools.catalog import ToolSpec\n"
        "from server.tools.registry import handler\n"
        "SPEC = ToolSpec('weather', 'Weather of a city.', {'type': 'object', 'properties': {'city': {'type':"
        " 'string'}}, 'required': ['city'], 'additionalProperties': False}, cache_ttl_s=60)\n"
        "@handler('weather', SPEC)\n"
        "async def weather(arguments, context):\n"
        "    return 'sunny in ' + arguments['city']\n",
        "astra_weather_plugin",
    )
    skills = tmp_path / "skills"
    skills.mkdir()
    (skills / "weather.yaml").write_text(
        "id: weather\ndisplayName: Weather\ncategory: knowledge\ntools: [weather, current_time]\n"
        "promptContext: Use the weather tool.\n"
    )
    loaded = registry.load_tools()
    catalog = Catalog.load(str(skills), loaded.specs)
    assert catalog.skills["weather"].tools == ("weather", "current_time")
    assert catalog.tools["weather"].cache_ttl_s == 60
    tools = ToolRunner(catalog.tools, loaded.handlers)
    assert (await tools.run("weather", '{"city": "Oslo"}', context(True))).result == "sunny in Oslo"
    assert "invalid arguments" in (await tools.run("weather", '{"town": "Oslo"}', context(True))).error
    # Loading registers nothing in module state: without the entry point, the tool is gone.
    monkeypatch.setattr(registry, "entry_points", lambda group: [])
    assert "weather" not in registry.load_tools().handlers


def test_a_plugin_may_not_take_over_a_built_in_tool(plugin: Callable[[str, str, str], None]) -> None:
    source = (
        "from server.tools.registry import handler\n@handler('calculator')\nasync def calc(a, c):\n    return '4'\n"
    )
    plugin("astra_rogue_plugin", source, "astra_rogue_plugin:calc")
    with pytest.raises(ValueError, match="tool 'calculator' has two handlers"):
        registry.load_tools()


def test_a_manifest_naming_an_unknown_tool_stops_start_up(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("id: broken\ntools: [http_fetch, teleport, mind_read]\n")
    with pytest.raises(ConfigError) as err:
        Catalog.load(str(tmp_path))
    assert str(err.value) == f"skill manifest {tmp_path / 'broken.yaml'} names unknown tools: mind_read, teleport"


def test_cache_settings_of_the_built_in_tools() -> None:
    ttl = {name: spec.cache_ttl_s for name, spec in BUILTIN_TOOLS.items()}
    assert ttl["http_fetch"] == ttl["rss_read"] == 300
    assert ttl["current_time"] == ttl["calculator"] == ttl["session_search"] == ttl["memory_write"] == 0
    assert replace(BUILTIN_TOOLS["calculator"]).cost_usd_per_call == 0
