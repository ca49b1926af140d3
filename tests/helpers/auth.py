"""Auth through the edge and the core: logins and refreshes, probes of whether a token is accepted, tokens forged
with the test secret, and the login throttle's answers."""

from __future__ import annotations

import time
import uuid
import warnings
from collections.abc import Mapping
from typing import Any

import aiohttp
import grpc
import jwt

from astra.v1 import auth_pb2, auth_pb2_grpc
from tests.harness import TEST_SECRET, GatewayThread
from tests.helpers.accounts import PASSWORD
from tests.helpers.db import sql

ACCESS_TTL_S = 900
WINDOW_S = 600  # the login throttle's window


async def post(
    http: aiohttp.ClientSession, path: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any], Mapping[str, str]]:
    async with http.post(path, json=body, headers=headers or {}) as resp:
        return resp.status, await resp.json(), resp.headers


async def login(http: aiohttp.ClientSession, email: str, password: str = PASSWORD) -> dict[str, Any]:
    status, body, _ = await post(http, "/auth/login", {"email": email, "password": password})
    assert status == 200, body
    return body


async def refresh(http: aiohttp.ClientSession, token: str) -> tuple[int, dict[str, Any]]:
    status, body, _ = await post(http, "/auth/refresh", {"refreshToken": token})
    return status, body


# GET /agents answers one of these once the token is accepted: 501 while the agents domain was not built, 200 now.
ACCEPTED = (200, 501)


async def rest_probe(http: aiohttp.ClientSession, token: str, workspace: str | None = None) -> tuple[int, dict]:
    """GET /agents: ACCEPTED once the token is, 401 when it is not (404 for a workspace the caller cannot see)."""
    headers = {"Authorization": f"Bearer {token}"}
    if workspace is not None:
        headers["X-Workspace-ID"] = workspace
    async with http.get("/agents", headers=headers) as resp:
        if resp.status == 401:
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        return resp.status, await resp.json()


async def introspect(
    channel: grpc.aio.Channel, token: str, workspace: str | None = None
) -> auth_pb2.IntrospectResponse:
    metadata = [("authorization", f"Bearer {token}")]
    if workspace is not None:
        metadata.append(("x-workspace-id", workspace))
    return await auth_pb2_grpc.AuthServiceStub(channel).Introspect(auth_pb2.IntrospectRequest(), metadata=metadata)


async def grpc_code(channel: grpc.aio.Channel, token: str, workspace: str | None = None) -> grpc.StatusCode:
    try:
        await introspect(channel, token, workspace)
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def forge(
    user_id: str, secret: str = TEST_SECRET, algorithm: str = "HS256", drop: tuple[str, ...] = (), **claims: Any
) -> str:
    """An access token built here, valid in every respect except those the caller overrides or drops."""
    now = time.time()
    payload = {"sub": user_id, "iat": now, "exp": int(now) + ACCESS_TTL_S, "jti": uuid.uuid4().hex, "typ": "access"}
    payload.update(claims)
    for name in drop:
        payload.pop(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)  # HS512 wants a longer key
        return jwt.encode(payload, secret, algorithm=algorithm)


async def attempt(
    http: aiohttp.ClientSession, email: str, password: str, headers: dict[str, str] | None = None
) -> tuple[int, dict, dict[str, str]]:
    status, body, response_headers = await post(http, "/auth/login", {"email": email, "password": password}, headers)
    return status, body, dict(response_headers)


def assert_throttled(status: int, body: dict, headers: dict[str, str], at_most: int = WINDOW_S) -> int:
    assert status == 429, body
    assert body["error"]["code"] == "RESOURCE_EXHAUSTED"
    retry_after = headers["Retry-After"]
    assert retry_after.isdigit(), retry_after
    assert 0 < int(retry_after) <= at_most
    return int(retry_after)


async def failures_by_key(gateway: GatewayThread) -> dict[str, int]:
    rows = await sql(gateway, "SELECT key, count(*) FROM login_failures GROUP BY key")
    return {row["key"]: row["count"] for row in rows}
