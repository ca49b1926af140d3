"""The HTTP edge as REST clients see it: status mapping, body limits, request validation, request ids, CORS,
system routes and the full route table of the API reference."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from contract.routes import load_routes
from edge.app import create_app
from server.cli import edge_config
from server.config import Settings
from tests.fakes import SECRET_DETAIL, FakeSkills, fake_message
from tests.harness import ALLOWED_ORIGIN, API_KEY, GatewayThread
from tests.helpers.accounts import bearer, register, unique_email

GATEWAY_SERVICERS = {"astra.v1.SkillsService": FakeSkills}

ONE_MIB = 1024 * 1024


def assert_error(body: dict, code: str, request_id: str | None = None) -> None:
    """The edge's one error shape: {"error": {"code", "message"}, "requestId"}."""
    assert set(body) == {"error", "requestId"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    if request_id is not None:
        assert body["requestId"] == request_id


def is_uuid4(value: str) -> bool:
    try:
        return uuid.UUID(value).version == 4 and str(uuid.UUID(value)) == value
    except ValueError:
        return False


# ---------------------------------------------------------------------------------------------------------------
# gRPC status -> HTTP status, end to end through a test-only SkillsService (auth NONE).

CANONICAL = [
    ("INVALID_ARGUMENT", 400),
    ("FAILED_PRECONDITION", 400),
    ("OUT_OF_RANGE", 400),
    ("UNAUTHENTICATED", 401),
    ("PERMISSION_DENIED", 403),
    ("NOT_FOUND", 404),
    ("ALREADY_EXISTS", 409),
    ("ABORTED", 409),
    ("RESOURCE_EXHAUSTED", 429),
    ("CANCELLED", 499),
    ("UNIMPLEMENTED", 501),
    ("UNAVAILABLE", 503),
    ("DEADLINE_EXCEEDED", 504),
    ("UNKNOWN", 500),
    ("INTERNAL", 500),
    ("DATA_LOSS", 500),
]
DOMAIN = [  # the server's domain errors (server.errors), raised by a handler
    ("INVALID_ARGUMENT", 400),
    ("FAILED_PRECONDITION", 400),
    ("UNAUTHENTICATED", 401),
    ("PERMISSION_DENIED", 403),
    ("NOT_FOUND", 404),
    ("ALREADY_EXISTS", 409),
    ("ABORTED", 409),
    ("RESOURCE_EXHAUSTED", 429),
    ("UNIMPLEMENTED", 501),
    ("UNAVAILABLE", 503),
]


def _check_mapped(resp: aiohttp.ClientResponse, body: dict, code: str, status: int, skill_id: str) -> None:
    assert resp.status == status, body
    assert resp.content_type == "application/json"
    assert_error(body, code, resp.headers["X-Request-ID"])
    assert body["error"]["message"] == fake_message(skill_id)
    if status == 401:
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    if status == 429:
        assert resp.headers["Retry-After"].isdigit()


@pytest.mark.parametrize(("code", "status"), CANONICAL, ids=[c for c, _ in CANONICAL])
async def test_grpc_abort_codes_map_to_http_statuses(http: aiohttp.ClientSession, code: str, status: int) -> None:
    skill_id = f"abort-{code}"
    async with http.get(f"/skills/{skill_id}") as resp:
        _check_mapped(resp, await resp.json(), code, status, skill_id)


@pytest.mark.parametrize(("code", "status"), DOMAIN, ids=[c for c, _ in DOMAIN])
async def test_domain_errors_map_to_http_statuses(http: aiohttp.ClientSession, code: str, status: int) -> None:
    skill_id = f"raise-{code}"
    async with http.get(f"/skills/{skill_id}") as resp:
        _check_mapped(resp, await resp.json(), code, status, skill_id)


async def test_resource_exhausted_carries_the_servers_retry_after(http: aiohttp.ClientSession) -> None:
    async with http.get("/skills/retry-7") as resp:
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "7"
        assert_error(await resp.json(), "RESOURCE_EXHAUSTED")
    # Without a hint from the server the edge still tells the client when to come back.
    async with http.get("/skills/abort-RESOURCE_EXHAUSTED") as resp:
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "1"


@pytest.mark.parametrize("skill_id", ["override-422", "domain-override-422"])
async def test_trailing_x_http_status_overrides_the_canonical_status(
    http: aiohttp.ClientSession, skill_id: str
) -> None:
    async with http.get(f"/skills/{skill_id}") as resp:
        body = await resp.json()
        assert resp.status == 422, body
        assert_error(body, "INVALID_ARGUMENT", resp.headers["X-Request-ID"])
        assert body["error"]["message"] == fake_message(skill_id)


async def test_x_http_status_applies_to_a_successful_answer_too(http: aiohttp.ClientSession) -> None:
    async with http.get("/skills/ok-202") as resp:
        assert resp.status == 202
        assert (await resp.json())["skill"]["id"] == "ok-202"


async def test_core_response_metadata_becomes_headers(http: aiohttp.ClientSession) -> None:
    async with http.get("/skills/etag") as resp:
        assert resp.status == 200
        assert resp.headers["ETag"] == '"v3"'
        assert resp.headers["Idempotent-Replayed"] == "true"


async def test_unexpected_exception_is_a_500_without_internals(http: aiohttp.ClientSession) -> None:
    rid = f"crash-{uuid.uuid4().hex[:8]}"
    async with http.get("/skills/crash", headers={"X-Request-ID": rid}) as resp:
        text = await resp.text()
        assert resp.status == 500
        assert resp.headers["X-Request-ID"] == rid
    body = json.loads(text)
    assert_error(body, "INTERNAL", rid)
    assert body["error"]["message"] == f"internal error (request id {rid})"
    for leak in ("hunter2", "secret", "RuntimeError", "Traceback", ".py", SECRET_DETAIL):
        assert leak not in text


async def test_success_is_proto_json_in_lower_camel_case(http: aiohttp.ClientSession) -> None:
    async with http.get("/skills/ok") as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        body = await resp.json()
    skill = body["skill"]
    assert skill["displayName"] == "Okay"
    assert skill["promptContext"] == "be okay"
    assert skill["toolCount"] == 2
    assert skill["tools"] == []  # fields without presence are printed with their defaults
    assert "display_name" not in skill


# ---------------------------------------------------------------------------------------------------------------
# What the edge refuses before the core sees it.


async def test_body_over_one_mib_with_content_length_is_413(http: aiohttp.ClientSession) -> None:
    payload = json.dumps({"email": "a@example.com", "password": "x" * ONE_MIB}).encode()
    assert len(payload) > ONE_MIB
    async with http.post("/auth/register", data=payload, headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 413
        assert_error(await resp.json(), "PAYLOAD_TOO_LARGE", resp.headers["X-Request-ID"])


async def test_chunked_body_over_one_mib_is_413(http: aiohttp.ClientSession) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"email": "a@example.com", "password": "'
        for _ in range(17):
            yield b"x" * 65536  # 17 x 64 KiB > 1 MiB
        yield b'"}'

    async with http.post("/auth/register", data=chunks(), headers={"Content-Type": "application/json"}) as resp:
        assert resp.request_info.headers.get("Transfer-Encoding") == "chunked"
        assert "Content-Length" not in resp.request_info.headers
        assert resp.status == 413
        assert_error(await resp.json(), "PAYLOAD_TOO_LARGE")


async def test_body_just_under_the_limit_reaches_the_core(http: aiohttp.ClientSession) -> None:
    head = b'{"email": "not-an-address", "password": "'
    payload = head + b"x" * (ONE_MIB - len(head) - 2) + b'"}'
    assert len(payload) == ONE_MIB
    async with http.post("/auth/register", data=payload, headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 400  # the core's own validation, not the edge's size limit
        body = await resp.json()
        assert_error(body, "INVALID_ARGUMENT")
        assert "email" in body["error"]["message"]


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b'{"email": "a@example.com", ', "malformed JSON"),
        (b"\xff\xfe not utf-8", "malformed JSON"),
        (b'["a@example.com", "password"]', "JSON object"),
        (b'"just a string"', "JSON object"),
        (b'{"email": 5, "password": "correct horse battery"}', "email"),
        (b'{"email": "a@example.com", "password": "correct horse battery", "bogus": 1}', "bogus"),
        (b"[" * 100_000, "nested"),
        (b'{"email": ' * 100_000, "nested"),
    ],
    ids=["truncated", "not-utf8", "array", "string", "wrong-type", "unknown-field", "deep-array", "deep-object"],
)
async def test_bad_json_bodies_are_400(http: aiohttp.ClientSession, data: bytes, needle: str) -> None:
    async with http.post("/auth/register", data=data, headers={"Content-Type": "application/json"}) as resp:
        body = await resp.json()
        assert resp.status == 400, body
        assert_error(body, "INVALID_ARGUMENT", resp.headers["X-Request-ID"])
        assert needle in body["error"]["message"]


