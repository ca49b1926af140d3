"""Setting request message fields from URL query parameters and path variables (gRPC transcoding).

Which fields a name may set, and how it resolves to one (proto or JSON names, dotted), are the contract's rules
(contract/fields.py), which the OpenAPI document follows too. Values are converted here, by field type, as
grpc-gateway's runtime/query does; any problem raises FieldValueError naming the parameter, so the edge can answer
400 with that message.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import struct
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from google.protobuf import duration_pb2, timestamp_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from contract.fields import DURATION, INTEGERS, TIMESTAMP, WRAPPERS, FieldPath, FieldPathError, resolve

__all__ = ["FieldValueError", "populate_query", "set_field"]

_FD = FieldDescriptor
# ASCII only: int() and float() would also take "1_000", " 7 ", "inf" or non-ASCII digits.
_INTEGER = re.compile(r"[-+]?[0-9]+")
_FLOAT = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_FLOAT_WORDS = {"Infinity": math.inf, "-Infinity": -math.inf, "NaN": math.nan}
_BOOLS = {"true": True, "1": True, "false": False, "0": False}
_MASK_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


class FieldValueError(ValueError):
    """A parameter cannot be set on the request message; str() is a client-facing message."""

    def __init__(self, message: str, *, parameter: str = "") -> None:
        super().__init__(message)
        self.parameter = parameter  # the field path as the client spelled it


@dataclass(frozen=True)
class _Param:
    path: str  # as given, for messages
    source: str

    def error(self, reason: str) -> FieldValueError:
        return FieldValueError(f"{self.source} '{self.path}': {reason}", parameter=self.path)


def set_field(
    message: Message,
    field_path: str,
    values: list[str],
    *,
    source: str = "query parameter",
) -> None:
    """Convert values and set them on the field at field_path (a repeated field gets all of them)."""
    param = _Param(field_path, source)
    fields = _resolve(message.DESCRIPTOR, param)
    target = message
    for field in fields[:-1]:
        _check_oneof(target, field, param)
        target = getattr(target, field.name)
    leaf = fields[-1]
    _check_oneof(target, leaf, param)
    if not values:
        raise param.error("no value given")
    if leaf.is_repeated:  # only scalars and enums get here, see _resolve
        getattr(target, leaf.name).extend([_scalar(leaf, value, param) for value in values])
        return
    if len(values) > 1:
        raise param.error(f"expected a single value, got {len(values)}")
    if leaf.message_type is not None:
        _set_message(getattr(target, leaf.name), values[0], param)
    else:
        setattr(target, leaf.name, _scalar(leaf, values[0], param))


def populate_query(
    message: Message,
    params: Iterable[tuple[str, str]],
    *,
    exclude: Collection[str] = (),
) -> None:
    """Set fields from query parameters; repeated keys feed repeated fields.

    exclude holds the proto field paths already bound by the path template or the body ("*" for a
    body that binds everything): a parameter naming one of them, or a field inside one, is an error.
    """
    excluded = set(exclude)
    # Grouped by the resolved field, so "page_token" and "pageToken" count as the same parameter.
    groups: dict[tuple[str, ...], tuple[str, list[str]]] = {}
    for key, value in params:
        param = _Param(key, "query parameter")
        names = tuple(field.name for field in _resolve(message.DESCRIPTOR, param))
        prefixes = {".".join(names[:i]) for i in range(1, len(names) + 1)}
        if "*" in excluded or prefixes & excluded:
            reason = f"query parameter '{key}' is already bound by the path or body"
            raise FieldValueError(reason, parameter=key)
        groups.setdefault(names, (key, []))[1].append(value)
    for key, values in groups.values():
        set_field(message, key, values)


def _resolve(descriptor: Descriptor, param: _Param) -> FieldPath:
    try:
        return resolve(descriptor, param.path, param.source)
    except FieldPathError as exc:
        raise FieldValueError(str(exc), parameter=param.path) from None


def _check_oneof(message: Message, field: FieldDescriptor, param: _Param) -> None:
    # A proto3 `optional` field sits alone in a synthetic oneof, so it never conflicts.
    oneof = field.containing_oneof
    if oneof is None:
        return
    current = message.WhichOneof(oneof.name)
    if current is not None and current != field.name:
        raise param.error(f"conflicts with '{current}', which is already set (oneof '{oneof.name}')")


def _set_message(target: Message, value: str, param: _Param) -> None:
    # The target may come from another descriptor pool, so parse with the default-pool classes and
    # copy plain fields rather than relying on the target class's well-known-type helpers.
    name = target.DESCRIPTOR.full_name
    if name in WRAPPERS:
        target.value = _scalar(target.DESCRIPTOR.fields_by_name["value"], value, param)
    elif name in (TIMESTAMP, DURATION):
        parsed = timestamp_pb2.Timestamp() if name == TIMESTAMP else duration_pb2.Duration()
        try:
            parsed.FromJsonString(value)
        except ValueError:
            expected = "an RFC 3339 timestamp" if name == TIMESTAMP else "a duration like '1.5s'"
            raise param.error(f"expected {expected}, got {value!r}") from None
        target.seconds, target.nanos = parsed.seconds, parsed.nanos
    else:  # FieldMask, as the contract allows nothing else
        target.paths[:] = _mask_paths(value, param)
    target.SetInParent()  # present even when every value is the default (0s, empty mask)


def _mask_paths(value: str, param: _Param) -> list[str]:
    paths = []
    for raw in value.split(","):
        path = raw.strip()
        if not path:
            continue
        if not _MASK_PATH.fullmatch(path):
            raise param.error(f"expected comma-separated field paths, got {value!r}")
        # Accept JSON (camelCase) spellings as well as proto names; masks hold proto names.
        paths.append(re.sub(r"[A-Z]", lambda m: "_" + m.group().lower(), path))
    return paths


def _scalar(field: FieldDescriptor, value: str, param: _Param) -> object:
    kind = field.type
    if kind == _FD.TYPE_STRING:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates
            raise param.error("expected valid UTF-8 text") from None
        return value
    if kind == _FD.TYPE_BYTES:
        return _bytes(value, param)
    if kind == _FD.TYPE_BOOL:
        if value.lower() not in _BOOLS:
            raise param.error(f"expected a boolean (true, false, 1 or 0), got {value!r}")
        return _BOOLS[value.lower()]
    if kind in INTEGERS:
        return _integer(kind, value, param)
    if kind in (_FD.TYPE_FLOAT, _FD.TYPE_DOUBLE):
        return _float(kind == _FD.TYPE_FLOAT, value, param)
    if kind == _FD.TYPE_ENUM:
        return _enum(field, value, param)
    raise param.error(f"fields of type {kind} cannot be set from a {param.source}")  # groups


def _integer(kind: int, value: str, param: _Param) -> int:
    type_name, low, high = INTEGERS[kind]
    if not _INTEGER.fullmatch(value):
        raise param.error(f"expected an integer, got {value!r}")
    number = int(value)
    if number < 0 and low == 0:
        raise param.error(f"expected a non-negative integer, got {value!r}")
    if not low <= number <= high:
        raise param.error(f"{value} is out of range for {type_name}")
    return number


def _float(single: bool, value: str, param: _Param) -> float:
    if value in _FLOAT_WORDS:
        return _FLOAT_WORDS[value]
    if not _FLOAT.fullmatch(value):
        raise param.error(f"expected a number, got {value!r}")
    number = float(value)
    out_of_range = math.isinf(number)  # e.g. "1e999"; infinity must be spelled "Infinity"
    if single and not out_of_range:
        try:
            struct.pack("<f", number)  # rounds to float32 first, raising only past its range
        except OverflowError:
            out_of_range = True
    if out_of_range:
        raise param.error(f"{value} is out of range for {'float' if single else 'double'}")
    return number


def _enum(field: FieldDescriptor, value: str, param: _Param) -> int:
    enum = field.enum_type
    by_name = enum.values_by_name.get(value)
    if by_name is not None:
        return by_name.number
    if _INTEGER.fullmatch(value) and int(value) in enum.values_by_number:
        return int(value)
    names = ", ".join(v.name for v in enum.values)
    raise param.error(f"expected one of {names} (or its number), got {value!r}")


def _bytes(value: str, param: _Param) -> bytes:
    # Standard or URL-safe alphabet, padding optional: normalise to padded standard base64.
    text = value.replace("-", "+").replace("_", "/").rstrip("=")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise param.error(f"expected base64-encoded bytes, got {value!r}") from None
