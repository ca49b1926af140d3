import datetime

from astra.v1 import common_pb2 as _common_pb2
from astra.v1 import options_pb2 as _options_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ChatRequest(_message.Message):
    __slots__ = ("agent_id", "message", "surface", "surface_id", "session_id")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SURFACE_FIELD_NUMBER: _ClassVar[int]
    SURFACE_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    message: str
    surface: str
    surface_id: str
    session_id: str
    def __init__(self, agent_id: _Optional[str] = ..., message: _Optional[str] = ..., surface: _Optional[str] = ..., surface_id: _Optional[str] = ..., session_id: _Optional[str] = ...) -> None: ...

class ChatResponse(_message.Message):
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

class ChatStreamRequest(_message.Message):
    __slots__ = ("agent_id", "message", "surface", "surface_id", "session_id")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SURFACE_FIELD_NUMBER: _ClassVar[int]
    SURFACE_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    message: str
    surface: str
    surface_id: str
    session_id: str
    def __init__(self, agent_id: _Optional[str] = ..., message: _Optional[str] = ..., surface: _Optional[str] = ..., surface_id: _Optional[str] = ..., session_id: _Optional[str] = ...) -> None: ...

class ChatStreamResponse(_message.Message):
    __slots__ = ("session_resolved", "stream_chunk", "tool_call", "tool_result", "stream_done", "error")
    SESSION_RESOLVED_FIELD_NUMBER: _ClassVar[int]
    STREAM_CHUNK_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_FIELD_NUMBER: _ClassVar[int]
    TOOL_RESULT_FIELD_NUMBER: _ClassVar[int]
    STREAM_DONE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    session_resolved: SessionResolved
    stream_chunk: StreamChunk
    tool_call: ToolCall
    tool_result: ToolResult
    stream_done: StreamDone
    error: StreamError
    def __init__(self, session_resolved: _Optional[_Union[SessionResolved, _Mapping]] = ..., stream_chunk: _Optional[_Union[StreamChunk, _Mapping]] = ..., tool_call: _Optional[_Union[ToolCall, _Mapping]] = ..., tool_result: _Optional[_Union[ToolResult, _Mapping]] = ..., stream_done: _Optional[_Union[StreamDone, _Mapping]] = ..., error: _Optional[_Union[StreamError, _Mapping]] = ...) -> None: ...

class SessionResolved(_message.Message):
    __slots__ = ("session_id", "agent_id", "created")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    agent_id: str
    created: bool
    def __init__(self, session_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., created: _Optional[bool] = ...) -> None: ...

class StreamChunk(_message.Message):
    __slots__ = ("delta",)
    DELTA_FIELD_NUMBER: _ClassVar[int]
    delta: str
    def __init__(self, delta: _Optional[str] = ...) -> None: ...

class ToolCall(_message.Message):
    __slots__ = ("id", "name", "arguments")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    arguments: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., arguments: _Optional[str] = ...) -> None: ...

class ToolResult(_message.Message):
    __slots__ = ("id", "name", "result", "error", "duration_ms")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    result: str
    error: str
    duration_ms: float
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., result: _Optional[str] = ..., error: _Optional[str] = ..., duration_ms: _Optional[float] = ...) -> None: ...

class StreamDone(_message.Message):
    __slots__ = ("content", "session_id", "message_id", "tools_used", "usage", "model", "overhead_ms")
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    TOOLS_USED_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    OVERHEAD_MS_FIELD_NUMBER: _ClassVar[int]
    content: str
    session_id: str
    message_id: str
    tools_used: _containers.RepeatedScalarFieldContainer[str]
    usage: _common_pb2.Usage
    model: str
    overhead_ms: float
    def __init__(self, content: _Optional[str] = ..., session_id: _Optional[str] = ..., message_id: _Optional[str] = ..., tools_used: _Optional[_Iterable[str]] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., model: _Optional[str] = ..., overhead_ms: _Optional[float] = ...) -> None: ...

class StreamError(_message.Message):
    __slots__ = ("code", "message", "retry_after_ms")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    RETRY_AFTER_MS_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    retry_after_ms: float
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ..., retry_after_ms: _Optional[float] = ...) -> None: ...

class ResetSessionRequest(_message.Message):
    __slots__ = ("agent_id", "surface", "surface_id", "session_id")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    SURFACE_FIELD_NUMBER: _ClassVar[int]
    SURFACE_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    surface: str
    surface_id: str
    session_id: str
    def __init__(self, agent_id: _Optional[str] = ..., surface: _Optional[str] = ..., surface_id: _Optional[str] = ..., session_id: _Optional[str] = ...) -> None: ...

class ResetSessionResponse(_message.Message):
    __slots__ = ("reset", "session_id")
    RESET_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    reset: bool
    session_id: str
    def __init__(self, reset: _Optional[bool] = ..., session_id: _Optional[str] = ...) -> None: ...

class GetPresenceRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class AgentPresence(_message.Message):
    __slots__ = ("agent_id", "state", "session_id", "tool_name", "since")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_NAME_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    state: str
    session_id: str
    tool_name: str
    since: _timestamp_pb2.Timestamp
    def __init__(self, agent_id: _Optional[str] = ..., state: _Optional[str] = ..., session_id: _Optional[str] = ..., tool_name: _Optional[str] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetPresenceResponse(_message.Message):
    __slots__ = ("agents",)
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    agents: _containers.RepeatedCompositeFieldContainer[AgentPresence]
    def __init__(self, agents: _Optional[_Iterable[_Union[AgentPresence, _Mapping]]] = ...) -> None: ...

class GetAgentHealthRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ProviderHealth(_message.Message):
    __slots__ = ("provider", "configured", "circuit_state", "consecutive_failures", "last_error", "last_error_at")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    CONFIGURED_FIELD_NUMBER: _ClassVar[int]
    CIRCUIT_STATE_FIELD_NUMBER: _ClassVar[int]
    CONSECUTIVE_FAILURES_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_AT_FIELD_NUMBER: _ClassVar[int]
    provider: str
    configured: bool
    circuit_state: str
    consecutive_failures: int
    last_error: str
    last_error_at: _timestamp_pb2.Timestamp
    def __init__(self, provider: _Optional[str] = ..., configured: _Optional[bool] = ..., circuit_state: _Optional[str] = ..., consecutive_failures: _Optional[int] = ..., last_error: _Optional[str] = ..., last_error_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetAgentHealthResponse(_message.Message):
    __slots__ = ("status", "providers", "turns_in_flight")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    TURNS_IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    status: str
    providers: _containers.RepeatedCompositeFieldContainer[ProviderHealth]
    turns_in_flight: int
    def __init__(self, status: _Optional[str] = ..., providers: _Optional[_Iterable[_Union[ProviderHealth, _Mapping]]] = ..., turns_in_flight: _Optional[int] = ...) -> None: ...
