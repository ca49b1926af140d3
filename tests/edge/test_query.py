"""Query parameters and path variables into protobuf messages."""

from __future__ import annotations

import math
from typing import Any

import pytest
from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    duration_pb2,
    field_mask_pb2,
    message_factory,
    struct_pb2,
    timestamp_pb2,
    wrappers_pb2,
)
from google.protobuf.message import Message

from edge.query import FieldValueError, populate_query, set_field

_F = descriptor_pb2.FieldDescriptorProto
_WKT_FILES = [timestamp_pb2, duration_pb2, field_mask_pb2, wrappers_pb2]


def _build_sample() -> type[Message]:
    """A message with every field kind, built at run time in a private pool (no protoc)."""
    pool = descriptor_pool.DescriptorPool()
    for module in _WKT_FILES:
        pool.AddSerializedFile(module.DESCRIPTOR.serialized_pb)
    file = descriptor_pb2.FileDescriptorProto(
        name="test_query_sample.proto",
        package="edgetest",
        syntax="proto3",
        dependency=[m.DESCRIPTOR.name for m in _WKT_FILES],
    )
    status = file.enum_type.add(name="Status")
    for number, name in enumerate(["STATUS_UNSPECIFIED", "ACTIVE", "ARCHIVED"]):
        status.value.add(name=name, number=number)

    inner = file.message_type.add(name="Inner")
    inner.field.add(name="depth", number=1, type=_F.TYPE_INT32, label=_F.LABEL_OPTIONAL)
    filt = file.message_type.add(name="Filter")
    filt.field.add(name="status", number=1, type=_F.TYPE_STRING, label=_F.LABEL_OPTIONAL)
    filt.field.add(
        name="inner",
        number=2,
        type=_F.TYPE_MESSAGE,
        label=_F.LABEL_OPTIONAL,
        type_name=".edgetest.Inner",
    )

    sample = file.message_type.add(name="Sample")
    entry = sample.nested_type.add(name="LabelsEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=_F.TYPE_STRING, label=_F.LABEL_OPTIONAL)
    entry.field.add(name="value", number=2, type=_F.TYPE_STRING, label=_F.LABEL_OPTIONAL)
    sample.oneof_decl.add(name="choice")
    sample.oneof_decl.add(name="_maybe")  # synthetic oneofs come last

    number = 0

    def add(name: str, kind: int, *, repeated: bool = False, type_name: str = "", **extra: Any) -> None:
        nonlocal number
        number += 1
        label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
        if type_name:  # setting it at all, even to "", marks the field as message- or enum-typed
            extra["type_name"] = type_name
        sample.field.add(name=name, number=number, type=kind, label=label, **extra)

    add("name", _F.TYPE_STRING)
    add("page_token", _F.TYPE_STRING)
    add("custom", _F.TYPE_STRING, json_name="renamed")
    for kind, name in [
        (_F.TYPE_INT32, "i32"),
        (_F.TYPE_SINT32, "s32"),
        (_F.TYPE_SFIXED32, "sf32"),
        (_F.TYPE_INT64, "i64"),
        (_F.TYPE_SINT64, "s64"),
        (_F.TYPE_SFIXED64, "sf64"),
        (_F.TYPE_UINT32, "u32"),
        (_F.TYPE_FIXED32, "f32"),
        (_F.TYPE_UINT64, "u64"),
        (_F.TYPE_FIXED64, "f64"),
        (_F.TYPE_FLOAT, "flt"),
        (_F.TYPE_DOUBLE, "dbl"),
        (_F.TYPE_BOOL, "flag"),
        (_F.TYPE_BYTES, "data"),
    ]:
        add(name, kind)
    add("status", _F.TYPE_ENUM, type_name=".edgetest.Status")
    add("tags", _F.TYPE_STRING, repeated=True)
    add("numbers", _F.TYPE_INT32, repeated=True)
    add("statuses", _F.TYPE_ENUM, repeated=True, type_name=".edgetest.Status")
    add("filter", _F.TYPE_MESSAGE, type_name=".edgetest.Filter")
    add("filters", _F.TYPE_MESSAGE, repeated=True, type_name=".edgetest.Filter")
    add("labels", _F.TYPE_MESSAGE, repeated=True, type_name=".edgetest.Sample.LabelsEntry")
    add("start_time", _F.TYPE_MESSAGE, type_name=".google.protobuf.Timestamp")
    add("times", _F.TYPE_MESSAGE, repeated=True, type_name=".google.protobuf.Timestamp")
    add("timeout", _F.TYPE_MESSAGE, type_name=".google.protobuf.Duration")
    add("update_mask", _F.TYPE_MESSAGE, type_name=".google.protobuf.FieldMask")
    for wrapper in ["Int32", "UInt64", "Bool", "String", "Bytes", "Double", "Float"]:
        add(f"w_{wrapper.lower()}", _F.TYPE_MESSAGE, type_name=f".google.protobuf.{wrapper}Value")
    add("by_name", _F.TYPE_STRING, oneof_index=0)
    add("by_filter", _F.TYPE_MESSAGE, type_name=".edgetest.Filter", oneof_index=0)
    add("maybe", _F.TYPE_INT32, oneof_index=1, proto3_optional=True)
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("edgetest.Sample"))


