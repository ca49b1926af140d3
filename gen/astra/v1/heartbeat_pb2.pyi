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

class Heartbeat(_message.Message):
    __slots__ = ("id", "type", "url", "keywords", "method", "expect_status", "expect_contains", "timeout_ms", "interval_seconds", "agent_id", "prompt", "enabled", "last_run_at", "next_run_at", "created_at", "updated_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    KEYWORDS_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    EXPECT_STATUS_FIELD_NUMBER: _ClassVar[int]
    EXPECT_CONTAINS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    LAST_RUN_AT_FIELD_NUMBER: _ClassVar[int]
    NEXT_RUN_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    type: str
    url: str
    keywords: _containers.RepeatedScalarFieldContainer[str]
    method: str
    expect_status: int
    expect_contains: str
    timeout_ms: int
    interval_seconds: int
    agent_id: str
    prompt: str
    enabled: bool
    last_run_at: _timestamp_pb2.Timestamp
    next_run_at: _timestamp_pb2.Timestamp
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., type: _Optional[str] = ..., url: _Optional[str] = ..., keywords: _Optional[_Iterable[str]] = ..., method: _Optional[str] = ..., expect_status: _Optional[int] = ..., expect_contains: _Optional[str] = ..., timeout_ms: _Optional[int] = ..., interval_seconds: _Optional[int] = ..., agent_id: _Optional[str] = ..., prompt: _Optional[str] = ..., enabled: _Optional[bool] = ..., last_run_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., next_run_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class HeartbeatItem(_message.Message):
    __slots__ = ("title", "url", "summary", "published_at", "matched_keywords")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_AT_FIELD_NUMBER: _ClassVar[int]
    MATCHED_KEYWORDS_FIELD_NUMBER: _ClassVar[int]
    title: str
    url: str
    summary: str
    published_at: _timestamp_pb2.Timestamp
    matched_keywords: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, title: _Optional[str] = ..., url: _Optional[str] = ..., summary: _Optional[str] = ..., published_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., matched_keywords: _Optional[_Iterable[str]] = ...) -> None: ...

class HeartbeatRun(_message.Message):
    __slots__ = ("id", "heartbeat_id", "started_at", "finished_at", "status", "items", "status_code", "error", "duration_ms", "session_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_ID_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    heartbeat_id: str
    started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    status: str
    items: _containers.RepeatedCompositeFieldContainer[HeartbeatItem]
    status_code: int
    error: str
    duration_ms: float
    session_id: str
    def __init__(self, id: _Optional[str] = ..., heartbeat_id: _Optional[str] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status: _Optional[str] = ..., items: _Optional[_Iterable[_Union[HeartbeatItem, _Mapping]]] = ..., status_code: _Optional[int] = ..., error: _Optional[str] = ..., duration_ms: _Optional[float] = ..., session_id: _Optional[str] = ...) -> None: ...

class ListHeartbeatsRequest(_message.Message):
    __slots__ = ("limit", "page_token", "agent_id")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    limit: int
    page_token: str
    agent_id: str
    def __init__(self, limit: _Optional[int] = ..., page_token: _Optional[str] = ..., agent_id: _Optional[str] = ...) -> None: ...

class ListHeartbeatsResponse(_message.Message):
    __slots__ = ("heartbeats", "next_page_token")
    HEARTBEATS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    heartbeats: _containers.RepeatedCompositeFieldContainer[Heartbeat]
    next_page_token: str
    def __init__(self, heartbeats: _Optional[_Iterable[_Union[Heartbeat, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CreateHeartbeatRequest(_message.Message):
    __slots__ = ("type", "url", "keywords", "method", "expect_status", "expect_contains", "timeout_ms", "interval_seconds", "agent_id", "prompt", "enabled")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    KEYWORDS_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    EXPECT_STATUS_FIELD_NUMBER: _ClassVar[int]
    EXPECT_CONTAINS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    type: str
    url: str
    keywords: _containers.RepeatedScalarFieldContainer[str]
    method: str
    expect_status: int
    expect_contains: str
    timeout_ms: int
    interval_seconds: int
    agent_id: str
    prompt: str
    enabled: bool
    def __init__(self, type: _Optional[str] = ..., url: _Optional[str] = ..., keywords: _Optional[_Iterable[str]] = ..., method: _Optional[str] = ..., expect_status: _Optional[int] = ..., expect_contains: _Optional[str] = ..., timeout_ms: _Optional[int] = ..., interval_seconds: _Optional[int] = ..., agent_id: _Optional[str] = ..., prompt: _Optional[str] = ..., enabled: _Optional[bool] = ...) -> None: ...

class CreateHeartbeatResponse(_message.Message):
    __slots__ = ("heartbeat",)
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    heartbeat: Heartbeat
    def __init__(self, heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ...) -> None: ...

class ListHeartbeatRunsRequest(_message.Message):
    __slots__ = ("heartbeat_id", "limit", "page_token", "status")
    HEARTBEAT_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    heartbeat_id: str
    limit: int
    page_token: str
    status: str
    def __init__(self, heartbeat_id: _Optional[str] = ..., limit: _Optional[int] = ..., page_token: _Optional[str] = ..., status: _Optional[str] = ...) -> None: ...

class ListHeartbeatRunsResponse(_message.Message):
    __slots__ = ("runs", "next_page_token")
    RUNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[HeartbeatRun]
    next_page_token: str
    def __init__(self, runs: _Optional[_Iterable[_Union[HeartbeatRun, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateHeartbeatRequest(_message.Message):
    __slots__ = ("heartbeat_id", "enabled")
    HEARTBEAT_ID_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    heartbeat_id: str
    enabled: bool
    def __init__(self, heartbeat_id: _Optional[str] = ..., enabled: _Optional[bool] = ...) -> None: ...

class UpdateHeartbeatResponse(_message.Message):
    __slots__ = ("heartbeat",)
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    heartbeat: Heartbeat
    def __init__(self, heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ...) -> None: ...

class DeleteHeartbeatRequest(_message.Message):
    __slots__ = ("heartbeat_id",)
    HEARTBEAT_ID_FIELD_NUMBER: _ClassVar[int]
    heartbeat_id: str
    def __init__(self, heartbeat_id: _Optional[str] = ...) -> None: ...

class DeleteHeartbeatResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
