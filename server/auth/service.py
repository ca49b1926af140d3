"""AuthService: register, login, refresh with reuse detection, logout, introspect; personal API keys are in
server/auth/key_service.py."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc

from astra.v1 import auth_pb2, auth_pb2_grpc
from server.audit.log import ANONYMOUS_ACTOR, record
from server.auth import passwords, store
from server.auth.key_service import ApiKeyMethods
from server.auth.throttle import LoginThrottle
from server.auth.tokens import hash_refresh_token, new_refresh_token
from server.chat import ratelimit
from server.context import client_address_var, current_principal
from server.deps import Deps
from server.errors import InvalidArgument, PermissionDenied, Unauthenticated
from server.ids import new_id
from server.timestamps import to_timestamp

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_BAD_CREDENTIALS = "invalid email or password"
_MAX_EMAIL = 254
REGISTER_WINDOW_S = 3600


def _check_email(email: str) -> str:
    email = email.strip()
    if not email or len(email) > _MAX_EMAIL or not _EMAIL.match(email):
        raise InvalidArgument("email must be a valid address such as user@example.com")
    return email


def _user_message(row: dict[str, Any]) -> auth_pb2.User:
    return auth_pb2.User(
        id=row["id"],
        email=row["email"],
        display_name=row["display_name"],
        created_at=to_timestamp(row["created_at"]),
    )


class AuthService(ApiKeyMethods, auth_pb2_grpc.AuthServiceServicer):
    def __init__(self, deps: Deps):
        self.deps = deps
        self.throttle = LoginThrottle(deps.settings.login_max_failures, deps.settings.login_window_s)

    async def _issue(self, conn: Any, user_id: str, family_id: str) -> auth_pb2.TokenPair:
        """A new access token and a refresh token in the given family; call inside the caller's transaction."""
        settings = self.deps.settings
        access, _ = self.deps.tokens.issue(user_id, family_id)
        refresh, refresh_hash = new_refresh_token()
        expires = datetime.now(UTC) + timedelta(seconds=settings.refresh_token_ttl_s)
        await store.insert_refresh_token(conn, user_id, family_id, refresh_hash, expires)
        return auth_pb2.TokenPair(
            access_token=access,
            refresh_token=refresh,
            token_type="Bearer",
            expires_in=settings.access_token_ttl_s,
            refresh_expires_in=settings.refresh_token_ttl_s,
        )

    async def Register(
        self, request: auth_pb2.RegisterRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.RegisterResponse:
        email = _check_email(request.email)
        passwords.check_policy(request.password)
        if len(request.display_name) > 200:
            raise InvalidArgument("display_name must be at most 200 characters")
        limit = self.deps.settings.register_max_per_hour
        if limit:
            # Counted before the hash (its cost) and whether or not the email is taken (an answer in itself).
            address = client_address_var.get() or "unknown"
            await ratelimit.hit(
                self.deps.db, f"register:{address}", limit, REGISTER_WINDOW_S, "registrations from this address"
            )
        password_hash = await passwords.hash_password(request.password)
        async with self.deps.db.transaction() as conn:
            user = await store.create_user(conn, email, password_hash, request.display_name.strip())
            tokens = await self._issue(conn, user["id"], new_id("fam"))
        return auth_pb2.RegisterResponse(user=_user_message(user), workspace_id=user["workspace_id"], tokens=tokens)

    async def Login(self, request: auth_pb2.LoginRequest, context: grpc.aio.ServicerContext) -> auth_pb2.LoginResponse:
        if not request.email or not request.password:
            raise InvalidArgument("email and password are required")
        if len(request.email.strip()) > _MAX_EMAIL:
            # No account has one (Register refuses it), and it would not fit the throttle's index.
            raise InvalidArgument(f"email must be at most {_MAX_EMAIL} characters")
        account_key = "acct:" + request.email.strip().lower()
        keys = [account_key, "addr:" + (client_address_var.get() or "unknown")]
        async with self.deps.db.connection() as conn:
            # The attempt counts as a failure from here (429 when a key is at its limit) until the password is
            # found right, so concurrent guesses cannot all pass the check.
            reserved = await self.throttle.reserve(conn, keys)
            user = await store.user_by_email(conn, request.email.strip())
        ok = await passwords.verify_password(user["password_hash"] if user else None, request.password)
        client = {"email": request.email.strip(), "clientAddress": client_address_var.get()}
        if not ok or user is None:
            async with self.deps.db.transaction() as conn:
                await self.throttle.failed(conn, keys)
                await record(
                    conn,
                    actor=user["id"] if user else ANONYMOUS_ACTOR,
                    action="auth.login_failed",
                    target_user_id=user["id"] if user else None,
                    workspace_id=None,
                    details={**client, "reason": "wrong password" if user else "unknown email"},
                )
            # Raised after the commit, so the audit entry stays (the failure counts since the reservation).
            raise Unauthenticated(_BAD_CREDENTIALS)
        async with self.deps.db.transaction() as conn:
            await self.throttle.succeeded(conn, reserved, account_key)
            tokens = await self._issue(conn, user["id"], new_id("fam"))
            await record(
                conn,
                actor=user["id"],
                action="auth.login",
                target_user_id=user["id"],
                workspace_id=None,
                details=client,
            )
        return auth_pb2.LoginResponse(user=_user_message(user), tokens=tokens)

    async def Refresh(
        self, request: auth_pb2.RefreshRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.RefreshResponse:
        if not request.refresh_token:
            raise InvalidArgument("refresh_token is required")
        async with self.deps.db.connection() as conn:
            async with conn.transaction():
                row = await store.lock_refresh_token(conn, hash_refresh_token(request.refresh_token))
                if row is None:
                    raise Unauthenticated("invalid refresh token")
                reused = row["rotated_at"] is not None or row["revoked_at"] is not None
                if reused:
                    # Someone holds a token that was already exchanged: the family is compromised.
                    await store.revoke_family(
                        conn, row["user_id"], row["family_id"], self.deps.settings.access_token_ttl_s
                    )
                    await record(
                        conn,
                        actor=row["user_id"],
                        action="auth.refresh_reuse",
                        target_user_id=row["user_id"],
                        workspace_id=None,
                        details={"familyId": row["family_id"], "clientAddress": client_address_var.get()},
                    )
                elif not row["expired"]:
                    await store.mark_rotated(conn, row["id"])
                    return auth_pb2.RefreshResponse(tokens=await self._issue(conn, row["user_id"], row["family_id"]))
            if reused:
                # Its own NOTIFY reaches this replica asynchronously; the next call must already be refused.
                self.deps.memberships.forget(row["user_id"])
            # Raised after the transaction commits, so the family revocation sticks.
            raise Unauthenticated(
                "refresh token reused; all sessions of this login were revoked" if reused else "refresh token expired"
            )

    async def Logout(
        self, request: auth_pb2.LogoutRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.LogoutResponse:
        principal = current_principal()
        if principal.api_key_id:
            # Logging out revokes the owner's sessions: not something a key (perhaps leaked) may do.
            raise PermissionDenied("an API key cannot log out; revoke the key instead (DELETE /auth/keys/{id})")
        async with self.deps.db.transaction() as conn:
            revoked = await store.revoke_user(conn, principal.user_id, round(time.time(), 3))
            await record(
                conn,
                actor=principal.user_id,
                action="auth.logout",
                target_user_id=principal.user_id,
                workspace_id=None,
                details={"revokedRefreshTokens": revoked},
            )
        self.deps.memberships.forget(principal.user_id)
        return auth_pb2.LogoutResponse(revoked_refresh_tokens=revoked)

    async def Introspect(
        self, request: auth_pb2.IntrospectRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.IntrospectResponse:
        principal = current_principal()
        return auth_pb2.IntrospectResponse(
            user_id=principal.user_id,
            workspace_id=principal.workspace_id,
            role=principal.role,
            expires_at=to_timestamp(
                datetime.fromtimestamp(principal.token_expires_at, UTC) if principal.token_expires_at else None
            ),
            api_key_id=principal.api_key_id,
        )