Sample = _build_sample()


def _set(path: str, *values: str, source: str = "query parameter") -> Message:
    message = Sample()
    set_field(message, path, list(values), source=source)
    return message


def _error(path: str, *values: str, source: str = "query parameter") -> str:
    with pytest.raises(FieldValueError) as caught:
        _set(path, *values, source=source)
    assert isinstance(caught.value, ValueError)
    assert caught.value.parameter == path
    return str(caught.value)


# --- conversions ---

_ENUM_CHOICES = "expected one of STATUS_UNSPECIFIED, ACTIVE, ARCHIVED (or its number)"


@pytest.mark.parametrize(
    ("path", "value", "attr", "expected"),
    [
        ("name", "hello wörld", "name", "hello wörld"),
        ("name", "", "name", ""),
        ("page_token", "t", "page_token", "t"),
        ("pageToken", "t", "page_token", "t"),
        ("custom", "c", "custom", "c"),
        ("renamed", "c", "custom", "c"),
        ("i32", "-2147483648", "i32", -(2**31)),
        ("i32", "2147483647", "i32", 2**31 - 1),
        ("i32", "+7", "i32", 7),
        ("i32", "007", "i32", 7),
        ("s32", "-5", "s32", -5),
        ("sf32", "-5", "sf32", -5),
        ("i64", "-9223372036854775808", "i64", -(2**63)),
        ("s64", "9223372036854775807", "s64", 2**63 - 1),
        ("sf64", "-1", "sf64", -1),
        ("u32", "4294967295", "u32", 2**32 - 1),
        ("f32", "0", "f32", 0),
        ("u64", "18446744073709551615", "u64", 2**64 - 1),
        ("f64", "-0", "f64", 0),
        ("flt", "1.5", "flt", 1.5),
        ("flt", "-2.5e3", "flt", -2500.0),
        ("flt", "3.4028235e38", "flt", 3.4028234663852886e38),
        ("dbl", ".5", "dbl", 0.5),
        ("dbl", "5.", "dbl", 5.0),
        ("dbl", "1e308", "dbl", 1e308),
        ("dbl", "Infinity", "dbl", math.inf),
        ("dbl", "-Infinity", "dbl", -math.inf),
        ("flt", "Infinity", "flt", math.inf),
        ("flag", "true", "flag", True),
        ("flag", "TRUE", "flag", True),
        ("flag", "1", "flag", True),
        ("flag", "False", "flag", False),
        ("flag", "0", "flag", False),
        ("data", "aGVsbG8=", "data", b"hello"),
        ("data", "aGVsbG8", "data", b"hello"),
        ("data", "-_8=", "data", b"\xfb\xff"),
        ("data", "+/8", "data", b"\xfb\xff"),
        ("data", "", "data", b""),
        ("status", "ACTIVE", "status", 1),
        ("status", "2", "status", 2),
        ("status", "STATUS_UNSPECIFIED", "status", 0),
        ("maybe", "0", "maybe", 0),
    ],
)
def test_scalar_conversions(path: str, value: str, attr: str, expected: object) -> None:
    assert getattr(_set(path, value), attr) == expected


