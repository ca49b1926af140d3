"""HTTP request -> request message (path, query, body per the HttpRule) and response message -> HTTP body."""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from edge.contract import HTTP_BODY, Route
from edge.errors import EdgeError
from edge.query import FieldValueError, populate_query, set_field

JSON_TYPES = ("application/json", "application/merge-patch+json")


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except RecursionError:
        raise EdgeError(400, "malformed JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise EdgeError(400, f"malformed JSON: {exc}") from None


def _merge_body(message: Message, route: Route, raw: bytes, content_type: str) -> None:
    if not raw.strip():
        return  # an empty body is an empty message
    if content_type and content_type not in JSON_TYPES:
        raise EdgeError(415, f"request body must be JSON (application/json), not {content_type}")
    document = _parse_json(raw)
    if route.body != "*":
        document = {route.body: document}  # the body is the value of one field
    elif not isinstance(document, dict):
        raise EdgeError(400, "request body must be a JSON object")
    try:
        json_format.ParseDict(document, message)
    except json_format.ParseError as exc:
        raise EdgeError(400, f"invalid request body: {exc}") from None
    except RecursionError:
        raise EdgeError(400, "invalid request body: nested too deeply") from None


def build_request(
    route: Route,
    bindings: dict[str, str],
    query: list[tuple[str, str]],
    raw_body: bytes,
    content_type: str,
) -> Message:
    message = route.request_class()
    if route.body:
        _merge_body(message, route, raw_body, content_type)
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
        raise EdgeError(400, str(exc)) from None
    return message


def to_json(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


def render(route: Route, response: Message) -> tuple[bytes, str]:
    """The HTTP body and its content type."""
    document: Any
    if route.response_body:
        field = response.DESCRIPTOR.fields_by_name[route.response_body]
        value = getattr(response, route.response_body)
        if isinstance(value, Message) and value.DESCRIPTOR.full_name == HTTP_BODY:
            return value.data, value.content_type or "application/octet-stream"
        document = to_json(response).get(field.json_name)
    elif response.DESCRIPTOR.full_name == HTTP_BODY:
        return response.data, response.content_type or "application/octet-stream"  # type: ignore[attr-defined]
    else:
        document = to_json(response)
    return json.dumps(document, separators=(",", ":")).encode(), "application/json"