async def test_deeply_nested_struct_within_json_limits_is_400(http: aiohttp.ClientSession) -> None:
    # 300 levels parse as JSON, but are deeper than the proto JSON parser accepts (the profile is a Struct).
    profile: dict = {}
    for _ in range(300):
        profile = {"a": profile}
    async with http.put("/memory/profile", json=profile) as resp:
        body = await resp.json()
        assert resp.status == 400, body
        assert_error(body, "INVALID_ARGUMENT")
    async with http.put("/memory/profile", json={"a": {"b": [1, {"c": None}]}}) as resp:
        assert resp.status == 401  # a shallow profile passes the edge and meets the core's auth check


async def test_unknown_query_parameter_is_400(http: aiohttp.ClientSession) -> None:
    async with http.get("/skills", params={"bogus": "1"}) as resp:
        body = await resp.json()
        assert resp.status == 400
        assert_error(body, "INVALID_ARGUMENT")
        assert "bogus" in body["error"]["message"]
    async with http.get("/skills", params={"category": "research"}) as resp:  # a known one is fine
        assert resp.status == 200
        assert (await resp.json())["skills"][0]["category"] == "research"


async def test_query_parameter_of_the_wrong_type_is_400(http: aiohttp.ClientSession) -> None:
    async with http.get("/skills", params={"limit": "ten"}) as resp:
        body = await resp.json()
        assert resp.status == 400
        assert "limit" in body["error"]["message"]


