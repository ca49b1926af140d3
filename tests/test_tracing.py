"""OpenTelemetry traces end to end (server/telemetry.py): a client's traceparent is continued through the edge, the
core's RPC (in-process, and across `--role edge` + `--role grpc` processes) and each phase of the turn, and sent on
to the provider, webhook receivers and MCP servers; every phase is timed in astra_turn_phase_seconds.

The tests without tracing come first: instrumentation is global to the process, and the traced gateway (the module's
`traced` fixture) keeps it installed until the module ends."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from server import telemetry
from tests.harness import TEST_SECRET, GatewayThread, test_settings
from tests.helpers.accounts import bearer, register
from tests.helpers.agents import new_agent
from tests.helpers.chat import OPENAI_KEY, OPENAI_MODEL, STREAM, of_kind, parse_sse, turn
from tests.helpers.db import Postgres
from tests.helpers.http import api
from tests.helpers.mcp import LoopbackServer
from tests.helpers.processes import base_env, free_port, serve, stop, wait_until_ready
from tests.helpers.waiting import eventually
from tests.providers.fake_vendors import (
    OPENAI_DONE,
    FakeVendor,
    Reply,
    openai_chunk,
    openai_text_stream,
    openai_tool_call_args,
    openai_tool_call_start,
    openai_usage_chunk,
)
from tests.receivers import Receiver

# The untraced gateway (conftest's `gateway`): the FakeVendor as its OpenAI.
GATEWAY_OPTIONS = {"vendor_keys": {"openai": OPENAI_KEY}}
PHASES = ("auth", "open", "recall", "history", "user_message", "provider", "tool", "save")
TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")
pytestmark = pytest.mark.usefixtures("clean_vendor")


def client_context() -> tuple[str, str, str]:
    """(trace id, span id, traceparent) of a client's own span."""
    trace_id, span_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    return trace_id, span_id, f"00-{trace_id}-{span_id}-01"


@asynccontextmanager
async def edge(url: str) -> AsyncIterator[aiohttp.ClientSession]:
    """A client of the edge at `url` that sends only the traceparent a test gives it: while the traced gateway runs,
    aiohttp's client instrumentation is installed in this process and would put its own on every request."""
    async with aiohttp.ClientSession(base_url=url) as session:
        AioHttpClientInstrumentor.uninstrument_session(session)
        yield session


def tool_call_reply(name: str, arguments: str) -> Reply:
    return Reply(
        chunks=[
            openai_chunk({"role": "assistant", "content": None, "tool_calls": [openai_tool_call_start(0, "c1", name)]}),
            openai_chunk({"tool_calls": [openai_tool_call_args(0, arguments)]}),
            openai_chunk({}, "tool_calls"),
            openai_usage_chunk(20, 5),
            OPENAI_DONE,
        ]
    )


async def stream_turn(
    http: aiohttp.ClientSession, account: dict, body: dict[str, Any], headers: dict[str, str]
) -> tuple[list[tuple[str, dict]], str]:
    """One SSE turn: (its events, the X-Request-ID the client got)."""
    async with asyncio.timeout(30), http.post(STREAM, json=body, headers={**bearer(account), **headers}) as r:
        raw = await r.text()
        assert r.status == 200, raw
        return parse_sse(raw), r.headers["X-Request-ID"]


# ----------------------------------------------------------------------------------------------- tracing off


async def test_without_tracing_no_traceparent_reaches_the_provider(gateway: GatewayThread, vendor: FakeVendor) -> None:
    assert not telemetry.tracing()  # the traced gateway must not have started yet (see the module's docstring)
    async with edge(gateway.http_url) as http:
        account = await register(http)
        agent = await new_agent(http, account, model=OPENAI_MODEL)
        vendor.script(Reply(chunks=openai_text_stream(["Hello"])))
        _, _, traceparent = client_context()
        events, _ = await stream_turn(http, account, turn(agent, "hi"), {"traceparent": traceparent})
    assert of_kind(events, "stream_done")[0]["content"] == "Hello"
    assert len(vendor.requests) == 1
    assert "traceparent" not in vendor.requests[0].headers


