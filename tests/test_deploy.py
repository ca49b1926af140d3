"""deploy/base: the Kubernetes manifests validate offline against the Kubernetes schemas (strict), each part runs
as its own Deployment with the right role, probes and resources, and the checker really rejects broken copies."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "deploy" / "base"

_spec = importlib.util.spec_from_file_location("deploy_check", ROOT / "deploy" / "check.py")
assert _spec is not None and _spec.loader is not None
deploy_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(deploy_check)


def manifests() -> dict[tuple[str, str], dict[str, Any]]:
    _, files = deploy_check.load(BASE)
    return {(m["kind"], m["metadata"]["name"]): m for docs in files.values() for m in docs}


def container(name: str) -> dict[str, Any]:
    return manifests()[("Deployment", name)]["spec"]["template"]["spec"]["containers"][0]


def test_manifests_validate_against_the_kubernetes_schemas_and_house_rules() -> None:
    assert deploy_check.check(BASE) == []


def test_each_part_is_its_own_deployment_with_its_role_probes_and_resources() -> None:
    found = manifests()
    roles = {name: container(name)["args"] for (kind, name) in found if kind == "Deployment"}
    assert roles == {
        "astra-core": ["serve", "--role", "grpc"],
        "astra-edge": ["serve", "--role", "edge"],
        "astra-worker": ["serve", "--role", "worker"],
    }
    # The core and the workers: native gRPC probes on grpc.health.v1, on the port the process serves it.
    for name in ("astra-core", "astra-worker"):
        spec = container(name)
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert spec[probe]["grpc"] == {"port": 50051}, (name, probe)
    # The edge: HTTP probes; readiness follows draining, liveness stays local to the edge process.
    edge = container("astra-edge")
    assert edge["readinessProbe"]["httpGet"]["path"] == "/readiness"
    assert edge["livenessProbe"]["httpGet"]["path"] == "/openapi.json"
    for name in ("astra-core", "astra-edge", "astra-worker"):
        resources = container(name)["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]) and "memory" in resources["limits"]
        assert ("PodDisruptionBudget", name) in found
    # DATABASE_URL (external PostgreSQL) comes from the Secret; the edge gets no secrets at all.
    assert "DATABASE_URL" in found[("Secret", "astra-secrets")]["stringData"]
    assert {"secretRef": {"name": "astra-secrets"}} in container("astra-core")["envFrom"]
    assert "envFrom" not in edge and not any("secretKeyRef" in e.get("valueFrom", {}) for e in edge["env"])
    config = found[("ConfigMap", "astra-config")]["data"]
    assert config["ASTRA_GRPC_TARGET"].endswith("astra-core-headless:50051")
    assert found[("Service", "astra-core-headless")]["spec"]["clusterIP"] == "None"


def _broken_copy(tmp_path: Path, filename: str, edit: Any) -> Path:
    copy = tmp_path / "base"
    shutil.copytree(BASE, copy)
    documents = list(yaml.safe_load_all((copy / filename).read_text()))
    edit(documents)
    (copy / filename).write_text(yaml.safe_dump_all(documents))
    return copy


def _deployment(documents: list[dict[str, Any]]) -> dict[str, Any]:
    return next(d for d in documents if d["kind"] == "Deployment")


def _pod(documents: list[dict[str, Any]]) -> dict[str, Any]:
    return _deployment(documents)["spec"]["template"]["spec"]


@pytest.mark.parametrize(
    ("filename", "edit", "expected"),
    [
        ("core.yaml", lambda d: _pod(d)["containers"][0].pop("readinessProbe"), "no readinessProbe"),
        ("edge.yaml", lambda d: _pod(d)["containers"][0]["resources"].pop("requests"), "resources.requests"),
        ("worker.yaml", lambda d: _pod(d).update(restartPolicyy="Always"), "restartPolicyy"),
        ("core.yaml", lambda d: _pod(d)["containers"][0].update(ports="50051"), "is not of type"),
        ("pdb.yaml", lambda d: d.pop(0), "0 PodDisruptionBudgets"),
        (
            "edge.yaml",
            lambda d: _pod(d)["containers"][0]["env"][0]["valueFrom"]["configMapKeyRef"].update(key="NOPE"),
            "has no key NOPE",
        ),
        ("core.yaml", lambda d: _pod(d)["containers"][0]["livenessProbe"]["grpc"].update(port=9999), "port 9999"),
    ],
)
def test_the_checker_rejects_broken_manifests(tmp_path: Path, filename: str, edit: Any, expected: str) -> None:
    problems = deploy_check.check(_broken_copy(tmp_path, filename, edit))
    assert any(expected in p for p in problems), problems
