"""Kubernetes objects as plain JSON: REST paths for apply/delete, pod readiness.

Pure functions over the API server's JSON, so they are tested with recorded responses.
"""

from __future__ import annotations

from typing import Any

from conformance.harness.cluster import PodInfo

FIELD_MANAGER = "zt-conformance"
# (apiVersion, kind) -> (path prefix, plural, namespaced)
KINDS: dict[tuple[str, str], tuple[str, str, bool]] = {
    ("v1", "Namespace"): ("/api/v1", "namespaces", False),
    ("v1", "Service"): ("/api/v1", "services", True),
    ("v1", "ServiceAccount"): ("/api/v1", "serviceaccounts", True),
    ("v1", "ConfigMap"): ("/api/v1", "configmaps", True),
    ("apps/v1", "Deployment"): ("/apis/apps/v1", "deployments", True),
    ("networking.k8s.io/v1", "NetworkPolicy"):
        ("/apis/networking.k8s.io/v1", "networkpolicies", True),
    ("cilium.io/v2", "CiliumNetworkPolicy"): ("/apis/cilium.io/v2", "ciliumnetworkpolicies", True),
    ("cilium.io/v2", "CiliumClusterwideNetworkPolicy"):
        ("/apis/cilium.io/v2", "ciliumclusterwidenetworkpolicies", False),
}


def object_path(doc: dict[str, Any]) -> str:
    """The REST path of one object; ValueError naming the field that is missing or unknown."""
    api_version, kind = str(doc.get("apiVersion", "")), str(doc.get("kind", ""))
    raw_meta = doc.get("metadata")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    name = meta.get("name")
    if (api_version, kind) not in KINDS:
        known = ", ".join(f"{a}/{k}" for a, k in KINDS)
        raise ValueError(f"{kind or 'object'} {name or ''}: apiVersion/kind "
                         f"{api_version}/{kind} is not one the harness applies ({known})")
    if not isinstance(name, str) or not name:
        raise ValueError(f"{kind}: metadata.name is required")
    prefix, plural, namespaced = KINDS[(api_version, kind)]
    if not namespaced:
        return f"{prefix}/{plural}/{name}"
    namespace = meta.get("namespace")
    if not isinstance(namespace, str) or not namespace:
        raise ValueError(f"{kind} {name}: metadata.namespace is required (the harness sets "
                         "the worker namespace)")
    return f"{prefix}/namespaces/{namespace}/{plural}/{name}"


def workload_replicas(docs: list[dict[str, Any]], key: str = "app") -> dict[str, int]:
    """app label (or label `key`) -> replicas, from the Deployments among the manifests."""
    out: dict[str, int] = {}
    for doc in docs:
        if doc.get("kind") != "Deployment":
            continue
        spec = doc.get("spec") or {}
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        app = labels.get(key) or (doc.get("metadata") or {}).get("name")
        out[str(app)] = int(spec.get("replicas", 1))
    return out


def pod_ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def pod_info(pod: dict[str, Any]) -> PodInfo:
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    return PodInfo(name=meta["name"], namespace=meta["namespace"],
                   labels=dict(meta.get("labels") or {}), ip=str(status.get("podIP", "")),
                   node=str(spec.get("nodeName", "")))


def _waiting(pod: dict[str, Any]) -> str:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting:
            return f"{waiting.get('reason', 'Waiting')}: {waiting.get('message', '')}".strip(
                ": ")
    return str((pod.get("status") or {}).get("phase", "Unknown"))


def readiness_problems(pods: list[dict[str, Any]], replicas: dict[str, int],
                       key: str = "app") -> list[str]:
    """What still keeps the workloads from being usable; empty when all are Ready."""
    problems = []
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    for app, want in sorted(replicas.items()):
        mine = [p for p in live if (p["metadata"].get("labels") or {}).get(key) == app]
        ready = [p for p in mine if pod_ready(p) and (p.get("status") or {}).get("podIP")
                 and (p.get("spec") or {}).get("nodeName")]
        if len(ready) < want:
            waiting = [f"{p['metadata']['name']} ({_waiting(p)})" for p in mine
                       if p not in ready]
            problems.append(f"{app}: {len(ready)}/{want} Ready"
                            + (f", not ready: {', '.join(waiting)}" if waiting else ""))
    return problems
