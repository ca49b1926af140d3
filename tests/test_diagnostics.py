"""Diagnostics through the edge and `astra doctor`: 12 checks in 6 categories run concurrently, the quick run,
stored history (last 10), provider reachability against a local fake vendor, and every database check turning
`fail` while the gateway's database refuses connections (its open ones killed), then `pass` again once it is back.

The outage is made on this module's own database of the shared server rather than on a private server
(tests/test_database_outage.py): initdb of a second server costs 15 s to minutes on a loaded machine."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import aiohttp
import psycopg

from tests.harness import API_KEY, TEST_SECRET, GatewayThread
from tests.helpers.db import Postgres
from tests.helpers.http import api
from tests.providers.fake_vendors import FakeVendor, Reply

KEY = {"x-api-key": API_KEY}
CATEGORIES = {"database", "search", "providers", "security", "workers", "runtime"}
VENDOR_KEY = "sk-diagnostics-0123456789abcdef"
GATEWAY_OPTIONS = {"vendor_keys": {"openai": VENDOR_KEY}}


def admin_sql(postgres: Postgres, query: str) -> None:
    with psycopg.connect(postgres.uri("postgres"), autocommit=True) as conn:
        conn.execute(query)


def set_database_down(postgres: Postgres, database_url: str, down: bool) -> None:
    """Takes this module's database away from the gateway (new connections refused, open ones killed) or gives it
    back; the shared server and every other test's database stay up."""
    name = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
    admin_sql(postgres, f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {"false" if down else "true"}')
    if down:
        admin_sql(postgres, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")


def by_id(run: dict) -> dict[str, dict]:
    return {c["id"]: c for c in run["checks"]}


async def diagnostics(http: aiohttp.ClientSession, path: str = "/diagnostics") -> dict:
    status, body, _ = await api(http, "GET", path, headers=KEY)
    assert status == 200, body
    return body["run"]


async def test_full_run_has_12_checks_in_6_categories(http: aiohttp.ClientSession, vendor: FakeVendor) -> None:
    vendor.script(Reply(status=200, body={"object": "list", "data": []}))
    run = await diagnostics(http)
    assert run["kind"] == "full" and run["id"].startswith("diag_")
    assert len(run["checks"]) == 12 and len(set(by_id(run))) == 12
    assert {c["category"] for c in run["checks"]} == CATEGORIES
    for check in run["checks"]:
        assert check["status"] in ("pass", "warn", "fail")
        assert check["durationMs"] >= 0 and check["detail"]
    checks = by_id(run)
    for check_id in (
        "database.connect",
        "database.migrations",
        "database.pgvector",
        "search.fulltext",
        "providers.default",
        "providers.reachable",
        "security.secrets",
        "security.audit_chain",
        "workers.webhook_backlog",
        "workers.heartbeat",
    ):
        assert checks[check_id]["status"] == "pass", checks[check_id]
    assert checks["search.embeddings"]["status"] in ("pass", "warn")
    assert checks["runtime.process"]["status"] in ("pass", "warn")  # warn: event-loop lag on a loaded machine
    assert "openai" in checks["providers.reachable"]["detail"]
    # The vendor was really asked, with the configured key.
    (request,) = [r for r in vendor.requests if r.path == "/v1/models"]
    assert request.headers["Authorization"] == f"Bearer {VENDOR_KEY}"
    summary = run["summary"]
    assert summary["total"] == 12
    assert summary["passed"] + summary["warned"] + summary["failed"] == 12
    assert run["status"] == ("warn" if summary["warned"] else "pass")


async def test_a_rejected_provider_key_fails_the_reachability_check(
    http: aiohttp.ClientSession, vendor: FakeVendor
) -> None:
    vendor.script(Reply(status=401, body={"error": {"message": "bad key"}}))
    run = await diagnostics(http, "/diagnostics/quick")
    assert run["kind"] == "quick"
    # Connectivity only.
    assert sorted(by_id(run)) == ["database.connect", "providers.reachable"]
    check = by_id(run)["providers.reachable"]
    assert check["status"] == "fail" and "key rejected" in check["detail"]
    assert run["status"] == "fail"


async def test_history_keeps_the_last_10_runs_newest_first(http: aiohttp.ClientSession, vendor: FakeVendor) -> None:
    ids = []
    for _ in range(11):
        vendor.script(Reply(status=200, body={"data": []}))
        ids.append((await diagnostics(http, "/diagnostics/quick"))["id"])
    status, body, _ = await api(http, "GET", "/diagnostics/history", headers=KEY)
    assert status == 200, body
    assert [r["id"] for r in body["runs"]] == ids[::-1][:10]
    assert all(len(r["checks"]) == 2 and r["summary"]["total"] == 2 for r in body["runs"])


def doctor(env_overrides: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASTRA_", "OPENAI_", "ANTHROPIC_"))}
    env.update({"JWT_SECRET": TEST_SECRET, "ASTRA_API_KEYS": API_KEY, **env_overrides})
    return subprocess.run(
        [sys.executable, "-m", "server", "doctor"], env=env, capture_output=True, text=True, timeout=60, check=False
    )


async def test_doctor_prints_the_same_checks(gateway: GatewayThread) -> None:
    done = await asyncio.to_thread(doctor, {"DATABASE_URL": gateway.settings.database_url})
    for check_id in ("database.connect", "database.migrations", "security.audit_chain", "workers.heartbeat"):
        assert f"PASS  {check_id}" in done.stdout, done.stdout + done.stderr
    assert "runtime.process" in done.stdout
    failed = [line for line in done.stdout.splitlines() if line.strip().startswith("FAIL")]
    # Exit 1 exactly when a check fails; on a busy machine that can only be the event-loop lag.
    assert done.returncode == (1 if failed else 0), done.stdout + done.stderr
    assert all("runtime.process" in line for line in failed), failed


async def test_database_down_turns_checks_to_fail_and_back(
    http: aiohttp.ClientSession, gateway: GatewayThread, postgres: Postgres, vendor: FakeVendor
) -> None:
    await asyncio.to_thread(set_database_down, postgres, gateway.settings.database_url, True)
    try:
        deadline = time.monotonic() + 15
        while True:  # until the health probe has seen it
            async with http.get("/readiness") as resp:
                if resp.status == 503:
                    break
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        vendor.script(Reply(status=200, body={"data": []}))
        run = await diagnostics(http)
        assert run["status"] == "fail"
        checks = by_id(run)
        for check_id in ("database.connect", "database.migrations", "database.pgvector", "security.audit_chain"):
            assert checks[check_id]["status"] == "fail", checks[check_id]
        assert "unavailable" in checks["database.connect"]["detail"]
        # What does not need the database still reports normally.
        assert checks["runtime.process"]["status"] in ("pass", "warn")
        assert checks["security.secrets"]["status"] == "pass"
        quick = await diagnostics(http, "/diagnostics/quick")
        assert by_id(quick)["database.connect"]["status"] == "fail"
        status, _, _ = await api(http, "GET", "/diagnostics/history", headers=KEY)
        assert status == 503
        done = await asyncio.to_thread(doctor, {"DATABASE_URL": gateway.settings.database_url})
        assert done.returncode == 1 and "FAIL  database.connect" in done.stdout
    finally:
        await asyncio.to_thread(set_database_down, postgres, gateway.settings.database_url, False)
    deadline = time.monotonic() + 15
    while True:
        async with http.get("/readiness") as resp:
            if resp.status == 200:
                break
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    vendor.script(Reply(status=200, body={"data": []}))
    assert by_id(await diagnostics(http))["database.connect"]["status"] == "pass"
