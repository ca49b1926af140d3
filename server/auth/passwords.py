"""argon2id password hashing, run off the event loop (each hash costs tens of milliseconds by design).

Hashing has threads of its own: on asyncio's default pool a login would queue behind whatever else blocks there
(feed parsing, DNS, file work), and a few stuck jobs would hang every login. Two threads bound the CPU and memory
(64 MiB per hash) that concurrent logins can take on a small machine; more logins simply wait their turn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from server.errors import InvalidArgument

MIN_LENGTH, MAX_LENGTH = 8, 128
WORKERS = 2

_hasher = PasswordHasher()  # argon2id with the RFC 9106 low-memory profile
# Verified against when an email is unknown, so a miss costs as much time as a wrong password.
_DUMMY_HASH = _hasher.hash("astra-timing-equaliser")

# One pool per event loop that serves logins (one per process in production; tests run several gateways, each on
# its own loop, and each stops its own pool). Each loop touches only its own entry.
_pools: dict[asyncio.AbstractEventLoop, ThreadPoolExecutor] = {}

T = TypeVar("T")


async def _run(fn: Callable[..., T], *args: object) -> T:
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is None:
        pool = _pools[loop] = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="argon2")
    return await loop.run_in_executor(pool, fn, *args)


def shutdown() -> None:
    """Stops the running loop's hashing threads (at server stop): hashes under way finish, queued ones are dropped."""
    pool = _pools.pop(asyncio.get_running_loop(), None)
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


def check_policy(password: str) -> None:
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise InvalidArgument(f"password must be {MIN_LENGTH} to {MAX_LENGTH} characters")


async def hash_password(password: str) -> str:
    return await _run(_hasher.hash, password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str | None, password: str) -> bool:
    """False for a wrong password and for a missing account (stored None), in the same time."""
    return await _run(_verify, stored, password)
