"""Heartbeat configs and their runs through the edge."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp

from tests.helpers.http import api
from tests.helpers.waiting import eventually

HOUR = 3600  # long intervals: runs are triggered by moving next_run_at, so every run a test sees is one it made


def path() -> str:
    return f"/src/{uuid.uuid4().hex[:10]}"


async def create(http: aiohttp.ClientSession, account: dict, **fields: Any) -> dict:
    """A new config; an enabled one runs at once, and this waits for that run to end, so that each run_now after
    it makes exactly one run."""
    fields.setdefault("intervalSeconds", HOUR)
    status, body, _ = await api(http, "POST", "/heartbeat", account, json=fields)
    assert status == 200, body
    made = body["heartbeat"]

    async def first_run_over() -> list[dict] | None:
        listed = await runs(http, account, made["id"])
        return listed if listed and all(r["status"] != "running" for r in listed) else None

    if made["enabled"]:
        await eventually(first_run_over, what="the run a new config makes at once")
    return made


async def runs(http: aiohttp.ClientSession, account: dict, heartbeat_id: str, **params: str) -> list[dict]:
    status, body, _ = await api(http, "GET", f"/heartbeat/{heartbeat_id}/runs", account, params=params)
    assert status == 200, body
    return body.get("runs", [])
