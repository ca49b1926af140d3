"""`astra serve --processes N`: N copies of the gateway sharing its ports, so one pod can use every core.

Python runs one thread of code per process, so a single gateway tops out at one core. The copies bind the same
ports with SO_REUSEPORT and the kernel spreads connections among them. This parent owns what they must share
(the embedded PostgreSQL, which it supervises: server/db/embedded.py, and the generated dev JWT secret), restarts a
copy that dies, and passes SIGTERM on so each drains as usual. Background workers run in the first copy only: they
are safe in every copy, but one set per pod is enough and the memory indexer's model is not loaded N times.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from types import FrameType

from server.config import ConfigError, Settings, with_jwt_secret
from server.db.embedded import STATE_ENV, EmbeddedPostgres, reap_zombie_children

log = logging.getLogger("astra")

RESTART_DELAY_S = 1.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in each copy before exec: if the parent is killed outright (SIGKILL, OOM), the copies get SIGTERM
    instead of holding the ports as orphans."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _command(role: str, index: int, settings: Settings) -> list[str]:
    return [
        sys.executable, "-m", "server", "serve", "--role", role,
        "--http-port", str(settings.http_port), "--grpc-port", str(settings.grpc_port), "--copy", str(index),
    ]  # fmt: skip


def run(settings: Settings, role: str, count: int) -> int:
    if settings.http_port == 0 or settings.grpc_port == 0:
        raise ConfigError("--processes needs fixed ports: copies share them, so port 0 cannot be used")
    env = dict(os.environ)
    embedded = None
    if role != "edge":
        settings = with_jwt_secret(settings)
        env["JWT_SECRET"] = settings.jwt_secret
        if settings.embedded_db:
            embedded = EmbeddedPostgres(settings.data_dir)
            env["DATABASE_URL"] = embedded.start()
            env[STATE_ENV] = str(embedded.lock_path)  # the copies report its restarts in /metrics
    stopping = False
    children: dict[int, subprocess.Popen[bytes]] = {}

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signum)

    def spawn(index: int) -> None:
        children[index] = subprocess.Popen(_command(role, index, settings), env=env, preexec_fn=_die_with_parent)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    try:
        for index in range(count):
            spawn(index)
        log.info("processes started", extra={"processes": count, "role": role})
        reaped_at = time.monotonic()
        while not stopping:
            time.sleep(0.2)
            if embedded is not None and time.monotonic() - reaped_at > 5:
                # As the embedded server's subreaper this process also inherits what a killed copy leaves behind.
                reap_zombie_children(skip={child.pid for child in children.values()}, only_postgres=False)
                reaped_at = time.monotonic()
            for index, child in list(children.items()):
                if child.poll() is not None and not stopping:
                    log.error("process exited; restarting", extra={"copy": index, "exit_code": child.returncode})
                    time.sleep(RESTART_DELAY_S)
                    spawn(index)
        codes = [child.wait() for child in children.values()]
        return max(codes, default=0)
    finally:
        for child in children.values():
            if child.poll() is None:
                child.kill()
        if embedded is not None:
            embedded.stop()
