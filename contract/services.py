"""The services and methods of astra.v1, who may call each, and the HTTP dialect each service speaks.

This is the one place that scans gen/: the core serves what it finds here, the edge routes it, the OpenAPI
generator documents it.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from types import ModuleType

from google.protobuf import descriptor_pool
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

import astra.v1
from astra.v1 import options_pb2

AUTH_JWT = options_pb2.AUTH_LEVEL_JWT
AUTH_NONE = options_pb2.AUTH_LEVEL_NONE
AUTH_API_KEY = options_pb2.AUTH_LEVEL_API_KEY
# The HTTP dialect of a service (astra.v1.dialect): Astra's own unless the service says otherwise.
DIALECT_ASTRA = options_pb2.DIALECT_UNSPECIFIED
DIALECT_OPENAI = options_pb2.DIALECT_OPENAI


@functools.cache
def grpc_modules() -> dict[str, ModuleType]:
    """Full service name -> its generated *_pb2_grpc module, for every service in the contract."""
    found: dict[str, ModuleType] = {}
    for info in pkgutil.iter_modules(astra.v1.__path__):
        if info.name.endswith("_pb2"):
            pb2 = importlib.import_module(f"astra.v1.{info.name}")
            for service in pb2.DESCRIPTOR.services_by_name.values():
                found[service.full_name] = importlib.import_module(f"astra.v1.{info.name}_grpc")
    return found


def services() -> list[ServiceDescriptor]:
    """Every service of the contract, by full name."""
    pool = descriptor_pool.Default()
    return [pool.FindServiceByName(name) for name in sorted(grpc_modules())]


def find_method(full_name: str) -> MethodDescriptor:
    """A method by its full name, e.g. "astra.v1.ChatService.ChatStream"."""
    grpc_modules()  # the generated modules register their descriptors on import
    return descriptor_pool.Default().FindMethodByName(full_name)


def grpc_path(method: MethodDescriptor) -> str:
    """The method's path on the wire: "/astra.v1.AuthService/Login"."""
    return f"/{method.containing_service.full_name}/{method.name}"


def auth_level(method: MethodDescriptor) -> int:
    """The method's astra.v1.auth option; unset means JWT, so every method needs a token unless it says otherwise."""
    level = method.GetOptions().Extensions[options_pb2.auth]
    return AUTH_JWT if level == options_pb2.AUTH_LEVEL_UNSPECIFIED else level


@functools.cache
def auth_level_of(path: str) -> int:
    """Auth level of "/astra.v1.AuthService/Login"; methods outside the contract (health, reflection) need none."""
    service, _, method = path.lstrip("/").partition("/")
    if service not in grpc_modules():
        return AUTH_NONE
    return auth_level(descriptor_pool.Default().FindServiceByName(service).methods_by_name[method])


def success_statuses(method: MethodDescriptor) -> tuple[int, ...]:
    """HTTP statuses other than 200 a successful call of the method may answer with (astra.v1.success_statuses)."""
    return tuple(method.GetOptions().Extensions[options_pb2.success_statuses])


def dialect(method: MethodDescriptor) -> int:
    """The HTTP dialect the edge speaks for the method: its service's astra.v1.dialect option."""
    return method.containing_service.GetOptions().Extensions[options_pb2.dialect]
