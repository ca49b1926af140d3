"""C load generators for the throughput runs: wrk (HTTP/1.1) and h2load (gRPC over HTTP/2, from nghttp2-client).

A Python client on the same two cores as the gateway spends about as much CPU per request as the server does, so
it would measure itself. `apt-get install wrk nghttp2-client` provides both; without them the scripts fall back
to their asyncio clients and say so in the result.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

from google.protobuf.message import Message

from bench.common import percentiles


def available() -> bool:
    return shutil.which("wrk") is not None and shutil.which("h2load") is not None


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return round(float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit], 3)


def wrk(url: str, headers: dict[str, str], clients: int, seconds: float) -> dict[str, float]:
    """GET url with `clients` keep-alive connections for `seconds` (one thread): req/s, p50/p99 ms, failures."""
    args = ["wrk", "-t1", f"-c{clients}", f"-d{max(1, round(seconds))}s", "--latency"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": _ms(latency["50"]),
        "p99_ms": _ms(latency["99"]),
        "failed": int(bad.group(1) if bad else 0) + sum(int(n) for n in (errors.groups() if errors else ())),
    }


def h2load_grpc(
    target: str, method: str, request: Message, metadata: dict[str, str], clients: int, seconds: float
) -> dict[str, float]:
    """One unary gRPC method called by `clients` concurrent streams (over up to 10 connections) for `seconds`.

    h2load sees HTTP status only; a gRPC error is a 200 with grpc-status in the trailers, so the caller checks
    the server's per-code counters for failures.
    """
    body = request.SerializeToString()
    connections = min(clients, 10)
    with tempfile.TemporaryDirectory() as tmp:
        data, log = Path(tmp) / "request.bin", Path(tmp) / "requests.log"
        data.write_bytes(b"\x00" + struct.pack(">I", len(body)) + body)  # the gRPC length-prefixed frame
        args = [
            "h2load", "-t1", f"-c{connections}", f"-m{max(1, clients // connections)}",
            f"-D{max(1, round(seconds))}", "-d", str(data), f"--log-file={log}",
            "-H", "content-type: application/grpc", "-H", "te: trailers",
        ]  # fmt: skip
        for name, value in metadata.items():
            args += ["-H", f"{name}: {value}"]
        out = subprocess.run(
            [*args, f"http://{target}{method}"], capture_output=True, text=True, check=True, timeout=seconds + 60
        ).stdout
        # One line per request: start (µs since epoch), status, latency (µs).
        latency = percentiles([int(line.split()[2]) / 1e6 for line in log.read_text().splitlines() if line.strip()])
    done = re.search(r"(\d+) succeeded, (\d+) failed, (\d+) errored", out)
    return {
        "rps": float(re.search(r"finished in [\d.]+\w*, ([\d.]+) req/s", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": latency["p50_ms"],
        "p99_ms": latency["p99_ms"],
        "failed": int(done.group(2)) + int(done.group(3)) if done else -1,
    }
