"""AutonomousService: one turn for one user (RunTask), or the same turn for many users a few at a time
(RunTaskBatch), where each user's failure is that user's result and never fails the batch."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import grpc

from astra.v1 import autonomous_pb2, autonomous_pb2_grpc, common_pb2
from server.chat.reply import run_to_end
from server.chat.turn import TurnEngine, TurnRequest
from server.context import Principal
from server.deps import Deps
from server.errors import AstraError, DeadlineExceeded, InvalidArgument, NotFound, PermissionDenied

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S, MAX_TIMEOUT_S = 120, 900
MAX_BATCH_USERS = 100
DEFAULT_CONCURRENCY, MAX_CONCURRENCY = 5, 20
DEFAULT_SURFACE = "autonomous"


@dataclass(frozen=True)
class Task:
    agent_id: str
    workspace_id: str
    message: str
    surface: str
    timeout_s: int


def _timeout(seconds: int) -> int:
    if seconds < 0 or seconds > MAX_TIMEOUT_S:
        raise InvalidArgument(f"timeoutSeconds must be 1 to {MAX_TIMEOUT_S} (0 for the default {DEFAULT_TIMEOUT_S})")
    return seconds or DEFAULT_TIMEOUT_S


def _task(agent_id: str, workspace_id: str, message: str, surface: str, timeout_s: int) -> Task:
    if not agent_id:
        raise InvalidArgument("agentId is required")
    if not message.strip():
        raise InvalidArgument("message must not be empty")
    return Task(agent_id, workspace_id, message, surface or DEFAULT_SURFACE, _timeout(timeout_s))


class AutonomousService(autonomous_pb2_grpc.AutonomousServiceServicer):
    def __init__(self, deps: Deps):
        self.deps = deps
        self.engine = TurnEngine(deps, deps.providers, deps.tools)

    async def _principal(self, user_id: str, workspace_id: str) -> Principal:
        """The user acting in the workspace (their personal one when none is named), with their role there."""
        if not user_id:
            raise InvalidArgument("userId is required")
        async with self.deps.db.connection() as conn:
            cur = await conn.execute(
                "SELECT u.id, m.workspace_id, m.role FROM users u"
                " LEFT JOIN workspace_members m ON m.user_id = u.id"
                "  AND m.workspace_id = coalesce(%s, u.personal_workspace_id)"
                " WHERE u.id = %s",
                (workspace_id or None, user_id),
            )
            row = await cur.fetchone()
        if row is None:
            raise NotFound(f"user {user_id} not found")
        if row["role"] is None:
            raise PermissionDenied(f"user {user_id} is not a member of workspace {workspace_id or '(personal)'}")
        return Principal(user_id=user_id, workspace_id=row["workspace_id"], role=row["role"])

    async def _run(self, user_id: str, task: Task) -> autonomous_pb2.RunTaskResponse:
        principal = await self._principal(user_id, task.workspace_id)
        turn = TurnRequest(task.agent_id, task.message, task.surface)
        try:
            async with asyncio.timeout(task.timeout_s):
                return autonomous_pb2.RunTaskResponse(**await run_to_end(self.engine, principal, turn))
        except TimeoutError:
            raise DeadlineExceeded(f"the turn did not finish within {task.timeout_s} s") from None

    async def RunTask(
        self, request: autonomous_pb2.RunTaskRequest, context: grpc.aio.ServicerContext
    ) -> autonomous_pb2.RunTaskResponse:
        task = _task(request.agent_id, request.workspace_id, request.message, request.surface, request.timeout_seconds)
        return await self._run(request.user_id, task)

    async def _one(self, user_id: str, task: Task, slots: asyncio.Semaphore) -> autonomous_pb2.BatchTaskResult:
        async with slots:
            try:
                done = await self._run(user_id, task)
            except AstraError as exc:
                return autonomous_pb2.BatchTaskResult(
                    user_id=user_id, status="error", error_code=exc.code.name, error_message=exc.message
                )
            except Exception:  # one user's failure is that user's result; details go to the log only
                log.exception("autonomous batch turn failed", extra={"user_id": user_id})
                return autonomous_pb2.BatchTaskResult(
                    user_id=user_id, status="error", error_code="INTERNAL", error_message="internal error"
                )
        return autonomous_pb2.BatchTaskResult(
            user_id=user_id, status="ok", content=done.content, session_id=done.session_id, usage=done.usage
        )

    async def RunTaskBatch(
        self, request: autonomous_pb2.RunTaskBatchRequest, context: grpc.aio.ServicerContext
    ) -> autonomous_pb2.RunTaskBatchResponse:
        task = _task(request.agent_id, request.workspace_id, request.message, request.surface, request.timeout_seconds)
        user_ids = list(request.user_ids)
        if not 1 <= len(user_ids) <= MAX_BATCH_USERS:
            raise InvalidArgument(f"userIds must list 1 to {MAX_BATCH_USERS} users")
        if len(set(user_ids)) != len(user_ids):
            raise InvalidArgument("userIds must not repeat a user")
        concurrency = request.max_concurrency or DEFAULT_CONCURRENCY
        if not 1 <= concurrency <= MAX_CONCURRENCY:
            raise InvalidArgument(f"maxConcurrency must be 1 to {MAX_CONCURRENCY}")
        slots = asyncio.Semaphore(concurrency)
        results = await asyncio.gather(*(self._one(uid, task, slots) for uid in user_ids))
        usage = common_pb2.Usage()
        for r in results:
            usage.prompt_tokens += r.usage.prompt_tokens
            usage.completion_tokens += r.usage.completion_tokens
            usage.total_tokens += r.usage.total_tokens
            usage.cost_usd += r.usage.cost_usd
        succeeded = sum(1 for r in results if r.status == "ok")
        return autonomous_pb2.RunTaskBatchResponse(
            results=results, succeeded=succeeded, failed=len(results) - succeeded, usage=usage
        )
