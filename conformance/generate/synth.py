"""Peers built from selectors and name patterns, and their one-step-off variants.

Every built peer is checked against the compiled selector or name matcher of the model
(`conformance/model/selectors.py`, `matchers.py`); a peer that does not match as intended is
never returned, so no cell claims a match the model does not see.
"""

from __future__ import annotations

import ipaddress
import random

from conformance.model.matchers import CidrMatch, NameMatch
from conformance.model.probe import Pod
from conformance.model.selectors import (
    CLUSTER_LABEL,
    NAMESPACE_LABEL,
    NAMESPACE_LABELS_PREFIX,
    SERVICE_ACCOUNT_LABEL,
    Requirement,
    Selector,
    identity_of,
)

NAME_LABEL = NAMESPACE_LABELS_PREFIX + "kubernetes.io/metadata.name"
NAMESPACE_KEYS = (NAMESPACE_LABEL, NAME_LABEL)
# Labels every pod carries in the model (identity_of): a selector may only ask for these.
IMPLIED = {CLUSTER_LABEL: "default", SERVICE_ACCOUNT_LABEL: "default"}
EXISTS_VALUE = "yes"  # value given to a label a selector only needs to exist
OTHER_SUFFIX = "-other"  # a label value or namespace one step off the selected one
LABEL_WORDS = ("api", "www", "eu", "svc", "edge", "cdn")


def pod_for(selector: Selector, default_namespace: str) -> Pod | None:
    """A pod with exactly the labels `selector` needs, in its namespace (or the default)."""
    namespace = default_namespace
    labels: dict[str, str] = {}
    ns_labels: dict[str, str] = {}  # labels of the pod's namespace (Cilium's namespace labels)
    for req in selector.requirements:
        if req.source not in ("k8s", "any"):
            return None
        if req.key in NAMESPACE_KEYS:
            namespace = _namespace_for(req, namespace)
            continue
        if req.key in IMPLIED:
            continue  # every pod carries it; checked below
        into = labels
        if req.key.startswith(NAMESPACE_LABELS_PREFIX):
            into = ns_labels
        key = req.key.removeprefix(NAMESPACE_LABELS_PREFIX)
        if req.op == "In" and req.values:
            into[key] = into.get(key) or sorted(req.values)[0]
        elif req.op == "Exists":
            into.setdefault(key, EXISTS_VALUE)
    pod = Pod(namespace=namespace, labels=labels, namespace_labels=ns_labels)
    return pod if selector.matches(identity_of(pod)) else None


def _namespace_for(req: Requirement, current: str) -> str:
    if req.op == "In" and req.values:
        return current if current in req.values else sorted(req.values)[0]
    if req.op == "NotIn" and current in req.values:
        return current + OTHER_SUFFIX
    return current


def off_label(selector: Selector, pod: Pod) -> Pod | None:
    """The pod with one label the selector needs changed (or removed), which it no longer
    selects; None when the selector asks for no pod label."""
    for req in selector.requirements:
        if req.key in NAMESPACE_KEYS or req.key in IMPLIED or req.source not in ("k8s", "any"):
            continue
        labels = dict(pod.labels)
        if req.op == "In" and req.key in labels:
            labels[req.key] = labels[req.key] + OTHER_SUFFIX
        elif req.op == "Exists":
            labels.pop(req.key, None)
        elif req.op == "NotIn" and req.values:
            labels[req.key] = sorted(req.values)[0]
        elif req.op == "DoesNotExist":
            labels[req.key] = EXISTS_VALUE
        else:
            continue
        other = Pod(namespace=pod.namespace, labels=labels,
                    namespace_labels=dict(pod.namespace_labels))
        if not selector.matches(identity_of(other)):
            return other
    return None


def off_namespace(selector: Selector, pod: Pod) -> Pod | None:
    """The same pod in a namespace the selector does not cover."""
    other = Pod(namespace=pod.namespace + OTHER_SUFFIX, labels=dict(pod.labels),
                namespace_labels=dict(pod.namespace_labels))
    return None if selector.matches(identity_of(other)) else other


def name_for(match: NameMatch, multi_label: bool, rng: random.Random) -> str | None:
    """A DNS name the matchName/matchPattern matches (checked with the model's matcher)."""
    text = match.text.lower().rstrip(".")
    if not match.is_pattern:
        name = text
    elif text.strip("*") == "":
        name = "example.com"  # `*` (and `**`) match every name
    else:
        labels = text.split(".")
        if labels[0].startswith("**") and len(labels) > 1:
            labels = [rng.choice(LABEL_WORDS), rng.choice(LABEL_WORDS), *labels[1:]]
        name = ".".join(
            rng.choice(LABEL_WORDS) if lab == "*" else lab.replace("*", rng.choice("abcxyz"))
            for lab in labels)
    return name if name and match.matches(name, multi_label) else None


def names_off(match: NameMatch, name: str, multi_label: bool) -> list[tuple[str, str]]:
    """(step, name) one label deeper and one shallower than `name`, that `match` refuses."""
    out = [("deeper", f"{LABEL_WORDS[0]}x.{name}")]
    if name.count(".") >= 2:
        out.append(("shallower", name.split(".", 1)[1]))
    text = match.text.lower().rstrip(".")
    if match.is_pattern and text.startswith("*") and "." in text:
        base = text.split(".", 1)[1]  # the domain under the wildcard label(s) itself
        if "*" not in base and base.count(".") >= 1:
            out.append(("shallower", base))
    seen: set[str] = set()
    kept = []
    for step, n in out:
        if n not in seen and not match.matches(n, multi_label):
            seen.add(n)
            kept.append((step, n))
    return kept


def address_in(cidr: CidrMatch) -> str | None:
    """An address the CIDR (minus its excepts) covers, first host first."""
    net = cidr.network
    for offset in (1, 0, net.num_addresses // 2, net.num_addresses - 2):
        if 0 <= offset < net.num_addresses:
            ip = str(net.network_address + offset)
            if cidr.covers(ip):
                return ip
    return None


def address_outside(cidr: CidrMatch) -> str | None:
    """The first address after the CIDR (outside it), if there is one."""
    try:
        return str(cidr.network.broadcast_address + 1)
    except (ipaddress.AddressValueError, ValueError):
        return None
