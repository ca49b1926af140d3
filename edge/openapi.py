"""The OpenAPI 3.1 document of the edge, built from the same routes and descriptors that build its router.

Nothing here knows a domain: paths come from the google.api.http rules, parameters and schemas from the request and
response descriptors (proto3 JSON mapping, as the edge transcodes them), auth from the astra.v1.auth option and
success statuses other than 200 from astra.v1.success_statuses. A service in OpenAI's dialect (astra.v1.dialect) is
documented as edge/openai_dialect.py speaks it: proto field names, nullable optional fields, 64-bit integers as
numbers, its stream's `data:` lines and OpenAI's error body.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from contract.fields import (
    INTEGERS,
    FieldPathError,
    event_oneof,
    is_map,
    is_synthetic,
    json_name,
    query_fields,
    real_oneofs,
    resolve,
)
from contract.routes import HTTP_BODY, Route
from contract.services import AUTH_API_KEY, AUTH_JWT, AUTH_NONE, DIALECT_OPENAI
from edge.streaming import NDJSON

OPENAPI_PATH = "/openapi.json"
Schema = dict[str, Any]
_FD = FieldDescriptor
_REF = "#/components/schemas/"

_WRAPPED = {
    "DoubleValue": {"type": "number"},
    "FloatValue": {"type": "number"},
    "Int64Value": {"type": "string", "pattern": r"^-?[0-9]+$"},
    "UInt64Value": {"type": "string", "pattern": r"^[0-9]+$"},
    "Int32Value": {"type": "integer", "format": "int32"},
    "UInt32Value": {"type": "integer", "format": "uint32", "minimum": 0},
    "BoolValue": {"type": "boolean"},
    "StringValue": {"type": "string"},
    "BytesValue": {"type": "string", "contentEncoding": "base64"},
}
# Well-known types have their own JSON forms.
_WELL_KNOWN: dict[str, Schema] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]{1,9})?s$", "example": "1.5s"},
    "google.protobuf.FieldMask": {"type": "string", "description": "Comma-separated lowerCamelCase field paths."},
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array"},
    "google.protobuf.Empty": {"type": "object"},
    "google.protobuf.Any": {"type": "object", "properties": {"@type": {"type": "string"}}, "required": ["@type"]},
    **{f"google.protobuf.{name}": schema for name, schema in _WRAPPED.items()},
}
_VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.]*)(?:=[^}]*)?\}")

ERROR_SCHEMA: Schema = {
    "type": "object",
    "required": ["error", "requestId"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "gRPC status name, e.g. INVALID_ARGUMENT"},
                "message": {"type": "string"},
            },
        },
        "requestId": {"type": "string"},
    },
}
STREAM_FAILURE: Schema = {
    "type": "object",
    "required": ["code", "message"],
    "properties": {
        "code": {"type": "string"},
        "message": {"type": "string"},
        "retryAfterMs": {"type": "integer", "minimum": 0},
    },
}
OPENAI_ERROR_SCHEMA: Schema = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string", "description": "e.g. invalid_request_error, authentication_error"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"], "description": "e.g. model_not_found, rate_limit_exceeded"},
            },
        }
    },
}
SECURITY_SCHEMES: Schema = {
    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
}


def openapi_path(template: str) -> str:
    """The OpenAPI path of a google.api.http template: "{name=a/*}" becomes "{name}"."""
    return _VARIABLE.sub(lambda m: "{" + m.group(1) + "}", template)


class _Builder:
    def __init__(self) -> None:
        self.schemas: dict[str, Schema] = {"Error": ERROR_SCHEMA}
        # Set while a route in OpenAI's dialect is documented: its messages are no other routes'.
        self.openai = False

    # -- schemas (proto3 JSON mapping) ---------------------------------------------------------------------------

    def ref(self, descriptor: Descriptor) -> Schema:
        if descriptor.full_name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[descriptor.full_name])
        if descriptor.full_name not in self.schemas:
            self.schemas[descriptor.full_name] = {}  # placeholder first: messages may refer to themselves
            self.schemas[descriptor.full_name] = self._message(descriptor)
        return {"$ref": _REF + descriptor.full_name}

    def _message(self, descriptor: Descriptor) -> Schema:
        if self.openai:
            properties = {field.name: self._nullable(field) for field in descriptor.fields}
            return {"type": "object", "properties": properties}
        properties = {field.json_name: self.field(field) for field in descriptor.fields}
        schema: Schema = {"type": "object", "properties": properties}
        notes = [
            f"At most one of {', '.join(f.json_name for f in oneof.fields)} is set (oneof {oneof.name})."
            for oneof in real_oneofs(descriptor)
        ]
        if notes:
            oneofs = real_oneofs(descriptor)
            schema["description"] = " ".join(notes)
            schema["x-oneofs"] = {o.name: [f.json_name for f in o.fields] for o in oneofs}
            # The edge refuses a body that sets two members of one oneof (even to default values).
            pairs = [
                {"required": [a.json_name, b.json_name]}
                for o in oneofs
                for i, a in enumerate(o.fields)
                for b in o.fields[i + 1 :]
            ]
            if pairs:
                schema["not"] = {"anyOf": pairs}
        return schema

    def _nullable(self, field: FieldDescriptor) -> Schema:
        """OpenAI's dialect prints an unset optional field (and message) as null."""
        schema = self.field(field)
        oneof = field.containing_oneof
        if field.has_presence and (oneof is None or is_synthetic(oneof)):  # not a member of a real oneof
            return {"anyOf": [schema, {"type": "null"}]}
        return schema

    def field(self, field: FieldDescriptor) -> Schema:
        if is_map(field):
            value = field.message_type.fields_by_name["value"]
            return {"type": "object", "additionalProperties": self.single(value)}
        single = self.single(field)
        return {"type": "array", "items": single} if field.is_repeated else single

    def single(self, field: FieldDescriptor) -> Schema:
        kind = field.type
        if field.message_type is not None:
            return self.ref(field.message_type)
        if field.enum_type is not None:
            return _enum(field.enum_type)
        if kind in INTEGERS:
            name, low, high = INTEGERS[kind]
            if not name.endswith("64"):
                return {"type": "integer", "format": "uint32" if low == 0 else "int32", "minimum": low, "maximum": high}
            if self.openai:  # OpenAI's dialect prints them as numbers
                return {"type": "integer", "format": "int64" if low else "uint64"}
            # proto3 JSON writes 64-bit integers as decimal strings (and accepts numbers too).
            pattern = r"^[0-9]+$" if low == 0 else r"^-?[0-9]+$"
            return {"type": "string", "pattern": pattern, "format": "int64"}
        if kind in (_FD.TYPE_DOUBLE, _FD.TYPE_FLOAT):
            return {"type": "number", "format": "double" if kind == _FD.TYPE_DOUBLE else "float"}
        if kind == _FD.TYPE_BOOL:
            return {"type": "boolean"}
        if kind == _FD.TYPE_BYTES:
            return {"type": "string", "contentEncoding": "base64"}
        return {"type": "string"}

    # -- parameters ---------------------------------------------------------------------------------------------------

    def query_parameters(self, descriptor: Descriptor, bound: set[str]) -> list[Schema]:
        """Every field the query can set (the contract's rule, which the edge follows): scalars, enums, repeated
        scalars (arrays), nested fields by dotted name."""
        return [self._query_parameter(path[-1], json_name(path)) for path in query_fields(descriptor, bound)]

    def _query_parameter(self, field: FieldDescriptor, name: str) -> Schema:
        schema = self.single(field)
        if field.is_repeated:
            schema = {"type": "array", "items": schema}
        parameter: Schema = {"name": name, "in": "query", "required": False, "schema": schema}
        if field.is_repeated:
            parameter.update(style="form", explode=True)
        return parameter

    def path_parameter(self, descriptor: Descriptor, field_path: str) -> Schema:
        try:
            schema = self.single(resolve(descriptor, field_path, "path parameter")[-1])
        except FieldPathError:
            schema = {"type": "string"}
        if schema.get("type") == "string":
            schema = {**schema, "minLength": 1}  # an empty segment never matches a route
        return {"name": field_path, "in": "path", "required": True, "schema": schema}

    # -- operations ---------------------------------------------------------------------------------------------------

    def operation(self, route: Route) -> Schema:
        self.openai = route.dialect == DIALECT_OPENAI
        try:
            return self._operation(route)
        finally:
            self.openai = False

    def _operation(self, route: Route) -> Schema:
        method = route.method
        request, response = method.input_type, method.output_type
        path_fields = _VARIABLE.findall(route.template)
        parameters = [self.path_parameter(request, name) for name in path_fields]
        if route.body != "*":
            parameters += self.query_parameters(request, {*path_fields, *([route.body] if route.body else [])})
        operation: Schema = {
            "operationId": f"{method.containing_service.name}_{method.name}",
            "tags": [method.containing_service.name],
            "x-grpc-method": route.grpc_path,
        }
        operation["summary"] = _summary(method)
        operation.update(_security(route.auth))
        if route.auth == AUTH_JWT:
            parameters.append(
                {
                    "name": "x-workspace-id",
                    "in": "header",
                    "required": False,
                    "description": "The workspace to act in; the caller's personal workspace when absent.",
                    # gRPC metadata carries printable ASCII only; anything else is refused with 400.
                    "schema": {"type": "string", "pattern": "^[ -~]*$"},
                }
            )
        if parameters:
            operation["parameters"] = parameters
        if route.body:
            body = self.ref(request) if route.body == "*" else self.field(request.fields_by_name[route.body])
            operation["requestBody"] = {"required": False, "content": {"application/json": {"schema": body}}}
        success = self._success(route, response)
        # Other success statuses the method declares (the core sends them as x-http-status), with the same body.
        others = {str(code): {**success, "description": HTTPStatus(code).phrase} for code in route.success_statuses}
        operation["responses"] = {"200": success, **others, **self._errors(route.auth)}
        return operation

    def _errors(self, level: int) -> Schema:
        if not self.openai:
            return _errors(level)
        self.schemas["OpenAIError"] = OPENAI_ERROR_SCHEMA
        return _errors(level, "OpenAIError")

    def _success(self, route: Route, response: Descriptor) -> Schema:
        if route.streaming and self.openai:
            return self._openai_stream(response)
        if route.streaming:
            return self._stream(response)
        if route.response_body:
            field = response.fields_by_name[route.response_body]
            if field.message_type is not None and field.message_type.full_name == HTTP_BODY:
                return _raw_body()
            return {"description": "OK", "content": {"application/json": {"schema": self.field(field)}}}
        if response.full_name == HTTP_BODY:
            return _raw_body()
        return {"description": "OK", "content": {"application/json": {"schema": self.ref(response)}}}

    def _openai_stream(self, response: Descriptor) -> Schema:
        """OpenAI's dialect: the request's `stream` false answers the one message as JSON; true, SSE `data:` lines."""
        oneof = event_oneof(response)
        members = [self.single(f) for f in response.oneofs_by_name[oneof].fields] if oneof else [self.ref(response)]
        return {
            "description": "With stream false, one JSON body; with stream true, SSE `data: <JSON>` lines ended by "
            "`data: [DONE]` (a failure after the start is a last `data:` line with OpenAI's error body).",
            "content": {
                "application/json": {"schema": {"anyOf": members}},
                "text/event-stream": {"schema": {"type": "string"}, "x-data": {"anyOf": members}},
            },
        }

    def _stream(self, response: Descriptor) -> Schema:
        """SSE frames `event: <name>` / `data: <JSON>`, or NDJSON lines {"type": <name>, ...payload}."""
        oneof = event_oneof(response)
        events: dict[str, Schema] = (
            {f.name: self.single(f) for f in response.oneofs_by_name[oneof].fields}
            if oneof
            else {"message": self.ref(response)}
        )
        # A failure after the stream started arrives as one last `error` frame (unless the oneof has its own).
        if "error" not in events:
            events["error"] = {"$ref": _REF + "StreamFailure"}
            self.schemas["StreamFailure"] = STREAM_FAILURE
        lines = [
            {"allOf": [schema, {"type": "object", "properties": {"type": {"const": name}}, "required": ["type"]}]}
            for name, schema in events.items()
        ]
        names = ", ".join(events)
        return {
            "description": f"A stream of events ({names}); SSE by default, NDJSON with Accept: {NDJSON}.",
            "content": {
                "text/event-stream": {
                    "schema": {"type": "string", "description": "`event: <type>` and `data: <JSON payload>` frames."},
                    "x-events": events,
                },
                NDJSON: {
                    "schema": {"type": "string", "description": "One JSON object per line."},
                    "x-line-schema": {"oneOf": lines},
                },
            },
        }

    def document(self, routes: list[Route]) -> Schema:
        paths: dict[str, dict[str, Schema]] = {}
        for route in routes:
            paths.setdefault(openapi_path(route.template), {})[route.http_method.lower()] = self.operation(route)
        paths[OPENAPI_PATH] = {
            "get": {
                "operationId": "openapi",
                "summary": "This document.",
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}},
            }
        }
        return {
            "openapi": "3.1.0",
            "info": {
                "title": "Astra gateway",
                "version": "v1",
                "description": (
                    "REST/SSE transcoding of the astra.v1 gRPC contract. Every response carries X-Request-ID "
                    "(send one to choose it). Streaming routes answer text/event-stream, or application/x-ndjson "
                    "when asked for in Accept."
                ),
            },
            "paths": dict(sorted(paths.items())),
            "components": {"schemas": dict(sorted(self.schemas.items())), "securitySchemes": SECURITY_SCHEMES},
        }


