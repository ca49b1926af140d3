"""AuthService's personal API key methods: create (the secret shown once), list, revoke.

The rules a key obeys once made are in proto/astra/v1/auth.proto and server/auth/keys.py. Managing keys needs an
access token: a key that could make keys could outlive its own revocation.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import grpc

from astra.v1 import auth_pb2
from contract.metadata import http_status_trailer
from server.audit.log import record
from server.auth import key_store, keys
from server.context import Principal, current_principal
from server.deps import Deps
from server.errors import InvalidArgument, NotFound, PermissionDenied
from server.interceptors.base import add_trailers
from server.paging import after, keyset, page_limit
from server.timestamps import to_timestamp
from server.workspaces.access import require_member

MAX_NAME = 100
MAX_REQUESTS_PER_MINUTE = 1000  # the shared window keeps one stamp per call: meant for limits in the hundreds
MAX_COST_USD = 1_000_000


def key_message(row: dict[str, Any]) -> auth_pb2.ApiKey:
    return auth_pb2.ApiKey(
        id=row["id"],
        name=row["name"],
        prefix=row["prefix"],
        workspace_id=row["workspace_id"],
        created_at=to_timestamp(row["created_at"]),
        expires_at=to_timestamp(row["expires_at"]),
        last_used_at=to_timestamp(row["last_used_at"]),
        max_requests_per_minute=row["max_requests_per_minute"],
        max_cost_usd=float(row["max_cost_usd"]),
    )


def _signed_in(principal: Principal) -> str:
    if principal.api_key_id:
        raise PermissionDenied("API keys cannot manage API keys; call with an access token (log in)")
    return principal.user_id


def _expiry(request: auth_pb2.CreateApiKeyRequest) -> datetime | None:
    if not request.HasField("expires_at"):
        return None
    try:
        expires = request.expires_at.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise InvalidArgument("expiresAt is not a valid timestamp") from None
    if expires <= datetime.now(UTC):
        raise InvalidArgument("expiresAt must be in the future")
    return expires


def _limits(request: auth_pb2.CreateApiKeyRequest) -> tuple[int, Decimal]:
    per_minute, budget = request.max_requests_per_minute, request.max_cost_usd
    if not 0 <= per_minute <= MAX_REQUESTS_PER_MINUTE:
        raise InvalidArgument(f"maxRequestsPerMinute must be 0 (no limit) to {MAX_REQUESTS_PER_MINUTE}")
    if not (math.isfinite(budget) and 0 <= budget <= MAX_COST_USD):
        raise InvalidArgument(f"maxCostUsd must be 0 (no budget) to {MAX_COST_USD}")
    return per_minute, Decimal(repr(budget)).quantize(Decimal("0.000001"))


class ApiKeyMethods:
    """Mixed into AuthService (one gRPC service, so one servicer)."""

    deps: Deps

    async def CreateApiKey(
        self, request: auth_pb2.CreateApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.CreateApiKeyResponse:
        principal = current_principal()
        user_id = _signed_in(principal)
        name = request.name.strip()
        if not 1 <= len(name) <= MAX_NAME:
            raise InvalidArgument(f"name is required, 1 to {MAX_NAME} characters")
        expires = _expiry(request)
        per_minute, budget = _limits(request)
        workspace_id = request.workspace_id.strip() or principal.workspace_id
        secret, prefix, secret_hash = keys.new_secret()
        async with self.deps.db.transaction() as conn:
            # The call's own workspace was checked by the interceptor; a named one is checked here (NOT_FOUND for a
            # workspace the caller is not in, as everywhere).
            await require_member(conn, workspace_id, user_id)
            row = await key_store.insert(
                conn,
                user_id=user_id,
                workspace_id=workspace_id,
                name=name,
                prefix=prefix,
                secret_hash=secret_hash,
                expires_at=expires,
                max_requests_per_minute=per_minute,
                max_cost_usd=budget,
            )
            await record(
                conn,
                actor=user_id,
                action="api_key.create",
                target_user_id=user_id,
                workspace_id=workspace_id,
                details={
                    "name": name,
                    "prefix": prefix,
                    "expiresAt": expires.isoformat() if expires else None,
                    "maxRequestsPerMinute": per_minute,
                    "maxCostUsd": float(budget),
                },
                target=row["id"],
            )
        add_trailers(context, http_status_trailer(201))  # the edge answers 201 Created (success_statuses)
        return auth_pb2.CreateApiKeyResponse(key=key_message(row), secret=secret)

    async def ListApiKeys(
        self, request: auth_pb2.ListApiKeysRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.ListApiKeysResponse:
        user_id = _signed_in(current_principal())
        limit = page_limit(request.limit)
        scope = f"api_keys:{user_id}"
        cursor = self.deps.pages.decode(scope, request.page_token)
        async with self.deps.db.connection() as conn:
            rows = await key_store.of_user(conn, user_id, after(cursor), limit + 1)
        rows, token = self.deps.pages.page(scope, rows, limit, keyset("created_at"))
        return auth_pb2.ListApiKeysResponse(keys=[key_message(r) for r in rows], next_page_token=token)

    async def RevokeApiKey(
        self, request: auth_pb2.RevokeApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.RevokeApiKeyResponse:
        user_id = _signed_in(current_principal())
        async with self.deps.db.transaction() as conn:
            row = await key_store.revoke(conn, user_id, request.key_id.strip())
            if row is None:
                # Another user's key and a revoked one answer alike: key ids cannot be probed.
                raise NotFound(f"API key {request.key_id} not found")
            await record(
                conn,
                actor=user_id,
                action="api_key.revoke",
                target_user_id=user_id,
                workspace_id=row["workspace_id"],
                details={"name": row["name"], "prefix": row["prefix"]},
                target=row["id"],
            )
        # Its own NOTIFY reaches this replica asynchronously; the next call must already be refused.
        self.deps.api_key_rows.forget(row["secret_hash"])
        return auth_pb2.RevokeApiKeyResponse()
