"""Bounded readiness waits: each stage polls a condition until its deadline, prints one
progress line, and on timeout reports what is not ready (pods, last events, cilium status)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from clusters.env import Env, Kube
from clusters.errors import NotReadyError
from clusters.runner import tail

POLL_INTERVAL_S = 2.0
AGENTS_TIMEOUT_S = 300.0
NODES_TIMEOUT_S = 180.0
OPERATOR_TIMEOUT_S = 180.0
CRDS_TIMEOUT_S = 120.0
ENVOY_TIMEOUT_S = 180.0
RELAY_TIMEOUT_S = 180.0
SPIRE_SERVER_TIMEOUT_S = 240.0
SPIRE_AGENTS_TIMEOUT_S = 180.0
COREDNS_TIMEOUT_S = 120.0
DIAG_EVENTS = 15

KUBE_SYSTEM = "kube-system"
SPIRE_NS = "cilium-spire"
CNP_CRD = "ciliumnetworkpolicies.cilium.io"
CCNP_CRD = "ciliumclusterwidenetworkpolicies.cilium.io"
SPIRE_HEALTHY = "Server is healthy."

Check = Callable[[Env, Kube], tuple[bool, str]]


@dataclass(frozen=True)
class Stage:
    name: str
    check: Check
    timeout_s: float


def _get(env: Env, kube: Kube, *args: str) -> tuple[dict[str, Any] | None, str]:
    res = env.run(kube.kubectl(env, *args, "-o", "json"))
    if not res.ok:
        return None, (res.stderr.strip().splitlines() or ["no answer"])[-1]
    try:
        doc = json.loads(res.stdout)
    except json.JSONDecodeError:
        return None, "unreadable answer from kubectl"
    return (doc if isinstance(doc, dict) else None), ""


def _condition(obj: dict[str, Any], kind: str) -> str | None:
    for cond in obj.get("status", {}).get("conditions", []) or []:
        if cond.get("type") == kind:
            return str(cond.get("status"))
    return None


def nodes_ready(env: Env, kube: Kube) -> tuple[bool, str]:
    doc, err = _get(env, kube, "get", "nodes")
    if doc is None:
        return False, err
    items = doc.get("items", [])
    waiting = [n["metadata"]["name"] for n in items if _condition(n, "Ready") != "True"]
    if not items:
        return False, "no nodes registered"
    return not waiting, f"not Ready: {', '.join(waiting)}" if waiting else f"{len(items)} nodes"


def crds_established(env: Env, kube: Kube) -> tuple[bool, str]:
    for crd in (CNP_CRD, CCNP_CRD):
        doc, err = _get(env, kube, "get", "crd", crd)
        if doc is None:
            return False, f"{crd}: {err}"
        if _condition(doc, "Established") != "True":
            return False, f"{crd} not Established"
    return True, "CRDs Established"


def rollout(kind: str, namespace: str, name: str) -> Check:
    """Done the way `kubectl rollout status` sees it: the new spec observed, every replica
    updated and available, no old replica left."""

    def check(env: Env, kube: Kube) -> tuple[bool, str]:
        doc, err = _get(env, kube, "-n", namespace, "get", kind, name)
        if doc is None:
            return False, f"{kind}/{name}: {err}"
        status, meta = doc.get("status", {}), doc.get("metadata", {})
        if status.get("observedGeneration", 0) < meta.get("generation", 0):
            return False, f"{kind}/{name}: new spec not yet observed"
        if kind == "daemonset":
            want = int(status.get("desiredNumberScheduled", 0))
            updated = int(status.get("updatedNumberScheduled", 0))
            available = int(status.get("numberAvailable", 0))
            old = 0
        else:
            want = int(doc.get("spec", {}).get("replicas", 1))
            updated = int(status.get("updatedReplicas", 0))
            available = int(status.get("availableReplicas", 0))
            old = int(status.get("replicas", 0)) - updated
        ok = want > 0 and updated >= want and available >= want and old <= 0
        detail = f"{kind}/{name}: {available}/{want} available, {updated} updated"
        return ok, detail + (f", {old} old" if old > 0 else "")

    return check


def relay_serving(env: Env, kube: Kube) -> tuple[bool, str]:
    ok, detail = rollout("deployment", KUBE_SYSTEM, "hubble-relay")(env, kube)
    if not ok:
        return ok, detail
    doc, err = _get(
        env, kube, "-n", KUBE_SYSTEM, "get", "endpointslices",
        "-l", "kubernetes.io/service-name=hubble-relay",
    )
    if doc is None:
        return False, f"hubble-relay endpoints: {err}"
    ready = [
        ep for sl in doc.get("items", []) for ep in sl.get("endpoints") or []
        if (ep.get("conditions") or {}).get("ready")
    ]
    return bool(ready), f"hubble-relay Service: {len(ready)} ready endpoint(s)"


def spire_server_healthy(env: Env, kube: Kube) -> tuple[bool, str]:
    res = env.run(kube.kubectl(
        env, "-n", SPIRE_NS, "exec", "spire-server-0", "-c", "spire-server", "--",
        "/opt/spire/bin/spire-server", "healthcheck",
    ))
    if res.ok and SPIRE_HEALTHY in res.stdout:
        return True, SPIRE_HEALTHY
    return False, "spire-server healthcheck: " + (res.stdout + res.stderr).strip()[-200:]


def cilium_stages(mutual_auth: bool) -> list[Stage]:
    stages = [
        Stage("Cilium agents", rollout("daemonset", KUBE_SYSTEM, "cilium"), AGENTS_TIMEOUT_S),
        Stage("nodes Ready", nodes_ready, NODES_TIMEOUT_S),
        Stage("Cilium operator", rollout("deployment", KUBE_SYSTEM, "cilium-operator"),
              OPERATOR_TIMEOUT_S),
        Stage("Cilium CRDs Established", crds_established, CRDS_TIMEOUT_S),
        Stage("Cilium Envoy", rollout("daemonset", KUBE_SYSTEM, "cilium-envoy"), ENVOY_TIMEOUT_S),
        Stage("Hubble Relay serving", relay_serving, RELAY_TIMEOUT_S),
    ]
    if mutual_auth:
        stages += [
            Stage("SPIRE server healthy", spire_server_healthy, SPIRE_SERVER_TIMEOUT_S),
            Stage("SPIRE agents", rollout("daemonset", SPIRE_NS, "spire-agent"),
                  SPIRE_AGENTS_TIMEOUT_S),
        ]
    return stages


COREDNS_STAGE = Stage("CoreDNS rolled out", rollout("deployment", KUBE_SYSTEM, "coredns"),
                      COREDNS_TIMEOUT_S)


def diagnostics(env: Env, kube: Kube) -> str:
    """What is not ready: pods, the last events, `cilium status`. Best effort."""
    parts = []
    pods = env.run(kube.kubectl(env, "get", "pods", "-A", "-o", "wide"))
    parts.append("pods:\n" + tail(pods.stdout or pods.stderr, 40))
    events = env.run(kube.kubectl(env, "get", "events", "-A", "--sort-by=.lastTimestamp"))
    parts.append("last events:\n" + tail(events.stdout or events.stderr, DIAG_EVENTS))
    status_argv = [env.bin("cilium"), "status"]
    if kube.context:
        status_argv += ["--context", kube.context]
    status = env.run(status_argv, kubeconfig=kube.kubeconfig)
    parts.append("cilium status:\n" + tail(status.stdout + status.stderr, 40))
    return "\n".join(parts)


def wait_for(env: Env, kube: Kube, stage: Stage, timeout_s: float | None = None) -> None:
    limit = stage.timeout_s if timeout_s is None else timeout_s
    start = env.clock()
    while True:
        ready, detail = stage.check(env, kube)
        elapsed = env.clock() - start
        if ready:
            env.say(f"  ok    {stage.name} ({detail}, {elapsed:.0f}s)")
            return
        if elapsed >= limit:
            env.say(f"  FAIL  {stage.name}: {detail} after {elapsed:.0f}s")
            raise NotReadyError(
                f"{stage.name}: not ready within {limit:.0f}s ({detail}).\n"
                + diagnostics(env, kube)
            )
        env.sleep(POLL_INTERVAL_S)  # poll


def health(env: Env, kube: Kube, stages: list[Stage]) -> list[str]:
    """One look at every stage (no waiting): the problems found, empty when healthy."""
    problems = []
    for stage in stages:
        ready, detail = stage.check(env, kube)
        if not ready:
            problems.append(f"{stage.name}: {detail}")
    return problems
