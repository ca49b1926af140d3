import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Usage(_message.Message):
    __slots__ = ("prompt_tokens", "completion_tokens", "total_tokens", "cost_usd")
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: float
    def __init__(self, prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., total_tokens: _Optional[int] = ..., cost_usd: _Optional[float] = ...) -> None: ...

class ToolPolicy(_message.Message):
    __slots__ = ("allow", "deny")
    ALLOW_FIELD_NUMBER: _ClassVar[int]
    DENY_FIELD_NUMBER: _ClassVar[int]
    allow: _containers.RepeatedScalarFieldContainer[str]
    deny: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, allow: _Optional[_Iterable[str]] = ..., deny: _Optional[_Iterable[str]] = ...) -> None: ...

class SpawnConfig(_message.Message):
    __slots__ = ("enabled", "allowed_targets", "max_depth")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_TARGETS_FIELD_NUMBER: _ClassVar[int]
    MAX_DEPTH_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    allowed_targets: _containers.RepeatedScalarFieldContainer[str]
    max_depth: int
    def __init__(self, enabled: _Optional[bool] = ..., allowed_targets: _Optional[_Iterable[str]] = ..., max_depth: _Optional[int] = ...) -> None: ...

class MemoryConfig(_message.Message):
    __slots__ = ("tiers", "max_context_chunks", "min_relevance", "auto_extract")
    TIERS_FIELD_NUMBER: _ClassVar[int]
    MAX_CONTEXT_CHUNKS_FIELD_NUMBER: _ClassVar[int]
    MIN_RELEVANCE_FIELD_NUMBER: _ClassVar[int]
    AUTO_EXTRACT_FIELD_NUMBER: _ClassVar[int]
    tiers: _containers.RepeatedScalarFieldContainer[str]
    max_context_chunks: int
    min_relevance: float
    auto_extract: bool
    def __init__(self, tiers: _Optional[_Iterable[str]] = ..., max_context_chunks: _Optional[int] = ..., min_relevance: _Optional[float] = ..., auto_extract: _Optional[bool] = ...) -> None: ...

class Agent(_message.Message):
    __slots__ = ("id", "workspace_id", "display_name", "model", "system_prompt", "temperature", "max_output_tokens", "max_context_tokens", "skills", "tools", "spawn", "memory", "base_url", "origin", "etag", "created_at", "updated_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_PROMPT_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MAX_CONTEXT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    SKILLS_FIELD_NUMBER: _ClassVar[int]
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    SPAWN_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    BASE_URL_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    workspace_id: str
    display_name: str
    model: str
    system_prompt: str
    temperature: float
    max_output_tokens: int
    max_context_tokens: int
    skills: _containers.RepeatedScalarFieldContainer[str]
    tools: ToolPolicy
    spawn: SpawnConfig
    memory: MemoryConfig
    base_url: str
    origin: str
    etag: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., workspace_id: _Optional[str] = ..., display_name: _Optional[str] = ..., model: _Optional[str] = ..., system_prompt: _Optional[str] = ..., temperature: _Optional[float] = ..., max_output_tokens: _Optional[int] = ..., max_context_tokens: _Optional[int] = ..., skills: _Optional[_Iterable[str]] = ..., tools: _Optional[_Union[ToolPolicy, _Mapping]] = ..., spawn: _Optional[_Union[SpawnConfig, _Mapping]] = ..., memory: _Optional[_Union[MemoryConfig, _Mapping]] = ..., base_url: _Optional[str] = ..., origin: _Optional[str] = ..., etag: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ToolDefinition(_message.Message):
    __slots__ = ("name", "description", "parameters", "skill_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    SKILL_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    parameters: _struct_pb2.Struct
    skill_id: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., parameters: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., skill_id: _Optional[str] = ...) -> None: ...

class Session(_message.Message):
    __slots__ = ("id", "agent_id", "workspace_id", "user_id", "surface", "surface_id", "status", "message_count", "created_at", "last_activity_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    SURFACE_FIELD_NUMBER: _ClassVar[int]
    SURFACE_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_ACTIVITY_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    agent_id: str
    workspace_id: str
    user_id: str
    surface: str
    surface_id: str
    status: str
    message_count: int
    created_at: _timestamp_pb2.Timestamp
    last_activity_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., agent_id: _Optional[str] = ..., workspace_id: _Optional[str] = ..., user_id: _Optional[str] = ..., surface: _Optional[str] = ..., surface_id: _Optional[str] = ..., status: _Optional[str] = ..., message_count: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_activity_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class WorkspaceSettings(_message.Message):
    __slots__ = ("default_model", "timezone", "session_idle_timeout_minutes", "daily_reset_hour", "memory_retention_days", "extras")
    DEFAULT_MODEL_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    SESSION_IDLE_TIMEOUT_MINUTES_FIELD_NUMBER: _ClassVar[int]
    DAILY_RESET_HOUR_FIELD_NUMBER: _ClassVar[int]
    MEMORY_RETENTION_DAYS_FIELD_NUMBER: _ClassVar[int]
    EXTRAS_FIELD_NUMBER: _ClassVar[int]
    default_model: str
    timezone: str
    session_idle_timeout_minutes: int
    daily_reset_hour: int
    memory_retention_days: int
    extras: _struct_pb2.Struct
    def __init__(self, default_model: _Optional[str] = ..., timezone: _Optional[str] = ..., session_idle_timeout_minutes: _Optional[int] = ..., daily_reset_hour: _Optional[int] = ..., memory_retention_days: _Optional[int] = ..., extras: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class WorkspaceRestrictions(_message.Message):
    __slots__ = ("allowed_providers", "allowed_models")
    ALLOWED_PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_MODELS_FIELD_NUMBER: _ClassVar[int]
    allowed_providers: _struct_pb2.ListValue
    allowed_models: _struct_pb2.ListValue
    def __init__(self, allowed_providers: _Optional[_Union[_struct_pb2.ListValue, _Mapping]] = ..., allowed_models: _Optional[_Union[_struct_pb2.ListValue, _Mapping]] = ...) -> None: ...

class Workspace(_message.Message):
    __slots__ = ("id", "name", "plan", "role", "personal", "settings", "restrictions", "member_count", "created_at", "updated_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    PERSONAL_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    RESTRICTIONS_FIELD_NUMBER: _ClassVar[int]
    MEMBER_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    plan: str
    role: str
    personal: bool
    settings: WorkspaceSettings
    restrictions: WorkspaceRestrictions
    member_count: int
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., plan: _Optional[str] = ..., role: _Optional[str] = ..., personal: _Optional[bool] = ..., settings: _Optional[_Union[WorkspaceSettings, _Mapping]] = ..., restrictions: _Optional[_Union[WorkspaceRestrictions, _Mapping]] = ..., member_count: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
