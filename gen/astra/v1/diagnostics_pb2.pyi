import datetime

from astra.v1 import options_pb2 as _options_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DiagnosticCheck(_message.Message):
    __slots__ = ("id", "category", "status", "duration_ms", "detail")
    ID_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    id: str
    category: str
    status: str
    duration_ms: float
    detail: str
    def __init__(self, id: _Optional[str] = ..., category: _Optional[str] = ..., status: _Optional[str] = ..., duration_ms: _Optional[float] = ..., detail: _Optional[str] = ...) -> None: ...

class DiagnosticSummary(_message.Message):
    __slots__ = ("total", "passed", "warned", "failed")
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    WARNED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    total: int
    passed: int
    warned: int
    failed: int
    def __init__(self, total: _Optional[int] = ..., passed: _Optional[int] = ..., warned: _Optional[int] = ..., failed: _Optional[int] = ...) -> None: ...

class DiagnosticRun(_message.Message):
    __slots__ = ("id", "kind", "status", "started_at", "duration_ms", "checks", "summary")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    CHECKS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: str
    status: str
    started_at: _timestamp_pb2.Timestamp
    duration_ms: float
    checks: _containers.RepeatedCompositeFieldContainer[DiagnosticCheck]
    summary: DiagnosticSummary
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[str] = ..., status: _Optional[str] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., duration_ms: _Optional[float] = ..., checks: _Optional[_Iterable[_Union[DiagnosticCheck, _Mapping]]] = ..., summary: _Optional[_Union[DiagnosticSummary, _Mapping]] = ...) -> None: ...

class RunDiagnosticsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RunDiagnosticsResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: DiagnosticRun
    def __init__(self, run: _Optional[_Union[DiagnosticRun, _Mapping]] = ...) -> None: ...

class RunQuickDiagnosticsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RunQuickDiagnosticsResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: DiagnosticRun
    def __init__(self, run: _Optional[_Union[DiagnosticRun, _Mapping]] = ...) -> None: ...

class ListDiagnosticRunsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListDiagnosticRunsResponse(_message.Message):
    __slots__ = ("runs",)
    RUNS_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[DiagnosticRun]
    def __init__(self, runs: _Optional[_Iterable[_Union[DiagnosticRun, _Mapping]]] = ...) -> None: ...
