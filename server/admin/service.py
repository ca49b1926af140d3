"""AdminService: process health, every agent, per-user usage, sessions and audit trail. Every call is itself
recorded in the audit log (actor "api-key")."""

from __future__ import annotations

import logging
import socket
import time
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf import struct_pb2

from astra.v1 import admin_pb2, admin_pb2_grpc
from server import __version__
from server.admin import store
from server.agents.resolve import agent_message
from server.audit.log import API_KEY_ACTOR, record
from server.deps import Deps
from server.diagnostics.checks import event_loop_lag_ms, rss_bytes
from server.errors import InvalidArgument, NotFound
from server.metrics import GRPC_IN_FLIGHT
from server.paging import after, keyset, page_limit
from server.sessions.messages import session_message
from server.system.sockets import open_sockets
from server.timestamps import to_timestamp

log = logging.getLogger(__name__)

# Methods whose in-flight calls are agent turns.
_TURN_METHODS = ("/astra.v1.ChatService/Chat", "/astra.v1.ChatService/ChatStream", "/astra.v1.AutonomousService/")


def _gauge_total(gauge: Any, match: tuple[str, ...] = ()) -> float:
    total = 0.0
    for metric in gauge.collect():
        for sample in metric.samples:
            method = sample.labels.get("method", "")
            if not match or any(method.startswith(m) for m in match):
                total += sample.value
    return total


def _audit_message(row: dict[str, Any]) -> admin_pb2.AuditEntry:
    details = struct_pb2.Struct()
    details.update(row["details"] or {})
    return admin_pb2.AuditEntry(
        id=str(row["id"]),
        at=to_timestamp(row["at"]),
        actor=row["actor"],
        action=row["action"],
        target=row["target"],
        workspace_id=row["workspace_id"] or "",
        request_id=row["request_id"],
        details=details,
        hash=row["hash"],
        prev_hash=row["prev_hash"],
        target_user_id=row["target_user_id"] or "",
    )


def _bucket(row: dict[str, Any]) -> admin_pb2.UsageBucket:
    return admin_pb2.UsageBucket(
        key=row["key"],
        prompt_tokens=row["prompt_tokens"],
        completion_tokens=row["completion_tokens"],
        total_tokens=row["prompt_tokens"] + row["completion_tokens"],
        cost_usd=float(row["cost_usd"]),
        requests=row["requests"],
    )


