"""Faults the emulated cluster can inject, declared once each.

`breaking`: enforcement or evidence is wrong, so the suite must fail (exactly the cells
the fault covers). `benign`: evidence is late or slow, so the suite must still pass.
`condition`: a condition of real clusters that the harness must handle (it must pass,
and a harness that ignores the condition must not). `refused`: a broken install; the run
must stop before any test with one paragraph naming what is missing. `upgrade`: acts only
during or after a simulated upgrade (clusters/emulated/rollout.py); the upgrade validation
must fail.
"""

from __future__ import annotations

from dataclasses import dataclass

BREAKING, BENIGN, CONDITION, UPGRADE = "breaking", "benign", "condition", "upgrade"
REFUSED = "refused"  # a broken install: the run is refused before any test, one paragraph


@dataclass(frozen=True)
class Fault:
    name: str
    effect: str  # BREAKING | BENIGN | CONDITION
    what: str


FAULTS: dict[str, Fault] = {f.name: f for f in (
    Fault("l7-off", BREAKING, "the L7 proxy allows every request on redirected ports"),
    Fault("l3l4-off", BREAKING, "L3/L4 policy allows every connection"),
    Fault("dns-open", BREAKING, "the DNS proxy answers names its rules refuse"),
    Fault("fqdn-broken", BREAKING, "toFQDNs never learns IPs: allowed names are dropped"),
    Fault("auth-off", BREAKING, "mutual auth is never required"),
    Fault("hubble-missing-drops", BREAKING, "Hubble never shows DROPPED flows"),
    Fault("wrong-drop-reason", BREAKING, "drops carry another drop reason"),
    Fault("metrics-frozen", BREAKING, "no counter ever moves"),
    Fault("exec-dies", BREAKING, "the prober's exec connection drops before its answer"),
    Fault("agent-down", BREAKING, "every agent's cilium-dbg fails (API socket refused)"),
    Fault("metrics-down", BREAKING, "nothing answers on the agents' metrics ports"),
    Fault("prober-garbage", BREAKING, "prober run prints something that is not its answer"),
    Fault("relay-down", BREAKING, "Hubble Relay refuses connections (port-forward dial "
                                  "refused)"),
    Fault("no-cilium", REFUSED, "no DaemonSet kube-system/cilium: Cilium is not installed"),
    Fault("no-kube-dns", REFUSED, "no Service kube-system/kube-dns"),
    Fault("marker-garbage", REFUSED, "the suite's marker ConfigMap holds no JSON targets"),
    Fault("exec-forbidden", BREAKING, "RBAC refuses pods/exec in the probe namespaces"),
    Fault("log-forbidden", BREAKING, "RBAC refuses pods/log"),
    Fault("portforward-forbidden", BREAKING, "RBAC refuses pods/portforward"),
    Fault("prober-short", BREAKING, "prober run answers one probe fewer than it was given"),
    Fault("agent-stuck", BREAKING, "no agent ever imports a change"),
    Fault("regen-stuck", BREAKING, "selected endpoints never finish regenerating"),
    Fault("no-crds", BREAKING, "the cilium.io CRDs do not exist (404 on every CNP/CCNP)"),
    Fault("policy-rejected", BREAKING, "the API server refuses every network policy "
                                       "(422 Invalid)"),
    Fault("relay-drop", BREAKING, "Hubble Relay ends every flow stream when its first "
                                 "flow is due: no flow arrives"),
    Fault("hubble-late", BENIGN, "flows reach followers 3 s after they happened"),
    Fault("slow-realization", BENIGN, "endpoints regenerate 5 s after the import"),
    Fault("jitter", BENIGN, "random delays up to 0.5 s on imports, regenerations, probes "
                            "and flows"),
    Fault("revision-race", CONDITION, "a foreign change moves every agent's revision before "
                                      "each of ours is imported (2 s later)"),
    Fault("proxy-lag", CONDITION, "Envoy acknowledges L7 endpoints' policies 3 s after "
                                  "their regeneration"),
    Fault("exec-v4", CONDITION, "the API server answers the v4 exec protocol to a v5 offer "
                                "(no stdin close)"),
    Fault("upgrade-fail-open", UPGRADE, "while the first agents restart, denied connections "
                                        "to or from their nodes pass"),
    Fault("upgrade-conn-drop", UPGRADE, "an agent restart resets the established connections "
                                        "of its node"),
    Fault("upgrade-unpredicted-change", UPGRADE, "after the upgrade, connections toFQDNs "
                                                 "rules allow are dropped (no model "
                                                 "predicts it)"),
)}

HUBBLE_LATE_S = 3.0
SLOW_REALIZATION_S = 5.0
JITTER_MAX_S = 0.5
REVISION_RACE_S = 2.0
PROXY_LAG_S = 3.0


class UnknownFault(ValueError):
    pass


def check(name: str | None) -> str | None:
    """`name` when it is a known fault (or None); UnknownFault naming the valid ones."""
    if name is not None and name not in FAULTS:
        raise UnknownFault(f"unknown fault {name!r}; valid faults: {', '.join(FAULTS)}")
    return name


def of_effect(effect: str) -> list[str]:
    return [f.name for f in FAULTS.values() if f.effect == effect]
