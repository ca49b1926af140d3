"""One contract for the edge, the core and the OpenAPI document: the query parameters the document lists for every
route are exactly the ones the edge accepts, and every surface speaks the same error codes."""

from __future__ import annotations

import json
import re
from typing import Any

import aiohttp
import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, duration_pb2, timestamp_pb2, wrappers_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from contract.errors import ErrorCode
from contract.routes import Route, load_routes
from edge.errors import EdgeError, Failure, from_rpc_error, json_response, stream_frame, ws_frame
from edge.openapi import OPENAPI_PATH, build_document, openapi_path
from edge.transcode import build_request
from server.errors import AstraError, FailedPrecondition, InvalidArgument

_FD = FieldDescriptor
_VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.]*)")
# Names are tried this many fields deep: one past the deepest the contract lets a query name reach.
_PROBE_DEPTH = 5


# -- what the edge accepts, asked of the edge itself --------------------------------------------------------------


def _sample(field: FieldDescriptor) -> str:
    """A value the field's type takes, so that a refusal can only be about the name."""
    nested = field.message_type
    if nested is not None:
        if nested.full_name == "google.protobuf.Timestamp":
            return "2024-01-02T03:04:05Z"
        if nested.full_name == "google.protobuf.Duration":
            return "1.5s"
        if nested.full_name == "google.protobuf.FieldMask":
            return "a,b.c"
        if nested.full_name.startswith("google.protobuf.") and list(nested.fields_by_name) == ["value"]:
            return _sample(nested.fields_by_name["value"])  # a wrapper
        return "x"
    if field.enum_type is not None:
        return field.enum_type.values[-1].name
    if field.type == _FD.TYPE_BOOL:
        return "true"
    if field.type == _FD.TYPE_BYTES:
        return "aGk"
    if field.type in (_FD.TYPE_FLOAT, _FD.TYPE_DOUBLE):
        return "1.5"
    if field.type == _FD.TYPE_STRING:
        return "x"
    return "1"


def _names(descriptor: Descriptor) -> list[tuple[str, str, FieldDescriptor]]:
    """(proto spelling, JSON spelling, field) of every dotted name down to _PROBE_DEPTH fields: into maps, repeated
    messages, well-known types and recursive messages too, whatever the contract allows."""
    found = []

    def walk(message: Descriptor, proto: str, json_path: str, depth: int) -> None:
        for field in message.fields:
            found.append((proto + field.name, json_path + field.json_name, field))
            if field.message_type is not None and depth < _PROBE_DEPTH:
                walk(field.message_type, proto + field.name + ".", json_path + field.json_name + ".", depth + 1)

    walk(descriptor, "", "", 1)
    return found


def _path_bindings(route: Route) -> dict[str, str]:
    request = route.method.input_type
    bindings = {}
    for name in _VARIABLE.findall(route.template):
        field = None
        for part in name.split("."):
            field = (field.message_type if field else request).fields_by_name[part]
        assert field is not None
        bindings[name] = _sample(field)
    return bindings


def _accepts(route: Route, name: str, value: str) -> bool:
    try:
        build_request(route, _path_bindings(route), [(name, value)], b"", "")
    except EdgeError as exc:
        assert exc.status == 400 and f"'{name}'" in exc.message, exc.message  # refused for its name, nothing else
        return False
    return True


def _accepted(route: Route) -> set[str]:
    """The JSON spellings of every name the edge's query parser takes for the route (each also in proto spelling)."""
    accepted = set()
    for proto, json_path, field in _names(route.method.input_type):
        by_proto, by_json = _accepts(route, proto, _sample(field)), _accepts(route, json_path, _sample(field))
        assert by_proto == by_json, (route.template, proto, json_path)
        if by_proto:
            accepted.add(json_path)
    return accepted


def _documented(document: dict[str, Any], route: Route) -> set[str]:
    operation = document["paths"][openapi_path(route.template)][route.http_method.lower()]
    return {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}


def test_every_route_documents_exactly_the_query_parameters_the_edge_accepts() -> None:
    routes = load_routes()
    document = build_document(routes)
    for route in routes:
        assert _documented(document, route) == _accepted(route), f"{route.http_method} {route.template}"
    # The contract does use the rule's every part: nested names, repeated fields, enums and refusals alike.
    sessions = next(r for r in routes if (r.http_method, r.template) == ("GET", "/sessions"))
    assert {"limit", "pageToken", "status", "agentId"} <= _documented(document, sessions)


