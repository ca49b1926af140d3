"""The SSRF guard itself: refused targets never get a connection, and every redirect hop is checked again."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from server.net import ssrf
from server.net.hosts import parse_entries, parse_entry
from tests.providers.fake_vendors import FakeVendor


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "file:///etc/passwd",
        "gopher://127.0.0.1/",
        "http:///no-host",
    ],
)
async def test_refused_targets(url: str) -> None:
    with pytest.raises(ssrf.BlockedURL):
        await ssrf.fetch(url)  # IP literals resolve locally: nothing is sent anywhere


@pytest.fixture
async def servers() -> AsyncIterator[tuple[str, str]]:
    """A 'public' site on 127.0.0.2 whose redirect points at an 'internal' one on 127.0.0.1."""
    internal_hits: list[str] = []

    async def secret(request: web.Request) -> web.Response:
        internal_hits.append(request.path)
        return web.Response(text="internal secret")

    internal = web.Application()
    internal.router.add_get("/secret", secret)
    internal_runner = web.AppRunner(internal)
    await internal_runner.setup()
    await web.TCPSite(internal_runner, "127.0.0.1", 0).start()
    internal_url = f"http://127.0.0.1:{internal_runner.addresses[0][1]}/secret"

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(internal_url)

    async def page(request: web.Request) -> web.Response:
        return web.Response(text="x" * 200_000)

    public = web.Application()
    public.router.add_get("/go", redirect)
    public.router.add_get("/big", page)
    public_runner = web.AppRunner(public)
    await public_runner.setup()
    await web.TCPSite(public_runner, "127.0.0.2", 0).start()
    yield f"http://127.0.0.2:{public_runner.addresses[0][1]}", internal_url
    assert internal_hits == [], "the guarded fetch reached the internal server"
    await public_runner.cleanup()
    await internal_runner.cleanup()


@pytest.fixture
def only_127_0_0_1_is_internal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback is all this machine has: treat 127.0.0.2 as public and 127.0.0.1 as the internal network."""
    monkeypatch.setattr(ssrf, "blocked_address", lambda ip: "internal" if ip == "127.0.0.1" else "")


async def test_a_redirect_to_an_internal_address_is_refused(servers, only_127_0_0_1_is_internal) -> None:
    public, _ = servers
    with pytest.raises(ssrf.BlockedURL, match="refused address"):
        await ssrf.fetch(f"{public}/go")


async def test_redirects_are_returned_not_followed_when_asked(servers, only_127_0_0_1_is_internal) -> None:
    public, internal = servers
    result = await ssrf.fetch(f"{public}/go", max_redirects=0)
    assert result.status == 302
    assert result.headers["Location"] == internal


async def test_bodies_are_read_whole_up_to_the_cap(servers, only_127_0_0_1_is_internal) -> None:
    public, _ = servers
    whole = await ssrf.fetch(f"{public}/big")
    assert len(whole.body) == 200_000 and not whole.truncated
    capped = await ssrf.fetch(f"{public}/big", max_bytes=50_000)
    assert len(capped.body) == 50_000 and capped.truncated


# ---------------------------------------------------------------------------------------------------------------
# Allow-listed hosts and the pinned connector (LLM providers stream through it)


@pytest.mark.parametrize(
    ("entry", "host", "port"),
    [("localhost:11434", "localhost", 11434), ("10.0.3.7", "10.0.3.7", None), ("[::1]:8080", "::1", 8080)],
)
def test_allow_list_entries_parse(entry: str, host: str, port: int | None) -> None:
    parsed = parse_entry(entry)
    assert (parsed.host, parsed.port) == (host, port)


@pytest.mark.parametrize("entry", ["http://10.0.3.7", "10.0.3.7:port", "10.0.3.7/v1", "user@10.0.3.7", ""])
def test_bad_allow_list_entries_are_refused(entry: str) -> None:
    with pytest.raises(ValueError):
        parse_entry(entry)


async def test_an_allow_listed_host_passes_on_its_port_only() -> None:
    allowed = parse_entries(["127.0.0.1:8000", "::1"])
    assert (await ssrf.resolve_checked("http://127.0.0.1:8000/v1", allowed_hosts=allowed))[2] == "127.0.0.1"
    assert (await ssrf.resolve_checked("http://[::1]:9999/", allowed_hosts=allowed))[2] == "::1"  # any port
    with pytest.raises(ssrf.BlockedURL, match="loopback"):
        await ssrf.resolve_checked("http://127.0.0.1:8001/v1", allowed_hosts=allowed)
    with pytest.raises(ssrf.BlockedURL, match="only http and https"):
        await ssrf.resolve_checked("ftp://127.0.0.1:8000/", allowed_hosts=allowed)


async def test_a_pinned_connector_reaches_only_the_checked_host() -> None:
    async with FakeVendor() as site:  # on 127.0.0.1, which `localhost` resolves to
        port = site.url.rsplit(":", 1)[1]
        connector = await ssrf.pinned_connector(f"http://localhost:{port}/", allowed_hosts=parse_entries(["localhost"]))
        async with aiohttp.ClientSession(connector=connector) as session:
            async with session.get(f"http://localhost:{port}/x") as resp:
                assert resp.status == 599  # the fake's answer when nothing is scripted: it was reached
            # Another name is never resolved: the session can only reach the address that was checked.
            with pytest.raises(aiohttp.ClientConnectorError):
                await session.get(f"http://example.invalid:{port}/x")
        assert [r.headers["Host"] for r in site.requests] == [f"localhost:{port}"]


async def test_a_pinned_connector_is_refused_for_a_private_address() -> None:
    with pytest.raises(ssrf.BlockedURL, match="loopback"):
        await ssrf.pinned_connector("http://127.0.0.1:8000/")
