"""The REST routes of the contract: one per google.api.http rule (additional bindings included)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.api import annotations_pb2, http_pb2
from google.protobuf.descriptor import MethodDescriptor

from contract import services
from contract.stubs import message_class

HTTP_BODY = "google.api.HttpBody"


@dataclass(frozen=True)
class Route:
    http_method: str
    template: str
    method: MethodDescriptor
    body: str  # "" (no body), "*" (the whole request) or a top-level field name
    response_body: str  # "" (the whole response) or a top-level field name

    @property
    def grpc_path(self) -> str:
        return services.grpc_path(self.method)

    @property
    def streaming(self) -> bool:
        return self.method.server_streaming

    @property
    def auth(self) -> int:
        return services.auth_level(self.method)

    @property
    def dialect(self) -> int:
        return services.dialect(self.method)

    @property
    def success_statuses(self) -> tuple[int, ...]:
        return services.success_statuses(self.method)

    @property
    def request_class(self) -> Any:
        return message_class(self.method.input_type)

    @property
    def response_class(self) -> Any:
        return message_class(self.method.output_type)


def _binding(rule: http_pb2.HttpRule) -> tuple[str, str]:
    kind = rule.WhichOneof("pattern")
    if kind is None:
        raise ValueError("HttpRule without a pattern")
    if kind == "custom":
        return rule.custom.kind.upper(), rule.custom.path
    return kind.upper(), getattr(rule, kind)


def routes_of(method: MethodDescriptor) -> list[Route]:
    options = method.GetOptions()
    if not options.HasExtension(annotations_pb2.http):
        return []
    rule = options.Extensions[annotations_pb2.http]
    found = []
    for binding in [rule, *rule.additional_bindings]:
        http_method, template = _binding(binding)
        found.append(Route(http_method, template, method, binding.body, binding.response_body))
    return found


def load_routes() -> list[Route]:
    """Every annotated method of every service in the contract."""
    return [route for service in services.services() for method in service.methods for route in routes_of(method)]
