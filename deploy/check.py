"""Offline validation of deploy/base: every manifest against the Kubernetes OpenAPI JSON schemas shipped in the
kubernetes-validate wheel (strict: unknown fields are errors), then the rules a platform team asks for that no
schema says (probes, resources, PDBs that select real pods, references that resolve, the kustomization's list).

Usage: python deploy/check.py [DIR]   (exit 1 with one line per problem)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

KUBERNETES_VERSION = "1.33.0"  # the oldest minor still supported upstream when this was written
BASE = Path(__file__).resolve().parent / "base"
Manifest = dict[str, Any]


def load(directory: Path) -> tuple[dict[str, Any], dict[str, list[Manifest]]]:
    """The kustomization and, per resource file it lists, its documents."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    files = {
        name: [d for d in yaml.safe_load_all((directory / name).read_text()) if d]
        for name in kustomization["resources"]
    }
    return kustomization, files


def schema_problems(manifest: Manifest) -> list[str]:
    try:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path) or "(root)"
        return [f"{path}: {exc.message}"]
    except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as exc:
        return [f"no schema: {exc}"]
    return []


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def deployment_problems(deployment: Manifest, by_kind: dict[str, list[Manifest]]) -> list[str]:
    problems = []
    spec = deployment["spec"]
    pod_labels = spec["template"]["metadata"].get("labels", {})
    if not _selects(spec["selector"].get("matchLabels", {}), pod_labels):
        problems.append("selector does not match the pod template's labels")
    pod = spec["template"]["spec"]
    for container in pod["containers"]:
        where = f"container {container['name']}"
        for probe in ("readinessProbe", "livenessProbe"):
            if probe not in container:
                problems.append(f"{where}: no {probe}")
        requests = container.get("resources", {}).get("requests", {})
        if not {"cpu", "memory"} <= set(requests):
            problems.append(f"{where}: resources.requests needs cpu and memory")
        if "memory" not in container.get("resources", {}).get("limits", {}):
            problems.append(f"{where}: no memory limit")
        security = container.get("securityContext", {})
        if security.get("allowPrivilegeEscalation") is not False or not security.get("readOnlyRootFilesystem"):
            problems.append(f"{where}: must not escalate privileges and must have a read-only root filesystem")
        probes = [container.get(p, {}) for p in ("readinessProbe", "livenessProbe")]
        ports = {p["containerPort"] for p in container.get("ports", [])}
        names = {p.get("name") for p in container.get("ports", [])}
        for probe in probes:
            port = (probe.get("grpc") or probe.get("httpGet") or probe.get("tcpSocket") or {}).get("port")
            if port is not None and port not in ports and port not in names:
                problems.append(f"{where}: a probe targets port {port}, which the container does not expose")
        for source in container.get("envFrom", []):
            problems += _reference_problems(where, source, by_kind)
        for env in container.get("env", []):
            ref = env.get("valueFrom", {})
            if "configMapKeyRef" in ref:
                problems += _key_problems(where, "ConfigMap", ref["configMapKeyRef"], by_kind)
            if "secretKeyRef" in ref:
                problems += _key_problems(where, "Secret", ref["secretKeyRef"], by_kind)
    budgets = [
        p for p in by_kind.get("PodDisruptionBudget", []) if _selects(p["spec"]["selector"]["matchLabels"], pod_labels)
    ]
    if len(budgets) != 1:
        problems.append(f"{len(budgets)} PodDisruptionBudgets select its pods (want exactly 1)")
    if not any(_selects(s["spec"].get("selector", {}), pod_labels) for s in by_kind.get("Service", [])) and not any(
        "grpc" in (c.get("readinessProbe") or {}) for c in pod["containers"]
    ):
        problems.append("no Service selects its pods")
    return problems


def _named(by_kind: dict[str, list[Manifest]], kind: str, name: str) -> Manifest | None:
    return next((m for m in by_kind.get(kind, []) if m["metadata"]["name"] == name), None)


def _reference_problems(where: str, source: Manifest, by_kind: dict[str, list[Manifest]]) -> list[str]:
    for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
        if key in source and _named(by_kind, kind, source[key]["name"]) is None:
            return [f"{where}: {kind} {source[key]['name']} is not in the kustomization"]
    return []


def _key_problems(where: str, kind: str, ref: Manifest, by_kind: dict[str, list[Manifest]]) -> list[str]:
    target = _named(by_kind, kind, ref["name"])
    if target is None:
        return [f"{where}: {kind} {ref['name']} is not in the kustomization"]
    keys = {**target.get("data", {}), **target.get("stringData", {})}
    return [] if ref["key"] in keys else [f"{where}: {kind} {ref['name']} has no key {ref['key']}"]


def check(directory: Path = BASE) -> list[str]:
    kustomization, files = load(directory)
    problems = []
    listed = set(kustomization["resources"])
    present = {p.name for p in directory.glob("*.yaml")} - {"kustomization.yaml"}
    problems += [f"{name}: not listed in kustomization.yaml" for name in sorted(present - listed)]
    by_kind: dict[str, list[Manifest]] = {}
    invalid = False
    for name, documents in files.items():
        for manifest in documents:
            by_kind.setdefault(manifest["kind"], []).append(manifest)
            label = f"{name}: {manifest['kind']}/{manifest['metadata']['name']}"
            found = [f"{label}: {p}" for p in schema_problems(manifest)]
            problems += found
            invalid |= bool(found)
    if invalid:
        return problems  # the rules below read fields whose shape only the schemas guarantee
    for deployment in by_kind.get("Deployment", []):
        label = f"Deployment/{deployment['metadata']['name']}"
        problems += [f"{label}: {p}" for p in deployment_problems(deployment, by_kind)]
    for hpa in by_kind.get("HorizontalPodAutoscaler", []):
        target = hpa["spec"]["scaleTargetRef"]
        if _named(by_kind, target["kind"], target["name"]) is None:
            problems.append(f"HorizontalPodAutoscaler/{hpa['metadata']['name']}: scales a missing {target['name']}")
    secret = _named(by_kind, "Secret", "astra-secrets") or {}
    if "DATABASE_URL" not in {**secret.get("data", {}), **secret.get("stringData", {})}:
        problems.append("Secret/astra-secrets: no DATABASE_URL")
    return problems


def main(argv: list[str]) -> int:
    directory = Path(argv[1]) if len(argv) > 1 else BASE
    problems = check(directory)
    for problem in problems:
        print(problem)
    if not problems:
        _, files = load(directory)
        count = sum(len(d) for d in files.values())
        print(f"deploy: {count} manifests valid against Kubernetes {KUBERNETES_VERSION} schemas (strict)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