async def test_bad_path_value_is_400_before_auth(http: aiohttp.ClientSession) -> None:
    # The route needs a JWT, but a path value that cannot fill its int32 field is refused by the edge first.
    async with http.delete("/memory/daily/2026-01-01/abc") as resp:
        body = await resp.json()
        assert resp.status == 400, body
        assert_error(body, "INVALID_ARGUMENT", resp.headers["X-Request-ID"])
        assert "entry_index" in body["error"]["message"]
    async with http.delete("/memory/daily/2026-01-01/99999999999") as resp:  # out of int32 range
        assert resp.status == 400
    async with http.delete("/memory/daily/2026-01-01/3") as resp:  # a good value goes on to auth
        assert resp.status == 401


@pytest.mark.parametrize("path", ["/no/such/route", "/skills/ok/extra", "/health/", "/skills/", "/agents//x"])
async def test_unknown_paths_are_404_json(http: aiohttp.ClientSession, path: str) -> None:
    async with http.get(path) as resp:
        body = await resp.json()
        assert resp.status == 404, body
        assert resp.content_type == "application/json"
        assert_error(body, "NOT_FOUND", resp.headers["X-Request-ID"])


async def test_wrong_method_is_405_with_allow(http: aiohttp.ClientSession) -> None:
    async with http.delete("/auth/login") as resp:
        body = await resp.json()
        assert resp.status == 405
        assert resp.headers["Allow"] == "POST"
        assert_error(body, "METHOD_NOT_ALLOWED", resp.headers["X-Request-ID"])
    async with http.patch("/agents/ok") as resp:
        assert resp.status == 405
        assert {m.strip() for m in resp.headers["Allow"].split(",")} == {"GET", "PUT", "DELETE"}


