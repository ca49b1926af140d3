from astra.v1 import common_pb2 as _common_pb2
from astra.v1 import options_pb2 as _options_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RunTaskRequest(_message.Message):
    __slots__ = ("agent_id", "user_id", "workspace_id", "message", "surface", "timeout_seconds")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SURFACE_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    user_id: str
    workspace_id: str
    message: str
    surface: str
    timeout_seconds: int
    def __init__(self, agent_id: _Optional[str] = ..., user_id: _Optional[str] = ..., workspace_id: _Optional[str] = ..., message: _Optional[str] = ..., surface: _Optional[str] = ..., timeout_seconds: _Optional[int] = ...) -> None: ...

class RunTaskResponse(_message.Message):
    __slots__ = ("content", "session_id", "tools_used", "usage", "model", "overhead_ms", "message_id")
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TOOLS_USED_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    OVERHEAD_MS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    content: str
    session_id: str
    tools_used: _containers.RepeatedScalarFieldContainer[str]
    usage: _common_pb2.Usage
    model: str
    overhead_ms: float
    message_id: str
    def __init__(self, content: _Optional[str] = ..., session_id: _Optional[str] = ..., tools_used: _Optional[_Iterable[str]] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., model: _Optional[str] = ..., overhead_ms: _Optional[float] = ..., message_id: _Optional[str] = ...) -> None: ...

class RunTaskBatchRequest(_message.Message):
    __slots__ = ("agent_id", "user_ids", "workspace_id", "message", "surface", "max_concurrency", "timeout_seconds")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_IDS_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SURFACE_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    user_ids: _containers.RepeatedScalarFieldContainer[str]
    workspace_id: str
    message: str
    surface: str
    max_concurrency: int
    timeout_seconds: int
    def __init__(self, agent_id: _Optional[str] = ..., user_ids: _Optional[_Iterable[str]] = ..., workspace_id: _Optional[str] = ..., message: _Optional[str] = ..., surface: _Optional[str] = ..., max_concurrency: _Optional[int] = ..., timeout_seconds: _Optional[int] = ...) -> None: ...

class BatchTaskResult(_message.Message):
    __slots__ = ("user_id", "status", "content", "session_id", "usage", "error_code", "error_message")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    status: str
    content: str
    session_id: str
    usage: _common_pb2.Usage
    error_code: str
    error_message: str
    def __init__(self, user_id: _Optional[str] = ..., status: _Optional[str] = ..., content: _Optional[str] = ..., session_id: _Optional[str] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., error_code: _Optional[str] = ..., error_message: _Optional[str] = ...) -> None: ...

class RunTaskBatchResponse(_message.Message):
    __slots__ = ("results", "succeeded", "failed", "usage")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    SUCCEEDED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[BatchTaskResult]
    succeeded: int
    failed: int
    usage: _common_pb2.Usage
    def __init__(self, results: _Optional[_Iterable[_Union[BatchTaskResult, _Mapping]]] = ..., succeeded: _Optional[int] = ..., failed: _Optional[int] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ...) -> None: ...
