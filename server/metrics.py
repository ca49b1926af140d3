"""Prometheus metrics of the gRPC core (the edge defines its own per-route figures)."""

import functools
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

GRPC_REQUESTS = Counter("astra_grpc_requests_total", "gRPC calls handled", ["method", "code"])
GRPC_LATENCY = Histogram(
    "astra_grpc_request_duration_seconds",
    "gRPC call latency until the last response message",
    ["method"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
GRPC_IN_FLIGHT = Gauge("astra_grpc_in_flight", "gRPC calls being handled", ["method"])


# Resolving a labelled child takes a lock and a lookup each time; methods and codes are bounded (only the contract's
# methods reach the layers), so the children are kept, as the edge keeps its own (edge/metrics.py).
@functools.lru_cache(maxsize=4096)
def grpc_in_flight(method: str) -> Any:
    return GRPC_IN_FLIGHT.labels(method)


@functools.lru_cache(maxsize=4096)
def grpc_latency(method: str) -> Any:
    return GRPC_LATENCY.labels(method)


@functools.lru_cache(maxsize=4096)
def grpc_requests(method: str, code: str) -> Any:
    return GRPC_REQUESTS.labels(method, code)


DB_UP = Gauge("astra_database_up", "1 when the last database probe succeeded")

CHAT_OVERHEAD = Histogram(
    "astra_chat_overhead_seconds",
    "Time a chat turn spent in the gateway itself, excluding the provider and tools",
    buckets=(0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.25, 1),
)
TURNS = Counter("astra_chat_turns_total", "Chat turns by outcome", ["outcome"])
# server/telemetry.py's phases: auth, open, history, recall, user_message, provider, tool, save. Fine-grained below a
# second, where the gateway's own phases fall; a few coarse buckets above, for providers and tools.
TURN_PHASE = Histogram(
    "astra_turn_phase_seconds",
    "Time a chat turn spent in each of its phases",
    ["phase"],
    buckets=(
        0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1,
        0.25, 0.5, 1, 2.5, 10, 30, 60,
    ),
)  # fmt: skip


@functools.lru_cache(maxsize=64)
def turn_phase(phase: str) -> Any:
    return TURN_PHASE.labels(phase)


MEMORY_EMBEDDED = Counter("astra_memory_items_embedded_total", "Memory items the indexer has embedded")
MEMORY_INDEX_YIELDED = Counter(
    "astra_memory_index_yielded_seconds_total", "Seconds the memory indexer waited so that live chat turns had the CPU"
)


class _EmbeddedRestarts(Collector):
    """astra_embedded_db_restarts_total: how often the supervisor started the embedded PostgreSQL again after its
    postmaster died (server/db/embedded.py). `source` is set where an embedded server is supervised: in this process,
    or in the `--processes` parent (read from its state file); the metric is absent with an external database."""

    def __init__(self) -> None:
        self.source: Callable[[], int] | None = None

    def collect(self) -> Iterator[CounterMetricFamily]:
        if self.source is not None:
            yield CounterMetricFamily(
                "astra_embedded_db_restarts", "Restarts of the embedded PostgreSQL after its postmaster died",
                value=self.source(),
            )  # fmt: skip

    def describe(self) -> Iterator[CounterMetricFamily]:
        return iter(())  # values are read at scrape time, and only where a supervisor exists


EMBEDDED_DB_RESTARTS = _EmbeddedRestarts()
REGISTRY.register(EMBEDDED_DB_RESTARTS)
