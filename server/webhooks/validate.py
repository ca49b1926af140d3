"""What a webhook subscription may hold: a target URL the SSRF guard lets through (also the rule for heartbeat
targets), known event types, a bounded description."""

from __future__ import annotations

from server import events
from server.errors import InvalidArgument
from server.net import ssrf

MAX_URL, MAX_DESCRIPTION = 2048, 500


async def check_url(url: str, allow_private: bool, field: str = "url") -> str:
    """The URL, if the SSRF guard lets it through now; INVALID_ARGUMENT otherwise (it is checked again per send)."""
    url = url.strip()
    if not url:
        raise InvalidArgument(f"{field} is required")
    if len(url) > MAX_URL:
        raise InvalidArgument(f"{field} must be at most {MAX_URL} characters")
    try:
        await ssrf.resolve_checked(url, allow_private)
    except ssrf.BlockedURL as exc:
        raise InvalidArgument(f"{field} is refused: {exc}") from None
    return url


def check_events(values: list[str]) -> list[str]:
    if not values:
        raise InvalidArgument('events must list at least one event type (or "*")')
    for value in values:
        if value != "*" and value not in events.EVENT_TYPES:
            raise InvalidArgument(f"events: unknown event type {value!r} (known: {', '.join(events.EVENT_TYPES)}, *)")
    return sorted(set(values))


def check_description(value: str) -> str:
    if len(value) > MAX_DESCRIPTION:
        raise InvalidArgument(f"description must be at most {MAX_DESCRIPTION} characters")
    return value
