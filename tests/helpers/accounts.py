"""Accounts registered through the edge, and the credentials a test presents as one of them."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp

from tests.harness import GatewayThread

PASSWORD = "correct horse battery"


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


async def register(http: aiohttp.ClientSession, email: str | None = None, password: str = PASSWORD) -> dict:
    """Registers a fresh account through the edge; returns the response JSON plus the password used."""
    email = email or unique_email()
    async with http.post("/auth/register", json={"email": email, "password": password}) as resp:
        assert resp.status == 200, await resp.text()
        body = await resp.json()
    body["password"] = password
    body["email"] = email
    return body


def register_users(gateway: GatewayThread, n: int) -> list[dict]:
    """n accounts, registered once per module on a private loop (argon2 makes each registration costly)."""

    async def go() -> list[dict]:
        async with aiohttp.ClientSession(base_url=gateway.http_url) as session:
            return list(await asyncio.gather(*(register(session) for _ in range(n))))

    return asyncio.run(go())


def bearer(account: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {account['tokens']['accessToken']}"}


def grpc_metadata(account: dict, workspace: str | None = None, *extra: tuple[str, str]) -> tuple:
    """`bearer` for a gRPC call, plus x-workspace-id when given."""
    metadata: tuple = (("authorization", f"Bearer {account['tokens']['accessToken']}"), *extra)
    return (*metadata, ("x-workspace-id", workspace)) if workspace else metadata