async def test_non_json_content_type_on_a_body_route_is_415(http: aiohttp.ClientSession) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        async with http.post(
            "/auth/register", data=b"email=a@example.com", headers={"Content-Type": content_type}
        ) as resp:
            body = await resp.json()
            assert resp.status == 415, body
            assert_error(body, "UNSUPPORTED_MEDIA_TYPE")


# A TAB is legal inside an HTTP field value but not in gRPC metadata: headers the core needs are refused with a
# 400, an informational one (User-Agent) is dropped; never a 500 from a failed call.
@pytest.mark.parametrize(
    ("header", "path", "status"),
    [
        ("User-Agent", "/skills/ok", 200),
        ("Idempotency-Key", "/skills/ok", 400),
        ("X-Workspace-Id", "/agents", 400),
        ("Authorization", "/agents", 400),
    ],
)
async def test_forwarded_header_with_a_tab_is_not_a_500(
    http: aiohttp.ClientSession, header: str, path: str, status: int
) -> None:
    value = "Bearer\tabc" if header == "Authorization" else "curl\t8.5"
    async with http.get(path, headers={header: value}) as resp:
        body = await resp.json()
        assert resp.status == status, body
    if status == 400:
        assert_error(body, "INVALID_ARGUMENT", resp.headers["X-Request-ID"])
        assert header in body["error"]["message"]


# A NUL character (JSON \u0000, or %00 in a path) cannot be stored by Postgres: the caller's error, not a 500.
@pytest.mark.parametrize("case", ["login-email", "register-display-name", "workspace-path"])
async def test_nul_characters_are_refused_not_a_500(
    http: aiohttp.ClientSession, gateway: GatewayThread, case: str
) -> None:
    if case == "login-email":
        request = http.post("/auth/login", json={"email": "a\u0000@example.com", "password": "correct horse battery"})
    elif case == "register-display-name":
        body = {"email": unique_email(), "password": "correct horse battery", "displayName": "a\u0000b"}
        request = http.post("/auth/register", json=body)
    else:
        account = await register(http)
        url = URL(f"{gateway.http_url}/workspaces/ws_%00", encoded=True)
        request = http.get(url, headers=bearer(account))
    async with request as resp:
        body = await resp.json()
        assert resp.status == 400, body
        assert_error(body, "INVALID_ARGUMENT", resp.headers["X-Request-ID"])


async def test_core_down_is_503_json_without_internal_addresses() -> None:
    # An edge of its own in front of a port where nothing listens (as when the core is down or restarting).
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    app = create_app(edge_config(Settings(), f"127.0.0.1:{dead_port}"))
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        async with aiohttp.ClientSession(base_url=base) as session:
            for method, path in [("GET", "/readiness"), ("POST", "/agent/chat/stream"), ("GET", "/ws")]:
                rid = f"down-{uuid.uuid4().hex[:8]}"
                body = {} if method == "POST" else None
                async with session.request(method, path, json=body, headers={"X-Request-ID": rid}) as resp:
                    text = await resp.text()
                    assert resp.status == 503, (path, text)
                    assert resp.headers["X-Request-ID"] == rid
                assert_error(json.loads(text), "UNAVAILABLE", rid)
                assert str(dead_port) not in text and "127.0.0.1" not in text and "ipv4" not in text
    finally:
        await runner.cleanup()


# ---------------------------------------------------------------------------------------------------------------
# X-Request-ID