def test_nan() -> None:
    assert math.isnan(_set("dbl", "NaN").dbl)
    assert math.isnan(_set("flt", "NaN").flt)


def test_optional_scalar_has_presence() -> None:
    assert not Sample().HasField("maybe")
    assert _set("maybe", "0").HasField("maybe")


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        ("i32", "abc", "expected an integer, got 'abc'"),
        ("i32", "", "expected an integer, got ''"),
        ("i32", "1.0", "expected an integer, got '1.0'"),
        ("i32", " 1", "expected an integer, got ' 1'"),
        ("i32", "1_000", "expected an integer, got '1_000'"),
        ("i32", "٣", "expected an integer, got '٣'"),
        ("i32", "0x10", "expected an integer, got '0x10'"),
        ("i32", "2147483648", "2147483648 is out of range for int32"),
        ("i32", "-2147483649", "-2147483649 is out of range for int32"),
        ("s32", "2147483648", "2147483648 is out of range for sint32"),
        ("i64", "9223372036854775808", "9223372036854775808 is out of range for int64"),
        ("u32", "4294967296", "4294967296 is out of range for uint32"),
        ("u32", "-1", "expected a non-negative integer, got '-1'"),
        ("f32", "-1", "expected a non-negative integer, got '-1'"),
        ("u64", "18446744073709551616", "18446744073709551616 is out of range for uint64"),
        ("f64", "-5", "expected a non-negative integer, got '-5'"),
        ("flt", "abc", "expected a number, got 'abc'"),
        ("flt", "inf", "expected a number, got 'inf'"),
        ("dbl", "nan", "expected a number, got 'nan'"),
        ("dbl", "1,5", "expected a number, got '1,5'"),
        ("dbl", "", "expected a number, got ''"),
        ("flt", "3.5e38", "3.5e38 is out of range for float"),
        ("dbl", "1e999", "1e999 is out of range for double"),
        ("flag", "yes", "expected a boolean (true, false, 1 or 0), got 'yes'"),
        ("flag", "", "expected a boolean (true, false, 1 or 0), got ''"),
        ("data", "not base64!", "expected base64-encoded bytes, got 'not base64!'"),
        ("data", "a", "expected base64-encoded bytes, got 'a'"),
        ("name", "\ud800", "expected valid UTF-8 text"),
        ("status", "active", f"{_ENUM_CHOICES}, got 'active'"),
        ("status", "7", f"{_ENUM_CHOICES}, got '7'"),
        ("status", "", f"{_ENUM_CHOICES}, got ''"),
    ],
)
def test_conversion_errors(path: str, value: str, reason: str) -> None:
    assert _error(path, value) == f"query parameter '{path}': {reason}"


def test_path_parameter_source() -> None:
    got = _error("i32", "abc", source="path parameter")
    assert got == "path parameter 'i32': expected an integer, got 'abc'"
    assert _error("nope", "x", source="path parameter") == "unknown path parameter 'nope'"
    assert _set("filter.status", "a b", source="path parameter").filter.status == "a b"


# --- repeated, nested, oneof ---


def test_repeated_fields_take_every_value() -> None:
    assert list(_set("tags", "a", "b", "a").tags) == ["a", "b", "a"]
    assert list(_set("numbers", "1", "-2").numbers) == [1, -2]
    assert list(_set("statuses", "ACTIVE", "2").statuses) == [1, 2]
    assert _error("numbers", "1", "x") == "query parameter 'numbers': expected an integer, got 'x'"


def test_singular_field_takes_one_value() -> None:
    assert _error("name", "a", "b") == "query parameter 'name': expected a single value, got 2"
    assert _error("name") == "query parameter 'name': no value given"
    assert _error("tags") == "query parameter 'tags': no value given"


def test_nested_fields() -> None:
    message = _set("filter.status", "open")
    assert message.filter.status == "open"
    assert _set("filter.inner.depth", "3").filter.inner.depth == 3
    got = _error("filter.inner", "x")
    assert got == "query parameter 'filter.inner': edgetest.Inner cannot be set from a query parameter"


