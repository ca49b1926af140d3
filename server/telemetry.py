"""Traces (OpenTelemetry) and the time each phase of a chat turn takes.

`configure` runs once per process, before anything it instruments is built (`astra serve`; with `--processes` each
copy configures its own). With OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) set, or an
exporter given (tests), it installs the SDK's TracerProvider, exporting over OTLP/HTTP in batches (the standard
OTEL_* variables apply: OTEL_SERVICE_NAME, default "astra", OTEL_BSP_*, OTEL_TRACES_SAMPLER, …), and the
instrumentations of grpc.aio (server and client), aiohttp (server and client) and psycopg. Without, nothing is
installed: `tracing()` is False, no span is made, and outgoing requests carry no traceparent.

`Phase` is a turn's phase: its duration always goes to astra_turn_phase_seconds{phase}; with tracing on it is also
the span `turn.<phase>`, current inside it, so the queries and HTTP calls made there are its children. The turn runs
it on every phase, so with tracing off it costs a clock read and a histogram observation, nothing more.
"""

from __future__ import annotations

import contextvars
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from server.metrics import turn_phase

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

    from server.config import Settings

__all__ = ["Phase", "configure", "phase", "reset", "serve_span", "span", "tag_request", "tracing"]

REQUEST_ID = "astra.request_id"
DEFAULT_SERVICE_NAME = "astra"
# Probes and scrapes would otherwise make a trace every few seconds (OTEL_PYTHON_AIOHTTP_SERVER_EXCLUDED_URLS wins).
UNTRACED_PATHS = "^/health$,^/readiness$,^/metrics$"
# gRPC codes the grpc instrumentation marks as a server's error (the caller's mistakes are not the server's).
_SERVER_ERRORS = frozenset({"UNKNOWN", "DEADLINE_EXCEEDED", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS"})

_tracer: trace.Tracer | None = None
_provider: TracerProvider | None = None
_instrumentors: list[Any] = []
# The phase an outbound HTTP call is made in, for its connect / first_byte events.
_PHASE = otel_context.create_key("astra.phase")


def tracing() -> bool:
    """Whether this process makes spans."""
    return _tracer is not None


def configure(settings: Settings | None = None, exporter: SpanExporter | None = None, role: str = "all") -> bool:
    """Installs tracing when an OTLP endpoint is configured or `exporter` is given; True when it did. A second call
    does nothing until `reset`."""
    global _tracer, _provider
    if _tracer is not None:
        return True
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    disabled = os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
    if exporter is None and (not endpoint or disabled):
        return False
    # The SDK is imported only here: a process without tracing never loads it.
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    attributes: dict[str, Any] = {"astra.role": role}
    named = os.environ.get("OTEL_SERVICE_NAME") or "service.name=" in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
    if not named:
        attributes["service.name"] = DEFAULT_SERVICE_NAME
    provider = TracerProvider(resource=Resource.create(attributes), sampler=_sampler())
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    # Global too, for libraries that trace on their own (the MCP SDK's client spans).
    trace.set_tracer_provider(provider)
    _instrument(provider)
    _provider, _tracer = provider, provider.get_tracer("astra")
    return True


def _sampler() -> Any:
    """OTEL_TRACES_SAMPLER's sampler (parent-based, always on by default), except that a client span with no parent
    is dropped: the workers' polling queries, health probes and cache listeners would be a trace each."""
    from opentelemetry.sdk.trace import sampling

    inner = sampling._get_from_env_or_default()  # the SDK's own reading of OTEL_TRACES_SAMPLER(_ARG)

    class DropOrphanClients(sampling.Sampler):
        def should_sample(
            self,
            parent_context: Any,
            trace_id: int,
            name: str,
            kind: SpanKind | None = None,
            attributes: Any = None,
            links: Any = None,
            trace_state: Any = None,
        ) -> sampling.SamplingResult:
            if kind is SpanKind.CLIENT and not trace.get_current_span(parent_context).get_span_context().is_valid:
                return sampling.SamplingResult(sampling.Decision.DROP)
            return inner.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

        def get_description(self) -> str:
            return f"DropOrphanClients{{{inner.get_description()}}}"

    return DropOrphanClients()


def _instrument(provider: TracerProvider) -> None:
    import aiohttp
    import yarl
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    from opentelemetry.instrumentation.aiohttp_server import AioHttpServerInstrumentor
    from opentelemetry.instrumentation.grpc import GrpcAioInstrumentorClient, GrpcAioInstrumentorServer, filters
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

    os.environ.setdefault("OTEL_PYTHON_AIOHTTP_SERVER_EXCLUDED_URLS", UNTRACED_PATHS)
    not_health = filters.negate(filters.health_check())

    def without_query(url: yarl.URL) -> str:
        # Webhook, feed and tool URLs are users' and may carry tokens in their query strings.
        return str(url.with_query(None).with_fragment(None))

    events = aiohttp.TraceConfig()
    events.on_connection_create_end.append(_connected)
    events.on_connection_reuseconn.append(_reused)
    events.on_request_end.append(_first_byte)
    instrumentors: list[tuple[Any, dict[str, Any]]] = [
        (GrpcAioInstrumentorServer(filter_=not_health), {}),
        (GrpcAioInstrumentorClient(filter_=not_health), {}),
        (AioHttpServerInstrumentor(), {}),
        (AioHttpClientInstrumentor(), {"url_filter": without_query, "trace_configs": [events]}),
        (PsycopgInstrumentor(), {}),
    ]
    for instrumentor, options in instrumentors:
        instrumentor.instrument(tracer_provider=provider, **options)
        _instrumentors.append(instrumentor)


async def _connected(session: Any, trace_config_ctx: Any, params: Any) -> None:
    _event_on_phase("connect", {"reused": False})


async def _reused(session: Any, trace_config_ctx: Any, params: Any) -> None:
    _event_on_phase("connect", {"reused": True})


async def _first_byte(session: Any, trace_config_ctx: Any, params: Any) -> None:
    # aiohttp's request end is the answer's head: the status line and headers have arrived.
    _event_on_phase("first_byte", {"http.response.status_code": params.response.status})


def _event_on_phase(name: str, attributes: dict[str, Any]) -> None:
    current = otel_context.get_value(_PHASE)
    if isinstance(current, Phase):
        current.event(name, attributes)


def reset() -> None:
    """Undoes `configure` (tests): the instrumentations removed, spans flushed, the global provider cleared (as
    opentelemetry-test-utils' reset_trace_globals does), so the rest of the process runs untraced."""
    global _tracer, _provider
    for instrumentor in _instrumentors:
        instrumentor.uninstrument()
    _instrumentors.clear()
    if _provider is not None:
        _provider.shutdown()
    _tracer = _provider = None
    from opentelemetry.util._once import Once

    trace._TRACER_PROVIDER = None  # type: ignore[attr-defined]
    trace._TRACER_PROVIDER_SET_ONCE = Once()  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------------------------------- spans


_OFF: AbstractContextManager[None] = nullcontext()


def span(
    name: str, attributes: Mapping[str, Any] | None = None, kind: SpanKind = SpanKind.INTERNAL
) -> AbstractContextManager[Span | None]:
    """A span current inside the block (None when tracing is off); an exception marks it as an error."""
    if _tracer is None:
        return _OFF
    return _tracer.start_as_current_span(name, attributes=attributes, kind=kind)


def tag_request(request_id: str) -> None:
    """The request id on the current span (the core's RPC span), so a trace is found from a log line."""
    if _tracer is not None:
        trace.get_current_span().set_attribute(REQUEST_ID, request_id)


def serve_span(method: str, metadata: Sequence[tuple[str, Any]]) -> Span:
    """The SERVER span of a call served in-process (server/local_channel.py), named and attributed as the grpc
    instrumentation names its own; its parent is a traceparent in the call's metadata if there is one, else the
    caller's current span (the edge's request). Only called with tracing on."""
    assert _tracer is not None
    parent = None
    if any(key == "traceparent" for key, _ in metadata):
        parent = propagate.extract(dict(metadata))
    service, _, name = method.lstrip("/").partition("/")
    attributes = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": name}
    return _tracer.start_span(method, context=parent, kind=SpanKind.SERVER, attributes=attributes)


def end_served(served: Span, code: Any) -> None:
    """Ends serve_span's span with the call's final status (a grpc.StatusCode)."""
    if code is not None:
        served.set_attribute("rpc.grpc.status_code", code.value[0])
        if code.name in _SERVER_ERRORS:
            served.set_status(Status(StatusCode.ERROR, code.name))
    served.end()


@contextmanager
def as_current(served: Span) -> Iterator[None]:
    """`served` as the current span inside the block."""
    token = otel_context.attach(trace.set_span_in_context(served))
    try:
        yield
    finally:
        otel_context.detach(token)


# -------------------------------------------------------------------------------------------------------- phases


class Phase:
    """One phase of a turn (see the module's docstring). As a context manager it is timed (and its span current)
    inside the block; a phase that crosses tasks (the provider's stream) is `start`ed, run in `context()` or
    under `current()`, and `end`ed, once, by whoever sees it finish."""

    __slots__ = ("_attributes", "_ended", "_span", "_started", "_token", "name")

    def __init__(self, name: str, attributes: Mapping[str, Any] | None = None):
        self.name = name
        self._attributes = attributes
        self._span: Span | None = None
        self._token: object | None = None
        self._started = 0.0
        self._ended = False

    def start(self) -> Phase:
        self._started = time.perf_counter()
        if _tracer is not None:
            self._span = _tracer.start_span("turn." + self.name, attributes=self._attributes)
        return self

    def __enter__(self) -> Phase:
        self.start()
        if self._span is not None:
            self._token = otel_context.attach(self._context())
        return self

    def __exit__(self, kind: Any, error: BaseException | None, tb: Any) -> None:
        if self._token is not None:
            otel_context.detach(self._token)  # type: ignore[arg-type]
            self._token = None
        self.end(error)

    def end(self, error: BaseException | None = None) -> None:
        """Records the phase's duration and ends its span (an Exception marks it as an error); later calls do
        nothing."""
        if self._ended:
            return
        self._ended = True
        turn_phase(self.name).observe(time.perf_counter() - self._started)
        if self._span is not None:
            if isinstance(error, Exception):
                self._span.record_exception(error)
                self._span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            self._span.end()

    def event(self, name: str, attributes: Mapping[str, Any] | None = None) -> None:
        if self._span is not None:
            self._span.add_event(name, attributes)

    def set(self, key: str, value: Any) -> None:
        if self._span is not None:
            self._span.set_attribute(key, value)

    def _context(self) -> otel_context.Context:
        assert self._span is not None
        return otel_context.set_value(_PHASE, self, trace.set_span_in_context(self._span))

    def context(self) -> contextvars.Context | None:
        """A copy of the current context with this phase's span current, for a task that works in the phase
        (None when tracing is off)."""
        if self._span is None:
            return None
        copied = contextvars.copy_context()
        copied.run(otel_context.attach, self._context())
        return copied

    def current(self) -> AbstractContextManager[Any]:
        """The phase's span current inside the block (which must not yield: a generator's consumer would see it)."""
        if self._span is None:
            return _OFF
        return _Attached(self._context())


class _Attached:
    __slots__ = ("_context", "_token")

    def __init__(self, context: otel_context.Context):
        self._context = context
        self._token: object | None = None

    def __enter__(self) -> None:
        self._token = otel_context.attach(self._context)

    def __exit__(self, *exc: object) -> None:
        otel_context.detach(self._token)  # type: ignore[arg-type]


def phase(name: str, **attributes: Any) -> Phase:
    """`with phase("open"): …` (see Phase)."""
    return Phase(name, attributes or None)


async def timed(name: str, work: Any) -> Any:
    """Awaits `work` (a coroutine) as the phase `name`: for work that runs as a task of its own (a shielded save)."""
    with Phase(name):
        return await work
