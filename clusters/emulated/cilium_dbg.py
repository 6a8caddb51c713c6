"""What the emulated agents print for the two `cilium-dbg` commands the suite runs.

- `cilium-dbg policy get -o json`: `command.PrintOutput` of `models.Policy`
  (`cilium-dbg/cmd/policy_get.go`), `{"policy": <JSON text>, "revision": N}`, the text
  being `policy.JSONMarshalRules` (indented) of `Repo.Search()`'s result
  (`daemon/restapi/policy.go`). In 1.18 those are `api.Rule`s (`pkg/policy/api/rule.go`:
  endpointSelector, ingress, egress, ..., `labels`); from 1.19 `types.PolicyEntry`s
  (catalogue feature policy-get-entries)
  (`pkg/policy/types/policyentry.go`, one per rule item and direction, no JSON tags so the
  Go field names are the keys). Only the fields the suite reads are exact (labels, the
  revision); the rest is shaped like upstream, not a copy of its translation.
- `cilium-dbg endpoint list -o json`: `models.Endpoint` (`api/v1/models/endpoint.go`,
  `endpoint_status.go`, `endpoint_policy_status.go`): `status.identity.{id,labels}`,
  `status.policy.realized["policy-revision"]`, `status.policy["proxy-policy-revision"]`
  beside `realized`, `status.state`.
"""

from __future__ import annotations

import json
from typing import Any

from clusters.emulated.agents import Version, rule_labels
from clusters.emulated.world import SimPod
from conformance.model.version import parse_version
from conformance.vocabulary.catalogue import load_catalogue

NETWORK_POLICY = "NetworkPolicy"
DIRECTIONS = (("ingress", True, False), ("ingressDeny", True, True),
              ("egress", False, False), ("egressDeny", False, True))
PEER_FIELDS = ("fromEndpoints", "toEndpoints", "fromEntities", "toEntities", "fromCIDR",
               "toCIDR", "fromCIDRSet", "toCIDRSet", "toFQDNs")


def _specs(doc: dict[str, Any]) -> list[dict[str, Any]]:
    if doc.get("kind") == NETWORK_POLICY:
        spec = doc.get("spec") or {}
        # Cilium turns a NetworkPolicy into a rule selecting its pods with one item per
        # ingress/egress rule, and an empty item where policyTypes names a direction with
        # no rules (pkg/k8s/network_policy.go ParseNetworkPolicy); peers are not reproduced.
        types = spec.get("policyTypes") or ["Ingress"] + (["Egress"] if spec.get("egress")
                                                           else [])
        rule: dict[str, Any] = {"endpointSelector": spec.get("podSelector") or {}}
        for direction, field in (("Ingress", "ingress"), ("Egress", "egress")):
            if direction in types:
                rule[field] = [{"toPorts": [{"ports": r.get("ports")}]} if r.get("ports")
                               else {} for r in spec.get(field) or []] or [{}]
        return [rule]
    specs: list[dict[str, Any]] = [doc["spec"]] if isinstance(doc.get("spec"), dict) else []
    return specs + [s for s in doc.get("specs") or [] if isinstance(s, dict)]


def _rules_1_18(version: Version) -> list[dict[str, Any]]:
    rules = []
    for key, doc in sorted(version.docs.items()):
        for spec in _specs(doc):
            rule = {k: v for k, v in spec.items() if k != "description"}
            rule["labels"] = rule_labels(key, version.uids[key])
            rules.append(rule)
    return rules


def _entries_1_19(version: Version) -> list[dict[str, Any]]:
    entries = []
    for key, doc in sorted(version.docs.items()):
        labels = rule_labels(key, version.uids[key])
        for spec in _specs(doc):
            subject = spec.get("endpointSelector") or spec.get("nodeSelector") or {}
            for field, ingress, deny in DIRECTIONS:
                for item in spec.get(field) or []:
                    l3 = [sel for f in PEER_FIELDS for sel in (item.get(f) or [])]
                    entries.append({
                        "Priority": 0, "Authentication": item.get("authentication"),
                        "Log": spec.get("log") or {}, "Subject": subject, "L3": l3,
                        "L4": item.get("toPorts") or [], "Labels": labels,
                        "DefaultDeny": True, "Deny": deny, "Ingress": ingress,
                        "Node": "nodeSelector" in spec})
    return entries


def policy_answer(version: Version, revision: int, cilium_version: str) -> str:
    # Catalogue feature policy-get-entries (its entry says what is unclear about the minor).
    entries = _entries_1_19(version) \
        if load_catalogue().has("policy-get-entries", parse_version(cilium_version)) \
        else _rules_1_18(version)
    text = json.dumps(entries, indent=2)
    return json.dumps({"policy": text, "revision": revision}, indent=2)


def endpoint_json(endpoint_id: int, pod: SimPod | None, realized: int, proxy: int, *,
                  pending: bool = False) -> dict[str, Any]:
    """One endpoint; `pod` None is the node's host endpoint (or, `pending`, an endpoint
    still waiting for its identity)."""
    if pending:
        # Zero and nil fields are left out (`omitempty` in api/v1/models).
        return {"id": endpoint_id, "spec": {}, "status": {
            "state": "waiting-for-identity", "policy": {"spec": {}}}}
    if pod is None:
        identity_id, labels, ext, addressing = 1, ["reserved:host"], {}, []
    else:
        identity_id, labels = pod.identity, pod.identity_labels
        ext = {"k8s-namespace": pod.info.namespace, "k8s-pod-name": pod.info.name,
               "pod-name": f"{pod.info.namespace}/{pod.info.name}"}
        addressing = [{"ipv4": pod.info.ip, "ipv4-pool-name": "default"}]
    return {"id": endpoint_id, "spec": {"label-configuration": {}, "options": {}}, "status": {
        "state": "ready",
        "identity": {"id": identity_id, "labels": labels},
        "labels": {"derived": [], "realized": {}, "security-relevant": labels},
        "external-identifiers": ext,
        "networking": {"addressing": addressing},
        "policy": {"proxy-policy-revision": proxy, "proxy-statistics": [],
                   "realized": {"build": realized, "id": identity_id,
                                "policy-revision": realized},
                   "spec": {"build": realized, "id": identity_id,
                            "policy-revision": realized}},
    }}
