"""CostsService: the current workspace's spend by agent, provider, model, tool, personal API key, month and day.

Any member of the workspace may read it (the auth interceptor has already refused non-members). Months and days
are UTC. Prices come from server.chat.pricing, whose table the pricing file (ASTRA_PRICING_FILE) may override.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import grpc

from astra.v1 import costs_pb2, costs_pb2_grpc
from server.context import current_principal
from server.costs import store
from server.deps import Deps
from server.errors import InvalidArgument

DEFAULT_MONTHS, MAX_MONTHS = 3, 36
DEFAULT_RANGE_DAYS = 30
MAX_RANGE_DAYS = 366
CURRENCY = "USD"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _bucket(row: dict[str, Any]) -> costs_pb2.CostBucket:
    return costs_pb2.CostBucket(
        key=row["key"],
        cost_usd=float(row["cost_usd"]),
        prompt_tokens=int(row["prompt_tokens"]),
        completion_tokens=int(row["completion_tokens"]),
        requests=int(row["requests"]),
    )


def _series(keys: list[str], rows: list[dict[str, Any]]) -> list[costs_pb2.CostBucket]:
    """One bucket per key in order, zero where nothing was spent."""
    found = {row["key"]: row for row in rows}
    return [_bucket(found[key]) if key in found else costs_pb2.CostBucket(key=key) for key in keys]


def _total(groups: dict[str, list[dict[str, Any]]]) -> Decimal:
    return sum((row["cost_usd"] for row in groups["total"]), Decimal(0))


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _month_start(day: date, months_back: int) -> date:
    index = day.year * 12 + day.month - 1 - months_back
    return date(index // 12, index % 12 + 1, 1)


def _parse_date(value: str, field: str) -> date:
    try:
        if not _DATE.fullmatch(value):
            raise ValueError(value)  # fromisoformat alone would take 20260101 or 2026-W01-1 too
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(f"{field} must be a date as YYYY-MM-DD, got {value!r}") from None


def date_range(start_date: str, end_date: str, today: date) -> tuple[date, date]:
    """The inclusive [start, end] a breakdown covers: defaults filled in, bad, reversed or too long ranges refused."""
    end = _parse_date(end_date, "endDate") if end_date else today
    start = _parse_date(start_date, "startDate") if start_date else end - timedelta(days=DEFAULT_RANGE_DAYS)
    if start > end:
        raise InvalidArgument(f"startDate {start} is after endDate {end}")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise InvalidArgument(f"the range may span at most {MAX_RANGE_DAYS} days, not {(end - start).days + 1}")
    return start, end


class CostsService(costs_pb2_grpc.CostsServiceServicer):
    def __init__(self, deps: Deps):
        self.deps = deps

    async def GetCostSummary(
        self, request: costs_pb2.GetCostSummaryRequest, context: grpc.aio.ServicerContext
    ) -> costs_pb2.GetCostSummaryResponse:
        workspace_id = current_principal().workspace_id
        months = request.months or DEFAULT_MONTHS
        if not 1 <= months <= MAX_MONTHS:
            raise InvalidArgument(f"months must be 1 to {MAX_MONTHS}")
        now = datetime.now(UTC)
        first = _month_start(now.date(), months - 1)
        async with self.deps.db.connection() as conn:
            groups = await store.spend(conn, workspace_id, _midnight(first), now + timedelta(seconds=1), "YYYY-MM")
        keys = [f"{_month_start(now.date(), back):%Y-%m}" for back in range(months - 1, -1, -1)]
        by_month = _series(keys, groups["period"])
        return costs_pb2.GetCostSummaryResponse(
            currency=CURRENCY,
            total_usd=float(_total(groups)),
            month_to_date_usd=by_month[-1].cost_usd,
            by_agent=[_bucket(r) for r in groups["agent"]],
            by_provider=[_bucket(r) for r in groups["provider"]],
            by_month=by_month,
            by_api_key=[_bucket(r) for r in groups["api_key"]],
        )

    async def GetCostBreakdown(
        self, request: costs_pb2.GetCostBreakdownRequest, context: grpc.aio.ServicerContext
    ) -> costs_pb2.GetCostBreakdownResponse:
        workspace_id = current_principal().workspace_id
        start, end = date_range(request.start_date.strip(), request.end_date.strip(), datetime.now(UTC).date())
        since, until = _midnight(start), _midnight(end + timedelta(days=1))
        agent_id, api_key_id = request.agent_id.strip(), request.api_key_id.strip()
        async with self.deps.db.connection() as conn:
            groups = await store.spend(conn, workspace_id, since, until, "YYYY-MM-DD", agent_id, api_key_id)
            tools = await store.spend_by_tool(conn, workspace_id, since, until, agent_id, api_key_id)
        days = [f"{start + timedelta(days=n):%Y-%m-%d}" for n in range((end - start).days + 1)]
        return costs_pb2.GetCostBreakdownResponse(
            start_date=start.isoformat(),
            end_date=end.isoformat(),
            currency=CURRENCY,
            total_usd=float(_total(groups)),
            by_agent=[_bucket(r) for r in groups["agent"]],
            by_provider=[_bucket(r) for r in groups["provider"]],
            by_model=[_bucket(r) for r in groups["model"]],
            by_tool=[_bucket(r) for r in tools],
            by_day=_series(days, groups["period"]),
            by_api_key=[_bucket(r) for r in groups["api_key"]],
        )
