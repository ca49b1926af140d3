"""HS256 access tokens with a pinned algorithm, and opaque refresh tokens stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass

import jwt

from server.errors import Unauthenticated

ALGORITHM = "HS256"
_REQUIRED = ["sub", "iat", "exp", "jti", "typ"]
_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    issued_at: float
    expires_at: float
    jti: str
    # The refresh-token family (one login) the token was issued with; revoked with it when a refresh token is
    # reused. Empty for tokens issued without one.
    family: str = ""


class AccessTokens:
    def __init__(self, secret: str, previous: str = "", ttl_s: int = 900):
        self._secret = secret
        # During a secret rotation tokens signed with the previous secret stay valid until they expire.
        self._keys = [k for k in (secret, previous) if k]
        self.ttl_s = ttl_s
        self._verified: dict[str, AccessClaims] = {}

    def issue(self, user_id: str, family_id: str = "") -> tuple[str, float]:
        # iat keeps milliseconds so a logout and a login in the same second are told apart.
        now = round(time.time(), 3)
        exp = int(now) + self.ttl_s
        claims: dict[str, object] = {"sub": user_id, "iat": now, "exp": exp, "jti": uuid.uuid4().hex, "typ": "access"}
        if family_id:
            claims["fam"] = family_id
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM), float(exp)

    def verify(self, token: str) -> AccessClaims:
        """The token's claims; UNAUTHENTICATED for anything but a valid, unexpired access token. Verified tokens are
        remembered until they expire (signature checks dominate a cheap call); revocation is checked by the caller
        on every call regardless."""
        cached = self._verified.get(token)
        if cached is not None:
            if cached.expires_at > time.time():
                return cached
            del self._verified[token]
        claims = self._verify(token)
        if len(self._verified) >= _CACHE_SIZE:
            self._verified.pop(next(iter(self._verified)))  # the oldest entry
        self._verified[token] = claims
        return claims

    def _verify(self, token: str) -> AccessClaims:
        for key in self._keys:
            try:
                claims = jwt.decode(token, key, algorithms=[ALGORITHM], options={"require": _REQUIRED})
            except jwt.InvalidSignatureError:
                continue
            except jwt.ExpiredSignatureError:
                raise Unauthenticated("access token expired") from None
            except jwt.PyJWTError:
                raise Unauthenticated("invalid access token") from None
            family = claims.get("fam", "")
            if claims.get("typ") != "access" or not isinstance(claims.get("sub"), str) or not isinstance(family, str):
                raise Unauthenticated("invalid access token")
            return AccessClaims(claims["sub"], float(claims["iat"]), float(claims["exp"]), str(claims["jti"]), family)
        raise Unauthenticated("invalid access token")


def new_refresh_token() -> tuple[str, str]:
    """A fresh refresh token and the hash that is stored in its place."""
    token = "rt_" + secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
