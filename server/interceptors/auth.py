"""Auth from the contract: each method's astra.v1.auth option says whether a JWT, an API key or nothing
is required; a verified caller is bound as the call's Principal. Where a JWT is required, a personal API key
(`Bearer ak_…`, server/auth/keys.py) is accepted too."""

from __future__ import annotations

import hmac

import grpc

from contract.services import AUTH_API_KEY, AUTH_NONE, auth_level_of
from server import telemetry
from server.auth import store
from server.auth.keys import KeyAuthenticator, is_key
from server.auth.tokens import AccessTokens
from server.context import Principal, principal_var
from server.db.database import Database
from server.db.notified import NotifiedCache
from server.errors import NotFound, PermissionDenied, Unauthenticated
from server.interceptors.base import Layer, metadata_value

INTROSPECT = "/astra.v1.AuthService/Introspect"
WORKSPACES = "/astra.v1.WorkspacesService/"
# The methods that run a chat turn: their auth is the turn's first phase (server/telemetry.py).
TURNS = frozenset(
    {
        "/astra.v1.ChatService/Chat",
        "/astra.v1.ChatService/ChatStream",
        "/astra.v1.OpenAIService/CreateChatCompletion",
        "/astra.v1.AutonomousService/RunTask",
    }
)


class AuthLayer(Layer):
    def __init__(
        self,
        tokens: AccessTokens,
        db: Database,
        memberships: NotifiedCache,
        api_keys: tuple[str, ...],
        api_key_rows: NotifiedCache | None = None,
    ):
        self.tokens = tokens
        self.db = db
        self.memberships = memberships
        self.api_keys = [k.encode() for k in api_keys]
        # Without a listened-to cache (server/auth/cache.py) keys are looked up on every call.
        self.keys = KeyAuthenticator(db, api_key_rows or NotifiedCache("astra_api_keys"), memberships)

    def _check_api_key(self, context: grpc.aio.ServicerContext) -> Principal:
        presented = metadata_value(context, "x-api-key").encode()
        if not presented:
            raise Unauthenticated("an API key is required in the x-api-key header")
        # Compare against every key so the time taken does not tell which one nearly matched.
        matched = False
        for key in self.api_keys:
            matched |= hmac.compare_digest(presented, key)
        if not matched:
            raise Unauthenticated("invalid API key")
        return Principal(api_key=True)

    async def _check_jwt(self, method: str, context: grpc.aio.ServicerContext) -> Principal:
        scheme, _, token = metadata_value(context, "authorization").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("a bearer token is required in the Authorization header")
        workspace_id = metadata_value(context, "x-workspace-id").strip() or None
        if is_key(token.strip()):
            # Introspect only says who is calling (the /ws upgrade, the /mcp gate): the calls that follow it count.
            return await self.keys.principal(token.strip(), workspace_id, count=method != INTROSPECT)
        claims = self.tokens.verify(token.strip())
        row = await self.memberships.read(
            claims.user_id, workspace_id, self.db, lambda conn: store.membership(conn, claims.user_id, workspace_id)
        )
        if row is None:
            raise Unauthenticated("invalid access token")
        # Revoked by a logout (everything issued before it) or with its refresh-token family (reuse detected).
        if claims.issued_at < row["tokens_valid_after"] or claims.family in row["revoked_families"]:
            raise Unauthenticated("access token revoked")
        if row["role"] is None:
            # Same answer for a workspace that exists and one that does not: ids cannot be probed.
            raise NotFound(f"workspace {workspace_id} not found")
        return Principal(
            user_id=claims.user_id,
            workspace_id=row["workspace_id"],
            role=row["role"],
            token_expires_at=claims.expires_at,
        )

    async def before(self, method: str, context: grpc.aio.ServicerContext) -> None:
        level = auth_level_of(method)
        if level == AUTH_NONE:
            return
        if method in TURNS:
            with telemetry.phase("auth"):
                principal = await self._principal(level, method, context)
        else:
            principal = await self._principal(level, method, context)
        if principal.api_key_id and method.startswith(WORKSPACES):
            # A key is bound to one workspace, but these methods name workspaces in their requests: a key could
            # reach every workspace of its owner through them. Workspace administration needs a signed-in user.
            raise PermissionDenied("personal API keys cannot manage workspaces, members, invitations or grants")
        principal_var.set(principal)

    async def _principal(self, level: int, method: str, context: grpc.aio.ServicerContext) -> Principal:
        return self._check_api_key(context) if level == AUTH_API_KEY else await self._check_jwt(method, context)
