"""HTTP request -> request message (path, query, body per the HttpRule) and response message -> HTTP body."""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from contract.errors import ErrorCode
from contract.routes import HTTP_BODY, Route
from edge.errors import EdgeError
from edge.query import FieldValueError, populate_query, set_field

JSON_TYPES = ("application/json", "application/merge-patch+json")


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except RecursionError:
        raise EdgeError(ErrorCode.INVALID_ARGUMENT, "malformed JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise EdgeError(ErrorCode.INVALID_ARGUMENT, f"malformed JSON: {exc}") from None


def _merge_body(message: Message, route: Route, raw: bytes, content_type: str, ignore_unknown: bool) -> None:
    if not raw.strip():
        return  # an empty body is an empty message
    if content_type and content_type not in JSON_TYPES:
        refusal = f"request body must be JSON (application/json), not {content_type}"
        raise EdgeError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, refusal)
    document = _parse_json(raw)
    if route.body != "*":
        document = {route.body: document}  # the body is the value of one field
    elif not isinstance(document, dict):
        raise EdgeError(ErrorCode.INVALID_ARGUMENT, "request body must be a JSON object")
    try:
        json_format.ParseDict(document, message, ignore_unknown_fields=ignore_unknown)
    except json_format.ParseError as exc:
        raise EdgeError(ErrorCode.INVALID_ARGUMENT, f"invalid request body: {exc}") from None
    except RecursionError:
        raise EdgeError(ErrorCode.INVALID_ARGUMENT, "invalid request body: nested too deeply") from None


def build_request(
    route: Route,
    bindings: dict[str, str],
    query: list[tuple[str, str]],
    raw_body: bytes,
    content_type: str,
    ignore_unknown_fields: bool = False,
) -> Message:
    """The request message; body fields the message does not have are refused unless `ignore_unknown_fields` (a
    dialect whose clients send more than the contract has)."""
    message = route.request_class()
    if route.body:
        _merge_body(message, route, raw_body, content_type, ignore_unknown_fields)
    try:
        # Path values win over the body, as in grpc-gateway: the URL names the resource.
        for field_path, value in bindings.items():
            set_field(message, field_path, [value], source="path parameter")
        if route.body == "*":
            if query:
                raise FieldValueError(f"unknown query parameter '{query[0][0]}'")
        else:
            bound = [*bindings, *([route.body] if route.body else [])]
            populate_query(message, query, exclude=bound)
    except FieldValueError as exc:
        raise EdgeError(ErrorCode.INVALID_ARGUMENT, str(exc)) from None
    return message


def to_json(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


# Printing proto JSON is the edge's largest own cost per unary call (about 70 µs for an agent), while serialising
# the message takes 1 µs: a response identical to a recent one (a repeated read of an unchanged object) reuses
# its JSON. The key is the message's bytes, so a changed object can never be answered with its old JSON.
_RENDERED: dict[tuple[str, str, bytes], bytes] = {}
_RENDERED_MAX = 1024
_RENDERED_MAX_KEY = 16 * 1024


def render(route: Route, response: Message) -> tuple[bytes, str]:
    """The HTTP body and its content type."""
    if route.response_body:
        value = getattr(response, route.response_body)
        if isinstance(value, Message) and value.DESCRIPTOR.full_name == HTTP_BODY:
            return value.data, value.content_type or "application/octet-stream"
    elif response.DESCRIPTOR.full_name == HTTP_BODY:
        return response.data, response.content_type or "application/octet-stream"  # type: ignore[attr-defined]
    wire = response.SerializeToString(deterministic=True)
    if len(wire) > _RENDERED_MAX_KEY:
        return _json(route, response), "application/json"
    key = (response.DESCRIPTOR.full_name, route.response_body, wire)
    body = _RENDERED.get(key)
    if body is None:
        body = _json(route, response)
        if len(_RENDERED) >= _RENDERED_MAX:
            _RENDERED.clear()
        _RENDERED[key] = body
    return body, "application/json"


def _json(route: Route, response: Message) -> bytes:
    document: Any = to_json(response)
    if route.response_body:
        document = document.get(response.DESCRIPTOR.fields_by_name[route.response_body].json_name)
    return json.dumps(document, separators=(",", ":")).encode()
