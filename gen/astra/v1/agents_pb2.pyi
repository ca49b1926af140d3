from astra.v1 import common_pb2 as _common_pb2
from astra.v1 import options_pb2 as _options_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateAgentRequest(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: _common_pb2.Agent
    def __init__(self, agent: _Optional[_Union[_common_pb2.Agent, _Mapping]] = ...) -> None: ...

class CreateAgentResponse(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: _common_pb2.Agent
    def __init__(self, agent: _Optional[_Union[_common_pb2.Agent, _Mapping]] = ...) -> None: ...

class ListAgentsRequest(_message.Message):
    __slots__ = ("limit", "page_token", "origin")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    limit: int
    page_token: str
    origin: str
    def __init__(self, limit: _Optional[int] = ..., page_token: _Optional[str] = ..., origin: _Optional[str] = ...) -> None: ...

class ListAgentsResponse(_message.Message):
    __slots__ = ("agents", "next_page_token")
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    agents: _containers.RepeatedCompositeFieldContainer[_common_pb2.Agent]
    next_page_token: str
    def __init__(self, agents: _Optional[_Iterable[_Union[_common_pb2.Agent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetAgentRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class GetAgentResponse(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: _common_pb2.Agent
    def __init__(self, agent: _Optional[_Union[_common_pb2.Agent, _Mapping]] = ...) -> None: ...

class UpdateAgentRequest(_message.Message):
    __slots__ = ("agent_id", "agent")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    agent: _common_pb2.Agent
    def __init__(self, agent_id: _Optional[str] = ..., agent: _Optional[_Union[_common_pb2.Agent, _Mapping]] = ...) -> None: ...

class UpdateAgentResponse(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: _common_pb2.Agent
    def __init__(self, agent: _Optional[_Union[_common_pb2.Agent, _Mapping]] = ...) -> None: ...

class DeleteAgentRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class DeleteAgentResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetAgentCapabilitiesRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class ModelConfig(_message.Message):
    __slots__ = ("provider", "model", "temperature", "max_output_tokens", "max_context_tokens", "provider_available")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MAX_CONTEXT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    provider: str
    model: str
    temperature: float
    max_output_tokens: int
    max_context_tokens: int
    provider_available: bool
    def __init__(self, provider: _Optional[str] = ..., model: _Optional[str] = ..., temperature: _Optional[float] = ..., max_output_tokens: _Optional[int] = ..., max_context_tokens: _Optional[int] = ..., provider_available: _Optional[bool] = ...) -> None: ...

class ActiveSkill(_message.Message):
    __slots__ = ("id", "display_name", "prompt_context", "tool_names")
    ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    PROMPT_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    TOOL_NAMES_FIELD_NUMBER: _ClassVar[int]
    id: str
    display_name: str
    prompt_context: str
    tool_names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., display_name: _Optional[str] = ..., prompt_context: _Optional[str] = ..., tool_names: _Optional[_Iterable[str]] = ...) -> None: ...

class GetAgentCapabilitiesResponse(_message.Message):
    __slots__ = ("agent_id", "origin", "tools", "skills", "spawn", "model", "memory", "can_chat", "cannot_chat_reason")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    SKILLS_FIELD_NUMBER: _ClassVar[int]
    SPAWN_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    CAN_CHAT_FIELD_NUMBER: _ClassVar[int]
    CANNOT_CHAT_REASON_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    origin: str
    tools: _containers.RepeatedCompositeFieldContainer[_common_pb2.ToolDefinition]
    skills: _containers.RepeatedCompositeFieldContainer[ActiveSkill]
    spawn: _common_pb2.SpawnConfig
    model: ModelConfig
    memory: _common_pb2.MemoryConfig
    can_chat: bool
    cannot_chat_reason: str
    def __init__(self, agent_id: _Optional[str] = ..., origin: _Optional[str] = ..., tools: _Optional[_Iterable[_Union[_common_pb2.ToolDefinition, _Mapping]]] = ..., skills: _Optional[_Iterable[_Union[ActiveSkill, _Mapping]]] = ..., spawn: _Optional[_Union[_common_pb2.SpawnConfig, _Mapping]] = ..., model: _Optional[_Union[ModelConfig, _Mapping]] = ..., memory: _Optional[_Union[_common_pb2.MemoryConfig, _Mapping]] = ..., can_chat: _Optional[bool] = ..., cannot_chat_reason: _Optional[str] = ...) -> None: ...