async def test_valid_request_id_is_kept_and_logged_by_edge_and_core(
    http: aiohttp.ClientSession, gateway: GatewayThread
) -> None:
    rid = f"client-{uuid.uuid4().hex}"
    async with http.get("/readiness", headers={"X-Request-ID": rid}) as resp:
        assert resp.status == 200
        assert resp.headers["X-Request-ID"] == rid
    for _ in range(100):  # the log lines are written on the gateway's thread
        loggers = {line["logger"] for line in gateway.logs.with_request_id(rid)}
        if {"astra.access", "astra.edge"} <= loggers:
            break
        await asyncio.sleep(0.02)
    core = [line for line in gateway.logs.with_request_id(rid) if line["logger"] == "astra.access"]
    assert [line["method"] for line in core] == ["/astra.v1.SystemService/Readiness"]
    edge = [line for line in gateway.logs.with_request_id(rid) if line["logger"] == "astra.edge"]
    assert edge and edge[0]["path"] == "/readiness" and edge[0]["status"] == 200


@pytest.mark.parametrize("bad", ["x" * 200, "has space", "tab\tinside", "x" * 129], ids=["200", "space", "tab", "129"])
async def test_invalid_request_id_is_replaced(http: aiohttp.ClientSession, bad: str) -> None:
    async with http.get("/readiness", headers={"X-Request-ID": bad}) as resp:
        assert resp.status == 200
        assert resp.headers["X-Request-ID"] != bad
        assert is_uuid4(resp.headers["X-Request-ID"])


