"""One REST call through the edge as an account, and what tests read off the answers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import aiohttp

from tests.helpers.accounts import bearer

ABSENT: Any = object()  # "no JSON body", as opposed to a body of null


async def api(
    http: aiohttp.ClientSession,
    method: str,
    path: str,
    account: dict | None = None,
    *,
    json: Any = ABSENT,
    params: Mapping[str, str] | None = None,
    workspace: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, Any, Mapping[str, str]]:
    """One call through the edge as `account` (optionally in `workspace`): (status, JSON body or text, headers)."""
    sent = dict(headers or {})
    if account is not None:
        sent.update(bearer(account))
    if workspace is not None:
        sent["X-Workspace-ID"] = workspace
    kwargs: dict[str, Any] = {"headers": sent, "params": params}
    if json is not ABSENT:
        kwargs["json"] = json
    async with http.request(method, path, **kwargs) as resp:
        body = await resp.json() if resp.content_type == "application/json" else await resp.text()
        return resp.status, body, resp.headers


def error_code(body: Any) -> str:
    return body["error"]["code"]


async def metric_value(http: aiohttp.ClientSession, name: str) -> float:
    async with http.get("/metrics") as resp:
        assert resp.status == 200
        text = await resp.text()
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.MULTILINE)
    assert match, f"{name} not exported"
    return float(match.group(1))
