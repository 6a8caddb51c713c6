"""manifests/workloads: the shapes the harness relies on (names, labels, ports, image)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests" / "workloads"
IMAGE = "zt-conformance/workloads:dev"


def _docs() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(MANIFESTS.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def _get(kind: str, name: str) -> dict[str, Any]:
    [doc] = [d for d in _docs() if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def test_no_namespace_anywhere() -> None:
    assert _docs()
    assert all("namespace" not in d["metadata"] for d in _docs())


@pytest.mark.parametrize(("name", "replicas"), [("account-service", 2),
                                                ("payment-processor", 1),
                                                ("audit-logger", 1)])
def test_deployments_are_labelled_by_app_and_use_the_local_image(name: str,
                                                                 replicas: int) -> None:
    dep = _get("Deployment", name)
    assert dep["spec"]["replicas"] == replicas
    assert dep["spec"]["selector"]["matchLabels"] == {"app": name}
    pod = dep["spec"]["template"]
    assert pod["metadata"]["labels"]["app"] == name
    [container] = pod["spec"]["containers"]
    assert container["image"] == IMAGE and container["imagePullPolicy"] == "IfNotPresent"
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert pod["spec"]["securityContext"]["runAsUser"] == 65532
    env = {e["name"]: e for e in container.get("env", [])}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def test_clients_idle_and_service_serves() -> None:
    for name in ("payment-processor", "audit-logger"):
        [c] = _get("Deployment", name)["spec"]["template"]["spec"]["containers"]
        assert c["command"] == ["prober", "idle"]
    [svc] = _get("Deployment", "account-service")["spec"]["template"]["spec"]["containers"]
    assert svc["command"][0] == "account-service"
    assert svc["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": 8080}
    assert {p["name"]: p["containerPort"] for p in svc["ports"]} == {"http": 8080,
                                                                      "grpc": 9090,
                                                                      "tls": 8443}
    # every declared port is one the command makes the server listen on
    flags = dict(zip(svc["command"][1::2], svc["command"][2::2], strict=False))
    assert flags["--tls-port"] == "8443" and flags["--grpc-port"] == "9090"


def test_account_service_replicas_spread_across_nodes() -> None:
    spec = _get("Deployment", "account-service")["spec"]["template"]["spec"]
    [spread] = spec["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert spread["whenUnsatisfiable"] == "DoNotSchedule"
    assert spread["labelSelector"]["matchLabels"] == {"app": "account-service"}


def test_service_ports_and_selector() -> None:
    svc = _get("Service", "account-service")
    assert svc["spec"]["selector"] == {"app": "account-service"}
    assert {p["name"]: (p["port"], p["protocol"]) for p in svc["spec"]["ports"]} == {
        "http": (8080, "TCP"), "grpc": (9090, "TCP"), "tls": (8443, "TCP")}


def _pod_templates() -> list[tuple[str, dict[str, Any]]]:
    """Every pod this directory makes: bare Pods and the templates of workload kinds."""
    pods = []
    for doc in _docs():
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] == "Pod":
            pods.append((name, doc))
        elif "template" in doc.get("spec", {}):
            pods.append((name, doc["spec"]["template"]))
    return pods


def test_every_pod_runs_under_the_runtime_default_seccomp_profile() -> None:
    pods = _pod_templates()
    assert len(pods) == 3
    for name, pod in pods:
        spec = pod["spec"]
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for container in spec.get("initContainers", []) + spec["containers"]:
            # A container-level profile would override the pod's; none may loosen it.
            override = container.get("securityContext", {}).get("seccompProfile")
            assert override in (None, {"type": "RuntimeDefault"}), (name, container["name"])


def test_every_container_is_non_root_read_only_and_without_capabilities() -> None:
    for name, pod in _pod_templates():
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True, name
        for container in pod["spec"]["containers"]:
            ctx = container["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False, name
            assert ctx["readOnlyRootFilesystem"] is True, name
            assert ctx["capabilities"] == {"drop": ["ALL"]}, name


def test_clients_may_open_icmp_sockets_without_privilege() -> None:
    """Client pods set net.ipv4.ping_group_range to their own group (65532), so the prober's
    ICMP probes need no raw socket and no capability (workloads/prober/icmp_probe.py)."""
    for name in ("payment-processor", "audit-logger"):
        pod = _get("Deployment", name)["spec"]["template"]
        group = pod["spec"]["securityContext"]["runAsGroup"]
        assert {"name": "net.ipv4.ping_group_range", "value": f"{group} {group}"} in pod[
            "spec"]["securityContext"]["sysctls"], name