@pytest.mark.parametrize(
    "path",
    ["nope", "", "Name", "page-token", "filter.nope", "filter.", ".filter", "name.x", "filter..status"],
)
def test_unknown_field_paths(path: str) -> None:
    assert _error(path, "x") == f"unknown query parameter '{path}'"


@pytest.mark.parametrize(
    ("path", "what"),
    [
        ("filter", "edgetest.Filter"),
        ("filters", "repeated message field 'filters'"),
        ("filters.status", "repeated message field 'filters'"),
        ("labels", "map field 'labels'"),
        ("labels.key", "map field 'labels'"),
        ("times", "repeated message field 'times'"),
    ],
)
def test_unsettable_field_paths(path: str, what: str) -> None:
    assert _error(path, "x") == f"query parameter '{path}': {what} cannot be set from a query parameter"


def test_oneof_conflicts() -> None:
    message = Sample()
    set_field(message, "by_name", ["n"])
    set_field(message, "by_name", ["m"])  # the same member again is not a conflict
    assert message.by_name == "m"
    conflict = r"^query parameter 'by_filter.status': conflicts with 'by_name'"
    with pytest.raises(FieldValueError, match=conflict):
        set_field(message, "by_filter.status", ["s"])
    other = Sample()
    set_field(other, "by_filter.status", ["s"])
    conflict = r"conflicts with 'by_filter', which is already set \(oneof 'choice'\)"
    with pytest.raises(FieldValueError, match=conflict):
        set_field(other, "by_name", ["n"])
    assert other.WhichOneof("choice") == "by_filter"


# --- well-known types ---


def test_timestamp() -> None:
    message = _set("start_time", "2024-01-02T03:04:05.5+01:00")
    assert (message.start_time.seconds, message.start_time.nanos) == (1704161045, 500_000_000)
    assert _set("startTime", "1970-01-01T00:00:00Z").HasField("start_time")
    for bad in ["yesterday", "2024-01-02", ""]:
        expected = f"query parameter 'start_time': expected an RFC 3339 timestamp, got {bad!r}"
        assert _error("start_time", bad) == expected


def test_duration() -> None:
    message = _set("timeout", "1.5s")
    assert (message.timeout.seconds, message.timeout.nanos) == (1, 500_000_000)
    assert _set("timeout", "-0.25s").timeout.nanos == -250_000_000
    assert _set("timeout", "0s").HasField("timeout")
    for bad in ["1.5", "abc", "1m", "1e3s"]:
        expected = f"query parameter 'timeout': expected a duration like '1.5s', got {bad!r}"
        assert _error("timeout", bad) == expected


def test_field_mask() -> None:
    assert list(_set("update_mask", "name,filter.status").update_mask.paths) == ["name", "filter.status"]
    assert list(_set("updateMask", "pageToken, filter.innerDepth").update_mask.paths) == [
        "page_token",
        "filter.inner_depth",
    ]
    empty = _set("update_mask", "")
    assert empty.HasField("update_mask") and list(empty.update_mask.paths) == []
    expected = "query parameter 'update_mask': expected comma-separated field paths, got 'a,b-c'"
    assert _error("update_mask", "a,b-c") == expected


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("w_int32", "-3", -3),
        ("w_int32", "0", 0),
        ("w_uint64", "18446744073709551615", 2**64 - 1),
        ("w_bool", "false", False),
        ("w_string", "", ""),
        ("w_bytes", "aGk", b"hi"),
        ("w_double", "-Infinity", -math.inf),
        ("w_float", "0.5", 0.5),
        ("wInt32", "4", 4),
    ],
)
def test_wrappers(path: str, value: str, expected: object) -> None:
    message = _set(path, value)
    field = message.DESCRIPTOR.fields_by_camelcase_name.get(path) or message.DESCRIPTOR.fields_by_name[path]
    assert message.HasField(field.name)  # present even for the default value
    assert getattr(message, field.name).value == expected


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        ("w_int32", "x", "expected an integer, got 'x'"),
        ("w_uint64", "-1", "expected a non-negative integer, got '-1'"),
        ("w_bool", "maybe", "expected a boolean (true, false, 1 or 0), got 'maybe'"),
        ("w_float", "1e39", "1e39 is out of range for float"),
    ],
)
def test_wrapper_errors(path: str, value: str, reason: str) -> None:
    assert _error(path, value) == f"query parameter '{path}': {reason}"


