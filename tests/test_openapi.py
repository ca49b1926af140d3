"""GET /openapi.json: an OpenAPI 3.1 document generated from the contract that documents exactly the routes the edge
serves, with parameters, schemas (proto3 JSON mapping), auth and streaming as the edge actually behaves; real
responses validate against the documented schemas."""

from __future__ import annotations

from typing import Any

import aiohttp
import jsonschema
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, timestamp_pb2

from contract.routes import Route, load_routes
from edge.app import GATEWAY
from edge.openapi import OPENAPI_PATH, build_document, openapi_path
from tests.harness import API_KEY, GatewayThread
from tests.helpers.accounts import bearer, register


async def fetch_document(http: aiohttp.ClientSession) -> dict[str, Any]:
    async with http.get(OPENAPI_PATH) as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        return await resp.json()


def validator(document: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    """Validates against one schema of the document, resolving its #/components refs."""
    root = {**schema, "components": document["components"]}
    return jsonschema.Draft202012Validator(root, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def response_schema(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    return document["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]


async def test_every_routed_path_is_documented_and_every_documented_path_is_routed(
    gateway: GatewayThread, http: aiohttp.ClientSession
) -> None:
    document = await fetch_document(http)
    assert document["openapi"].startswith("3.1")
    assert gateway.app is not None
    routed = {
        (method.lower(), openapi_path(template.template))
        for method, template, _ in gateway.app[GATEWAY].router.routes()
    }
    # The aiohttp routes next to the dispatcher (the catch-all, the WebSocket and MCP's JSON-RPC endpoint are not
    # REST operations).
    for resource in gateway.app.router.resources():
        info = resource.get_info()
        if "path" in info and info["path"] not in ("/ws", "/mcp"):
            # /openapi.json takes every method so that others get the same 405 as the dispatcher's routes.
            routed |= {("get" if route.method == "*" else route.method.lower(), info["path"]) for route in resource}
    documented = {(method, path) for path, operations in document["paths"].items() for method in operations}
    assert routed == documented
    assert len(routed) == len(load_routes()) + 1  # every binding of the contract, plus this document

    # Every documented operation really is served: an unknown path is 404, a documented one is not.
    async with http.get("/definitely/not/routed") as resp:
        assert resp.status == 404
    async with http.get("/skills") as resp:
        assert resp.status == 200
    for method in ("POST", "DELETE", "TRACE"):
        async with http.request(method, OPENAPI_PATH) as resp:
            assert (resp.status, resp.headers["Allow"]) == (405, "GET, HEAD")
            assert (await resp.json())["error"]["code"] == "METHOD_NOT_ALLOWED"


async def test_parameters_bodies_auth_and_streams_follow_the_contract(http: aiohttp.ClientSession) -> None:
    document = await fetch_document(http)
    paths, schemes = document["paths"], document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert schemes["apiKey"] == {"type": "apiKey", "in": "header", "name": "x-api-key"}

    # Auth per astra.v1.auth: none, API key, JWT (the default).
    assert paths["/auth/register"]["post"]["security"] == []
    assert paths["/admin/usage/{user_id}"]["get"]["security"] == [{"apiKey": []}]
    assert paths["/agents"]["get"]["security"] == [{"bearerAuth": []}]
    assert "401" in paths["/agents"]["get"]["responses"] and "401" not in paths["/health"]["get"]["responses"]

    # Path and query parameters: path fields are required, the rest of a GET request's fields are query params.
    get_session = paths["/sessions/{session_id}"]["get"]
    params = {(p["in"], p["name"]): p for p in get_session["parameters"]}
    assert params[("path", "session_id")]["required"] is True
    assert {("query", "limit"), ("query", "pageToken"), ("header", "x-workspace-id")} <= set(params)
    assert ("query", "sessionId") not in params
    assert params[("query", "limit")]["schema"]["type"] == "integer"

    # Bodies: "*" is the whole request, a field name is that field's message; no query params then.
    register_op = paths["/auth/register"]["post"]
    assert register_op["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/astra.v1.RegisterRequest"
    }
    assert not [p for p in register_op.get("parameters", []) if p["in"] == "query"]
    create_agent = paths["/agents"]["post"]
    assert create_agent["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/astra.v1.Agent"
    }
    update_agent = paths["/agents/{agent_id}"]["put"]
    assert {p["name"] for p in update_agent["parameters"] if p["in"] == "query"} == set()  # all bound

    # proto3 JSON: int64 as string, Timestamp as date-time, Struct as object, json names.
    schemas = document["components"]["schemas"]
    usage = schemas["astra.v1.GetUserUsageResponse"]["properties"]
    assert usage["totalTokens"]["type"] == "string" and usage["days"]["type"] == "integer"
    assert usage["byDay"]["type"] == "array"
    assert schemas["astra.v1.Agent"]["properties"]["createdAt"] == {"type": "string", "format": "date-time"}
    assert any(prop == {"type": "object"} for prop in schemas["astra.v1.AuditEntry"]["properties"].values())

    # Streams: SSE and NDJSON, with one event per member of the response's oneof.
    stream = paths["/agent/chat/stream"]["post"]["responses"]["200"]["content"]
    assert set(stream) == {"text/event-stream", "application/x-ndjson"}
    assert set(stream["text/event-stream"]["x-events"]) == {
        "session_resolved",
        "stream_chunk",
        "tool_call",
        "tool_result",
        "stream_done",
        "error",
    }
    # Every schema in the document is valid JSON Schema 2020-12 (the dialect of OpenAPI 3.1).
    for schema in schemas.values():
        jsonschema.Draft202012Validator.check_schema(schema)
    for path, operations in paths.items():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                jsonschema.Draft202012Validator.check_schema(parameter["schema"])
            assert operation["operationId"] and operation["responses"], path
    assert len({op["operationId"] for ops in paths.values() for op in ops.values()}) == sum(map(len, paths.values()))
    # Errors share one shape.
    error = schemas["Error"]
    assert error["required"] == ["error", "requestId"] and error["properties"]["error"]["required"] == [
        "code",
        "message",
    ]


async def test_real_responses_validate_against_the_documented_schemas(http: aiohttp.ClientSession) -> None:
    document = await fetch_document(http)
    account = await register(http)
    async with http.post("/auth/register", json={"email": account["email"], "password": "x" * 12}) as resp:
        duplicate = await resp.json()
    assert resp.status >= 400
    validator(document, {"$ref": "#/components/schemas/Error"}).validate(duplicate)
    body = {k: v for k, v in account.items() if k not in ("password", "email")}
    validator(document, response_schema(document, "post", "/auth/register")).validate(body)

    async with http.post(
        "/agents", json={"id": f"oa-{account['user']['id'][-8:]}", "model": "local/echo"}, headers=bearer(account)
    ) as resp:
        created = await resp.json()
        assert resp.status == 200, created
    validator(document, response_schema(document, "post", "/agents")).validate(created)
    async with http.get("/agents", headers=bearer(account)) as resp:
        listed = await resp.json()
    validator(document, response_schema(document, "get", "/agents")).validate(listed)
    async with http.get("/admin/health", headers={"x-api-key": API_KEY}) as resp:
        health = await resp.json()
        assert resp.status == 200, health
    validator(document, response_schema(document, "get", "/admin/health")).validate(health)
    assert isinstance(health["rssBytes"], str)  # int64 really is a string on the wire

    # A value of the wrong JSON type is refused by the document as by the edge.
    with pytest.raises(jsonschema.ValidationError):
        validator(document, {"$ref": "#/components/schemas/astra.v1.Agent"}).validate({"maxOutputTokens": "many"})
    async with http.post("/agents", json={"id": "oa-x", "maxOutputTokens": "many"}, headers=bearer(account)) as resp:
        assert resp.status == 400


async def test_declared_success_statuses_are_documented_and_answered(http: aiohttp.ClientSession) -> None:
    """astra.v1.success_statuses: adding a non-member answers 202 (an invitation), documented beside 200."""
    document = await fetch_document(http)
    paths = document["paths"]
    add_member = paths["/workspaces/{workspace_id}/members"]["post"]["responses"]
    assert add_member["202"]["description"] == "Accepted"
    assert add_member["202"]["content"] == add_member["200"]["content"]
    assert not [code for code in paths["/agents"]["post"]["responses"] if code.startswith("2") and code != "200"]
    for method, path in [
        ("get", "/invitations"),
        ("post", "/invitations/{invitation_id}/accept"),
        ("post", "/invitations/{invitation_id}/decline"),
        ("get", "/workspaces/{workspace_id}/invitations"),
        ("delete", "/workspaces/{workspace_id}/invitations/{invitation_id}"),
    ]:
        assert paths[path][method]["security"] == [{"bearerAuth": []}], path

    owner, invitee = await register(http), await register(http)
    async with http.post(
        f"/workspaces/{owner['workspaceId']}/members", json={"email": invitee["email"]}, headers=bearer(owner)
    ) as resp:
        invited = await resp.json()
        assert resp.status == 202, invited
    schema = add_member["202"]["content"]["application/json"]["schema"]
    validator(document, schema).validate(invited)
    async with http.get("/invitations", headers=bearer(invitee)) as resp:
        listed = await resp.json()
    validator(document, response_schema(document, "get", "/invitations")).validate(listed)
    async with http.post(f"/invitations/{invited['invitation']['id']}/accept", headers=bearer(invitee)) as resp:
        accepted = await resp.json()
        assert resp.status == 200, accepted
    validator(document, response_schema(document, "post", "/invitations/{invitation_id}/accept")).validate(accepted)


def _synthetic_route(template: str, http_method: str = "GET", body: str = "") -> Route:
    """A method on a message with every kind of field the mapping has to handle, outside the real contract."""
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)
    f = descriptor_pb2.FileDescriptorProto(
        name="synthetic.proto", package="syn", syntax="proto3", dependency=["google/protobuf/timestamp.proto"]
    )
    T = descriptor_pb2.FieldDescriptorProto
    f.enum_type.add(name="Color", value=[{"name": "COLOR_UNSPECIFIED", "number": 0}, {"name": "RED", "number": 1}])
    inner = f.message_type.add(name="Inner")
    inner.field.add(name="depth", number=1, type=T.TYPE_INT32, label=T.LABEL_OPTIONAL)
    inner.field.add(name="again", number=2, type=T.TYPE_MESSAGE, type_name=".syn.Inner", label=T.LABEL_OPTIONAL)
    req = f.message_type.add(name="Req")
    entry = req.nested_type.add(name="LabelsEntry", options={"map_entry": True})
    entry.field.add(name="key", number=1, type=T.TYPE_STRING, label=T.LABEL_OPTIONAL)
    entry.field.add(name="value", number=2, type=T.TYPE_INT64, label=T.LABEL_OPTIONAL)
    req.oneof_decl.add(name="choice")
    fields = [
        ("item_id", T.TYPE_STRING, T.LABEL_OPTIONAL, ""),
        ("big", T.TYPE_INT64, T.LABEL_OPTIONAL, ""),
        ("tags", T.TYPE_STRING, T.LABEL_REPEATED, ""),
        ("color", T.TYPE_ENUM, T.LABEL_OPTIONAL, ".syn.Color"),
        ("inner", T.TYPE_MESSAGE, T.LABEL_OPTIONAL, ".syn.Inner"),
        ("since", T.TYPE_MESSAGE, T.LABEL_OPTIONAL, ".google.protobuf.Timestamp"),
        ("labels", T.TYPE_MESSAGE, T.LABEL_REPEATED, ".syn.Req.LabelsEntry"),
        ("by_name", T.TYPE_STRING, T.LABEL_OPTIONAL, ""),
        ("by_id", T.TYPE_STRING, T.LABEL_OPTIONAL, ""),
    ]
    for number, (name, kind, label, type_name) in enumerate(fields, start=1):
        field = req.field.add(name=name, number=number, type=kind, label=label)
        if type_name:
            field.type_name = type_name
        if name.startswith("by_"):
            field.oneof_index = 0
    f.service.add(name="Syn", method=[{"name": "Get", "input_type": ".syn.Req", "output_type": ".syn.Req"}])
    pool.Add(f)
    method = pool.FindServiceByName("syn.Syn").methods_by_name["Get"]
    return Route(http_method, template, method, body, "")


def test_mapping_of_query_parameters_enums_maps_oneofs_and_templates() -> None:
    document = build_document([_synthetic_route("/items/{item_id=shelves/*}:get")])
    assert list(document["paths"]) == ["/items/{item_id}:get", OPENAPI_PATH]
    params = {p["name"]: p for p in document["paths"]["/items/{item_id}:get"]["get"]["parameters"]}
    assert params["item_id"]["in"] == "path"
    assert params["big"]["schema"]["type"] == "string"  # int64
    assert params["tags"]["schema"] == {"type": "array", "items": {"type": "string"}}
    assert params["tags"]["explode"] is True
    assert params["color"]["schema"] == {"type": "string", "enum": ["COLOR_UNSPECIFIED", "RED"]}
    assert params["since"]["schema"]["format"] == "date-time"
    # Nested fields by dotted name, stopping at recursion; maps cannot be set from a query.
    assert "inner.depth" in params and "inner.again.depth" not in params
    assert "labels" not in params and "inner" not in params
    req = document["components"]["schemas"]["syn.Req"]
    assert req["properties"]["labels"] == {
        "type": "object",
        "additionalProperties": {"type": "string", "pattern": "^-?[0-9]+$", "format": "int64"},
    }
    assert req["x-oneofs"] == {"choice": ["byName", "byId"]}
    assert req["not"] == {"anyOf": [{"required": ["byName", "byId"]}]}  # the edge refuses both set
    assert "oneof choice" in req["description"]

    # With a body of one field, that field is the body and the rest stay in the query; with "*" no query at all.
    post = build_document([_synthetic_route("/items", "POST", "inner")])["paths"]["/items"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/syn.Inner"}
    assert not any(p["name"].startswith("inner") for p in post["parameters"])
    whole = build_document([_synthetic_route("/items", "POST", "*")])["paths"]["/items"]["post"]
    assert [p["in"] for p in whole["parameters"]] == ["header"]
