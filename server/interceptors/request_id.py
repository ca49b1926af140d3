"""Request id: taken from x-request-id metadata when valid, made up otherwise, and returned to the caller.

A unary call returns it in trailing metadata, which travels with the response and status at no cost; sending
initial metadata on its own is one more batch through gRPC's completion queue and cost a fifth of a cached
GetAgent. A stream sends it as initial metadata at once, so the caller has it before the first message, and
again with its status."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc

from server.context import client_address_var, request_id_var
from server.interceptors.base import Layer, StreamBehavior, UnaryBehavior, metadata_value


def valid_request_id(value: str) -> bool:
    """1-128 visible ASCII characters, as the edge also requires."""
    return 0 < len(value) <= 128 and all(33 <= ord(c) <= 126 for c in value)


def peer_address(peer: str) -> str:
    """The IP of a gRPC peer ("ipv4:10.0.0.7:53412", "ipv6:[::1]:53412"), without the port that changes per
    connection, so per-address limits see one caller as one address."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv6":
        return rest.rpartition(":")[0].strip("[]")
    if kind == "ipv4":
        return rest.rpartition(":")[0]
    return peer


class RequestIdLayer(Layer):
    def __init__(self, trusted_proxies: tuple[str, ...] = ("127.0.0.0/8", "::1/128")):
        # Peers allowed to say who the client is (the edge): anyone else could pick an address to dodge
        # per-address login throttling, or to lock someone else out.
        self.trusted = [ipaddress.ip_network(cidr, strict=False) for cidr in trusted_proxies]

    def client_address(self, context: grpc.aio.ServicerContext) -> str:
        peer = peer_address(context.peer())
        forwarded = metadata_value(context, "x-forwarded-for").split(",")[0].strip()
        if forwarded and self._trusted(peer):
            return forwarded
        return peer

    def _trusted(self, peer: str) -> bool:
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self.trusted)

    def _bind(self, context: grpc.aio.ServicerContext) -> str:
        rid = metadata_value(context, "x-request-id")
        if not valid_request_id(rid):
            rid = str(uuid.uuid4())
        # Each RPC runs in its own task, so setting the variable never leaks into another call.
        request_id_var.set(rid)
        client_address_var.set(self.client_address(context))
        return rid

    async def unary(self, method: str, behavior: UnaryBehavior, request: Any, context: grpc.aio.ServicerContext) -> Any:
        # Set before the call so an error's status carries it too; handlers add theirs with add_trailers.
        context.set_trailing_metadata((("x-request-id", self._bind(context)),))
        return await behavior(request, context)

    async def stream(
        self, method: str, behavior: StreamBehavior, request: Any, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        rid = self._bind(context)
        await context.send_initial_metadata((("x-request-id", rid),))
        # Also with the status: a stream that fails before any message can reach the client as trailers only.
        context.set_trailing_metadata((("x-request-id", rid),))
        async for response in behavior(request, context):
            yield response
