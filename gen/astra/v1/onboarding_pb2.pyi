from astra.v1 import common_pb2 as _common_pb2
from astra.v1 import options_pb2 as _options_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WorkspaceSpec(_message.Message):
    __slots__ = ("name", "plan", "settings")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    name: str
    plan: str
    settings: _common_pb2.WorkspaceSettings
    def __init__(self, name: _Optional[str] = ..., plan: _Optional[str] = ..., settings: _Optional[_Union[_common_pb2.WorkspaceSettings, _Mapping]] = ...) -> None: ...

class SetupRequest(_message.Message):
    __slots__ = ("workspace", "agents")
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    workspace: WorkspaceSpec
    agents: _containers.RepeatedCompositeFieldContainer[_common_pb2.Agent]
    def __init__(self, workspace: _Optional[_Union[WorkspaceSpec, _Mapping]] = ..., agents: _Optional[_Iterable[_Union[_common_pb2.Agent, _Mapping]]] = ...) -> None: ...

class SetupResponse(_message.Message):
    __slots__ = ("workspace", "agents")
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    workspace: _common_pb2.Workspace
    agents: _containers.RepeatedCompositeFieldContainer[_common_pb2.Agent]
    def __init__(self, workspace: _Optional[_Union[_common_pb2.Workspace, _Mapping]] = ..., agents: _Optional[_Iterable[_Union[_common_pb2.Agent, _Mapping]]] = ...) -> None: ...