async def test_request_id_of_128_characters_is_kept(http: aiohttp.ClientSession) -> None:
    rid = "r" * 127 + "~"
    async with http.get("/readiness", headers={"X-Request-ID": rid}) as resp:
        assert resp.headers["X-Request-ID"] == rid


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/readiness", 200),
        ("GET", "/skills/raise-NOT_FOUND", 404),
        ("GET", "/skills/crash", 500),
        ("GET", "/agents", 401),
        ("GET", "/nowhere", 404),
        ("DELETE", "/auth/login", 405),
        ("POST", "/auth/register", 400),
    ],
)
async def test_request_id_is_generated_when_absent(
    http: aiohttp.ClientSession, method: str, path: str, status: int
) -> None:
    data = b"{" if method == "POST" else None  # a malformed body for the POST case
    async with http.request(method, path, data=data, headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == status
        rid = resp.headers["X-Request-ID"]
        assert is_uuid4(rid)
        if status != 200:
            assert (await resp.json())["requestId"] == rid


@pytest.mark.parametrize(("path", "status"), [("/skills/abort-DATA_LOSS", 500), ("/nowhere", 404), ("/agents", 401)])
async def test_request_id_is_kept_on_errors(http: aiohttp.ClientSession, path: str, status: int) -> None:
    rid = f"err-{uuid.uuid4().hex[:12]}"
    async with http.get(path, headers={"X-Request-ID": rid}) as resp:
        assert resp.status == status
        assert resp.headers["X-Request-ID"] == rid
        assert (await resp.json())["requestId"] == rid


# ---------------------------------------------------------------------------------------------------------------
# CORS


async def test_preflight_from_an_allowed_origin(http: aiohttp.ClientSession) -> None:
    headers = {
        "Origin": ALLOWED_ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    async with http.options("/agent/chat", headers=headers) as resp:
        assert resp.status == 204
        assert resp.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
        assert "POST" in resp.headers["Access-Control-Allow-Methods"]
        allowed = {h.strip().lower() for h in resp.headers["Access-Control-Allow-Headers"].split(",")}
        assert {"authorization", "content-type", "x-request-id"} <= allowed
        assert resp.headers["X-Request-ID"]


async def test_preflight_for_another_method_lists_the_allowed_ones(http: aiohttp.ClientSession) -> None:
    headers = {"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "PATCH"}
    async with http.options("/agents/ok", headers=headers) as resp:
        assert resp.status == 204
        methods = {m.strip() for m in resp.headers["Access-Control-Allow-Methods"].split(",")}
        assert methods == {"GET", "PUT", "DELETE"}


async def test_preflight_from_another_origin_is_403(http: aiohttp.ClientSession) -> None:
    headers = {"Origin": "https://evil.example.net", "Access-Control-Request-Method": "POST"}
    async with http.options("/agent/chat", headers=headers) as resp:
        assert resp.status == 403
        assert "Access-Control-Allow-Origin" not in resp.headers
        assert_error(await resp.json(), "PERMISSION_DENIED", resp.headers["X-Request-ID"])


async def test_simple_request_from_allowed_origin_exposes_request_id(http: aiohttp.ClientSession) -> None:
    async with http.get("/readiness", headers={"Origin": ALLOWED_ORIGIN}) as resp:
        assert resp.status == 200
        assert resp.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
        exposed = {h.strip().lower() for h in resp.headers["Access-Control-Expose-Headers"].split(",")}
        assert {"x-request-id", "retry-after"} <= exposed
    async with http.get("/readiness", headers={"Origin": "https://evil.example.net"}) as resp:
        assert resp.status == 200  # CORS is the browser's business: the answer just lacks the allow header
        assert "Access-Control-Allow-Origin" not in resp.headers
    async with http.get("/agents", headers={"Origin": ALLOWED_ORIGIN}) as resp:  # errors too
        assert resp.status == 401
        assert resp.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN


# ---------------------------------------------------------------------------------------------------------------
# System routes


async def test_health_is_ok_with_every_check(http: aiohttp.ClientSession) -> None:
    async with http.get("/health") as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["status"] == "ok"
    checks = {c["name"]: c for c in body["checks"]}
    assert {"database", "pgvector", "search", "migrations"} <= set(checks)
    for name in ("database", "pgvector", "search", "migrations"):
        assert checks[name]["status"] == "ok", checks[name]
        assert checks[name]["required"] is True
        assert "latencyMs" in checks[name]
    assert "uptimeSeconds" in body


async def test_readiness(http: aiohttp.ClientSession) -> None:
    async with http.get("/readiness") as resp:
        assert resp.status == 200
        assert (await resp.json())["ready"] is True


async def test_metrics_is_prometheus_text(http: aiohttp.ClientSession) -> None:
    async with http.get("/skills/ok") as resp:
        assert resp.status == 200
    async with http.get("/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
    samples = re.findall(r"^astra_http_requests_total\{(.*)\} (\S+)$", text, re.M)
    labels = [dict(re.findall(r'(\w+)="([^"]*)"', raw)) for raw, _ in samples]
    assert {"route": "/skills/{skill_id}", "method": "GET", "status": "200"} in labels
    assert re.search(r'^astra_grpc_requests_total\{[^}]*method="/astra.v1.SkillsService/GetSkill"', text, re.M)
    assert re.search(r"^process_resident_memory_bytes \S+$", text, re.M)
    assert text.count("# TYPE astra_http_requests_total counter") == 1  # the edge's figures, exactly once


# ---------------------------------------------------------------------------------------------------------------
# The route table of the API reference (api-reference.md), written out once: (method, path, auth).

REFERENCE_ROUTES = [
    ("POST", "/auth/register", "NONE"),
    ("POST", "/auth/login", "NONE"),
    ("POST", "/auth/refresh", "NONE"),
    ("POST", "/auth/logout", "JWT"),
    ("POST", "/agent/chat", "JWT"),
    ("POST", "/agent/chat/stream", "JWT"),
    ("POST", "/agent/reset", "JWT"),
    ("GET", "/agent/presence", "JWT"),
    ("GET", "/agent/health", "JWT"),
    ("POST", "/agents", "JWT"),
    ("GET", "/agents", "JWT"),
    ("GET", "/agents/:id", "JWT"),
    ("PUT", "/agents/:id", "JWT"),
    ("DELETE", "/agents/:id", "JWT"),
    ("GET", "/agents/:id/capabilities", "JWT"),
    ("GET", "/sessions", "JWT"),
    ("GET", "/sessions/:id", "JWT"),
    ("GET", "/sessions/search/messages", "JWT"),
    ("POST", "/sessions/:id/handoff", "JWT"),
    ("GET", "/memory/search", "JWT"),
    ("GET", "/memory/profile", "JWT"),
    ("PUT", "/memory/profile", "JWT"),
    ("GET", "/memory/daily", "JWT"),
    ("GET", "/memory/daily/:date", "JWT"),
    ("DELETE", "/memory/daily/:date/:entryIndex", "JWT"),
    ("POST", "/memory/notes", "JWT"),
    ("DELETE", "/memory/notes/:index", "JWT"),
    ("POST", "/workspaces", "JWT"),
    ("GET", "/workspaces", "JWT"),
    ("GET", "/workspaces/:id", "JWT"),
    ("PUT", "/workspaces/:id/settings", "JWT"),
    ("POST", "/workspaces/:id/members", "JWT"),
    ("DELETE", "/workspaces/:id/members/:uid", "JWT"),
    ("GET", "/workspaces/:id/stats", "JWT"),
    ("PUT", "/workspaces/:id/restrictions", "JWT"),
    ("POST", "/workspaces/:id/grants", "JWT"),
    ("DELETE", "/workspaces/:id/grants", "JWT"),
    ("POST", "/webhooks", "JWT"),
    ("GET", "/webhooks", "JWT"),
    ("GET", "/webhooks/:id", "JWT"),
    ("PUT", "/webhooks/:id", "JWT"),
    ("DELETE", "/webhooks/:id", "JWT"),
    ("GET", "/webhooks/:id/deliveries", "JWT"),
    ("POST", "/webhooks/:id/test", "JWT"),
    ("GET", "/heartbeat", "JWT"),
    ("POST", "/heartbeat", "JWT"),
    ("GET", "/heartbeat/:id/runs", "JWT"),
    ("PATCH", "/heartbeat/:id", "JWT"),
    ("DELETE", "/heartbeat/:id", "JWT"),
    ("GET", "/skills", "NONE"),
    ("GET", "/skills/:id", "NONE"),
    ("GET", "/skills/cache/stats", "NONE"),
    ("POST", "/skills/cache/clear", "API_KEY"),
    ("GET", "/costs", "JWT"),
    ("GET", "/costs/breakdown", "JWT"),
    ("POST", "/autonomous/run", "API_KEY"),
    ("POST", "/autonomous/batch", "API_KEY"),
    ("POST", "/onboarding/setup", "JWT"),
    ("GET", "/admin/health", "API_KEY"),
    ("GET", "/admin/agents", "API_KEY"),
    ("GET", "/admin/usage/:uid", "API_KEY"),
    ("GET", "/admin/sessions/:uid", "API_KEY"),
    ("GET", "/admin/audit/:uid", "API_KEY"),
    ("GET", "/diagnostics", "API_KEY"),
    ("GET", "/diagnostics/quick", "API_KEY"),
    ("GET", "/diagnostics/history", "API_KEY"),
    ("GET", "/health", "NONE"),
    ("GET", "/readiness", "NONE"),
    ("GET", "/metrics", "NONE"),
]
# Routes the contract has beyond the reference (issue 16: membership is an invitation the invitee accepts).
ADDED_ROUTES = [
    ("GET", "/workspaces/:id/invitations", "JWT"),
    ("DELETE", "/workspaces/:id/invitations/:id", "JWT"),
    ("GET", "/invitations", "JWT"),
    ("POST", "/invitations/:id/accept", "JWT"),
    ("POST", "/invitations/:id/decline", "JWT"),
    ("POST", "/auth/keys", "JWT"),
    ("GET", "/auth/keys", "JWT"),
    ("DELETE", "/auth/keys/:id", "JWT"),
    # Issue 18: OpenAI's API over the caller's agents, in OpenAI's dialect.
    ("GET", "/v1/models", "JWT"),
    ("POST", "/v1/chat/completions", "JWT"),
    ("POST", "/v1/embeddings", "JWT"),
    # Issue 19: a workspace's own MCP servers, whose tools its agents may use.
    ("POST", "/mcp/servers", "JWT"),
    ("GET", "/mcp/servers", "JWT"),
    ("DELETE", "/mcp/servers/:id", "JWT"),
]
SAMPLES = {"id": "ok", "uid": "usr_sample", "date": "2026-01-01", "entryIndex": "0", "index": "0"}
# NONE routes whose handler validates an empty body: the core answers, so routing worked.
EMPTY_BODY_REFUSED = {"/auth/register", "/auth/login", "/auth/refresh"}
AUTH_LEVELS = {"JWT": 1, "NONE": 2, "API_KEY": 3}  # astra.v1.AuthLevel numbers


def sample_path(path: str) -> str:
    return re.sub(r":(\w+)", lambda m: SAMPLES[m.group(1)], path)


def shape(path: str) -> str:
    """A path with every variable (":id" or "{agent_id}") replaced by "{}", to compare route tables."""
    return re.sub(r":\w+|\{[^}]*\}", "{}", path)


def test_reference_lists_69_distinct_routes() -> None:
    assert len(REFERENCE_ROUTES) == 69
    assert len({(m, shape(p)) for m, p, _ in REFERENCE_ROUTES}) == 69


def test_edge_route_table_is_exactly_the_reference() -> None:
    edge = {(r.http_method, shape(r.template)): r for r in load_routes()}
    reference = {(m, shape(p)): auth for m, p, auth in [*REFERENCE_ROUTES, *ADDED_ROUTES]}
    assert len(load_routes()) == len(edge)  # no duplicate bindings
    assert sorted(set(edge) - set(reference)) == []  # routes the reference does not have
    assert sorted(set(reference) - set(edge)) == []  # reference routes the edge does not serve
    wrong_auth = [key for key, auth in reference.items() if edge[key].auth != AUTH_LEVELS[auth]]
    assert wrong_auth == []


async def test_every_reference_route_is_served(http: aiohttp.ClientSession) -> None:
    failures = []
    for method, path, auth in [*REFERENCE_ROUTES, *ADDED_ROUTES]:
        has_body = method in ("POST", "PUT", "PATCH")
        async with http.request(method, sample_path(path), json={} if has_body else None) as resp:
            body = await resp.read()
            status = resp.status
            ctype = resp.content_type
        if auth == "NONE":
            expected = {400} if path in EMPTY_BODY_REFUSED else {200, 501}
        else:
            expected = {401}  # from the core's auth check: the edge routed the request
        if status not in expected:
            failures.append((method, path, status, body[:200]))
        elif status != 200:
            assert ctype == "application/json"
            error = json.loads(body)["error"]
            if path.startswith("/v1/"):  # OpenAI's dialect answers OpenAI's error body
                assert (error["type"], error["code"]) == ("authentication_error", "invalid_api_key"), (path, error)
            else:
                assert error["code"] in ("UNAUTHENTICATED", "INVALID_ARGUMENT", "UNIMPLEMENTED"), (method, path, error)
    assert failures == []


async def test_api_key_routes_pass_auth_with_the_key(http: aiohttp.ClientSession) -> None:
    for method, path, auth in REFERENCE_ROUTES:
        if auth != "API_KEY":
            continue
        json_body = {} if method == "POST" else None
        async with http.request(method, sample_path(path), json=json_body, headers={"X-Api-Key": API_KEY}) as resp:
            assert resp.status not in (401, 405), (method, path, resp.status)
            if resp.status == 404:  # the core may not know the sample id, but the edge must know the route
                assert not (await resp.json())["error"]["message"].startswith("no route"), (method, path)
