"""Schemathesis against a live gateway, driven by GET /openapi.json: every route that needs no seeded state (routes
without auth and JWT routes, with a freshly registered account) gets generated requests; no answer may be a 5xx,
and every answer must match the documented status codes, content types and response schemas.

Left out, and why: API-key routes (admin, diagnostics, autonomous: they report on or act for the whole deployment),
POST /auth/logout (it would revoke the token the run uses). Schemathesis' checks that compare what is accepted with
the schema (positive_data_acceptance, negative_data_rejection, ...) are not run: value ranges the services enforce
(limit >= 0, months 1..36, ...) are not in the contract, and proto3 JSON parsing is more lenient than the schema
("7" for an integer) — both give 400s or 200s, never 500s.

ASTRA_SCHEMATHESIS_EXAMPLES (default 3) and ASTRA_SCHEMATHESIS_SEED (default 1) tune the run; `make schemathesis`
runs it with more examples."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from edge.openapi import OPENAPI_PATH
from tests.harness import GatewayThread
from tests.helpers.accounts import register

EXCLUDED_OPERATIONS = ("AuthService_Logout",)
# What the edge promises: no 5xx, and statuses, content types and bodies as documented.
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def st_command() -> list[str]:
    found = Path(sys.executable).with_name("st")
    if found.exists():
        return [str(found)]
    path = shutil.which("st")
    if path is None:
        pytest.fail("schemathesis is not installed: pip install -e '.[dev]'")
    return [path]


async def _account_and_document(base_url: str) -> tuple[dict, dict]:
    async with aiohttp.ClientSession(base_url=base_url) as http:
        account = await register(http)
        async with http.get(OPENAPI_PATH) as resp:
            return account, await resp.json()


def test_generated_requests_never_get_a_server_error(gateway: GatewayThread, tmp_path: Path) -> None:
    account, document = asyncio.run(_account_and_document(gateway.http_url))
    api_key_operations = [
        operation["operationId"]
        for operations in document["paths"].values()
        for operation in operations.values()
        if operation.get("security") == [{"apiKey": []}]
    ]
    assert api_key_operations  # the filter below really removes something
    command = [
        *st_command(),
        "run",
        gateway.http_url + OPENAPI_PATH,
        "--header",
        f"Authorization: Bearer {account['tokens']['accessToken']}",
        "--max-examples",
        os.environ.get("ASTRA_SCHEMATHESIS_EXAMPLES", "3"),
        "--seed",
        os.environ.get("ASTRA_SCHEMATHESIS_SEED", "1"),
        "--checks",
        CHECKS,
        "--generation-database",
        "none",
        "--no-color",
        "--report",
        "ndjson",
        "--report-dir",
        str(tmp_path),
    ]
    for operation_id in (*api_key_operations, *EXCLUDED_OPERATIONS):
        command += ["--exclude-operation-id", operation_id]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    assert "Tested:" in output, output[-3000:]