def _tricky_route(body: str = "") -> Route:
    """A request with every shape a query name can meet: scalars, enums, repeated scalars, a message nested five
    deep, a recursive message, maps, repeated messages, well-known types (repeated too), wrappers, a oneof, a proto3
    `optional` and a custom json_name."""
    pool = descriptor_pool.DescriptorPool()
    for module in (timestamp_pb2, duration_pb2, wrappers_pb2):
        pool.AddSerializedFile(module.DESCRIPTOR.serialized_pb)
    f = descriptor_pb2.FileDescriptorProto(
        name="tricky.proto",
        package="tricky",
        syntax="proto3",
        dependency=[m.DESCRIPTOR.name for m in (timestamp_pb2, duration_pb2, wrappers_pb2)],
    )
    T = descriptor_pb2.FieldDescriptorProto
    one, rep, msg = T.LABEL_OPTIONAL, T.LABEL_REPEATED, T.TYPE_MESSAGE
    f.enum_type.add(name="Color", value=[{"name": "COLOR_UNSPECIFIED", "number": 0}, {"name": "RED", "number": 1}])
    for level in range(1, 6):  # L1 holds L2 ... holds L5: a name can go at most four messages deep
        nested = f.message_type.add(name=f"L{level}")
        nested.field.add(name=f"v{level}", number=1, type=T.TYPE_INT32, label=one)
        if level < 5:
            nested.field.add(name="next", number=2, type=msg, type_name=f".tricky.L{level + 1}", label=one)
    node = f.message_type.add(name="Node")
    node.field.add(name="label", number=1, type=T.TYPE_STRING, label=one)
    node.field.add(name="child", number=2, type=msg, type_name=".tricky.Node", label=one)
    req = f.message_type.add(name="Req")
    entry = req.nested_type.add(name="TagsEntry", options={"map_entry": True})
    entry.field.add(name="key", number=1, type=T.TYPE_STRING, label=one)
    entry.field.add(name="value", number=2, type=T.TYPE_STRING, label=one)
    req.oneof_decl.add(name="choice")
    req.oneof_decl.add(name="_maybe")
    fields = [
        ("item_id", T.TYPE_STRING, one, "", {}),
        ("big", T.TYPE_UINT64, one, "", {}),
        ("colors", T.TYPE_ENUM, rep, ".tricky.Color", {}),
        ("names", T.TYPE_STRING, rep, "", {}),
        ("deep", msg, one, ".tricky.L1", {}),
        ("node", msg, one, ".tricky.Node", {}),
        ("nodes", msg, rep, ".tricky.Node", {}),
        ("tags", msg, rep, ".tricky.Req.TagsEntry", {}),
        ("since", msg, one, ".google.protobuf.Timestamp", {}),
        ("times", msg, rep, ".google.protobuf.Timestamp", {}),
        ("timeout", msg, one, ".google.protobuf.Duration", {}),
        ("count", msg, one, ".google.protobuf.Int64Value", {}),
        ("by_name", T.TYPE_STRING, one, "", {"oneof_index": 0}),
        ("by_node", msg, one, ".tricky.Node", {"oneof_index": 0}),
        ("maybe", T.TYPE_BOOL, one, "", {"oneof_index": 1, "proto3_optional": True}),
        ("custom", T.TYPE_STRING, one, "", {"json_name": "renamed"}),
    ]
    for number, (name, kind, label, type_name, extra) in enumerate(fields, start=1):
        field = req.field.add(name=name, number=number, type=kind, label=label, **extra)
        if type_name:
            field.type_name = type_name
    f.service.add(name="Tricky", method=[{"name": "Get", "input_type": ".tricky.Req", "output_type": ".tricky.Req"}])
    pool.Add(f)
    method = pool.FindServiceByName("tricky.Tricky").methods_by_name["Get"]
    return Route("POST" if body else "GET", "/items/{item_id}", method, body, "")


@pytest.mark.parametrize("body", ["", "deep", "*"])
def test_the_rule_holds_for_shapes_the_contract_does_not_use_yet(body: str) -> None:
    route = _tricky_route(body)
    documented = _documented(build_document([route]), route)
    assert documented == _accepted(route)
    if body == "*":
        assert documented == set()
        return
    assert {"big", "colors", "names", "node.label", "since", "timeout", "count"} <= documented
    assert {"maybe", "renamed", "byName", "byNode.label"} <= documented
    # Recursion stops where the message comes round again; depth stops at four messages, the request included.
    assert "node.child.label" not in documented
    if body == "deep":
        assert not any(name.startswith("deep") for name in documented)
    else:
        assert {"deep.v1", "deep.next.v2", "deep.next.next.v3"} <= documented
        assert "deep.next.next.next.v4" not in documented
    # Never: the path variable, maps, repeated messages (well-known ones too), or the inside of a well-known type.
    assert not documented & {"itemId", "tags", "tags.key", "nodes.label", "times", "since.seconds", "count.value"}


# -- the live edge --------------------------------------------------------------------------------------------------


def _schema_sample(schema: dict[str, Any]) -> str:
    """A value of a documented schema, read from the document alone."""
    if "enum" in schema:
        return schema["enum"][-1]
    if schema.get("type") == "array":
        return _schema_sample(schema["items"])
    if schema.get("type") == "integer":
        return "1"
    if schema.get("type") == "number":
        return "1.5"
    if schema.get("type") == "boolean":
        return "true"
    if schema.get("format") == "date-time":
        return "2024-01-02T03:04:05Z"
    pattern = schema.get("pattern", "")
    if pattern.endswith("s$"):
        return "1.5s"
    if "[0-9]" in pattern:
        return "1"
    if schema.get("contentEncoding") == "base64":
        return "aGk"
    return "x"


