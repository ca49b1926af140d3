"""Host allow-list entries (`host` or `host:port`) as operators write them in settings, and matching a URL's host
against them. Kept apart from the guard so config parsing needs no HTTP client."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class HostEntry:
    host: str  # lowercased; IPv6 without brackets
    port: int | None  # None: any port

    def matches(self, host: str, port: int) -> bool:
        return _same_host(self.host, host.lower()) and (self.port is None or self.port == port)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"


def _same_host(a: str, b: str) -> bool:
    if a == b:
        return True
    try:  # 0:0::1 and ::1 are one address
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return False


def parse_entry(text: str) -> HostEntry:
    """`host`, `host:port`, `[v6]` or `[v6]:port`; ValueError naming what is wrong otherwise."""
    raw = text.strip()
    if not raw or any(c in raw for c in "/?#@ \t"):
        raise ValueError(f"{text!r} is not a host or host:port")
    if raw.count(":") > 1 and not raw.startswith("["):
        raw = f"[{raw}]"  # a bare IPv6 address
    parts = urlsplit(f"//{raw}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{text!r} has an invalid port") from None
    if not parts.hostname:
        raise ValueError(f"{text!r} has no host")
    return HostEntry(parts.hostname.lower(), port)


def parse_entries(values: Iterable[str]) -> tuple[HostEntry, ...]:
    return tuple(parse_entry(value) for value in values)


def find(entries: Iterable[HostEntry], host: str, port: int) -> HostEntry | None:
    """The entry for host:port, the one naming the port first."""
    found = [entry for entry in entries if entry.matches(host, port)]
    found.sort(key=lambda entry: entry.port is None)
    return found[0] if found else None
