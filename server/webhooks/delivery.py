"""One HTTP attempt to deliver one event: signed, 10 s timeout, redirects not followed (a 3xx is a failure)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from opentelemetry.trace import Status, StatusCode

from server import telemetry
from server.net import ssrf
from server.webhooks import signing

TIMEOUT_S = 10.0
EXCERPT_BYTES = 1024


@dataclass(frozen=True)
class Attempt:
    status_code: int
    latency_ms: float
    excerpt: str
    error: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300 and not self.error

    @property
    def gone(self) -> bool:
        return self.status_code == 410


def body_of(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


async def send(
    url: str,
    secret: str,
    event_id: str,
    payload: dict[str, Any],
    allow_private: bool,
    *,
    webhook_id: str = "",
    attempt: int = 0,
) -> Attempt:
    """One attempt, traced as `webhook.deliver` (its request carries the traceparent when tracing is on)."""
    attributes = {
        "astra.webhook.id": webhook_id,
        "astra.webhook.event_id": event_id,
        "astra.webhook.event_type": str(payload.get("type", "")),
        "astra.webhook.attempt": attempt,
        "server.address": urlsplit(url).hostname or "",  # not the URL: its path or query may hold a token
    }
    with telemetry.span("webhook.deliver", attributes) as span:
        result = await _send(url, secret, event_id, payload, allow_private)
        if span is not None:
            span.set_attribute("http.response.status_code", result.status_code)
            if not result.ok:
                span.set_status(Status(StatusCode.ERROR, result.error or "failed"))
        return result


async def _send(url: str, secret: str, event_id: str, payload: dict[str, Any], allow_private: bool) -> Attempt:
    body = body_of(payload)
    started = time.perf_counter()
    try:
        result = await ssrf.fetch(
            url,
            method="POST",
            headers=signing.headers(secret, event_id, int(time.time()), body),
            body=body,
            timeout_s=TIMEOUT_S,
            max_bytes=EXCERPT_BYTES,
            max_redirects=0,
            allow_private=allow_private,
        )
    except Exception as exc:  # any transport failure is a failed attempt, recorded and retried
        return Attempt(0, _ms(started), "", ssrf.describe(exc))
    excerpt = result.body.decode("utf-8", errors="replace")[:EXCERPT_BYTES]
    error = "" if 200 <= result.status < 300 else f"receiver answered HTTP {result.status}"
    return Attempt(result.status, _ms(started), excerpt, error)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
