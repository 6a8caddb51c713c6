"""What an existing cluster runs: Cilium version and features, read-only."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clusters.blueprint import MARKER_NAME, MARKER_NAMESPACE
from clusters.env import Env, Kube
from clusters.errors import ClustersError, CommandFailed
from clusters.paths import repo_root
from clusters.runner import check
from clusters.steps import marker_targets
from conformance.vocabulary import features
from conformance.vocabulary.features import (
    FEATURE_FQDN_TARGETS,
    FEATURE_HUBBLE_METRICS,
    FEATURE_HUBBLE_RELAY,
    FEATURE_KPR,
    FEATURE_L7_PROXY,
    FEATURE_MUTUAL_AUTH,
)

NOT_LOADABLE = "not loadable"
_VERSION_RE = re.compile(r":v?(\d+\.\d+\.\d+)")


@dataclass(frozen=True)
class Detected:
    cilium_version: str
    features: frozenset[str]
    external_envoy: bool = False  # a separate cilium-envoy DaemonSet
    external_targets: dict[str, str] = field(default_factory=dict)


def _json(env: Env, kube: Kube, what: str, *args: str) -> dict[str, Any] | None:
    """None when the object does not exist; CommandFailed when the cluster does not answer."""
    res = check(env.run(kube.kubectl(env, *args, "-o", "json", "--ignore-not-found")), what)
    if not res.stdout.strip():
        return None
    doc = json.loads(res.stdout)
    return doc if isinstance(doc, dict) else None


def features_from(
    config: dict[str, str], relay: dict[str, Any] | None, targets: dict[str, str]
) -> frozenset[str]:
    """Pure: cilium-config data + the hubble-relay Deployment + the stored targets."""
    on = {k: str(v).strip().lower() for k, v in config.items()}
    found = set()
    if on.get("enable-l7-proxy") == "true":
        found.add(FEATURE_L7_PROXY)
    if on.get("kube-proxy-replacement") in ("true", "strict"):
        found.add(FEATURE_KPR)
    if on.get("hubble-metrics") and on.get("hubble-metrics-server"):
        found.add(FEATURE_HUBBLE_METRICS)
    if on.get("mesh-auth-enabled") == "true" and on.get("mesh-auth-mutual-enabled") == "true":
        found.add(FEATURE_MUTUAL_AUTH)
    if relay is not None and int(relay.get("status", {}).get("readyReplicas", 0) or 0) > 0:
        found.add(FEATURE_HUBBLE_RELAY)
    if targets:
        found.add(FEATURE_FQDN_TARGETS)
    return frozenset(found)


def version_from_image(image: str) -> str:
    match = _VERSION_RE.search(image.split("@")[0])
    if not match:
        raise ClustersError(f"cannot read the Cilium version from agent image {image!r}")
    return match.group(1)


def detect_with(env: Env, kube: Kube) -> Detected:
    try:
        return _detect(env, kube)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ClustersError(f"unexpected answer while detecting Cilium: {exc!r}") from None


# (what, namespace, resource, name) -> the object, or None when it does not exist.
Getter = Callable[[str, str, str, str], dict[str, Any] | None]


def _detect(env: Env, kube: Kube) -> Detected:
    def get(what: str, namespace: str, resource: str, name: str) -> dict[str, Any] | None:
        return _json(env, kube, what, "-n", namespace, "get", resource, name)

    return detect_from(get)


def detect_from(get: Getter) -> Detected:
    """Version and features from the cilium DaemonSet, cilium-config, the hubble-relay
    Deployment and the suite's marker ConfigMap, however they are read (kubectl here, the
    API in conformance.harness.kube)."""
    ds = get("reading DaemonSet kube-system/cilium", "kube-system", "daemonset", "cilium")
    if ds is None:
        raise CommandFailed("no Cilium here: DaemonSet kube-system/cilium does not exist")
    containers = ds["spec"]["template"]["spec"]["containers"]
    agent = next((c for c in containers if c.get("name") == "cilium-agent"), containers[0])
    config = get("reading ConfigMap kube-system/cilium-config", "kube-system", "configmap",
                 "cilium-config")
    relay = get("reading Deployment kube-system/hubble-relay", "kube-system", "deployment",
                "hubble-relay")
    marker = get("reading ConfigMap kube-system/zt-conformance", MARKER_NAMESPACE,
                 "configmap", MARKER_NAME)
    data = (config or {}).get("data", {}) or {}
    targets = marker_targets((marker or {}).get("data", {}) or {})
    return Detected(
        cilium_version=version_from_image(str(agent["image"])),
        features=features_from(data, relay, targets),
        external_envoy=str(data.get("external-envoy-proxy", "")).lower() == "true",
        external_targets=targets,
    )


def detect_api(get: Getter) -> Detected:
    """detect_from with the same error wrapping as detect_with."""
    try:
        return detect_from(get)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ClustersError(f"unexpected answer while detecting Cilium: {exc!r}") from None


def detect(kubeconfig: str | None, context: str | None, env: Env | None = None) -> Detected:
    return detect_with(env or Env(), Kube(kubeconfig, context))


def scenario_requirements() -> dict[str, tuple[str, ...]]:
    """Scenario name -> the features it needs, read from the suite's own sources, so this
    report names exactly the test groups `nox -s conformance` runs. The modules are parsed,
    not imported: `clusters` sits below the suite (tests/test_import_contract.py)."""
    found: dict[str, tuple[str, ...]] = {}
    for path in sorted((repo_root() / "conformance" / "scenarios").glob("test_*.py")):
        try:
            spec = _declared_scenario(path)
        except (OSError, SyntaxError, ValueError) as exc:  # the suite's report, not ours
            found[f"{path.stem} ({NOT_LOADABLE}: {type(exc).__name__})"] = ()
            continue
        if spec is not None:
            found[spec[0]] = spec[1]
    return found


def _declared_scenario(path: Path) -> tuple[str, tuple[str, ...]] | None:
    """(name, requires) of a module's `SCENARIO = Scenario(name=..., requires=(...))`, the
    features named by their FEATURE_* constants; None for a module without one."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                and any(isinstance(t, ast.Name) and t.id == "SCENARIO" for t in node.targets)):
            continue
        args = {k.arg: k.value for k in node.value.keywords if k.arg}
        name = args.get("name")
        if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
            raise ValueError(f"{path.name}: SCENARIO's name is not a string literal")
        needs = args.get("requires")
        items = needs.elts if isinstance(needs, ast.Tuple | ast.List) else []
        return name.value, tuple(_feature(path, item) for item in items)
    return None


def _feature(path: Path, node: ast.expr) -> str:
    if isinstance(node, ast.Name) and isinstance(getattr(features, node.id, None), str):
        return str(getattr(features, node.id))
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    raise ValueError(f"{path.name}: a requirement is not a FEATURE_* name: {ast.dump(node)}")


def runnable_groups(
    features: frozenset[str], groups: dict[str, tuple[str, ...]] | None = None
) -> dict[str, list[str]]:
    """Group -> missing features (empty list: the group can run)."""
    groups = scenario_requirements() if groups is None else groups
    return {g: [f for f in needs if f not in features] for g, needs in groups.items()}


def describe(d: Detected) -> str:
    lines = [f"Cilium {d.cilium_version}; features: {', '.join(sorted(d.features)) or 'none'}"]
    for group, missing in runnable_groups(d.features).items():
        state = "runs" if not missing else "skips (needs " + ", ".join(missing) + ")"
        if NOT_LOADABLE in group:
            state = "unknown"
        lines.append(f"  {group:24} {state}")
    return "\n".join(lines)
