"""Per-route HTTP figures of the edge (route = the HttpRule template, so label values stay bounded).

They live in a registry of their own that the edge appends to every Prometheus exposition it relays from the
core, so /metrics shows both whether the edge runs in the core's process or its own, never twice.
"""

import functools
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

EDGE_REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "astra_http_requests_total",
    "HTTP requests answered by the edge",
    ["route", "method", "status"],
    registry=EDGE_REGISTRY,
)
HTTP_LATENCY = Histogram(
    "astra_http_request_duration_seconds",
    "Time until the edge finished the response (whole stream for SSE)",
    ["route", "method"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=EDGE_REGISTRY,
)
HTTP_IN_FLIGHT = Gauge("astra_http_in_flight", "HTTP requests being handled by the edge", registry=EDGE_REGISTRY)
WS_CONNECTIONS = Gauge("astra_ws_connections", "Open /ws sockets", registry=EDGE_REGISTRY)


# Resolving a labelled child takes a lock and a lookup each time; label values are bounded (templates, methods,
# statuses), so the children are kept.
@functools.lru_cache(maxsize=4096)
def http_latency(route: str, method: str) -> Any:
    return HTTP_LATENCY.labels(route, method)


@functools.lru_cache(maxsize=4096)
def http_requests(route: str, method: str, status: int) -> Any:
    return HTTP_REQUESTS.labels(route, method, str(status))
