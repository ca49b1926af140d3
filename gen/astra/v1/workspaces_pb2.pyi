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

class WorkspaceMember(_message.Message):
    __slots__ = ("user_id", "email", "display_name", "role", "joined_at")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    JOINED_AT_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    email: str
    display_name: str
    role: str
    joined_at: _timestamp_pb2.Timestamp
    def __init__(self, user_id: _Optional[str] = ..., email: _Optional[str] = ..., display_name: _Optional[str] = ..., role: _Optional[str] = ..., joined_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Invitation(_message.Message):
    __slots__ = ("id", "workspace_id", "role", "status", "created_at", "expires_at", "email", "user_id", "workspace_name")
    ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_NAME_FIELD_NUMBER: _ClassVar[int]
    id: str
    workspace_id: str
    role: str
    status: str
    created_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    email: str
    user_id: str
    workspace_name: str
    def __init__(self, id: _Optional[str] = ..., workspace_id: _Optional[str] = ..., role: _Optional[str] = ..., status: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., email: _Optional[str] = ..., user_id: _Optional[str] = ..., workspace_name: _Optional[str] = ...) -> None: ...

class AgentGrant(_message.Message):
    __slots__ = ("granting_workspace_id", "receiving_workspace_id", "agent_id", "readonly", "expires_at", "created_at")
    GRANTING_WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    RECEIVING_WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    READONLY_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    granting_workspace_id: str
    receiving_workspace_id: str
    agent_id: str
    readonly: bool
    expires_at: _timestamp_pb2.Timestamp
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, granting_workspace_id: _Optional[str] = ..., receiving_workspace_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., readonly: _Optional[bool] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateWorkspaceRequest(_message.Message):
    __slots__ = ("name", "plan", "settings")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    name: str
    plan: str
    settings: _common_pb2.WorkspaceSettings
    def __init__(self, name: _Optional[str] = ..., plan: _Optional[str] = ..., settings: _Optional[_Union[_common_pb2.WorkspaceSettings, _Mapping]] = ...) -> None: ...

class CreateWorkspaceResponse(_message.Message):
    __slots__ = ("workspace",)
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    workspace: _common_pb2.Workspace
    def __init__(self, workspace: _Optional[_Union[_common_pb2.Workspace, _Mapping]] = ...) -> None: ...

class ListWorkspacesRequest(_message.Message):
    __slots__ = ("limit", "page_token")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    limit: int
    page_token: str
    def __init__(self, limit: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListWorkspacesResponse(_message.Message):
    __slots__ = ("workspaces", "next_page_token")
    WORKSPACES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    workspaces: _containers.RepeatedCompositeFieldContainer[_common_pb2.Workspace]
    next_page_token: str
    def __init__(self, workspaces: _Optional[_Iterable[_Union[_common_pb2.Workspace, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetWorkspaceRequest(_message.Message):
    __slots__ = ("workspace_id",)
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    def __init__(self, workspace_id: _Optional[str] = ...) -> None: ...

class GetWorkspaceResponse(_message.Message):
    __slots__ = ("workspace", "members", "grants_given", "grants_received")
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    GRANTS_GIVEN_FIELD_NUMBER: _ClassVar[int]
    GRANTS_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    workspace: _common_pb2.Workspace
    members: _containers.RepeatedCompositeFieldContainer[WorkspaceMember]
    grants_given: _containers.RepeatedCompositeFieldContainer[AgentGrant]
    grants_received: _containers.RepeatedCompositeFieldContainer[AgentGrant]
    def __init__(self, workspace: _Optional[_Union[_common_pb2.Workspace, _Mapping]] = ..., members: _Optional[_Iterable[_Union[WorkspaceMember, _Mapping]]] = ..., grants_given: _Optional[_Iterable[_Union[AgentGrant, _Mapping]]] = ..., grants_received: _Optional[_Iterable[_Union[AgentGrant, _Mapping]]] = ...) -> None: ...

class UpdateWorkspaceSettingsRequest(_message.Message):
    __slots__ = ("workspace_id", "settings")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    settings: _common_pb2.WorkspaceSettings
    def __init__(self, workspace_id: _Optional[str] = ..., settings: _Optional[_Union[_common_pb2.WorkspaceSettings, _Mapping]] = ...) -> None: ...

class UpdateWorkspaceSettingsResponse(_message.Message):
    __slots__ = ("workspace",)
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    workspace: _common_pb2.Workspace
    def __init__(self, workspace: _Optional[_Union[_common_pb2.Workspace, _Mapping]] = ...) -> None: ...

class AddWorkspaceMemberRequest(_message.Message):
    __slots__ = ("workspace_id", "user_id", "email", "role")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    user_id: str
    email: str
    role: str
    def __init__(self, workspace_id: _Optional[str] = ..., user_id: _Optional[str] = ..., email: _Optional[str] = ..., role: _Optional[str] = ...) -> None: ...

class AddWorkspaceMemberResponse(_message.Message):
    __slots__ = ("member", "invitation")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    INVITATION_FIELD_NUMBER: _ClassVar[int]
    member: WorkspaceMember
    invitation: Invitation
    def __init__(self, member: _Optional[_Union[WorkspaceMember, _Mapping]] = ..., invitation: _Optional[_Union[Invitation, _Mapping]] = ...) -> None: ...

class RemoveWorkspaceMemberRequest(_message.Message):
    __slots__ = ("workspace_id", "user_id")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    user_id: str
    def __init__(self, workspace_id: _Optional[str] = ..., user_id: _Optional[str] = ...) -> None: ...

class RemoveWorkspaceMemberResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetWorkspaceStatsRequest(_message.Message):
    __slots__ = ("workspace_id", "days")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    DAYS_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    days: int
    def __init__(self, workspace_id: _Optional[str] = ..., days: _Optional[int] = ...) -> None: ...

class AgentUsageStat(_message.Message):
    __slots__ = ("agent_id", "sessions", "messages", "total_tokens", "cost_usd")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    sessions: int
    messages: int
    total_tokens: int
    cost_usd: float
    def __init__(self, agent_id: _Optional[str] = ..., sessions: _Optional[int] = ..., messages: _Optional[int] = ..., total_tokens: _Optional[int] = ..., cost_usd: _Optional[float] = ...) -> None: ...

class ToolUsageStat(_message.Message):
    __slots__ = ("tool", "calls", "errors", "avg_duration_ms")
    TOOL_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    AVG_DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    tool: str
    calls: int
    errors: int
    avg_duration_ms: float
    def __init__(self, tool: _Optional[str] = ..., calls: _Optional[int] = ..., errors: _Optional[int] = ..., avg_duration_ms: _Optional[float] = ...) -> None: ...

class GetWorkspaceStatsResponse(_message.Message):
    __slots__ = ("workspace_id", "days", "window_start", "window_end", "sessions_total", "sessions_active", "messages_total", "prompt_tokens", "completion_tokens", "total_tokens", "cost_usd", "top_agents", "top_tools", "active_users")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    DAYS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_ACTIVE_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    TOP_AGENTS_FIELD_NUMBER: _ClassVar[int]
    TOP_TOOLS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_USERS_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    days: int
    window_start: _timestamp_pb2.Timestamp
    window_end: _timestamp_pb2.Timestamp
    sessions_total: int
    sessions_active: int
    messages_total: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: float
    top_agents: _containers.RepeatedCompositeFieldContainer[AgentUsageStat]
    top_tools: _containers.RepeatedCompositeFieldContainer[ToolUsageStat]
    active_users: int
    def __init__(self, workspace_id: _Optional[str] = ..., days: _Optional[int] = ..., window_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sessions_total: _Optional[int] = ..., sessions_active: _Optional[int] = ..., messages_total: _Optional[int] = ..., prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., total_tokens: _Optional[int] = ..., cost_usd: _Optional[float] = ..., top_agents: _Optional[_Iterable[_Union[AgentUsageStat, _Mapping]]] = ..., top_tools: _Optional[_Iterable[_Union[ToolUsageStat, _Mapping]]] = ..., active_users: _Optional[int] = ...) -> None: ...

class SetWorkspaceRestrictionsRequest(_message.Message):
    __slots__ = ("workspace_id", "restrictions")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    RESTRICTIONS_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    restrictions: _common_pb2.WorkspaceRestrictions
    def __init__(self, workspace_id: _Optional[str] = ..., restrictions: _Optional[_Union[_common_pb2.WorkspaceRestrictions, _Mapping]] = ...) -> None: ...

class SetWorkspaceRestrictionsResponse(_message.Message):
    __slots__ = ("workspace",)
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    workspace: _common_pb2.Workspace
    def __init__(self, workspace: _Optional[_Union[_common_pb2.Workspace, _Mapping]] = ...) -> None: ...

class CreateAgentGrantRequest(_message.Message):
    __slots__ = ("workspace_id", "receiving_workspace_id", "agent_id", "readonly", "expires_at")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    RECEIVING_WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    READONLY_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    receiving_workspace_id: str
    agent_id: str
    readonly: bool
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, workspace_id: _Optional[str] = ..., receiving_workspace_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., readonly: _Optional[bool] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateAgentGrantResponse(_message.Message):
    __slots__ = ("grant",)
    GRANT_FIELD_NUMBER: _ClassVar[int]
    grant: AgentGrant
    def __init__(self, grant: _Optional[_Union[AgentGrant, _Mapping]] = ...) -> None: ...

class RevokeAgentGrantRequest(_message.Message):
    __slots__ = ("workspace_id", "receiving_workspace_id", "agent_id")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    RECEIVING_WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    receiving_workspace_id: str
    agent_id: str
    def __init__(self, workspace_id: _Optional[str] = ..., receiving_workspace_id: _Optional[str] = ..., agent_id: _Optional[str] = ...) -> None: ...

class RevokeAgentGrantResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListWorkspaceInvitationsRequest(_message.Message):
    __slots__ = ("workspace_id", "limit", "page_token")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    limit: int
    page_token: str
    def __init__(self, workspace_id: _Optional[str] = ..., limit: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListWorkspaceInvitationsResponse(_message.Message):
    __slots__ = ("invitations", "next_page_token")
    INVITATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    invitations: _containers.RepeatedCompositeFieldContainer[Invitation]
    next_page_token: str
    def __init__(self, invitations: _Optional[_Iterable[_Union[Invitation, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RevokeWorkspaceInvitationRequest(_message.Message):
    __slots__ = ("workspace_id", "invitation_id")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    INVITATION_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    invitation_id: str
    def __init__(self, workspace_id: _Optional[str] = ..., invitation_id: _Optional[str] = ...) -> None: ...

class RevokeWorkspaceInvitationResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListInvitationsRequest(_message.Message):
    __slots__ = ("limit", "page_token")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    limit: int
    page_token: str
    def __init__(self, limit: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListInvitationsResponse(_message.Message):
    __slots__ = ("invitations", "next_page_token")
    INVITATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    invitations: _containers.RepeatedCompositeFieldContainer[Invitation]
    next_page_token: str
    def __init__(self, invitations: _Optional[_Iterable[_Union[Invitation, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class AcceptInvitationRequest(_message.Message):
    __slots__ = ("invitation_id",)
    INVITATION_ID_FIELD_NUMBER: _ClassVar[int]
    invitation_id: str
    def __init__(self, invitation_id: _Optional[str] = ...) -> None: ...

class AcceptInvitationResponse(_message.Message):
    __slots__ = ("workspace",)
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    workspace: _common_pb2.Workspace
    def __init__(self, workspace: _Optional[_Union[_common_pb2.Workspace, _Mapping]] = ...) -> None: ...

class DeclineInvitationRequest(_message.Message):
    __slots__ = ("invitation_id",)
    INVITATION_ID_FIELD_NUMBER: _ClassVar[int]
    invitation_id: str
    def __init__(self, invitation_id: _Optional[str] = ...) -> None: ...

class DeclineInvitationResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
