"""Outbound HTTP that cannot be pointed at the gateway's own network (SSRF guard), shared by webhooks, heartbeat
monitors and the http_fetch tool.

The host is resolved once and the connection is pinned to the checked address, so a DNS answer that changes
between the check and the connect (rebinding) cannot slip through; every redirect is checked again. Loopback,
private, link-local (cloud metadata), CGNAT, multicast, reserved and unspecified addresses are refused, as are
schemes other than http and https, unless ASTRA_ALLOW_PRIVATE_URLS=true or the host is on an allow-list the caller
passes (e.g. ASTRA_PROVIDER_HOSTS for self-hosted models). `pinned_connector` gives streaming callers (LLM providers)
the same pinned connection as `fetch`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import aiohttp
import yarl
from aiohttp.abc import AbstractResolver, ResolveResult

from server.net.hosts import HostEntry, find

_EXTRA_BLOCKED = [
    ipaddress.ip_network("100.64.0.0/10"),  # carrier-grade NAT
    ipaddress.ip_network("192.0.0.0/24"),  # IETF protocol assignments
    ipaddress.ip_network("198.18.0.0/15"),  # benchmarking
    ipaddress.ip_network("fd00:ec2::254/128"),  # AWS metadata over IPv6
]
DEFAULT_MAX_BYTES = 1024 * 1024


class BlockedURL(ValueError):
    """The URL may not be fetched: bad scheme, unresolvable host, or an address inside the guard."""


@dataclass(frozen=True)
class FetchResult:
    status: int
    headers: dict[str, str]
    body: bytes
    url: str  # the final URL after redirects
    truncated: bool


def blocked_address(ip: str) -> str:
    """Why an address may not be reached, or "" when it may."""
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    for attribute in ("is_loopback", "is_private", "is_link_local", "is_multicast", "is_reserved", "is_unspecified"):
        if getattr(address, attribute):
            return f"{address} is a {attribute[3:].replace('_', '-')} address"
    if any(address in network for network in _EXTRA_BLOCKED):
        return f"{address} is in a reserved range"
    return ""


def check_scheme(url: str) -> tuple[str, int]:
    """(host, port) of an http(s) URL; BlockedURL otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise BlockedURL(f"only http and https URLs are allowed, not {parts.scheme or 'a relative URL'}")
    if not parts.hostname:
        raise BlockedURL("the URL has no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise BlockedURL("the URL has an invalid port") from None
    _same_host_as_aiohttp(url, parts.hostname)
    return parts.hostname, port


def _same_host_as_aiohttp(url: str, host: str) -> None:
    """aiohttp parses URLs with yarl, and connects to an IP literal without asking the pinned resolver: a URL the
    two parsers read differently could be checked as one host and connect to another."""
    try:
        theirs = yarl.URL(url).host or ""
    except ValueError:
        raise BlockedURL("the URL is not valid") from None
    try:
        address = ipaddress.ip_address(theirs)
    except ValueError:
        return  # a name: aiohttp asks the pinned resolver, which answers only for the checked host
    try:
        if ipaddress.ip_address(host) == address:
            return
    except ValueError:
        pass
    raise BlockedURL("the URL's host is ambiguous")


def _private_allowed(host: str, port: int, allow_private: bool, allowed_hosts: Iterable[HostEntry]) -> bool:
    return allow_private or find(allowed_hosts, host, port) is not None


async def resolve_checked(
    url: str, allow_private: bool = False, allowed_hosts: Iterable[HostEntry] = ()
) -> tuple[str, int, str]:
    """(host, port, pinned ip) for a URL that passes the guard; BlockedURL otherwise. A host on `allowed_hosts`
    (host, or host:port) may resolve to private addresses; it still gets the scheme check and the pinning."""
    host, port = check_scheme(url)
    allow_private = _private_allowed(host, port, allow_private, allowed_hosts)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise BlockedURL(f"cannot resolve {host}") from None
    addresses = sorted({info[4][0] for info in infos})
    if not addresses:
        raise BlockedURL(f"cannot resolve {host}")
    if not allow_private:
        # Every answer must pass: otherwise a host with one public and one private record could be steered.
        for ip in addresses:
            reason = blocked_address(ip)
            if reason:
                raise BlockedURL(f"{host} resolves to a refused address: {reason}")
    return host, port, addresses[0]


class _PinnedResolver(AbstractResolver):
    """Answers the one host with the address that was checked, and nothing else."""

    def __init__(self, host: str, ip: str):
        self.host, self.ip = host, ip

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[ResolveResult]:
        if host != self.host:
            raise OSError(f"unexpected host {host}")
        family = socket.AF_INET6 if ":" in self.ip else socket.AF_INET
        return [
            ResolveResult(hostname=host, host=self.ip, port=port, family=family, proto=0, flags=socket.AI_NUMERICHOST)
        ]

    async def close(self) -> None:
        pass


async def pinned_connector(
    url: str, allow_private: bool = False, allowed_hosts: Iterable[HostEntry] = ()
) -> aiohttp.TCPConnector:
    """A one-use connector that can only reach the checked address of url's host (BlockedURL if the guard refuses
    it). Callers must not follow redirects with it: each hop needs a check and a connector of its own."""
    host, _, ip = await resolve_checked(url, allow_private, allowed_hosts)
    return aiohttp.TCPConnector(resolver=_PinnedResolver(host, ip), use_dns_cache=False, force_close=True)


async def fetch(
    url: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout_s: float = 10.0,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_redirects: int = 3,
    allow_private: bool = False,
) -> FetchResult:
    """One request through the guard. Redirects are followed by hand (each hop checked) up to max_redirects;
    with max_redirects=0 a redirect is returned as it is. The body is cut at max_bytes."""
    current = url
    for hop in range(max_redirects + 1):
        connector = await pinned_connector(current, allow_private)
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            async with session.request(method, current, headers=headers, data=body, allow_redirects=False) as response:
                location = response.headers.get("Location")
                if response.status in (301, 302, 303, 307, 308) and location and hop < max_redirects:
                    current = urljoin(current, location)
                    if response.status == 303:
                        method, body = "GET", None
                    continue
                data = bytearray()
                async for chunk in response.content.iter_chunked(64 * 1024):
                    data += chunk
                    if len(data) > max_bytes:
                        break
                return FetchResult(
                    status=response.status,
                    headers={k: v for k, v in response.headers.items()},
                    body=bytes(data[:max_bytes]),
                    url=current,
                    truncated=len(data) > max_bytes,
                )
    raise BlockedURL(f"more than {max_redirects} redirects")


def describe(exc: BaseException) -> str:
    """A short, secret-free description of a fetch failure for logs and delivery records."""
    if isinstance(exc, BlockedURL):
        return f"refused: {exc}"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientError):
        return f"{type(exc).__name__}: {exc}"[:300]
    return type(exc).__name__