def _enum(descriptor: EnumDescriptor) -> Schema:
    return {"type": "string", "enum": [value.name for value in descriptor.values]}


def _summary(method: Any) -> str:
    # Generated descriptors keep no source comments: the RPC name, in words, is the summary.
    return re.sub(r"(?<!^)(?=[A-Z])", " ", method.name).capitalize()


def _security(level: int) -> Schema:
    if level == AUTH_NONE:
        return {"security": []}
    if level == AUTH_API_KEY:
        return {"security": [{"apiKey": []}]}
    return {"security": [{"bearerAuth": []}]}


def _errors(level: int, shape: str = "Error") -> Schema:
    error = {"content": {"application/json": {"schema": {"$ref": _REF + shape}}}}
    answers: Schema = {
        "400": {"description": "Invalid argument or failed precondition", **error},
        "404": {"description": "Not found (or not visible to the caller)", **error},
        "429": {"description": "Rate limited; see Retry-After", **error},
        "503": {"description": "Unavailable (core down or draining)", **error},
        "default": {"description": "Any other error, in the same shape", **error},
    }
    if level != AUTH_NONE:
        answers["401"] = {"description": "Missing or invalid credentials", **error}
        answers["403"] = {"description": "Not allowed for the caller's role", **error}
    return dict(sorted(answers.items()))


def _raw_body() -> Schema:
    return {"description": "OK (raw body)", "content": {"*/*": {"schema": {"type": "string"}}}}


def build_document(routes: list[Route]) -> Schema:
    """The OpenAPI 3.1 document for these routes, plus GET /openapi.json itself."""
    return _Builder().document(routes)
