"""Request id: taken from x-request-id metadata when valid, made up otherwise, and returned to a network caller in
initial metadata (so a stream's reader has it before the first message) and again in trailing metadata, with the
status (errors included).

grpc.aio cannot send initial metadata with the first message: it is a batch of its own through the completion
queue (about 0.15 ms). The edge of `astra serve`, calling in-process, knows the id already and is spared it.
"""

from __future__ import annotations

import ipaddress

import grpc

from contract.metadata import REQUEST_ID, request_id
from server.context import client_address_var, request_id_var
from server.interceptors.base import Layer, metadata_value
from server.local_channel import PEER as IN_PROCESS_PEER


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
        self._verdicts: dict[str, bool] = {}  # per peer address: parsing it costs more than the rest of the layer

    def client_address(self, context: grpc.aio.ServicerContext) -> str:
        peer = peer_address(context.peer())
        forwarded = metadata_value(context, "x-forwarded-for").split(",")[0].strip()
        if forwarded and self._trusted(peer):
            return forwarded
        return peer

    def _trusted(self, peer: str) -> bool:
        verdict = self._verdicts.get(peer)
        if verdict is None:
            # The edge of `astra serve`, calling through the in-process channel.
            if peer == IN_PROCESS_PEER:
                verdict = True
            else:
                try:
                    address = ipaddress.ip_address(peer)
                    verdict = any(address in network for network in self.trusted)
                except ValueError:
                    verdict = False
            if len(self._verdicts) >= 4096:
                self._verdicts.clear()
            self._verdicts[peer] = verdict
        return verdict

    async def before(self, method: str, context: grpc.aio.ServicerContext) -> None:
        rid = request_id(metadata_value(context, REQUEST_ID))
        # Each RPC runs in its own task, so setting the variable never leaks into another call.
        request_id_var.set(rid)
        client_address_var.set(self.client_address(context))
        # Set before the call runs so an error's status carries it too; handlers add theirs with add_trailers.
        context.set_trailing_metadata(((REQUEST_ID, rid),))
        if context.peer() != IN_PROCESS_PEER:
            await context.send_initial_metadata(((REQUEST_ID, rid),))
