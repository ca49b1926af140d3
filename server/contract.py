"""The generated contract: every service of astra.v1 and the auth level each method declares."""

from __future__ import annotations

import functools
import importlib
import pkgutil
from types import ModuleType

from google.protobuf import descriptor_pool
from google.protobuf.descriptor import ServiceDescriptor

import astra.v1
from astra.v1 import options_pb2

AUTH_JWT = options_pb2.AUTH_LEVEL_JWT
AUTH_NONE = options_pb2.AUTH_LEVEL_NONE
AUTH_API_KEY = options_pb2.AUTH_LEVEL_API_KEY


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
    pool = descriptor_pool.Default()
    return [pool.FindServiceByName(name) for name in sorted(grpc_modules())]


@functools.cache
def auth_level(grpc_method: str) -> int:
    """Auth level of "/astra.v1.AuthService/Login"; methods outside the contract (health, reflection) need none."""
    service, _, method = grpc_method.lstrip("/").partition("/")
    if service not in grpc_modules():
        return AUTH_NONE
    descriptor = descriptor_pool.Default().FindServiceByName(service).methods_by_name[method]
    level = descriptor.GetOptions().Extensions[options_pb2.auth]
    return AUTH_JWT if level == options_pb2.AUTH_LEVEL_UNSPECIFIED else level
