"""Faults in enforcement: the datapath lets through what policy denies (or drops what it
allows). Each bends the model's decision (decide.py Decider._bend) before client results,
flows and counters are produced from it."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from clusters.emulated.faults.base import BREAKING, Fault
from clusters.emulated.faults.hooks import Connection, Hooks
from conformance.model.probe import Fqdn
from conformance.vocabulary import capabilities as cap
from conformance.vocabulary.capabilities import select

if TYPE_CHECKING:
    from clusters.emulated.decide import Decision


def l7_off(d: Decision, c: Connection) -> Decision:
    # TLS: with the proxy not enforcing, a refused SNI gets through like a 403'd request
    l7_request = c.probe.http is not None or c.probe.grpc is not None or c.probe.tls is not None
    if l7_request and (d.verdict == "l7-denied" or d.l7):
        return replace(d, verdict="allowed", l7=False, reset=False,
                       explanation="fault l7-off")
    return d


def l3l4_off(d: Decision, c: Connection) -> Decision:
    if d.verdict == "dropped" and d.drop_reason in ("POLICY_DENIED", "POLICY_DENY"):
        return replace(d, verdict="allowed", drop_reason=None, l7=False,
                       explanation="fault l3l4-off")
    return d


def dns_open(d: Decision, c: Connection) -> Decision:
    if d.verdict == "dns-refused":
        return replace(d, verdict="allowed", l7=True, explanation="fault dns-open")
    return d


def auth_off(d: Decision, c: Connection) -> Decision:
    if d.drop_reason == "AUTH_REQUIRED":
        return replace(d, verdict="allowed", drop_reason=None, auth=None,
                       explanation="fault auth-off")
    return d


def fqdn_broken(d: Decision, c: Connection) -> Decision:
    """toFQDNs never learned the name's IP: a connection its rules allowed is decided as
    a plain one to that IP (dropped unless another rule allows the IP)."""
    if (isinstance(c.probe.destination, Fqdn) and c.world_probe is not None
            and d.verdict in ("allowed", "l7-denied")
            and c.evaluate(c.world_probe).verdict == "dropped"):
        # a fresh decision (every other field at its default); type(d) is decide.Decision,
        # which this module cannot import at run time (decide.py imports the registry)
        return type(d)(verdict="dropped", drop_reason="POLICY_DENIED", direction="EGRESS",
                       explanation="fault fqdn-broken")
    return d


L3L4_DROPS = ("dropped POLICY_DENIED", "dropped POLICY_DENY")  # default deny, denylist
L7 = (cap.L7_HTTP, cap.L7_GRPC, cap.L7_TLS)

FAULTS = (
    # L7 rules not enforced: every L7 deny goes through; allowed L7 cells lose their L7
    # flow. L3/L4 drops of the same scenarios (other ports, AUTH_REQUIRED) still pass.
    Fault("l7-off", BREAKING, "the L7 proxy allows every request on redirected ports",
          Hooks(decision=l7_off), fails=(select(*L7, outcomes=[cap.L7_DENIED]),),
          may_fail=(select(*L7, outcomes=[cap.ALLOWED]),), says="FAIL client"),
    # The kubelet's readiness probe is L3/L4-decided too: it passes whatever the policy.
    Fault("l3l4-off", BREAKING, "L3/L4 policy allows every connection",
          Hooks(decision=l3l4_off, readiness_unenforced=True),
          fails=(select(cap.L3L4, outcomes=L3L4_DROPS),), says="FAIL client", quick=True),
    Fault("dns-open", BREAKING, "the DNS proxy answers names its rules refuse",
          Hooks(decision=dns_open), fails=(select(cap.DNS, outcomes=[cap.DNS_REFUSED]),),
          says="FAIL client", quick=True),
    Fault("fqdn-broken", BREAKING, "toFQDNs never learns IPs: allowed names are dropped",
          Hooks(decision=fqdn_broken), fails=(select(cap.FQDN, outcomes=[cap.ALLOWED]),),
          says="FAIL client", quick=True),
    Fault("auth-off", BREAKING, "mutual auth is never required", Hooks(decision=auth_off),
          fails=(select(cap.MUTUAL_AUTH, outcomes=["dropped AUTH_REQUIRED"]),),
          says="FAIL client", quick=True),
)