async def test_each_phase_is_timed_in_the_histogram_without_tracing(gateway: GatewayThread) -> None:
    async with edge(gateway.http_url) as http:
        account = await register(http)
        # Memory tiers make the turn recall; the math skill gives it the calculator that local/echo's /tool calls.
        agent = await new_agent(http, account, skills=["math"], memory={"tiers": ["daily"]})
        before = await phase_counts(http)
        events, _ = await stream_turn(http, account, turn(agent, '/tool calculator {"expression": "6*7"}'), {})
        assert of_kind(events, "tool_result")[0]["result"] == "42"
        after = await phase_counts(http)
    assert {p: after.get(p, 0) - before.get(p, 0) for p in PHASES} == {
        "auth": 1,
        "open": 1,
        "recall": 1,
        "history": 1,
        "user_message": 1,
        "provider": 2,  # the round that calls the tool, and the one that answers
        "tool": 1,
        "save": 1,
    }


async def phase_counts(http: aiohttp.ClientSession) -> dict[str, float]:
    async with http.get("/metrics") as resp:
        text = await resp.text()
    found = re.findall(r'^astra_turn_phase_seconds_count\{phase="([a-z_]+)"\} ([0-9.e+]+)$', text, re.MULTILINE)
    return {phase: float(count) for phase, count in found}


# ------------------------------------------------------------------------------------------------ split roles


