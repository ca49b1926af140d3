"""Bounded polling, for what a test cannot await directly (worker runs, rows written after a reply)."""

from __future__ import annotations

import asyncio
import time
from typing import Any


async def wait_until(predicate: Any, seconds: float = 5.0, what: str = "condition") -> Any:
    """Polls an async predicate until it returns something truthy; bounded."""
    deadline = time.monotonic() + seconds
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {seconds}s (last: {value!r})")
        await asyncio.sleep(0.03)


async def eventually(predicate: Any, seconds: float = 10.0, what: str = "condition") -> Any:
    """Polls a predicate, plain or async, until it returns something truthy; bounded."""
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {seconds}s (last: {value!r})")
        await asyncio.sleep(0.05)
