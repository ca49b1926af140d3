"""Where a provider call goes, and which key it carries.

The operator's base URL (OPENAI_BASE_URL / ANTHROPIC_BASE_URL, or the vendor's own) is trusted: pooled connections
and the server's key. An agent's own `baseUrl` is written by whoever may edit the workspace's agents, so it is
not: it must pass the SSRF guard when the agent is saved and again on every call (DNS may have changed since), the
connection is pinned to the address that was checked, redirects are not followed, and it never carries the
server's key; it carries a key only when the operator configured one for its host (ASTRA_PROVIDER_KEYS).
ASTRA_PROVIDER_HOSTS lets named hosts on a private network (self-hosted models) through the private-range rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp

from server.config import Settings
from server.net import ssrf
from server.net.hosts import HostEntry, find, parse_entries, parse_entry

MAX_BASE_URL_CHARS = 2048


class BaseUrlRefused(ValueError):
    """An agent's baseUrl that may not be called."""


def check_form(url: str) -> None:
    """What can be told from the URL alone: http(s), a host, and no query, fragment or user:password part (a base
    URL has paths appended to it, and credentials in it would be sent to whoever the URL names)."""
    if len(url) > MAX_BASE_URL_CHARS:
        raise BaseUrlRefused(f"must be at most {MAX_BASE_URL_CHARS} characters")
    if any(c.isspace() or not c.isprintable() or c == "\\" for c in url):
        raise BaseUrlRefused("must not contain spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise BaseUrlRefused("is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BaseUrlRefused("must be an http(s) URL")
    if "@" in parts.netloc:
        raise BaseUrlRefused("must not contain a user name or password")
    if "?" in url:  # also a bare "?": anything appended to the base would land in the query
        raise BaseUrlRefused("must not have a query string")
    if "#" in url:
        raise BaseUrlRefused("must not have a fragment")
    try:
        ssrf.check_scheme(url)
    except ssrf.BlockedURL as exc:
        raise BaseUrlRefused(str(exc)) from None


@dataclass(frozen=True)
class Route:
    """One call's destination: the base URL, the key for it, and whether it must go through the guard."""

    base_url: str
    key: str = field(repr=False)
    guarded: bool


@dataclass(frozen=True)
class AgentEndpoints:
    """The operator's rules for agents' own base URLs."""

    allow_private: bool = False
    hosts: tuple[HostEntry, ...] = ()
    keys: tuple[tuple[HostEntry, str], ...] = field(default=(), repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> AgentEndpoints:
        return cls(
            allow_private=settings.allow_private_urls,
            hosts=parse_entries(settings.provider_hosts),
            keys=tuple((parse_entry(host), key) for host, key in settings.provider_keys),
        )

    def route(self, agent_base_url: str, base_url: str, server_key: str) -> Route:
        """Where a call goes: the operator's `base_url` with `server_key` unless the agent names another base."""
        agent_base_url = agent_base_url.rstrip("/")
        if not agent_base_url or agent_base_url == base_url:
            return Route(base_url, server_key, guarded=False)
        return Route(agent_base_url, self.key_for(agent_base_url), guarded=True)

    def key_for(self, url: str) -> str:
        """The key the operator configured for url's host (host:port entries first), or ""."""
        try:
            host, port = ssrf.check_scheme(url)
        except ssrf.BlockedURL:
            return ""
        keys = dict(self.keys)
        entry = find(keys, host, port)
        return keys[entry] if entry is not None else ""

    async def check(self, url: str) -> None:
        """The full check, DNS included; BaseUrlRefused with the reason."""
        check_form(url)
        try:
            await ssrf.resolve_checked(url, self.allow_private, self.hosts)
        except ssrf.BlockedURL as exc:
            raise BaseUrlRefused(f"is refused: {exc}") from None

    async def connector(self, url: str) -> aiohttp.TCPConnector:
        """The same check, and a one-use connector pinned to the address it found; BaseUrlRefused if refused."""
        check_form(url)
        try:
            return await ssrf.pinned_connector(url, self.allow_private, self.hosts)
        except ssrf.BlockedURL as exc:
            raise BaseUrlRefused(f"is refused: {exc}") from None
