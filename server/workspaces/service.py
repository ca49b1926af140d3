"""WorkspacesService: workspaces, members and invitations, settings, restrictions, grants and stats."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf import struct_pb2

from astra.v1 import common_pb2, workspaces_pb2, workspaces_pb2_grpc
from contract.metadata import http_status_trailer
from server.audit.log import record
from server.context import current_principal
from server.deps import Deps
from server.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from server.interceptors.base import add_trailers
from server.paging import after, keyset, page_limit
from server.restrictions import PROVIDERS, split_model
from server.timestamps import to_timestamp
from server.workspaces import invitations, store
from server.workspaces.access import ROLES, require_member, require_writer
from server.workspaces.messages import workspace_message
from server.workspaces.validate import check_settings, check_workspace_spec

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")  # as at registration
_USER_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")  # never an @: an invitation's key holds an email or a user id


def _invitee(request: workspaces_pb2.AddWorkspaceMemberRequest) -> tuple[str | None, str | None]:
    """(lower-cased email, None) or (None, user id), checked for form only: whether an account has it is not
    something the answer may depend on."""
    kind = request.WhichOneof("invitee")
    if kind == "email":
        email = request.email.strip().lower()
        if len(email) > 254 or not _EMAIL.match(email):
            raise InvalidArgument("email must be a valid address such as user@example.com")
        return email, None
    if kind == "user_id":
        if not _USER_ID.match(request.user_id):
            raise InvalidArgument("userId must be 1 to 128 letters, digits, '_' or '-'")
        return None, request.user_id
    raise InvalidArgument("userId or email is required")


def _member_message(row: dict[str, Any]) -> workspaces_pb2.WorkspaceMember:
    return workspaces_pb2.WorkspaceMember(
        user_id=row["user_id"],
        email=row["email"],
        display_name=row["display_name"],
        role=row["role"],
        joined_at=to_timestamp(row["joined_at"]),
    )


def _grant_message(row: dict[str, Any]) -> workspaces_pb2.AgentGrant:
    return workspaces_pb2.AgentGrant(
        granting_workspace_id=row["granting_workspace_id"],
        receiving_workspace_id=row["receiving_workspace_id"],
        agent_id=row["agent_id"],
        readonly=row["readonly"],
        expires_at=to_timestamp(row["expires_at"]),
        created_at=to_timestamp(row["created_at"]),
    )


def _string_list(value: struct_pb2.ListValue, field: str, check: Any) -> list[str]:
    items = list(value)
    if not items:
        raise InvalidArgument(f"{field} must not be empty (send null to remove the restriction)")
    if not all(isinstance(v, str) and v for v in items):
        raise InvalidArgument(f"{field} must be a list of non-empty strings")
    for item in items:
        check(item)
    return sorted(set(items))


def _check_provider(name: str) -> None:
    if name not in PROVIDERS:
        raise InvalidArgument(f"allowedProviders: unknown provider {name!r} (known: {', '.join(PROVIDERS)})")


class WorkspacesService(workspaces_pb2_grpc.WorkspacesServiceServicer):
    def __init__(self, deps: Deps):
        self.deps = deps

    async def _workspace(self, conn: Any, workspace_id: str, user_id: str) -> common_pb2.Workspace:
        row = await store.get_workspace(conn, workspace_id, user_id)
        if row is None:
            raise NotFound(f"workspace {workspace_id} not found")
        return workspace_message(row)

    async def CreateWorkspace(
        self, request: workspaces_pb2.CreateWorkspaceRequest, context: grpc.aio.ServicerContext
    ) -> workspaces_pb2.CreateWorkspaceResponse:
        user_id = current_principal().user_id
        name, plan = check_workspace_spec(request.name, request.plan)
        settings = check_settings(request.settings)
        async with self.deps.db.transaction() as conn:
            workspace_id = await store.create_workspace(conn, name, plan, settings, user_id)
            await record(
                conn,
                actor=user_id,
                action="workspace.create",
                target_user_id=user_id,
                workspace_id=workspace_id,
                details={"name": name, "plan": plan},
                target=workspace_id,
            )
            workspace = await self._workspace(conn, workspace_id, user_id)
        return workspaces_pb2.CreateWorkspaceResponse(workspace=workspace)

    async def ListWorkspaces(
        self, request: workspaces_pb2.ListWorkspacesRequest, context: grpc.aio.ServicerContext
    ) -> workspaces_pb2.ListWorkspacesResponse:
        user_id = current_principal().user_id
        limit = page_limit(request.limit)
        scope = f"workspaces:{user_id}"
        cursor = self.deps.pages.decode(scope, request.page_token)
        async with self.deps.db.connection() as conn:
            rows = await store.list_workspaces(conn, user_id, after(cursor), limit + 1)
        rows, token = self.deps.pages.page(scope, rows, limit, keyset("created_at"))
        return workspaces_pb2.ListWorkspacesResponse(
            workspaces=[workspace_message(r) for r in rows], next_page_token=token
        )

    async def GetWorkspace(
        self, request: workspaces_pb2.GetWorkspaceRequest, context: grpc.aio.ServicerContext
    ) -> workspaces_pb2.GetWorkspaceResponse:
        user_id = current_principal().user_id
        async with self.deps.db.connection() as conn:
            workspace = await self._workspace(conn, request.workspace_id, user_id)
            members = await store.members(conn, request.workspace_id)
            given = await store.grants(conn, request.workspace_id, "granting_workspace_id")
            received = await store.grants(conn, request.workspace_id, "receiving_workspace_id")
        return workspaces_pb2.GetWorkspaceResponse(
            workspace=workspace,
            members=[_member_message(m) for m in members],
            grants_given=[_grant_message(g) for g in given],
            grants_received=[_grant_message(g) for g in received],
        )

    async def UpdateWorkspaceSettings(
        self, request: workspaces_pb2.UpdateWorkspaceSettingsRequest, context: grpc.aio.ServicerContext
    ) -> workspaces_pb2.UpdateWorkspaceSettingsResponse:
        user_id = current_principal().user_id
        settings = check_settings(request.settings)
        async with self.deps.db.transaction() as conn:
            require_writer(await require_member(conn, request.workspace_id, user_id), "change workspace settings")
            await store.update_settings(conn, request.workspace_id, settings)
            await record(
                conn,
                actor=user_id,
                action="workspace.settings",
                target_user_id=user_id,
                workspace_id=request.workspace_id,
                details={"settings": settings},
                target=request.workspace_id,
            )
            workspace = await self._workspace(conn, request.workspace_id, user_id)
        self.deps.workspace_views.forget(request.workspace_id)
        return workspaces_pb2.UpdateWorkspaceSettingsResponse(workspace=workspace)

    async def AddWorkspaceMember(
        self, request: workspaces_pb2.AddWorkspaceMemberRequest, context: grpc.aio.ServicerContext
    ) -> workspaces_pb2.AddWorkspaceMemberResponse:
        """A member's new role (200), or an invitation for anyone else (202). For a registered non-member and an
        unknown address alike: one lookup, one upsert, one audit entry, and the same answer."""
        user_id = current_principal().user_id
        role = request.role or "member"
        if role not in ROLES:
            raise InvalidArgument(f"role must be one of {', '.join(ROLES)}")
        email, invitee_id = _invitee(request)
        async with self.deps.db.transaction() as conn:
            # Roles are read under the lock, so a concurrent demotion of the caller is seen.
            roles = await store.lock_members(conn, request.workspace_id)
            caller_role = roles.get(user_id)
            if caller_role is None:
                raise NotFound(f"workspace {request.workspace_id} not found")
            require_writer(caller_role, "add members")
            account = await store.find_user(conn, invitee_id or "", email or "")
            current = roles.get(account["id"]) if account else None
            if caller_role != "owner" and "owner" in (role, current):
                raise PermissionDenied("only owners may make or change owners")
            if current is None:
                invitation = await invitations.upsert(
                    conn, request.workspace_id, email, invitee_id, role, user_id, caller_role == "owner"
                )
                if invitation is None:
                    raise PermissionDenied("only owners may make or change owners")
                await record(
                    conn,
                    actor=user_id,
                    action="invitation.create",
                    # On the invitee's trail when they have an account (the audit log is for operators only).
                    target_user_id=account["id"] if account else None,
                    workspace_id=request.workspace_id,
                    details={"role": role, "email": email, "userId": invitee_id},
                    target=invitation["id"],
                )
            else:
                if current == "owner" and role != "owner" and list(roles.values()).count("owner") == 1:
                    raise FailedPrecondition("the last owner cannot be demoted; make another member owner first")
                member = await store.upsert_member(conn, request.workspace_id, account["id"], role)
                await record(
                    conn,
                    actor=user_id,
                    action="member.add",
                    target_user_id=account["id"],
                    workspace_id=request.workspace_id,
                    details={"role": role, "previousRole": current},
                    target=account["id"],
                )
        if current is None:
            add_trailers(context, http_status_trailer(202))  # the edge answers 202 Accepted (success_statuses)
            return workspaces_pb2.AddWorkspaceMemberResponse(invitation=invitations.message(invitation))
        self.deps.memberships.forget(account["id"])
        return workspaces_pb2.AddWorkspaceMemberResponse(member=_member_message(member))

    async def RemoveWorkspaceMember(
        self, request: workspaces_pb2.RemoveWorkspaceMemberRequest, context: grpc.aio.ServicerContext
    ) -> workspaces_pb2.RemoveWorkspaceMemberResponse:
        user_id = current_principal().user_id
        async with self.deps.db.transaction() as conn:
            roles = await store.lock_members(conn, request.workspace_id)
            caller_role = roles.get(user_id)
            if caller_role is None:
                raise NotFound(f"workspace {request.workspace_id} not found")
            if request.user_id != user_id:  # anyone may leave; removing others takes owner or admin
                require_writer(caller_role, "remove members")
            target = roles.get(request.user_id)
            if target is None:
                raise NotFound(f"user {request.user_id} is not a member of this workspace")
            if target == "owner" and caller_role != "owner":
                raise PermissionDenied("only owners may remove owners")
            if target == "owner" and list(roles.values()).count("owner") == 1:
                raise FailedPrecondition("the last owner cannot be removed")
            await store.remove_member(conn, request.workspace_id, request.user_id)
            await record(
                conn,
                actor=user_id,
                action="member.remove",
                target_user_id=request.user_id,
                workspace_id=request.workspace_id,
                details={"role": target},
                target=request.user_id,
            )
        self.deps.memberships.forget(request.user_id)
        return workspaces_pb2.RemoveWorkspaceMemberResponse()

    async def GetWorkspaceStats(
        self, request: workspaces_pb2.GetWorkspaceStatsRequest, context: grpc.aio.ServicerContext
    ) -> workspaces_pb2.GetWorkspaceStatsResponse:
        user_id = current_principal().user_id
        days = request.days if request.HasField("days") else 30
        if not 1 <= days <= 365:
            raise InvalidArgument("days must be 1 to 365")
        async with self.deps.db.connection() as conn:
            await require_member(conn, request.workspace_id, user_id)
            stats = await store.stats(conn, request.workspace_id, days)
        return workspaces_pb2.GetWorkspaceStatsResponse(
            workspace_id=request.workspace_id,
            days=days,
            window_start=to_timestamp(stats["window_start"]),
            window_end=to_timestamp(stats["window_end"]),
            sessions_total=stats["sessions_total"],
            sessions_active=stats["sessions_active"],
            messages_total=stats["messages_total"],
            prompt_tokens=stats["prompt_tokens"],
            completion_tokens=stats["completion_tokens"],
            total_tokens=stats["prompt_tokens"] + stats["completion_tokens"],
            cost_usd=float(stats["cost_usd"]),
            top_agents=[
                workspaces_pb2.AgentUsageStat(
                    agent_id=a["agent_id"],
                    sessions=a["sessions"],
                    messages=int(a["messages"]),
                    total_tokens=int(a["total_tokens"]),
                    cost_usd=float(a["cost_usd"]),
                )
                for a in stats["top_agents"]
            ],
            top_tools=[
                workspaces_pb2.ToolUsageStat(
                    tool=t["tool"], calls=t["calls"], errors=t["errors"], avg_duration_ms=float(t["avg_duration_ms"])
                )
                for t in stats["top_tools"]
            ],
            active_users=stats["active_users"],
        )

    async def SetWorkspaceRestrictions(
        self, request: workspaces_pb2.SetWorkspaceRestrictionsRequest, context: grpc.aio.ServicerContext
    ) -> workspaces_pb2.SetWorkspaceRestrictionsResponse:
        user_id = current_principal().user_id
        restrictions = request.restrictions
        providers = (
            _string_list(restrictions.allowed_providers, "allowedProviders", _check_provider)
            if restrictions.HasField("allowed_providers")
            else None
        )
        models = (
            _string_list(restrictions.allowed_models, "allowedModels", lambda m: split_model(m, "allowedModels"))
            if restrictions.HasField("allowed_models")
            else None
        )
        async with self.deps.db.transaction() as conn:
            require_writer(await require_member(conn, request.workspace_id, user_id), "set restrictions")
            await store.set_restrictions(conn, request.workspace_id, providers, models)
            await record(
                conn,
                actor=user_id,
                action="restrictions.set",
                target_user_id=user_id,
                workspace_id=request.workspace_id,
                details={"allowedProviders": providers, "allowedModels": models},
                target=request.workspace_id,
            )
            workspace = await self._workspace(conn, request.workspace_id, user_id)
        self.deps.workspace_views.forget(request.workspace_id)
        return workspaces_pb2.SetWorkspaceRestrictionsResponse(workspace=workspace)

    async def CreateAgentGrant(
        self, request: workspaces_pb2.CreateAgentGrantRequest, context: grpc.aio.ServicerContext
    ) -> workspaces_pb2.CreateAgentGrantResponse:
        user_id = current_principal().user_id
        if not request.receiving_workspace_id or not request.agent_id:
            raise InvalidArgument("receivingWorkspaceId and agentId are required")
        if request.receiving_workspace_id == request.workspace_id:
            raise InvalidArgument("a workspace cannot grant an agent to itself")
        expires_at = request.expires_at.ToDatetime(UTC) if request.HasField("expires_at") else None
        if expires_at is not None and expires_at <= datetime.now(UTC):
            raise InvalidArgument("expiresAt must be in the future")
        async with self.deps.db.transaction() as conn:
            require_writer(await require_member(conn, request.workspace_id, user_id), "grant agents")
            exists, owner = await store.agent_owner(conn, request.agent_id)
            if not exists:
                raise NotFound(f"agent {request.agent_id} not found")
            if owner != request.workspace_id:
                raise PermissionDenied(f"agent {request.agent_id} is not owned by this workspace")
            if not await store.workspace_exists(conn, request.receiving_workspace_id):
                raise NotFound(f"workspace {request.receiving_workspace_id} not found")
            grant = await store.upsert_grant(
                conn,
                request.workspace_id,
                request.receiving_workspace_id,
                request.agent_id,
                request.readonly,
                expires_at,
                user_id,
            )
            await record(
                conn,
                actor=user_id,
                action="grant.create",
                target_user_id=user_id,
                workspace_id=request.workspace_id,
                details={
                    "agentId": request.agent_id,
                    "receivingWorkspaceId": request.receiving_workspace_id,
                    "readonly": request.readonly,
                    "expiresAt": expires_at.isoformat() if expires_at else None,
                },
                target=request.agent_id,
            )
        self.deps.visible_agents.forget(request.agent_id)
        return workspaces_pb2.CreateAgentGrantResponse(grant=_grant_message(grant))

    async def RevokeAgentGrant(
        self, request: workspaces_pb2.RevokeAgentGrantRequest, context: grpc.aio.ServicerContext
    ) -> workspaces_pb2.RevokeAgentGrantResponse:
        user_id = current_principal().user_id
        if not request.receiving_workspace_id or not request.agent_id:
            raise InvalidArgument("receivingWorkspaceId and agentId are required")
        async with self.deps.db.transaction() as conn:
            require_writer(await require_member(conn, request.workspace_id, user_id), "revoke grants")
            found = await store.delete_grant(
                conn, request.workspace_id, request.receiving_workspace_id, request.agent_id
            )
            if found:
                await record(
                    conn,
                    actor=user_id,
                    action="grant.revoke",
                    target_user_id=user_id,
                    workspace_id=request.workspace_id,
                    details={"agentId": request.agent_id, "receivingWorkspaceId": request.receiving_workspace_id},
                    target=request.agent_id,
                )
        if not found:
            raise NotFound("no such grant")
        self.deps.visible_agents.forget(request.agent_id)
        return workspaces_pb2.RevokeAgentGrantResponse()

    async def ListWorkspaceInvitations(
        self, request: workspaces_pb2.ListWorkspaceInvitationsRequest, context: grpc.aio.ServicerContext
    ) -> workspaces_pb2.ListWorkspaceInvitationsResponse:
        user_id = current_principal().user_id
        limit = page_limit(request.limit)
        scope = f"invitations:workspace:{request.workspace_id}"
        cursor = self.deps.pages.decode(scope, request.page_token)
        async with self.deps.db.connection() as conn:
            require_writer(await require_member(conn, request.workspace_id, user_id), "list invitations")
            rows = await invitations.of_workspace(conn, request.workspace_id, after(cursor), limit + 1)
        rows, token = self.deps.pages.page(scope, rows, limit, keyset("created_at"))
        return workspaces_pb2.ListWorkspaceInvitationsResponse(
            invitations=[invitations.message(r, invitee=True) for r in rows], next_page_token=token
        )

    async def RevokeWorkspaceInvitation(
        self, request: workspaces_pb2.RevokeWorkspaceInvitationRequest, context: grpc.aio.ServicerContext
    ) -> workspaces_pb2.RevokeWorkspaceInvitationResponse:
        user_id = current_principal().user_id
        async with self.deps.db.transaction() as conn:
            caller_role = await require_member(conn, request.workspace_id, user_id)
            require_writer(caller_role, "revoke invitations")
            invitation = await invitations.lock_pending(conn, request.workspace_id, request.invitation_id)
            if invitation is None:
                raise NotFound(f"no pending invitation {request.invitation_id} in this workspace")
            if invitation["role"] == "owner" and caller_role != "owner":
                raise PermissionDenied("only owners may revoke an invitation to become owner")
            await invitations.close(conn, invitation["id"], "revoked")
            await record(
                conn,
                actor=user_id,
                action="invitation.revoke",
                target_user_id=user_id,
                workspace_id=request.workspace_id,
                details={"role": invitation["role"]},
                target=invitation["id"],
            )
        return workspaces_pb2.RevokeWorkspaceInvitationResponse()

    async def ListInvitations(
        self, request: workspaces_pb2.ListInvitationsRequest, context: grpc.aio.ServicerContext
    ) -> workspaces_pb2.ListInvitationsResponse:
        user_id = current_principal().user_id
        limit = page_limit(request.limit)
        scope = f"invitations:user:{user_id}"
        cursor = self.deps.pages.decode(scope, request.page_token)
        async with self.deps.db.connection() as conn:
            rows = await invitations.of_user(conn, user_id, after(cursor), limit + 1)
        rows, token = self.deps.pages.page(scope, rows, limit, keyset("created_at"))
        return workspaces_pb2.ListInvitationsResponse(
            invitations=[invitations.message(r, workspace_name=True) for r in rows], next_page_token=token
        )

    async def _respond(self, conn: Any, invitation_id: str, user_id: str, accept: bool) -> dict[str, Any]:
        """The caller's own pending invitation, locked; NOT_FOUND for anyone else's, so ids cannot be probed."""
        invitation = await invitations.lock_addressed(conn, invitation_id, user_id)
        if invitation is None:
            raise NotFound(f"invitation {invitation_id} not found")
        if invitation["status"] == "expired" and accept:
            raise FailedPrecondition("this invitation has expired; ask for a new one")
        if invitation["status"] not in ("pending", "expired"):
            raise FailedPrecondition(f"this invitation was already {invitation['status']}")
        return invitation

    async def AcceptInvitation(
        self, request: workspaces_pb2.AcceptInvitationRequest, context: grpc.aio.ServicerContext
    ) -> workspaces_pb2.AcceptInvitationResponse:
        user_id = current_principal().user_id
        async with self.deps.db.transaction() as conn:
            invitation = await self._respond(conn, request.invitation_id, user_id, accept=True)
            workspace_id = invitation["workspace_id"]
            # Already a member (invited twice, by email and by id): the role stays; role changes are the admins'.
            joined = await invitations.join(conn, workspace_id, user_id, invitation["role"])
            await invitations.close(conn, invitation["id"], "accepted")
            await record(
                conn,
                actor=user_id,
                action="invitation.accept",
                target_user_id=user_id,
                workspace_id=workspace_id,
                details={"role": invitation["role"], "invitedBy": invitation["invited_by"], "joined": joined},
                target=invitation["id"],
            )
            workspace = await self._workspace(conn, workspace_id, user_id)
        # A new membership needs no notice to other replicas: their caches keep only rows that grant a role.
        self.deps.memberships.forget(user_id)
        return workspaces_pb2.AcceptInvitationResponse(workspace=workspace)

    async def DeclineInvitation(
        self, request: workspaces_pb2.DeclineInvitationRequest, context: grpc.aio.ServicerContext
    ) -> workspaces_pb2.DeclineInvitationResponse:
        user_id = current_principal().user_id
        async with self.deps.db.transaction() as conn:
            invitation = await self._respond(conn, request.invitation_id, user_id, accept=False)
            await invitations.close(conn, invitation["id"], "declined")
            await record(
                conn,
                actor=user_id,
                action="invitation.decline",
                target_user_id=user_id,
                workspace_id=invitation["workspace_id"],
                details={"role": invitation["role"], "invitedBy": invitation["invited_by"]},
                target=invitation["id"],
            )
        return workspaces_pb2.DeclineInvitationResponse()
