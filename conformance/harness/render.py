"""Render a scenario's policies into one worker's namespaces.

Policies are written with canonical namespaces (`payments`, `partners`). For a worker
they are moved into its own namespaces, namespace selectors are rewritten, and
cluster-wide policies get a per-worker name and a namespace selector so parallel
workers never select each other's pods. Only disruptive scenarios keep a truly
cluster-wide `endpointSelector: {}`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

NAMESPACE_LABELS = ("k8s:io.kubernetes.pod.namespace", "io.kubernetes.pod.namespace",
                    "kubernetes.io/metadata.name",
                    "k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name")
CLUSTERWIDE = "CiliumClusterwideNetworkPolicy"
WORKER_LABEL = "zt-conformance/worker"
RUN_LABEL = "zt-conformance/run"  # the run id: two runs on one cluster never share a name
# Cluster-scoped objects the suite owns are named with this prefix (the namespaces too),
# so cleaning up leftovers can never touch someone else's policy.
OWNED_PREFIX = "ztc-"
DISRUPTIVE_PREFIX = "zt-conformance-"


class RenderError(ValueError):
    """A policy document the renderer cannot place; names the document."""


def render(docs: list[dict[str, Any]], namespaces: Mapping[str, str], worker: str,
           *, clusterwide: bool = False, run: str = "") -> list[dict[str, Any]]:
    """Copies of `docs` for `worker` of `run`; `namespaces` maps canonical -> real names,
    the first entry being the default namespace of namespaced objects. Cluster-scoped
    names carry the run id, so another run's objects are never overwritten."""
    default_ns = next(iter(namespaces.values()))
    owner = f"{run}-{worker}" if run else worker
    out = []
    for doc in docs:
        kind = doc.get("kind")
        meta = doc.get("metadata")
        if not isinstance(kind, str) or not isinstance(meta, dict) or "name" not in meta:
            raise RenderError(f"policy document without kind/metadata.name: {str(doc)[:120]}")
        new = _map_namespaces(copy.deepcopy(doc), namespaces)
        new_meta = new["metadata"]
        labels = new_meta.setdefault("labels", {})
        labels[WORKER_LABEL] = worker
        if run:
            labels[RUN_LABEL] = run
        if kind == CLUSTERWIDE:
            new_meta.pop("namespace", None)
            if not clusterwide:
                new_meta["name"] = f"{OWNED_PREFIX}{owner}-{meta['name']}"
                _scope_to(new.get("spec"), sorted(namespaces.values()))
                for spec in new.get("specs", []) or []:
                    _scope_to(spec, sorted(namespaces.values()))
            elif run and str(meta["name"]).startswith(DISRUPTIVE_PREFIX):
                new_meta["name"] = (f"{DISRUPTIVE_PREFIX}{run}-"
                                    f"{str(meta['name'])[len(DISRUPTIVE_PREFIX):]}")
        else:
            canonical = meta.get("namespace")
            new_meta["namespace"] = namespaces.get(canonical, default_ns) if canonical \
                else default_ns
        out.append(new)
    return out


def _map_namespaces(node: Any, namespaces: Mapping[str, str]) -> Any:
    """Rewrite namespace label values in selectors (matchLabels and matchExpressions)."""
    if isinstance(node, dict):
        for key, value in list(node.items()):
            if key in NAMESPACE_LABELS and isinstance(value, str):
                node[key] = namespaces.get(value, value)
            elif key == "matchExpressions" and isinstance(value, list):
                for expr in value:
                    if isinstance(expr, dict) and expr.get("key") in NAMESPACE_LABELS:
                        expr["values"] = [namespaces.get(v, v) for v in expr.get("values", [])]
            else:
                node[key] = _map_namespaces(value, namespaces)
        if "namespace" in node and isinstance(node["namespace"], str):
            node["namespace"] = namespaces.get(node["namespace"], node["namespace"])
        return node
    if isinstance(node, list):
        return [_map_namespaces(x, namespaces) for x in node]
    return node


def _scope_to(spec: Any, namespaces: list[str]) -> None:
    """Limit a cluster-wide policy's endpointSelector to the worker's namespaces."""
    if not isinstance(spec, dict) or "endpointSelector" not in spec:
        return
    selector = spec["endpointSelector"] or {}
    labels = selector.get("matchLabels") or {}
    if any(k in labels for k in NAMESPACE_LABELS):
        return  # already pinned to a (rewritten) namespace
    exprs = list(selector.get("matchExpressions") or [])
    exprs.append({"key": NAMESPACE_LABELS[0], "operator": "In", "values": namespaces})
    selector["matchExpressions"] = exprs
    spec["endpointSelector"] = selector


def has_l7_rules(docs: list[dict[str, Any]]) -> bool:
    """True when any rule carries `rules:` (http/dns): realization must include the proxy."""
    def walk(node: Any) -> bool:
        if isinstance(node, dict):
            return "rules" in node or any(walk(v) for v in node.values())
        if isinstance(node, list):
            return any(walk(v) for v in node)
        return False

    return any(walk(d.get("spec")) or walk(d.get("specs")) for d in docs)
