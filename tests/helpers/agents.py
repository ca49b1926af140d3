"""Agents created through the edge."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp

from tests.helpers.http import api


def slug(prefix: str = "agent") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def new_agent(http: aiohttp.ClientSession, account: dict, workspace: str | None = None, **fields: Any) -> str:
    fields.setdefault("id", slug())
    fields.setdefault("model", "local/echo")
    status, body, _ = await api(http, "POST", "/agents", account, workspace=workspace, json=fields)
    assert status == 200, body
    return body["agent"]["id"]