class AdminService(admin_pb2_grpc.AdminServiceServicer):
    def __init__(self, deps: Deps):
        self.deps = deps

    async def _audit(self, conn: Any, call: str, user_id: str | None = None, **details: Any) -> None:
        await record(
            conn,
            actor=API_KEY_ACTOR,
            action=f"admin.{call}",
            target_user_id=user_id,
            workspace_id=None,
            details=details,
            target=user_id or "",
        )

    async def _known_user(self, conn: Any, user_id: str) -> None:
        if not user_id:
            raise InvalidArgument("user_id is required")
        if not await store.user_exists(conn, user_id):
            raise NotFound(f"user {user_id} not found")

    async def GetServerHealth(
        self, request: admin_pb2.GetServerHealthRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.GetServerHealthResponse:
        started_at = self.deps.health.started_at
        stats = self.deps.db.pool.get_stats()
        size, idle = stats.get("pool_size", 0), stats.get("pool_available", 0)
        response = admin_pb2.GetServerHealthResponse(
            version=__version__,
            instance=socket.gethostname(),
            started_at=to_timestamp(datetime.fromtimestamp(started_at, UTC)),
            uptime_seconds=round(time.time() - started_at, 3),
            rss_bytes=rss_bytes(),
            event_loop_lag_ms=await event_loop_lag_ms(),
            turns_in_flight=int(_gauge_total(GRPC_IN_FLIGHT, _TURN_METHODS)),
            db_pool=admin_pb2.DbPoolStats(
                size=size,
                max_size=stats.get("pool_max", 0),
                idle=idle,
                in_use=max(0, size - idle),
                waiting=stats.get("requests_waiting", 0),
            ),
        )
        # Process figures above stay available while the database is down; what needs it is best effort.
        try:
            async with self.deps.db.transaction() as conn:
                response.active_sessions = await store.active_sessions(conn)
                # Every edge's, as the edges report them (server/system/sockets.py).
                response.websocket_connections = await open_sockets(conn)
                await self._audit(conn, "health")
        except Exception as exc:
            log.warning("admin health without database figures", extra={"error": str(exc)})
        return response

    async def ListAllAgents(
        self, request: admin_pb2.ListAllAgentsRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.ListAllAgentsResponse:
        limit = page_limit(request.limit)
        scope = f"admin-agents:{request.workspace_id}"
        cursor = self.deps.pages.decode(scope, request.page_token)
        async with self.deps.db.transaction() as conn:
            rows = await store.list_agents(conn, request.workspace_id, cursor["id"] if cursor else "", limit + 1)
            await self._audit(conn, "list_agents", workspaceId=request.workspace_id)
        rows, token = self.deps.pages.page(scope, rows, limit, lambda last: {"id": last["id"]})
        return admin_pb2.ListAllAgentsResponse(agents=[agent_message(r) for r in rows], next_page_token=token)

    async def GetUserUsage(
        self, request: admin_pb2.GetUserUsageRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.GetUserUsageResponse:
        days = request.days or 30
        if not 1 <= days <= 365:
            raise InvalidArgument("days must be 1 to 365")
        async with self.deps.db.transaction() as conn:
            await self._known_user(conn, request.user_id)
            usage = await store.usage(conn, request.user_id, days)
            await self._audit(conn, "usage", request.user_id, days=days)
        by_day = [_bucket(r) for r in usage["by_day"]]
        response = admin_pb2.GetUserUsageResponse(
            user_id=request.user_id, days=days, by_day=by_day, by_model=[_bucket(r) for r in usage["by_model"]]
        )
        response.prompt_tokens = sum(b.prompt_tokens for b in by_day)
        response.completion_tokens = sum(b.completion_tokens for b in by_day)
        response.total_tokens = response.prompt_tokens + response.completion_tokens
        response.cost_usd = round(sum(float(r["cost_usd"]) for r in usage["by_day"]), 6)
        return response

    async def ListUserSessions(
        self, request: admin_pb2.ListUserSessionsRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.ListUserSessionsResponse:
        limit = page_limit(request.limit)
        scope = f"admin-sessions:{request.user_id}"
        cursor = self.deps.pages.decode(scope, request.page_token)
        async with self.deps.db.transaction() as conn:
            await self._known_user(conn, request.user_id)
            rows = await store.user_sessions(conn, request.user_id, after(cursor), limit + 1)
            await self._audit(conn, "sessions", request.user_id)
        rows, token = self.deps.pages.page(scope, rows, limit, keyset("last_activity_at"))
        return admin_pb2.ListUserSessionsResponse(sessions=[session_message(r) for r in rows], next_page_token=token)

    async def ListAuditEntries(
        self, request: admin_pb2.ListAuditEntriesRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.ListAuditEntriesResponse:
        limit = page_limit(request.limit)
        scope = f"admin-audit:{request.user_id}"
        cursor = self.deps.pages.decode(scope, request.page_token)
        async with self.deps.db.transaction() as conn:
            await self._known_user(conn, request.user_id)
            # Read before this call's own entry is added: the answer shows the trail as it was asked about.
            rows = await store.audit_entries(conn, request.user_id, cursor["id"] if cursor else None, limit + 1)
            await self._audit(conn, "audit", request.user_id)
        rows, token = self.deps.pages.page(scope, rows, limit, lambda last: {"id": last["id"]})
        return admin_pb2.ListAuditEntriesResponse(entries=[_audit_message(r) for r in rows], next_page_token=token)
