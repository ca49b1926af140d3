"""Workspaces created through the edge, and members added the way users add them (invite, then accept)."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.helpers.http import api


async def new_workspace(http: aiohttp.ClientSession, owner: dict, name: str = "Team", **extra: Any) -> dict:
    status, body, _ = await api(http, "POST", "/workspaces", owner, json={"name": name, **extra})
    assert status == 200, body
    return body["workspace"]


async def new_workspace_id(http: aiohttp.ClientSession, owner: dict, name: str = "Team") -> str:
    return (await new_workspace(http, owner, name))["id"]


async def add_member(http: aiohttp.ClientSession, inviter: dict, workspace_id: str, user: dict, role: str) -> None:
    """Makes `user` a member of the workspace with `role`: `inviter` invites them by id and they accept (for
    someone already a member, the same call changes the role at once)."""
    status, body, _ = await api(
        http, "POST", f"/workspaces/{workspace_id}/members", inviter, json={"userId": user["user"]["id"], "role": role}
    )
    if status == 200:
        return
    assert status == 202, body
    status, body, _ = await api(http, "POST", f"/invitations/{body['invitation']['id']}/accept", user)
    assert status == 200, body
