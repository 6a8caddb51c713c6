"""The test's own oracle: a cell's named rule, evaluated alone by the model.

A positive cell must be matched by the rule it names; a negative one must not. Other
policies (a deny elsewhere, the source's own egress policy) may decide the real verdict, so
the rule is judged in a policy set holding only a copy of its policy with that one rule —
plus, for toFQDNs rules, the DNS rules that let the proxy learn the names — and the model's
explanation of that set is read.
"""

from __future__ import annotations

from dataclasses import replace

from conformance.generate import GenCell
from conformance.model import Expectation, PolicySet, evaluate
from conformance.model.policy import PeerRule, Policy


def rule_of(policies: PolicySet, cell: GenCell) -> tuple[Policy, PeerRule]:
    for p in policies:
        if p.ref != cell.rule.policy:
            continue
        for r in (*p.ingress, *p.egress):
            if r.path == cell.rule.path:
                return p, r
    raise AssertionError(f"cell {cell.probe.id} names {cell.rule.label()}, which is not there")


def alone(policies: PolicySet, cell: GenCell, version: str = "1.20") -> Expectation:
    """The model's expectation with only the cell's rule (and the DNS rules) in force."""
    policy, rule = rule_of(policies, cell)
    ingress = rule.direction == "ingress"
    only = replace(policy, ingress=(rule,) if ingress else (),
                   egress=() if ingress else (rule,),
                   default_deny_ingress=policy.default_deny_ingress and ingress,
                   default_deny_egress=policy.default_deny_egress and not ingress)
    if not rule.fqdns:
        return evaluate(PolicySet([only]), cell.probe, version)
    # The name's lookup goes the way the real set sends it: every egress rule but the other
    # toFQDNs rules stays.
    lookups = [replace(p, ingress=(), default_deny_ingress=False, egress=tuple(
        r for r in p.egress if r is not rule and not r.fqdns)) for p in policies]
    only = replace(only, egress=(rule, *next(p.egress for p, q in zip(
        lookups, policies, strict=True) if q is policy)))
    rest = [p for p, q in zip(lookups, policies, strict=True) if q is not policy and p.egress]
    return evaluate(PolicySet([only, *rest]), cell.probe, version)


# The model's words when a toFQDNs rule cannot match because the name's lookup fails or no
# DNS rule lets the proxy see it (lint dns-cut-off, kube-dns-selector,
# fqdn-without-dns-proxy): a fact of the whole set, not of the rule.
UNLEARNED = ("toFQDNs selectors never learn its IPs", "fails: egress of")


def unlearned(exp: Expectation) -> bool:
    return any(words in exp.explanation for words in UNLEARNED)


def named(cell: GenCell, exp: Expectation) -> bool:
    """Does the explanation say the cell's rule (and L7 entry) matched?"""
    text = exp.explanation
    if f"by {cell.rule.anchor}" not in text and f"on {cell.rule.anchor}" not in text:
        return False
    return cell.rule.l7 is None or f", {cell.rule.l7} " in text
