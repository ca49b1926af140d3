"""Request id: taken from x-request-id metadata when valid, made up otherwise, and returned to a network caller in
initial metadata (so a stream's reader has it before the first message) and again in trailing metadata, with the
status (errors included).

grpc.aio cannot send initial metadata with the first message: it is a batch of its own through the completion
queue (about 0.15 ms). The edge knows the id already and is spared it: in-process (`astra serve`), and over the
network, where its calls say x-astra-edge; their initial metadata is then the handler's to send.
"""

from __future__ import annotations

import grpc

from contract.metadata import FROM_EDGE, REQUEST_ID, request_id
from server import telemetry
from server.context import client_address_var, request_id_var
from server.interceptors.base import Layer, metadata_value
from server.interceptors.peers import TrustedPeers, peer_address
from server.local_channel import PEER as IN_PROCESS_PEER


class RequestIdLayer(Layer):
    def __init__(self, trusted_proxies: tuple[str, ...]):
        # Peers allowed to say who the client is (the edge): anyone else could pick an address to dodge
        # per-address login throttling, or to lock someone else out.
        self.trusted = TrustedPeers(trusted_proxies)

    def client_address(self, context: grpc.aio.ServicerContext) -> str:
        peer = peer_address(context.peer())
        forwarded = metadata_value(context, "x-forwarded-for").split(",")[0].strip()
        if forwarded and peer in self.trusted:
            return forwarded
        return peer

    async def before(self, method: str, context: grpc.aio.ServicerContext) -> None:
        rid = request_id(metadata_value(context, REQUEST_ID))
        # Each RPC runs in its own task, so setting the variable never leaks into another call.
        request_id_var.set(rid)
        telemetry.tag_request(rid)  # on the call's span (grpc's instrumentation's, or the in-process channel's)
        client_address_var.set(self.client_address(context))
        # Set before the call runs so an error's status carries it too; handlers add theirs with add_trailers.
        context.set_trailing_metadata(((REQUEST_ID, rid),))
        if context.peer() != IN_PROCESS_PEER and metadata_value(context, FROM_EDGE) != "1":
            await context.send_initial_metadata(((REQUEST_ID, rid),))
