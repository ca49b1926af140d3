"""argon2id password hashing, run off the event loop (each hash costs tens of milliseconds by design)."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from server.errors import InvalidArgument

MIN_LENGTH, MAX_LENGTH = 8, 128

_hasher = PasswordHasher()  # argon2id with the RFC 9106 low-memory profile
# Verified against when an email is unknown, so a miss costs as much time as a wrong password.
_DUMMY_HASH = _hasher.hash("astra-timing-equaliser")


def check_policy(password: str) -> None:
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise InvalidArgument(f"password must be {MIN_LENGTH} to {MAX_LENGTH} characters")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str | None, password: str) -> bool:
    """False for a wrong password and for a missing account (stored None), in the same time."""
    return await asyncio.to_thread(_verify, stored, password)
