"""Which request fields a query string (or a path variable) may set, and how a dotted name resolves to one.

The edge sets fields with these rules and the OpenAPI generator documents fields with them, so the document lists
exactly the query parameters the edge accepts. A name's parts may each be the proto name or the json_name
(`page_token` or `pageToken`). A field is settable when it is a scalar, an enum, a repeated scalar or enum, or one
of the well-known messages written as one string (Timestamp, Duration, FieldMask, the wrappers); other messages are
walked into by dotted name, at most QUERY_DEPTH messages deep (the request included) and never into a message
already on the way (recursion). Maps and repeated messages cannot be set.
"""

from __future__ import annotations

import functools
from collections.abc import Collection

from google.protobuf.descriptor import Descriptor, FieldDescriptor, OneofDescriptor

WRAPPERS = frozenset(
    f"google.protobuf.{kind}Value"
    for kind in ("Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool", "String", "Bytes")
)
TIMESTAMP = "google.protobuf.Timestamp"
DURATION = "google.protobuf.Duration"
FIELD_MASK = "google.protobuf.FieldMask"
# Well-known messages a query parameter sets from one string.
SETTABLE_MESSAGES = WRAPPERS | {TIMESTAMP, DURATION, FIELD_MASK}
QUERY_DEPTH = 4  # messages along a dotted name, the request included

_FD = FieldDescriptor
# Integer types: (name, minimum, maximum). The edge refuses values outside the range; the OpenAPI document states it.
INTEGERS: dict[int, tuple[str, int, int]] = {
    _FD.TYPE_INT32: ("int32", -(2**31), 2**31 - 1),
    _FD.TYPE_SINT32: ("sint32", -(2**31), 2**31 - 1),
    _FD.TYPE_SFIXED32: ("sfixed32", -(2**31), 2**31 - 1),
    _FD.TYPE_INT64: ("int64", -(2**63), 2**63 - 1),
    _FD.TYPE_SINT64: ("sint64", -(2**63), 2**63 - 1),
    _FD.TYPE_SFIXED64: ("sfixed64", -(2**63), 2**63 - 1),
    _FD.TYPE_UINT32: ("uint32", 0, 2**32 - 1),
    _FD.TYPE_FIXED32: ("fixed32", 0, 2**32 - 1),
    _FD.TYPE_UINT64: ("uint64", 0, 2**64 - 1),
    _FD.TYPE_FIXED64: ("fixed64", 0, 2**64 - 1),
}

FieldPath = tuple[FieldDescriptor, ...]


class FieldPathError(ValueError):
    """A name that is not a settable field; str() is a client-facing message."""


@functools.cache
def fields_by_any_name(descriptor: Descriptor) -> dict[str, FieldDescriptor]:
    # Proto names win over json_names should one field's json_name equal another's proto name.
    names = {field.json_name: field for field in descriptor.fields}
    names.update(descriptor.fields_by_name)
    return names


def is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _walks_into(field: FieldDescriptor, on_the_way: tuple[str, ...]) -> Descriptor | None:
    """The message a dotted name continues in after this field, if it may continue at all."""
    nested = field.message_type
    if nested is None or nested.full_name in SETTABLE_MESSAGES:
        return None  # a scalar, or a message set as a whole
    if nested.full_name in on_the_way or len(on_the_way) >= QUERY_DEPTH:
        return None
    return nested


def resolve(descriptor: Descriptor, path: str, source: str = "query parameter") -> FieldPath:
    """The fields along a dotted name, refusing one that is not settable; `source` words the error."""
    fields: list[FieldDescriptor] = []
    on_the_way = (descriptor.full_name,)
    current: Descriptor | None = descriptor
    for part in path.split("."):
        field = None if current is None else fields_by_any_name(current).get(part)
        if field is None:
            raise FieldPathError(f"unknown {source} '{path}'")
        fields.append(field)
        if is_map(field) or _repeated_message(field):
            current = field.message_type  # walked on only to name the field in the refusal below
        else:
            current = _walks_into(field, on_the_way)
            on_the_way = (*on_the_way, current.full_name) if current is not None else on_the_way
    for field in fields:
        if is_map(field):
            raise FieldPathError(f"{source} '{path}': map field '{field.name}' cannot be set from a {source}")
        if _repeated_message(field):
            raise FieldPathError(
                f"{source} '{path}': repeated message field '{field.name}' cannot be set from a {source}"
            )
    leaf = fields[-1].message_type
    if leaf is not None and leaf.full_name not in SETTABLE_MESSAGES:
        raise FieldPathError(f"{source} '{path}': {leaf.full_name} cannot be set from a {source}")
    return tuple(fields)


def _repeated_message(field: FieldDescriptor) -> bool:
    return field.is_repeated and field.message_type is not None


def query_fields(descriptor: Descriptor, bound: Collection[str] = ()) -> list[FieldPath]:
    """Every field path a query string may set on the request, in field order, leaving out the proto paths in
    `bound` (taken by the path template or the body; "*" for a body that takes everything) and all inside them."""
    if "*" in bound:
        return []
    found: list[FieldPath] = []

    def walk(message: Descriptor, prefix: FieldPath, on_the_way: tuple[str, ...]) -> None:
        for field in message.fields:
            path = (*prefix, field)
            if ".".join(f.name for f in path) in bound or is_map(field) or _repeated_message(field):
                continue
            nested = _walks_into(field, on_the_way)
            if nested is not None:
                walk(nested, path, (*on_the_way, nested.full_name))
            elif field.message_type is None or field.message_type.full_name in SETTABLE_MESSAGES:
                found.append(path)

    walk(descriptor, (), (descriptor.full_name,))
    return found


def json_name(path: FieldPath) -> str:
    """The name a field path is documented by: its json_names, dotted."""
    return ".".join(field.json_name for field in path)


def proto_name(path: FieldPath) -> str:
    return ".".join(field.name for field in path)


def is_synthetic(oneof: OneofDescriptor) -> bool:
    """proto3 `optional` fields sit alone in a synthetic oneof named "_<field>": a plain optional field, not a
    choice."""
    return len(oneof.fields) == 1 and oneof.name == "_" + oneof.fields[0].name


def real_oneofs(descriptor: Descriptor) -> list[OneofDescriptor]:
    return [oneof for oneof in descriptor.oneofs if not is_synthetic(oneof)]


@functools.cache  # asked for every streamed frame; descriptors are fixed
def event_oneof(descriptor: Descriptor) -> str | None:
    """The oneof that names a streamed message's frames (`event: stream_chunk`), when the message is exactly one
    oneof."""
    real = real_oneofs(descriptor)
    if len(real) == 1 and len(real[0].fields) == len(descriptor.fields):
        return real[0].name
    return None
