"""MemoryService: the caller's daily memory, profile, strategic notes and hybrid search in the current workspace."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import grpc
from google.protobuf import json_format, struct_pb2

from astra.v1 import memory_pb2, memory_pb2_grpc
from server.context import current_principal
from server.deps import Deps
from server.errors import InvalidArgument, NotFound
from server.memory import store
from server.memory.search import TIERS, embedder_for, search
from server.memory.writes import (
    MAX_PROFILE_BYTES,
    MemoryInputError,
    has_nul,
    merge_patch,
    profile_size,
    write_note,
)
from server.paging import page_limit
from server.timestamps import to_timestamp

DEFAULT_DAYS, MAX_DAYS = 7, 90
MAX_QUERY_CHARS = 2000


def parse_day(value: str) -> date:
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(f"date must be YYYY-MM-DD, got {value!r}") from None


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    return json_format.ParseDict(value, struct_pb2.Struct())


def _entry(row: dict[str, Any]) -> memory_pb2.DailyEntry:
    return memory_pb2.DailyEntry(
        index=row["idx"],
        timestamp=to_timestamp(row["created_at"]),
        category=row["category"],
        content=row["content"],
        weight=row["weight"],
        session_id=row["session_id"] or "",
    )


def _days(rows: list[dict[str, Any]]) -> list[memory_pb2.DailyMemory]:
    days: list[memory_pb2.DailyMemory] = []
    for row in rows:
        key = row["day"].isoformat()
        if not days or days[-1].date != key:
            days.append(memory_pb2.DailyMemory(date=key))
        days[-1].entries.append(_entry(row))
    return days


def _note(index: int, row: dict[str, Any]) -> memory_pb2.Note:
    return memory_pb2.Note(index=index, content=row["content"], created_at=to_timestamp(row["created_at"]))


class MemoryService(memory_pb2_grpc.MemoryServiceServicer):
    def __init__(self, deps: Deps):
        self.deps = deps

    async def SearchMemory(
        self, request: memory_pb2.SearchMemoryRequest, context: grpc.aio.ServicerContext
    ) -> memory_pb2.SearchMemoryResponse:
        p = current_principal()
        text = request.q.strip()
        if not 1 <= len(text) <= MAX_QUERY_CHARS:
            raise InvalidArgument(f"q must be 1 to {MAX_QUERY_CHARS} characters")
        if "\x00" in text:
            raise InvalidArgument("q must not contain NUL characters")
        tiers = [t.strip() for item in request.tiers for t in item.split(",") if t.strip()] or list(TIERS)
        unknown = sorted(set(tiers) - set(TIERS))
        if unknown:
            raise InvalidArgument(f"unknown tier {unknown[0]!r} (known: {', '.join(TIERS)})")
        hits = await search(
            self.deps.db,
            embedder_for(self.deps.settings),
            p.user_id,
            p.workspace_id,
            text,
            tiers,
            page_limit(request.limit),
        )
        return memory_pb2.SearchMemoryResponse(
            hits=[
                memory_pb2.MemorySearchHit(
                    tier=h.tier,
                    source_id=h.source_id,
                    content=h.content,
                    score=h.score,
                    created_at=to_timestamp(h.created_at),
                )
                for h in hits
            ]
        )

    async def GetProfile(
        self, request: memory_pb2.GetProfileRequest, context: grpc.aio.ServicerContext
    ) -> memory_pb2.GetProfileResponse:
        p = current_principal()
        async with self.deps.db.connection() as conn:
            row = await store.get_profile(conn, p.user_id, p.workspace_id)
            notes = await store.notes(conn, p.user_id, p.workspace_id)
        return memory_pb2.GetProfileResponse(
            profile=_struct(row["profile"] if row else {}),
            notes=[_note(i, n) for i, n in enumerate(notes)],
            updated_at=to_timestamp(row["updated_at"]) if row else None,
        )

    async def UpdateProfile(
        self, request: memory_pb2.UpdateProfileRequest, context: grpc.aio.ServicerContext
    ) -> memory_pb2.UpdateProfileResponse:
        p = current_principal()
        patch = json_format.MessageToDict(request.profile)
        if has_nul(patch):
            raise InvalidArgument("profile must not contain NUL characters")
        if profile_size(patch) > MAX_PROFILE_BYTES:
            raise InvalidArgument(f"profile must be at most {MAX_PROFILE_BYTES} bytes of JSON", http_status=413)
        async with self.deps.db.transaction() as conn:
            current = (await store.lock_profile(conn, p.user_id, p.workspace_id))["profile"]
            merged = merge_patch(current, patch)
            if profile_size(merged) > MAX_PROFILE_BYTES:
                raise InvalidArgument(
                    f"the merged profile would exceed {MAX_PROFILE_BYTES} bytes of JSON", http_status=413
                )
            changed = {k for k in set(current) | set(merged) if current.get(k) != merged.get(k)}
            row = await store.save_profile(conn, p.user_id, p.workspace_id, merged, changed)
        return memory_pb2.UpdateProfileResponse(
            profile=_struct(row["profile"]), updated_at=to_timestamp(row["updated_at"])
        )

    async def ListDailyMemory(
        self, request: memory_pb2.ListDailyMemoryRequest, context: grpc.aio.ServicerContext
    ) -> memory_pb2.ListDailyMemoryResponse:
        p = current_principal()
        if not 0 <= request.days <= MAX_DAYS:
            raise InvalidArgument(f"days must be 1 to {MAX_DAYS}")
        days = request.days or DEFAULT_DAYS
        limit = page_limit(request.limit)
        category = request.category.strip()
        if category and category not in ("decision", "outcome", "strategy", "note", "interaction"):
            raise InvalidArgument("category must be one of decision, outcome, strategy, note, interaction")
        scope = f"memory-daily:{p.user_id}:{p.workspace_id}:{days}:{category}"
        cursor = self.deps.pages.decode(scope, request.page_token)
        async with self.deps.db.connection() as conn:
            today = await store.today(conn, p.workspace_id)
            first = today - timedelta(days=days - 1)
            last = date.fromisoformat(cursor["before"]) - timedelta(days=1) if cursor else today
            # One day more than the page: whether it exists says if there is a next page.
            rows = await store.daily_entries(conn, p.user_id, p.workspace_id, first, last, category, limit + 1)
        result = _days(rows)
        next_token = ""
        if len(result) > limit:
            result = result[:limit]
            next_token = self.deps.pages.encode(scope, {"before": result[-1].date})
        return memory_pb2.ListDailyMemoryResponse(days=result, next_page_token=next_token)

    async def GetDailyMemory(
        self, request: memory_pb2.GetDailyMemoryRequest, context: grpc.aio.ServicerContext
    ) -> memory_pb2.GetDailyMemoryResponse:
        p = current_principal()
        day = parse_day(request.date)
        async with self.deps.db.connection() as conn:
            rows = await store.daily_entries(conn, p.user_id, p.workspace_id, day, day)
        return memory_pb2.GetDailyMemoryResponse(
            day=memory_pb2.DailyMemory(date=day.isoformat(), entries=[_entry(r) for r in rows])
        )

    async def DeleteDailyEntry(
        self, request: memory_pb2.DeleteDailyEntryRequest, context: grpc.aio.ServicerContext
    ) -> memory_pb2.DeleteDailyEntryResponse:
        p = current_principal()
        day = parse_day(request.date)
        async with self.deps.db.connection() as conn:
            deleted = request.entry_index >= 0 and await store.delete_daily(
                conn, p.user_id, p.workspace_id, day, request.entry_index
            )
        if not deleted:
            raise NotFound(f"no daily entry {request.entry_index} on {day.isoformat()}")
        return memory_pb2.DeleteDailyEntryResponse()

    async def AddNote(
        self, request: memory_pb2.AddNoteRequest, context: grpc.aio.ServicerContext
    ) -> memory_pb2.AddNoteResponse:
        p = current_principal()
        try:
            async with self.deps.db.transaction() as conn:
                row = await write_note(conn, p.user_id, p.workspace_id, request.content)
        except MemoryInputError as exc:
            raise InvalidArgument(str(exc)) from None
        return memory_pb2.AddNoteResponse(note=_note(row["idx"], row))

    async def DeleteNote(
        self, request: memory_pb2.DeleteNoteRequest, context: grpc.aio.ServicerContext
    ) -> memory_pb2.DeleteNoteResponse:
        p = current_principal()
        async with self.deps.db.connection() as conn:
            deleted = request.index >= 0 and await store.delete_note(conn, p.user_id, p.workspace_id, request.index)
        if not deleted:
            raise NotFound(f"no note at index {request.index}")
        return memory_pb2.DeleteNoteResponse()
