"""Reading the Cilium agents' answers: the policy repository and the endpoint list.

`cilium-dbg policy get -o json` prints the REST API's `models.Policy`
(`api/v1/models/policy.go`): `{"policy": "<JSON text of the rules>", "revision": N}`,
both from one `Repo.Search()` (`daemon/restapi/policy.go` getPolicyHandler). The rules
are `api.Rule`s in 1.18 (`labels` of `{"key", "value", "source"}`) and
`types.PolicyEntry`s from 1.19 (`pkg/policy/types/policyentry.go`: no JSON tags, so the
field is `Labels`); both forms are read. Only 1.18 filters by label arguments; 1.19 and
1.20 print the whole repository (the command is marked deprecated from 1.18.3), so the
whole repository is read on every version. An empty repository prints `[]`.
`cilium-dbg endpoint list -o json` prints every endpoint on the node with
`status.identity.{id,labels}`, `status.policy.realized["policy-revision"]` and
`status.policy["proxy-policy-revision"]`.
"""

from __future__ import annotations

import json
from typing import Any

from conformance.harness.cluster import AgentPolicy, ClusterError, EndpointRevision

AGENT_NAMESPACE = "kube-system"
AGENT_SELECTOR = "k8s-app=cilium"
AGENT_CONTAINER = "cilium-agent"
# The chart's separate Envoy DaemonSet (default since 1.16): its pods are labelled
# k8s-app=cilium-envoy (templates/cilium-envoy/daemonset.yaml).
ENVOY_APP = "cilium-envoy"
# agents and Envoy pods in one list request (a set-based selector)
ROLLOUT_SELECTOR = f"k8s-app in (cilium,{ENVOY_APP})"
POLICY_GET_ARGV = ["cilium-dbg", "policy", "get", "-o", "json"]
ENDPOINT_LIST_ARGV = ["cilium-dbg", "endpoint", "list", "-o", "json"]
IDENTITY_UNKNOWN = 0  # an endpoint still waiting for its identity
# The label every rule imported from a Kubernetes object carries
# (pkg/k8s/apis/cilium.io/utils/utils.go GetPolicyLabels, source "k8s").
POLICY_UID_LABEL = "io.cilium.k8s.policy.uid"


def _label_uid(label: Any) -> str | None:
    """The uid in one label. `labels.Label` marshals as `{"key", "value", "source"}` in
    every release (pkg/labels/labels.go: JSON tags, no MarshalJSON)."""
    if isinstance(label, dict) and label.get("key") == POLICY_UID_LABEL \
            and isinstance(label.get("value"), str):
        return str(label["value"])
    return None


def parse_policy(node: str, text: str) -> AgentPolicy:
    """AgentPolicy from `cilium-dbg policy get -o json`."""
    what = f"agent on {node}: `{' '.join(POLICY_GET_ARGV)}`"
    try:
        answer = json.loads(text)
        # `[]` when empty (tolerated: `null`, an empty string).
        rules = (json.loads(answer["policy"]) if answer.get("policy") else None) or []
        revision = answer["revision"]
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise ClusterError(f"{what} did not print a policy answer "
                           f"({{\"policy\": ..., \"revision\": N}}): {err}; first bytes: "
                           f"{text[:200]!r}") from err
    if not isinstance(revision, int) or isinstance(revision, bool) or \
            not isinstance(rules, list):
        raise ClusterError(f"{what}: expected a revision number and a list of rules, got "
                           f"{type(revision).__name__} and {type(rules).__name__}")
    uids = set()
    for rule in rules:
        labels = (rule.get("labels") or rule.get("Labels")) if isinstance(rule, dict) else None
        for label in labels if isinstance(labels, list) else []:
            uid = _label_uid(label)
            if uid:
                uids.add(uid)
    return AgentPolicy(node=node, revision=revision, uids=frozenset(uids))


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
        ident = status.get("identity") or {}
        identity = _int(ident.get("id"))
        raw_labels = ident.get("labels")
        labels: list[Any] = raw_labels if isinstance(raw_labels, list) else []
        policy = status.get("policy") or {}
        realized = policy.get("realized") or {}
        out.append(EndpointRevision(
            node=node,
            endpoint_id=_int(ep.get("id")),
            has_identity=identity != IDENTITY_UNKNOWN,
            policy_revision=_int(realized.get("policy-revision")),
            proxy_policy_revision=_int(policy.get("proxy-policy-revision")),
            labels=tuple(str(x) for x in labels),
        ))
    return out