def test_well_known_types_directly() -> None:
    # Messages from the default pool: generated classes as the gateway will see them.
    ts = timestamp_pb2.Timestamp()
    set_field(ts, "seconds", ["12"])
    assert ts.seconds == 12
    value = wrappers_pb2.Int64Value()
    set_field(value, "value", ["-9223372036854775808"])
    assert value.value == -(2**63)
    mask = field_mask_pb2.FieldMask()
    populate_query(mask, [("paths", "a"), ("paths", "b.c")])
    assert list(mask.paths) == ["a", "b.c"]
    struct = struct_pb2.Value()
    set_field(struct, "string_value", ["s"])
    assert struct.WhichOneof("kind") == "string_value"
    with pytest.raises(FieldValueError, match="conflicts with 'string_value'"):
        set_field(struct, "bool_value", ["true"])
    with pytest.raises(FieldValueError, match=r"google.protobuf.Struct cannot be set from a query parameter"):
        set_field(struct, "struct_value", ["{}"])
    with pytest.raises(FieldValueError, match="map field 'fields' cannot be set"):
        set_field(struct_pb2.Struct(), "fields", ["x"])
    with pytest.raises(FieldValueError, match="expected one of NULL_VALUE"):
        set_field(struct_pb2.Value(), "null_value", ["NULL"])


# --- populate_query ---


def test_populate_query() -> None:
    message = Sample()
    populate_query(
        message,
        [
            ("tags", "a"),
            ("pageToken", "t"),
            ("tags", "b"),
            ("filter.status", "open"),
            ("numbers", "1"),
            ("status", "ARCHIVED"),
            ("maybe", "0"),
        ],
    )
    assert list(message.tags) == ["a", "b"]
    assert message.page_token == "t"
    assert message.filter.status == "open"
    assert list(message.numbers) == [1]
    assert message.status == 2
    assert message.HasField("maybe")


def test_populate_query_nothing() -> None:
    message = Sample()
    populate_query(message, [])
    assert message == Sample()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ([("name", "a"), ("name", "b")], "query parameter 'name': expected a single value, got 2"),
        (
            [("page_token", "a"), ("pageToken", "b")],
            "query parameter 'page_token': expected a single value, got 2",
        ),
        ([("limit", "abc")], "unknown query parameter 'limit'"),
        ([("i32", "abc")], "query parameter 'i32': expected an integer, got 'abc'"),
        (
            [("by_name", "a"), ("by_filter.status", "b")],
            "query parameter 'by_filter.status': conflicts with 'by_name'",
        ),
    ],
)
def test_populate_query_errors(params: list[tuple[str, str]], message: str) -> None:
    with pytest.raises(FieldValueError) as caught:
        populate_query(Sample(), params)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("exclude", "key"),
    [
        (["name"], "name"),
        (["page_token"], "pageToken"),
        (["filter"], "filter.status"),
        (["filter"], "filter.inner.depth"),
        (["filter.inner"], "filter.inner.depth"),
        (["filter.status"], "filter.status"),
        (["*"], "tags"),
    ],
)
def test_populate_query_rejects_bound_fields(exclude: list[str], key: str) -> None:
    with pytest.raises(FieldValueError) as caught:
        populate_query(Sample(), [(key, "1")], exclude=exclude)
    assert str(caught.value) == f"query parameter '{key}' is already bound by the path or body"
    assert caught.value.parameter == key


def test_populate_query_allows_unbound_neighbours() -> None:
    message = Sample()
    params = [("filter.inner.depth", "2"), ("name", "n")]
    populate_query(message, params, exclude=["filter.status", "page_token"])
    assert (message.filter.inner.depth, message.name) == (2, "n")
