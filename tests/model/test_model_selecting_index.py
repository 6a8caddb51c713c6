"""Finding the policies that select an endpoint looks at the few that could (lint asks it for
every policy, so a scan of all of them made lint quadratic), and finds exactly the same ones
as checking every policy."""

from __future__ import annotations

import random
from typing import Any

import pytest

from conformance.model.policy import Policy
from conformance.model.policyset import PolicySet
from conformance.model.probe import Pod
from conformance.model.selectors import identity_of

WORKLOADS = 300
SEED = 20261201


def cnp(name: str, selector: dict[str, Any], namespace: str | None = "one") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    return {"apiVersion": "cilium.io/v2",
            "kind": "CiliumNetworkPolicy" if namespace else "CiliumClusterwideNetworkPolicy",
            "metadata": meta,
            "spec": {"endpointSelector": selector, "ingress": [{"fromEntities": ["cluster"]}]}}


def test_lookups_check_only_candidate_policies(monkeypatch: pytest.MonkeyPatch) -> None:
    ps = PolicySet.from_documents(
        [cnp(f"p{i}", {"matchLabels": {"app": f"svc-{i}"}}) for i in range(WORKLOADS)])
    calls = 0
    original = Policy.selects

    def counting(self: Policy, ident: Any) -> bool:
        nonlocal calls
        calls += 1
        return original(self, ident)

    monkeypatch.setattr(Policy, "selects", counting)
    for i in range(WORKLOADS):
        got = ps.selecting(identity_of(Pod("one", {"app": f"svc-{i}"})))
        assert [p.ref.name for p in got] == [f"p{i}"]
    assert calls == WORKLOADS  # one check per lookup, not one per policy


def random_selector(rng: random.Random) -> dict[str, Any]:
    apps, tiers = [f"a{i}" for i in range(6)], ["web", "db"]
    choice = rng.randrange(6)
    if choice == 0:
        return {}
    if choice == 1:
        return {"matchLabels": {"app": rng.choice(apps)}}
    if choice == 2:
        return {"matchLabels": {"app": rng.choice(apps), "tier": rng.choice(tiers)}}
    if choice == 3:
        return {"matchExpressions": [{"key": "app", "operator": "In",
                                      "values": rng.sample(apps, 2)}]}
    if choice == 4:
        return {"matchExpressions": [{"key": "tier", "operator": rng.choice(
            ["NotIn", "Exists", "DoesNotExist"]), **({"values": ["db"]} if rng.random() < 0.5
                                                     else {})}]}
    return {"matchLabels": {"k8s:app": rng.choice(apps),
                            "k8s:io.kubernetes.pod.namespace": rng.choice(["one", "two"])}}


def test_index_finds_what_a_full_scan_finds() -> None:
    rng = random.Random(SEED)
    docs = []
    for i in range(200):
        sel = random_selector(rng)
        exprs = sel.get("matchExpressions", [])
        if exprs and exprs[0]["operator"] in ("Exists", "DoesNotExist"):
            exprs[0].pop("values", None)
        elif exprs and exprs[0]["operator"] == "NotIn":
            exprs[0]["values"] = ["db"]
        docs.append(cnp(f"p{i}", sel, rng.choice(["one", "two", None])))
    ps = PolicySet.from_documents(docs)
    for _ in range(300):
        labels = {k: v for k, v in (("app", rng.choice(["a0", "a1", "a2", "a3", "a4", "a5"])),
                                    ("tier", rng.choice(["web", "db"]))) if rng.random() < 0.8}
        ident = identity_of(Pod(rng.choice(["one", "two", "three"]), labels))
        # The policy set's order: the endpoint's namespace first, then cluster-wide ones.
        full_scan = tuple(p for p in ps.policies if p.ref.namespace == ident.namespace
                          and p.selects(ident)) + tuple(
            p for p in ps.policies if p.ref.namespace is None and p.selects(ident))
        assert ps.selecting(ident) == full_scan
