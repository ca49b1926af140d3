"""DiagnosticsService: a full run of the 12 checks, a quick connectivity run, and the last 10 stored runs."""

from __future__ import annotations

import logging
from contextlib import AbstractAsyncContextManager

import grpc
from google.protobuf import json_format
from psycopg import AsyncConnection

from astra.v1 import diagnostics_pb2, diagnostics_pb2_grpc
from server.deps import Deps
from server.diagnostics import checks, store
from server.ids import new_id
from server.timestamps import to_timestamp

log = logging.getLogger(__name__)

HISTORY = 10


def run_message(run_id: str, run: checks.Run) -> diagnostics_pb2.DiagnosticRun:
    return diagnostics_pb2.DiagnosticRun(
        id=run_id,
        kind=run.kind,
        status=run.status,
        started_at=to_timestamp(run.started_at),
        duration_ms=run.duration_ms,
        checks=[
            diagnostics_pb2.DiagnosticCheck(
                id=r.id, category=r.category, status=r.status, duration_ms=r.duration_ms, detail=r.detail
            )
            for r in run.results
        ],
        summary=diagnostics_pb2.DiagnosticSummary(
            total=len(run.results),
            passed=run.count(checks.PASS),
            warned=run.count(checks.WARN),
            failed=run.count(checks.FAIL),
        ),
    )


class DiagnosticsService(diagnostics_pb2_grpc.DiagnosticsServiceServicer):
    def __init__(self, deps: Deps):
        self.deps = deps

    def _env(self) -> checks.Env:
        settings = self.deps.settings

        def connection() -> AbstractAsyncContextManager[AsyncConnection]:
            # Fails fast with UNAVAILABLE while the health probe sees the database down.
            return self.deps.db.connection()

        return checks.Env(
            settings=settings,
            connection=connection,
            generated_secret=settings.embedded_db and (settings.data_dir / "jwt_secret").exists(),
            breaker_states={name: b.state for name, b in self.deps.providers.breakers.items()},
        )

    async def _run(self, quick: bool) -> diagnostics_pb2.DiagnosticRun:
        run = await checks.run_all(self._env(), quick=quick)
        message = run_message(new_id("diag"), run)
        try:
            async with self.deps.db.transaction() as conn:
                await store.save_run(
                    conn, message.id, run.kind, run.status, run.started_at, json_format.MessageToDict(message)
                )
        except Exception:  # the report matters more than its history, above all when the database is what failed
            log.warning("diagnostic run not stored", exc_info=True)
        return message

    async def RunDiagnostics(
        self, request: diagnostics_pb2.RunDiagnosticsRequest, context: grpc.aio.ServicerContext
    ) -> diagnostics_pb2.RunDiagnosticsResponse:
        return diagnostics_pb2.RunDiagnosticsResponse(run=await self._run(quick=False))

    async def RunQuickDiagnostics(
        self, request: diagnostics_pb2.RunQuickDiagnosticsRequest, context: grpc.aio.ServicerContext
    ) -> diagnostics_pb2.RunQuickDiagnosticsResponse:
        return diagnostics_pb2.RunQuickDiagnosticsResponse(run=await self._run(quick=True))

    async def ListDiagnosticRuns(
        self, request: diagnostics_pb2.ListDiagnosticRunsRequest, context: grpc.aio.ServicerContext
    ) -> diagnostics_pb2.ListDiagnosticRunsResponse:
        async with self.deps.db.connection() as conn:
            runs = await store.recent_runs(conn, HISTORY)
        return diagnostics_pb2.ListDiagnosticRunsResponse(
            runs=[json_format.ParseDict(r, diagnostics_pb2.DiagnosticRun(), ignore_unknown_fields=True) for r in runs]
        )