class Collector:
    """An OTLP/HTTP trace receiver on loopback: POST /v1/traces with an ExportTraceServiceRequest."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> Collector:
        app = web.Application()
        app.router.add_post("/v1/traces", self._export)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        return self

    async def _export(self, request: web.Request) -> web.Response:
        export = ExportTraceServiceRequest.FromString(await request.read())
        for resource_spans in export.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append(
                        {
                            "role": resource.get("astra.role"),
                            "service": resource.get("service.name"),
                            "name": span.name,
                            "kind": span.kind,  # OTLP: 2 SERVER, 3 CLIENT
                            "trace_id": span.trace_id.hex(),
                            "span_id": span.span_id.hex(),
                            "parent": span.parent_span_id.hex(),
                            "attributes": {a.key: a.value.string_value for a in span.attributes},
                        }
                    )
        body = ExportTraceServiceResponse().SerializeToString()
        return web.Response(body=body, content_type="application/x-protobuf")

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


async def test_split_roles_continue_the_trace_from_the_edge_to_the_core(tmp_path: Path, postgres: Postgres) -> None:
    collector = await Collector().start()
    grpc_port, http_port = free_port(), free_port()
    otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_BSP_SCHEDULE_DELAY": "50"}
    core = serve(
        ["--role", "grpc"],
        base_env(
            ASTRA_GRPC_PORT=str(grpc_port),
            DATABASE_URL=postgres.fresh_database("tracing_split"),
            JWT_SECRET=TEST_SECRET,
            **otel,
        ),
        tmp_path,
        tmp_path / "core.log",
    )
    edge_process = serve(
        ["--role", "edge"],
        base_env(ASTRA_HTTP_PORT=str(http_port), ASTRA_GRPC_TARGET=f"127.0.0.1:{grpc_port}", **otel),
        tmp_path,
        tmp_path / "edge.log",
    )
    url = f"http://127.0.0.1:{http_port}"
    try:
        trace_id, client_span, traceparent = client_context()
        rid = f"split-{uuid.uuid4().hex[:8]}"
        async with edge(url) as http:
            await wait_until_ready(http, edge_process, 60)
            account = await register(http)
            agent = await new_agent(http, account)
            headers = {"traceparent": traceparent, "X-Request-ID": rid}
            events, got_rid = await stream_turn(http, account, turn(agent, "hello"), headers)
        assert of_kind(events, "stream_done")[0]["content"] == "Echo: hello" and got_rid == rid

        def tree() -> dict[str, dict[str, Any]] | None:
            mine = [s for s in collector.spans if s["trace_id"] == trace_id]
            named = {(s["role"], s["name"], s["kind"]): s for s in mine}
            wanted = {
                "edge": ("edge", f"POST {STREAM}", 2),
                "call": ("edge", "/astra.v1.ChatService/ChatStream", 3),
                "rpc": ("grpc", "/astra.v1.ChatService/ChatStream", 2),
                "open": ("grpc", "turn.open", 1),
                "save": ("grpc", "turn.save", 1),
            }
            if not all(key in named for key in wanted.values()):
                return None
            return {label: named[key] for label, key in wanted.items()}

        spans = await eventually(tree, seconds=15, what="the edge's and the core's spans")
        assert spans["edge"]["parent"] == client_span
        assert spans["call"]["parent"] == spans["edge"]["span_id"]  # grpc's client span, in the edge process
        assert spans["rpc"]["parent"] == spans["call"]["span_id"]  # continued in the core process
        assert spans["open"]["parent"] == spans["save"]["parent"] == spans["rpc"]["span_id"]
        assert spans["edge"]["attributes"]["astra.request_id"] == rid
        assert spans["rpc"]["attributes"]["astra.request_id"] == rid
        assert {s["service"] for s in spans.values()} == {"astra"}
    finally:
        stop(edge_process)
        stop(core)
        await collector.stop()


# ------------------------------------------------------------------------------------------- tracing in-process


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture(scope="module")
def traced(
    postgres: Postgres, vendor: FakeVendor, receiver: Receiver, loopback: LoopbackServer, exporter: InMemorySpanExporter
) -> Iterator[GatewayThread]:
    """A gateway tracing into `exporter` (the vendor, the receiver and the MCP server started before it, untraced)."""
    settings = test_settings(
        postgres.fresh_database("tracing_on"),
        openai_base_url=f"{vendor.url}/v1",
        openai_api_key=OPENAI_KEY,
        allow_private_urls=True,
        worker_poll_s=0.1,
    )
    gw = GatewayThread(settings, exporter=exporter).start()
    yield gw
    gw.stop()
    assert not telemetry.tracing()


def by_id(spans: list[ReadableSpan]) -> dict[int, ReadableSpan]:
    return {s.context.span_id: s for s in spans}


def named(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def in_trace(exporter: InMemorySpanExporter, trace_id: int) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.context.trace_id == trace_id]


async def test_a_streamed_turn_makes_the_span_tree_under_the_clients_trace(
    traced: GatewayThread, vendor: FakeVendor, exporter: InMemorySpanExporter
) -> None:
    trace_hex, client_span, traceparent = client_context()
    rid = f"traced-{uuid.uuid4().hex[:8]}"
    async with edge(traced.http_url) as http:
        account = await register(http)
        agent = await new_agent(http, account, model=OPENAI_MODEL, skills=["math"])
        vendor.script(tool_call_reply("calculator", '{"expression": "6*7"}'), Reply(chunks=openai_text_stream(["42"])))
        headers = {"traceparent": traceparent, "X-Request-ID": rid}
        events, got_rid = await stream_turn(http, account, turn(agent, "six times seven?"), headers)
    assert of_kind(events, "stream_done")[0]["content"] == "42" and got_rid == rid
    trace_id = int(trace_hex, 16)

    edge_name = f"POST {STREAM}"
    spans = await eventually(
        lambda: (found := in_trace(exporter, trace_id)) and named(found, edge_name) and found,
        what="the edge's span",
    )
    ids = by_id(spans)
    (request,) = named(spans, edge_name)
    assert request.kind is SpanKind.SERVER and request.parent is not None
    assert request.parent.span_id == int(client_span, 16)
    assert request.attributes["astra.request_id"] == rid and request.attributes["http.route"] == STREAM
    (rpc,) = named(spans, "/astra.v1.ChatService/ChatStream")
    assert rpc.kind is SpanKind.SERVER and rpc.parent is not None and rpc.parent.span_id == request.context.span_id
    assert rpc.attributes["astra.request_id"] == rid
    assert (rpc.attributes["rpc.system"], rpc.attributes["rpc.service"], rpc.attributes["rpc.method"]) == (
        "grpc",
        "astra.v1.ChatService",
        "ChatStream",
    )
    # Every phase of the turn is a child of the RPC's span; one provider span per round.
    phases = [s for s in spans if s.name.startswith("turn.")]
    expected = ["auth", "open", "history", "user_message", "provider", "provider", "tool", "save"]
    assert sorted(s.name for s in phases) == sorted(f"turn.{name}" for name in expected)
    assert all(s.parent is not None and s.parent.span_id == rpc.context.span_id for s in phases)
    (tool,) = named(spans, "turn.tool")
    assert tool.attributes["astra.tool.name"] == "calculator"
    for provider in named(spans, "turn.provider"):
        assert [e.name for e in provider.events] == ["connect", "first_byte", "first_token", "end"], provider.name
        # The vendor's HTTP call is the phase's child, and the traceparent it carried names that call.
        (http_call,) = [s for s in spans if s.kind is SpanKind.CLIENT and s.parent.span_id == provider.context.span_id]
        assert http_call.name == "POST"
    sent = [TRACEPARENT.fullmatch(r.headers.get("traceparent", "")) for r in vendor.requests]
    assert all(sent) and len(sent) == 2
    assert {m.group(1) for m in sent if m} == {trace_hex}
    assert {int(m.group(2), 16) for m in sent if m} <= set(ids)
    # The queries are spans too, under the phase that made them.
    queries = [s for s in spans if s.attributes.get("db.system") == "postgresql" and s.parent is not None]
    assert any(ids[q.parent.span_id].name == "turn.open" for q in queries if q.parent.span_id in ids)
    assert any(ids[q.parent.span_id].name == "turn.save" for q in queries if q.parent.span_id in ids)


async def test_a_request_span_keeps_no_query_string(traced: GatewayThread, exporter: InMemorySpanExporter) -> None:
    # /ws takes its token in the query (browsers cannot set headers): it must not reach the trace collector.
    trace_hex, _, traceparent = client_context()
    async with edge(traced.http_url) as http:
        async with http.get("/ws", params={"token": "secret-token-123"}, headers={"traceparent": traceparent}) as r:
            assert r.status in (400, 401, 426), await r.text()
    spans = await eventually(lambda: in_trace(exporter, int(trace_hex, 16)), what="the request's span")
    (request,) = [s for s in spans if s.kind is SpanKind.SERVER and s.name.startswith("GET")]
    assert request.attributes["http.target"] == "/ws", [(s.name, s.attributes) for s in spans]
    assert all("secret-token-123" not in str(value) for s in spans for value in (s.attributes or {}).values())


async def test_a_webhook_delivery_carries_its_traceparent(
    traced: GatewayThread, receiver: Receiver, exporter: InMemorySpanExporter
) -> None:
    where = f"/hook-{uuid.uuid4().hex[:8]}"
    async with edge(traced.http_url) as http:
        account = await register(http)
        status, body, _ = await api(
            http, "POST", "/webhooks", account, json={"url": receiver.url + where, "events": ["agent.completed"]}
        )
        assert status == 200, body
        agent = await new_agent(http, account)
        await stream_turn(http, account, turn(agent, "hi"), {})
    (got,) = await eventually(lambda: receiver.received(where), what="the delivery")
    headers = {k.lower(): v for k, v in got.headers.items()}
    match = TRACEPARENT.fullmatch(headers.get("traceparent", ""))
    assert match, sorted(headers.items())
    spans = await eventually(
        lambda: (found := in_trace(exporter, int(match.group(1), 16))) and named(found, "webhook.deliver") and found,
        what="the delivery's span",
    )
    (deliver,) = named(spans, "webhook.deliver")
    assert deliver.attributes["astra.webhook.event_id"] == headers["webhook-id"]
    assert deliver.attributes["astra.webhook.event_type"] == "agent.completed"
    assert deliver.attributes["http.response.status_code"] == 404  # the receiver was told nothing for this path
    (sent,) = [s for s in spans if s.context.span_id == int(match.group(2), 16)]
    assert sent.kind is SpanKind.CLIENT and sent.parent is not None and sent.parent.span_id == deliver.context.span_id


async def test_an_mcp_call_carries_its_traceparent_to_the_server(
    traced: GatewayThread, loopback: LoopbackServer, exporter: InMemorySpanExporter
) -> None:
    async with edge(traced.http_url) as http:
        account = await register(http)
        status, body, _ = await api(
            http, "POST", "/mcp/servers", account, json={"name": "loop", "url": loopback.url, "headers": {}}
        )
        assert status == 200, body
        agent = await new_agent(http, account, tools={"allow": ["mcp__loop__*"]})
        events, _ = await stream_turn(http, account, turn(agent, "/tool mcp__loop__traceparent {}"), {})
    (result,) = of_kind(events, "tool_result")
    match = TRACEPARENT.fullmatch(result["result"])
    assert match, result
    spans = await eventually(
        lambda: (found := in_trace(exporter, int(match.group(1), 16))) and named(found, "mcp.call") and found,
        what="the MCP call's span",
    )
    ids = by_id(spans)
    (call,) = named(spans, "mcp.call")
    assert (call.attributes["astra.mcp.server"], call.attributes["astra.mcp.tool"]) == ("loop", "traceparent")
    assert ids[call.parent.span_id].name == "turn.tool"
    # The header names a span inside the call (the SDK's own request span).
    inner = ids[int(match.group(2), 16)]
    while inner.context.span_id != call.context.span_id:
        assert inner.parent is not None
        inner = ids[inner.parent.span_id]
