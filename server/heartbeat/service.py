"""HeartbeatService: rss and http monitors (owner/admin write, members read) and their run history."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import json_format

from astra.v1 import heartbeat_pb2, heartbeat_pb2_grpc
from server.agents.resolve import resolve
from server.context import current_principal
from server.deps import Deps
from server.errors import InvalidArgument, NotFound
from server.heartbeat import store
from server.paging import after, keyset, page_limit
from server.timestamps import to_timestamp
from server.webhooks.validate import check_url
from server.workspaces.access import require_writer

TYPES, METHODS, RUN_STATUSES = ("rss", "http"), ("GET", "HEAD"), ("ok", "fired", "error")
DEFAULT_INTERVAL_S, DEFAULT_TIMEOUT_MS = 300, 10_000
MAX_KEYWORDS, MAX_PROMPT = 50, 4000


def heartbeat_message(row: dict[str, Any]) -> heartbeat_pb2.Heartbeat:
    return heartbeat_pb2.Heartbeat(
        id=row["id"],
        type=row["type"],
        url=row["url"],
        keywords=row["keywords"],
        method=row["method"] if row["type"] == "http" else "",
        expect_status=row["expect_status"] if row["type"] == "http" else 0,
        expect_contains=row["expect_contains"],
        timeout_ms=row["timeout_ms"],
        interval_seconds=row["interval_seconds"],
        agent_id=row["agent_id"],
        prompt=row["prompt"],
        enabled=row["enabled"],
        last_run_at=to_timestamp(row["last_run_at"]),
        next_run_at=to_timestamp(row["next_run_at"]),
        created_at=to_timestamp(row["created_at"]),
        updated_at=to_timestamp(row["updated_at"]),
    )


def run_message(row: dict[str, Any]) -> heartbeat_pb2.HeartbeatRun:
    return heartbeat_pb2.HeartbeatRun(
        id=row["id"],
        heartbeat_id=row["heartbeat_id"],
        started_at=to_timestamp(row["started_at"]),
        finished_at=to_timestamp(row["finished_at"]),
        status=row["status"],
        items=[
            json_format.ParseDict(i, heartbeat_pb2.HeartbeatItem(), ignore_unknown_fields=True) for i in row["items"]
        ],
        status_code=row["status_code"],
        error=row["error"],
        duration_ms=row["duration_ms"],
        session_id=row["session_id"],
    )


def _item(item: dict[str, Any]) -> heartbeat_pb2.HeartbeatItem:
    return json_format.ParseDict(item, heartbeat_pb2.HeartbeatItem(), ignore_unknown_fields=True)


class HeartbeatService(heartbeat_pb2_grpc.HeartbeatServiceServicer):
    def __init__(self, deps: Deps):
        self.deps = deps

    async def _check(self, request: heartbeat_pb2.CreateHeartbeatRequest) -> dict[str, Any]:
        if request.type not in TYPES:
            raise InvalidArgument("type must be rss or http")
        url = await check_url(request.url, self.deps.settings.allow_private_urls)
        keywords = [k.strip() for k in request.keywords if k.strip()]
        if len(keywords) > MAX_KEYWORDS or any(len(k) > 100 for k in keywords):
            raise InvalidArgument(f"keywords: at most {MAX_KEYWORDS}, each at most 100 characters")
        if keywords and request.type != "rss":
            raise InvalidArgument("keywords apply to rss heartbeats only")
        method = (request.method or "GET").upper()
        if method not in METHODS:
            raise InvalidArgument("method must be GET or HEAD")
        expect_status = request.expect_status or 200
        if not 100 <= expect_status <= 599:
            raise InvalidArgument("expectStatus must be an HTTP status (100 to 599)")
        if len(request.expect_contains) > 1000:
            raise InvalidArgument("expectContains must be at most 1000 characters")
        timeout_ms = request.timeout_ms or DEFAULT_TIMEOUT_MS
        if not 100 <= timeout_ms <= 30_000:
            raise InvalidArgument("timeoutMs must be 100 to 30000")
        minimum = self.deps.settings.heartbeat_min_interval_s
        interval = request.interval_seconds or max(DEFAULT_INTERVAL_S, minimum)
        if not minimum <= interval <= 7 * 86400:
            raise InvalidArgument(f"intervalSeconds must be {minimum} to 604800")
        if len(request.prompt) > MAX_PROMPT:
            raise InvalidArgument(f"prompt must be at most {MAX_PROMPT} characters")
        return {
            "type": request.type,
            "url": url,
            "keywords": keywords,
            "method": method,
            "expect_status": expect_status,
            "expect_contains": request.expect_contains,
            "timeout_ms": timeout_ms,
            "interval_seconds": interval,
            "agent_id": request.agent_id,
            "prompt": request.prompt,
            "enabled": request.enabled if request.HasField("enabled") else True,
        }

    async def ListHeartbeats(
        self, request: heartbeat_pb2.ListHeartbeatsRequest, context: grpc.aio.ServicerContext
    ) -> heartbeat_pb2.ListHeartbeatsResponse:
        principal = current_principal()
        limit = page_limit(request.limit)
        scope = f"heartbeats:{principal.workspace_id}:{request.agent_id}"
        cursor = self.deps.pages.decode(scope, request.page_token)
        async with self.deps.db.connection() as conn:
            rows = await store.list_page(
                conn,
                principal.workspace_id,
                request.agent_id,
                after(cursor),
                limit + 1,
            )
        rows, token = self.deps.pages.page(scope, rows, limit, keyset("created_at"))
        return heartbeat_pb2.ListHeartbeatsResponse(
            heartbeats=[heartbeat_message(r) for r in rows], next_page_token=token
        )

    async def CreateHeartbeat(
        self, request: heartbeat_pb2.CreateHeartbeatRequest, context: grpc.aio.ServicerContext
    ) -> heartbeat_pb2.CreateHeartbeatResponse:
        principal = current_principal()
        require_writer(principal.role, "create heartbeats")
        fields = await self._check(request)
        async with self.deps.db.transaction() as conn:
            if fields["agent_id"]:
                await resolve(conn, principal.workspace_id, fields["agent_id"])  # NOT_FOUND / denied as in chat
            # Made with a personal API key, its runs act on the key's authority (server/heartbeat/runner.py).
            row = await store.create(conn, principal.workspace_id, principal.user_id, principal.api_key_id, fields)
        return heartbeat_pb2.CreateHeartbeatResponse(heartbeat=heartbeat_message(row))

    async def ListHeartbeatRuns(
        self, request: heartbeat_pb2.ListHeartbeatRunsRequest, context: grpc.aio.ServicerContext
    ) -> heartbeat_pb2.ListHeartbeatRunsResponse:
        principal = current_principal()
        limit = page_limit(request.limit)
        if request.status and request.status not in RUN_STATUSES:
            raise InvalidArgument(f"status must be one of {', '.join(RUN_STATUSES)}")
        scope = f"heartbeat-runs:{request.heartbeat_id}:{request.status}"
        cursor = self.deps.pages.decode(scope, request.page_token)
        async with self.deps.db.connection() as conn:
            if await store.get(conn, principal.workspace_id, request.heartbeat_id) is None:
                raise NotFound(f"heartbeat {request.heartbeat_id} not found")
            rows = await store.runs_page(conn, request.heartbeat_id, request.status, after(cursor), limit + 1)
        rows, token = self.deps.pages.page(scope, rows, limit, keyset("started_at"))
        return heartbeat_pb2.ListHeartbeatRunsResponse(runs=[run_message(r) for r in rows], next_page_token=token)

    async def UpdateHeartbeat(
        self, request: heartbeat_pb2.UpdateHeartbeatRequest, context: grpc.aio.ServicerContext
    ) -> heartbeat_pb2.UpdateHeartbeatResponse:
        principal = current_principal()
        require_writer(principal.role, "change heartbeats")
        async with self.deps.db.transaction() as conn:
            if request.HasField("enabled"):
                row = await store.set_enabled(
                    conn, principal.workspace_id, request.heartbeat_id, request.enabled, principal.api_key_id
                )
            else:
                row = await store.get(conn, principal.workspace_id, request.heartbeat_id)
            if row is None:
                raise NotFound(f"heartbeat {request.heartbeat_id} not found")
        return heartbeat_pb2.UpdateHeartbeatResponse(heartbeat=heartbeat_message(row))

    async def DeleteHeartbeat(
        self, request: heartbeat_pb2.DeleteHeartbeatRequest, context: grpc.aio.ServicerContext
    ) -> heartbeat_pb2.DeleteHeartbeatResponse:
        principal = current_principal()
        require_writer(principal.role, "delete heartbeats")
        async with self.deps.db.transaction() as conn:
            if not await store.delete(conn, principal.workspace_id, request.heartbeat_id):
                raise NotFound(f"heartbeat {request.heartbeat_id} not found")
        return heartbeat_pb2.DeleteHeartbeatResponse()
