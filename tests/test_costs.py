"""The cost dashboard on a real gateway whose pricing file gives the offline local/echo model a price, so real
turns cost something: who may read a workspace's costs, sums that match the usage recorded with each turn (by
agent, provider, model, tool, month and day), older spend in its month and day, priced tool calls, date-range
checks, and the pricing file itself."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server.chat import pricing
from server.config import ConfigError
from tests.harness import GatewayThread, test_settings
from tests.helpers.accounts import register_users
from tests.helpers.agents import new_agent
from tests.helpers.chat import sse, turn
from tests.helpers.db import Postgres, sql
from tests.helpers.http import api
from tests.helpers.workspaces import add_member, new_workspace_id

# USD per million tokens: one prompt token costs $0.001, one completion token $0.002.
ECHO_PRICE = {"local/echo": {"input": 1000, "output": 2000}}


@pytest.fixture(scope="module")
def gateway(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    path = tmp_path_factory.mktemp("pricing") / "pricing.json"
    path.write_text(json.dumps(ECHO_PRICE))
    gw = GatewayThread(test_settings(postgres.fresh_database("test_costs"), pricing_file=str(path))).start()
    yield gw
    gw.stop()


@pytest.fixture(scope="module")
def users(gateway: GatewayThread) -> list[dict]:
    return register_users(gateway, 2)


async def costs(
    http: aiohttp.ClientSession, account: dict | None, workspace: str | None, path: str = "/costs", **params: str
) -> tuple[int, Any]:
    status, body, _ = await api(http, "GET", path, account, workspace=workspace, params=params or None)
    return status, body


async def run_turn(http: aiohttp.ClientSession, account: dict, workspace: str, agent: str, message: str) -> float:
    """One turn; the cost it reported."""
    status, events = await sse(http, account, turn(agent, message), workspace=workspace)
    assert status == 200 and events[-1][0] == "stream_done", events
    return events[-1][1]["usage"].get("costUsd", 0.0)


def buckets(items: list[dict[str, Any]]) -> dict[str, tuple[float, int, int, int]]:
    """key -> (cost, prompt tokens, completion tokens, requests); int64s arrive as strings in proto JSON."""
    return {
        b["key"]: (
            round(b.get("costUsd", 0.0), 6),
            int(b.get("promptTokens", 0)),
            int(b.get("completionTokens", 0)),
            b.get("requests", 0),
        )
        for b in items
    }


async def recorded(gateway: GatewayThread, workspace: str, group: str) -> dict[str, tuple[float, int, int, int]]:
    rows = await sql(
        gateway,
        f"SELECT {group} AS key, sum(cost_usd) AS cost, sum(prompt_tokens) AS pt, sum(completion_tokens) AS ct,"
        f" count(*) AS n FROM usage_records WHERE workspace_id = %s GROUP BY {group}",
        (workspace,),
    )
    return {r["key"]: (round(float(r["cost"]), 6), int(r["pt"]), int(r["ct"]), r["n"]) for r in rows}


async def test_only_members_of_the_workspace_read_its_costs(http: aiohttp.ClientSession, users: list[dict]) -> None:
    owner, outsider = users
    workspace = await new_workspace_id(http, owner, "Cost centre")
    for path in ("/costs", "/costs/breakdown"):
        status, body = await costs(http, None, workspace, path)
        assert (status, body["error"]["code"]) == (401, "UNAUTHENTICATED"), path
        status, body = await costs(http, outsider, workspace, path)
        assert (status, body["error"]["code"]) == (404, "NOT_FOUND"), path
    await add_member(http, owner, workspace, outsider, "viewer")
    for path in ("/costs", "/costs/breakdown"):
        status, body = await costs(http, outsider, workspace, path)
        assert status == 200 and body["currency"] == "USD", (path, body)


async def test_sums_match_the_usage_recorded_with_each_turn(
    gateway: GatewayThread, http: aiohttp.ClientSession, users: list[dict]
) -> None:
    owner, other = users
    workspace = await new_workspace_id(http, owner, "Priced work")
    alpha = await new_agent(http, owner, workspace, skills=["math"])
    beta = await new_agent(http, owner, workspace)
    reported = [
        await run_turn(http, owner, workspace, alpha, "hello there"),
        await run_turn(http, owner, workspace, alpha, "a somewhat longer message with more words in it"),
        await run_turn(http, owner, workspace, alpha, '/tool calculator {"expression": "6*7"}'),
        await run_turn(http, owner, workspace, beta, "beta speaks"),
    ]
    # Spend elsewhere never shows here: the owner's personal workspace, another user's.
    await run_turn(http, owner, owner["workspaceId"], await new_agent(http, owner), "personal spend")
    await run_turn(http, other, other["workspaceId"], await new_agent(http, other), "someone else's spend")

    rows = await sql(
        gateway,
        "SELECT agent_id, prompt_tokens, completion_tokens, cost_usd FROM usage_records WHERE workspace_id = %s",
        (workspace,),
    )
    # Each turn is priced from the pricing file, and says so in its stream_done.
    assert all(
        r["cost_usd"] == Decimal("0.001") * r["prompt_tokens"] + Decimal("0.002") * r["completion_tokens"] for r in rows
    )
    total = sum(float(r["cost_usd"]) for r in rows)
    assert total > 0 and sum(reported) == pytest.approx(total)

    status, summary = await costs(http, owner, workspace)
    assert status == 200, summary
    assert summary["totalUsd"] == pytest.approx(total) and summary["monthToDateUsd"] == pytest.approx(total)
    assert buckets(summary["byAgent"]) == await recorded(gateway, workspace, "agent_id")
    assert [b["key"] for b in summary["byAgent"]] == [alpha, beta]  # most expensive first
    assert buckets(summary["byProvider"]) == await recorded(gateway, workspace, "provider")
    assert list(buckets(summary["byProvider"])) == ["local"]
    today = datetime.now(UTC).date()
    months = [month_key(today, back) for back in (2, 1, 0)]
    assert [b["key"] for b in summary["byMonth"]] == months  # the last three months by default, oldest first
    assert buckets(summary["byMonth"])[months[-1]][0] == pytest.approx(total, abs=1e-6)

    status, breakdown = await costs(http, owner, workspace, "/costs/breakdown")
    assert status == 200, breakdown
    assert breakdown["endDate"] == today.isoformat()
    assert breakdown["startDate"] == (today - timedelta(days=30)).isoformat()
    assert breakdown["totalUsd"] == pytest.approx(total)
    assert buckets(breakdown["byAgent"]) == await recorded(gateway, workspace, "agent_id")
    assert buckets(breakdown["byModel"]) == await recorded(gateway, workspace, "model")
    assert list(buckets(breakdown["byModel"])) == ["local/echo"]
    # The calculator turn's spend, counted under the tool.
    assert buckets(breakdown["byTool"]) == {"calculator": (round(reported[2], 6), *_tokens(rows, reported[2]), 1)}
    days = breakdown["byDay"]
    assert len(days) == 31 and days[-1]["key"] == today.isoformat()
    assert days[-1]["costUsd"] == pytest.approx(total) and all(d.get("costUsd", 0) == 0 for d in days[:-1])

    # One agent only.
    status, only = await costs(http, owner, workspace, "/costs/breakdown", agentId=beta)
    assert list(buckets(only["byAgent"])) == [beta] and only["totalUsd"] == pytest.approx(reported[3])


def month_key(day: date, back: int) -> str:
    index = day.year * 12 + day.month - 1 - back
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _tokens(rows: list[dict[str, Any]], cost: float) -> tuple[int, int]:
    row = next(r for r in rows if float(r["cost_usd"]) == pytest.approx(cost))
    return row["prompt_tokens"], row["completion_tokens"]


async def test_older_spend_and_priced_tool_calls_fall_into_their_month_and_day(
    gateway: GatewayThread, http: aiohttp.ClientSession, users: list[dict]
) -> None:
    owner = users[0]
    workspace = await new_workspace_id(http, owner, "History")
    now = datetime.now(UTC)
    forty = now - timedelta(days=40)
    old = now - timedelta(days=200)
    for n, (when, cost, model) in enumerate(
        [(forty, "1.25", "openai/gpt-4o"), (forty, "0.75", "anthropic/claude-opus-4-0"), (old, "3.00", "openai/gpt-4o")]
    ):
        await sql(
            gateway,
            "INSERT INTO usage_records (id, workspace_id, agent_id, session_id, provider, model, prompt_tokens,"
            " completion_tokens, cost_usd, created_at) VALUES (%s, %s, 'historian', NULL, %s, %s, 100, 10, %s, %s)",
            (f"use_hist_{workspace}_{n}", workspace, model.split("/")[0], model, Decimal(cost), when),
        )
    # A tool with its own per-call price, called 10 days ago.
    await sql(
        gateway,
        "INSERT INTO tool_calls (id, workspace_id, agent_id, tool, status, cost_usd, created_at)"
        " VALUES (%s, %s, 'historian', 'paid_search', 'ok', 0.5, %s)",
        (f"tc_hist_{workspace}", workspace, now - timedelta(days=10)),
    )

    status, summary = await costs(http, owner, workspace)
    assert summary["totalUsd"] == pytest.approx(2.5)  # 200 days ago is outside the default three months
    assert buckets(summary["byAgent"]) == {"historian": (2.5, 200, 20, 2)}
    assert buckets(summary["byProvider"]) == {"openai": (1.25, 100, 10, 1), "anthropic": (0.75, 100, 10, 1)}
    expected: dict[str, float] = {month_key(now.date(), back): 0.0 for back in (2, 1, 0)}
    expected[f"{forty:%Y-%m}"] += 2.0
    expected[f"{now - timedelta(days=10):%Y-%m}"] += 0.5
    assert {b["key"]: b.get("costUsd", 0.0) for b in summary["byMonth"]} == pytest.approx(expected)
    status, year = await costs(http, owner, workspace, months="12")
    assert len(year["byMonth"]) == 12 and year["totalUsd"] == pytest.approx(5.5)
    assert buckets(year["byMonth"])[f"{old:%Y-%m}"][0] == pytest.approx(3.0)

    start, end = (forty - timedelta(days=1)).date(), (now - timedelta(days=5)).date()
    status, body = await costs(
        http, owner, workspace, "/costs/breakdown", startDate=start.isoformat(), endDate=end.isoformat()
    )
    assert status == 200, body
    assert body["totalUsd"] == pytest.approx(2.5)
    assert buckets(body["byModel"]) == {
        "openai/gpt-4o": (1.25, 100, 10, 1),
        "anthropic/claude-opus-4-0": (0.75, 100, 10, 1),
    }
    assert buckets(body["byTool"]) == {"paid_search": (0.5, 0, 0, 0)}
    days = {d["key"]: d.get("costUsd", 0) for d in body["byDay"]}
    assert len(days) == (end - start).days + 1
    assert days[f"{forty:%Y-%m-%d}"] == pytest.approx(2.0)
    assert days[f"{now - timedelta(days=10):%Y-%m-%d}"] == pytest.approx(0.5)
    assert sum(days.values()) == pytest.approx(2.5)


async def test_bad_or_reversed_or_too_long_ranges_are_refused(http: aiohttp.ClientSession, users: list[dict]) -> None:
    owner = users[0]
    workspace = owner["workspaceId"]
    for params in [
        {"startDate": "2026-13-01"},
        {"startDate": "yesterday"},
        {"endDate": "2026-02-30"},
        {"startDate": "20260101"},
        {"startDate": "2026-W01-1"},
        {"startDate": "2026-03-02", "endDate": "2026-03-01"},
        {"startDate": "2025-01-01", "endDate": "2026-01-02"},  # 367 days
    ]:
        status, body = await costs(http, owner, workspace, "/costs/breakdown", **params)
        assert (status, body["error"]["code"]) == (400, "INVALID_ARGUMENT"), (params, body)
    status, body = await costs(http, owner, workspace, "/costs/breakdown", startDate="2024-01-01", endDate="2024-12-31")
    assert status == 200 and len(body["byDay"]) == 366  # a leap year is the longest range
    status, body = await costs(http, owner, workspace, "/costs/breakdown", startDate="2026-02-03", endDate="2026-02-03")
    assert status == 200 and [d["key"] for d in body["byDay"]] == ["2026-02-03"]
    for months in ("37", "-1"):
        status, body = await costs(http, owner, workspace, months=months)
        assert (status, body["error"]["code"]) == (400, "INVALID_ARGUMENT"), months


def test_the_pricing_file_overrides_and_extends_the_shipped_prices(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text("openai/gpt-4o: {input: 1.5, output: 6}\nselfhosted/llama-70b:\n  input: 0.2\n  output: '0.4'\n")
    prices = pricing.Prices.load(str(path))
    assert prices.cost_usd("openai/gpt-4o", 1_000_000, 1_000_000) == Decimal("7.5")
    assert prices.cost_usd("selfhosted/llama-70b", 2_000_000, 500_000) == Decimal("0.6")
    assert prices.cost_usd("openai/gpt-4o-mini", 1_000_000, 0) == Decimal("0.15")  # shipped price kept
    shipped = pricing.Prices.load("")
    assert shipped.cost_usd("openai/gpt-4o", 1_000_000, 0) == Decimal("2.50")
    assert "selfhosted/llama-70b" not in shipped.table

    for text, expected in [
        ("- just a list\n", "must map"),
        ("gpt-4o: {input: 1, output: 2}\n", 'is not "provider/model-id"'),
        ("openai/x: {input: 1}\n", "openai/x must be"),
        ("openai/x: {input: -1, output: 2}\n", "openai/x.input must be a non-negative number"),
        ("openai/x: {input: 1, output: lots}\n", "openai/x.output must be a number"),
        ("openai/x: {input: 1, output: .nan}\n", "openai/x.output must be a non-negative number"),
        ("{unclosed\n", "not valid YAML or JSON"),
    ]:
        path.write_text(text)
        with pytest.raises(ConfigError) as err:
            pricing.load_overrides(str(path))
        assert expected in str(err.value), (text, str(err.value))
    with pytest.raises(ConfigError, match="cannot be read"):
        pricing.load_overrides(str(tmp_path / "missing.json"))


def test_load_settings_reads_astra_pricing_file() -> None:
    from server.config import load_settings

    assert load_settings({"ASTRA_PRICING_FILE": " /etc/astra/prices.yaml "}).pricing_file == "/etc/astra/prices.yaml"
    assert load_settings({}).pricing_file == ""
