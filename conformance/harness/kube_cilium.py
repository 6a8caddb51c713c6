"""Reading the Cilium agents' answers: policy revisions and the endpoint list.

`cilium-dbg policy get -o jsonpath={.revision}` prints the agent's policy revision;
`cilium-dbg endpoint list -o json` prints every endpoint on the node with
`status.identity.id`, `status.policy.realized["policy-revision"]` and
`status.policy["proxy-policy-revision"]`.
"""

from __future__ import annotations

import json
from typing import Any

from conformance.harness.cluster import ClusterError, EndpointRevision

AGENT_NAMESPACE = "kube-system"
AGENT_SELECTOR = "k8s-app=cilium"
AGENT_CONTAINER = "cilium-agent"
REVISION_ARGV = ["cilium-dbg", "policy", "get", "-o", "jsonpath={.revision}"]
ENDPOINT_LIST_ARGV = ["cilium-dbg", "endpoint", "list", "-o", "json"]
IDENTITY_UNKNOWN = 0  # an endpoint still waiting for its identity


def parse_revision(node: str, text: str) -> int:
    value = text.strip().strip("'\"")
    if not value.isdigit():
        raise ClusterError(f"agent on {node}: `{' '.join(REVISION_ARGV)}` printed {text!r}, "
                           "expected a policy revision number")
    return int(value)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def parse_endpoints(node: str, text: str) -> list[EndpointRevision]:
    try:
        endpoints = json.loads(text)
    except ValueError as err:
        raise ClusterError(f"agent on {node}: `{' '.join(ENDPOINT_LIST_ARGV)}` did not print "
                           f"JSON ({err}); first bytes: {text[:200]!r}") from err
    if not isinstance(endpoints, list):
        raise ClusterError(f"agent on {node}: endpoint list is not a JSON array")
    out = []
    for ep in endpoints:
        if not isinstance(ep, dict):
            continue
        status = ep.get("status") or {}
        identity = _int((status.get("identity") or {}).get("id"))
        policy = status.get("policy") or {}
        realized = policy.get("realized") or {}
        out.append(EndpointRevision(
            node=node,
            endpoint_id=_int(ep.get("id")),
            has_identity=identity != IDENTITY_UNKNOWN,
            policy_revision=_int(realized.get("policy-revision")),
            proxy_policy_revision=_int(policy.get("proxy-policy-revision")),
        ))
    return out
