"""Calling one method of the contract on a channel: a grpc.aio.Channel, or the core's in-process channel."""

from __future__ import annotations

from typing import Any, Protocol

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, MethodDescriptor

from contract.services import grpc_path


class Channel(Protocol):
    """What a caller needs of a channel: grpc.aio.Channel has it, and so has the core's in-process channel."""

    def unary_unary(self, method: str, *args: Any, **kwargs: Any) -> Any: ...

    def unary_stream(self, method: str, *args: Any, **kwargs: Any) -> Any: ...


def message_class(descriptor: Descriptor) -> Any:
    """The generated class of a message descriptor."""
    return message_factory.GetMessageClass(descriptor)


def stub(channel: Channel, method: MethodDescriptor) -> Any:
    """The channel's callable for the method (unary or server-streaming), built once and called per request."""
    factory = channel.unary_stream if method.server_streaming else channel.unary_unary
    return factory(
        grpc_path(method),
        request_serializer=message_class(method.input_type).SerializeToString,
        response_deserializer=message_class(method.output_type).FromString,
    )
