"""Routes read from the contract: one per google.api.http rule (additional bindings included)."""

from __future__ import annotations

import functools
import importlib
import pkgutil
from dataclasses import dataclass
from typing import Any

from google.api import annotations_pb2, http_pb2
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, MethodDescriptor

import astra.v1
from astra.v1 import options_pb2

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
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    @property
    def streaming(self) -> bool:
        return self.method.server_streaming

    @property
    def auth(self) -> int:
        level = self.method.GetOptions().Extensions[options_pb2.auth]
        return options_pb2.AUTH_LEVEL_JWT if level == options_pb2.AUTH_LEVEL_UNSPECIFIED else level

    @property
    def request_class(self) -> Any:
        return message_factory.GetMessageClass(self.method.input_type)

    @property
    def response_class(self) -> Any:
        return message_factory.GetMessageClass(self.method.output_type)


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


def load_routes(package: Any = astra.v1) -> list[Route]:
    """Every annotated method of every service in the generated package."""
    found: list[Route] = []
    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.endswith("_pb2"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                found.extend(routes_of(method))
    return found


@functools.cache  # asked for every streamed frame; descriptors are fixed
def event_oneof(descriptor: Descriptor) -> str | None:
    """The oneof that names a streamed message's frames, when the message is exactly one oneof."""
    # proto3 `optional` fields live in synthetic oneofs named "_<field>"; those do not count.
    real = [o for o in descriptor.oneofs if not (len(o.fields) == 1 and o.name == "_" + o.fields[0].name)]
    if len(real) == 1 and len(real[0].fields) == len(descriptor.fields):
        return real[0].name
    return None