def _url(path: str, operation: dict[str, Any]) -> str:
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            path = path.replace("{" + parameter["name"] + "}", _schema_sample(parameter["schema"]))
    return path


async def test_the_live_edge_takes_every_documented_parameter_and_refuses_any_other(
    http: aiohttp.ClientSession,
) -> None:
    async with http.get(OPENAPI_PATH) as resp:
        document = await resp.json()
    probed = 0
    for path, operations in document["paths"].items():
        if path == OPENAPI_PATH:
            continue
        for method, operation in operations.items():
            url = _url(path, operation)
            query = [p for p in operation.get("parameters", []) if p["in"] == "query"]
            for parameter in query:
                name = parameter["name"]
                async with http.request(method, url, params={name: _schema_sample(parameter["schema"])}) as resp:
                    answer = await resp.text()
                # Whatever the core then says (401 without a token), the edge took the parameter.
                assert f"query parameter '{name}'" not in answer, (method, path, resp.status, answer)
                probed += 1
            bound = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
            for name in ["notAParameter", *bound]:
                async with http.request(method, url, params={name: "1"}) as resp:
                    answer = await resp.json()
                    assert resp.status == 400, (method, path, name, answer)
                if path.startswith("/v1/"):  # OpenAI's dialect: its error body
                    assert answer["error"]["type"] == "invalid_request_error", (path, answer)
                else:
                    assert answer["error"]["code"] == "INVALID_ARGUMENT"
                assert f"query parameter '{name}'" in answer["error"]["message"], (method, path, answer)
    assert probed >= 50  # every list's limit and pageToken, filters, and the rest


# -- one error vocabulary -------------------------------------------------------------------------------------------

# google/rpc/code.proto's table, written out here to check the contract's against.
_CANONICAL_HTTP = {
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}


def test_every_grpc_status_has_its_code_and_canonical_http_status() -> None:
    for status in grpc.StatusCode:
        if status is grpc.StatusCode.OK:
            continue
        code = ErrorCode.of_status(status)
        assert (code.wire, code.grpc, code.http) == (status.name, status, _CANONICAL_HTTP[status.name])
        assert code.number == status.value[0]  # astra.v1.ErrorCode numbers them as google.rpc.Code does
    chat = {c.wire: (c.grpc, c.http) for c in (ErrorCode.PROVIDER_ERROR, ErrorCode.PROVIDER_UNAVAILABLE)}
    assert chat == {
        "provider_error": (grpc.StatusCode.UNAVAILABLE, 502),
        "provider_unavailable": (grpc.StatusCode.UNAVAILABLE, 503),
    }


def _rpc_error(status: grpc.StatusCode, details: str, *trailers: tuple[str, str]) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(status, grpc.aio.Metadata(), grpc.aio.Metadata(*trailers), details)


def test_one_failure_renders_for_rest_streams_and_ws() -> None:
    limited = from_rpc_error(
        _rpc_error(grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down", ("retry-after", "2"), ("retry-after-ms", "1500"))
    )
    rest = json_response(limited, "rid-1")
    assert (rest.status, rest.headers["Retry-After"]) == (429, "2")
    assert json.loads(rest.body) == {
        "error": {"code": "RESOURCE_EXHAUSTED", "message": "slow down"},
        "requestId": "rid-1",
    }
    assert stream_frame(limited) == (
        "error",
        {"code": "RESOURCE_EXHAUSTED", "message": "slow down", "retryAfterMs": 1500},
    )
    assert ws_frame(limited) == {"type": "error", "code": "rate_limited", "message": "slow down", "retryAfterMs": 1500}

    # The HTTP status the core asks for travels with the code; /ws spells codes in lower case.
    archived = from_rpc_error(_rpc_error(grpc.StatusCode.FAILED_PRECONDITION, "archived", ("x-http-status", "409")))
    assert (json_response(archived, "r").status, ws_frame(archived)["code"]) == (409, "failed_precondition")
    refused = json_response(Failure(ErrorCode.UNAUTHENTICATED, ""), "r")
    assert refused.headers["WWW-Authenticate"] == 'Bearer realm="astra"'
    assert json.loads(refused.body)["error"] == {"code": "UNAUTHENTICATED", "message": "unauthenticated"}
    assert ws_frame(Failure(ErrorCode.BUSY, "one at a time")) == {
        "type": "error",
        "code": "busy",
        "message": "one at a time",
    }


def test_the_core_raises_codes_and_the_statuses_the_contract_gives_them() -> None:
    provider = AstraError("the provider answered HTTP 401", error=ErrorCode.PROVIDER_ERROR)
    assert (provider.code, provider.http_status) == (grpc.StatusCode.UNAVAILABLE, 502)
    assert InvalidArgument("reused key", http_status=422).http_status == 422
    assert InvalidArgument("plain").http_status is None
    with pytest.raises(ValueError, match="never answered with HTTP 418"):
        FailedPrecondition("teapot", http_status=418)
