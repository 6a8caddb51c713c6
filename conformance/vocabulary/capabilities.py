"""Capability tags: what a scenario cell relies on, in one closed vocabulary (shared by the
harness, which tags cells, and the emulated cluster's faults, which select them).

Cells carry tags derived from what they send and what the model expects
(conformance/harness/capabilities.py `cell_tags`);
every scenario's cells also carry the tags of the batch that runs them (`BATCH`), the tags
its policies imply (`cilium-policy`), and any the scenario declares (`Scenario.tags`).
Faults of the emulated cluster (clusters/emulated/faults/) declare, as `Select` clauses of
these tags and expected outcomes, which cells they must and may fail; the fault matrix
(tests/scenarios/test_faults.py) derives its selections from them, so a new scenario
joins the matrix through its tags.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# -- what the cell's connection is decided by (enforcement) -----------------------------
L3L4 = "l3l4"  # L3/L4 policy decides the connection (every cell)
L7_HTTP = "l7-http"  # an HTTP request the L7 proxy decides (rules on its port)
L7_GRPC = "l7-grpc"  # a gRPC call the L7 proxy decides
L7_TLS = "l7-tls"  # a TLS handshake the proxy decides by its SNI (serverNames)
DNS = "dns"  # a name lookup: a DNS request, or a connection to a name (not by IP)
FQDN = "fqdn"  # a connection to an off-cluster name, allowed by toFQDNs or not
MUTUAL_AUTH = "mutual-auth"  # the verdict depends on mutual authentication
ICMP = "icmp"  # an ICMP echo, decided by `icmps` rules
KUBELET = "kubelet"  # the kubelet's readiness probe from the host
# -- what evidence the cell's checks read -------------------------------------------------
HUBBLE_EVIDENCE = "hubble-evidence"  # the cell needs its own Hubble flow
METRICS_EVIDENCE = "metrics-evidence"  # the cell needs a counter to move
# -- what the batch running the cell uses (every cell of a scenario) ----------------------
POLICY_APPLY = "policy-apply"  # the API server admits the scenario's policies
POLICY_WAIT = "policy-wait"  # agents import and endpoints realize them (cilium-dbg)
CILIUM_POLICY = "cilium-policy"  # a cilium.io policy kind: the CRDs must exist
EXEC = "exec"  # `prober run` through pods/exec, and its answer
APP_LOG = "app-log"  # account-service's access log through pods/log
HUBBLE_RELAY = "hubble-relay"  # the flow stream through a port-forward to Hubble Relay
METRICS_SCRAPE = "metrics-scrape"  # agents' metrics through the pod proxy

TAGS = frozenset({L3L4, L7_HTTP, L7_GRPC, L7_TLS, DNS, FQDN, MUTUAL_AUTH, ICMP, KUBELET,
                  HUBBLE_EVIDENCE, METRICS_EVIDENCE, POLICY_APPLY, POLICY_WAIT,
                  CILIUM_POLICY, EXEC, APP_LOG, HUBBLE_RELAY, METRICS_SCRAPE})
# Every ScenarioRun (conformance/harness/batch.py) applies and waits for its policies,
# execs the prober, reads the app's log, follows the relay and scrapes the agents.
BATCH = frozenset({POLICY_APPLY, POLICY_WAIT, EXEC, APP_LOG, HUBBLE_RELAY, METRICS_SCRAPE})

# Expected outcomes as `outcome()` spells them; a Select's outcome "dropped" means any reason.
ALLOWED = "allowed"
L7_DENIED = "l7-denied"
DNS_REFUSED = "dns-refused"
DROPPED = "dropped"
DENIED = (DROPPED, L7_DENIED, DNS_REFUSED)


class TagError(ValueError):
    """Tags outside the vocabulary, or a cell left without any."""


def unknown(tags: Iterable[str]) -> list[str]:
    return sorted(set(tags) - TAGS)


def outcome(verdict: str, drop_reason: str | None) -> str:
    """"allowed", "l7-denied", "dns-refused" or "dropped <REASON>"."""
    return f"{DROPPED} {drop_reason}" if verdict == DROPPED else verdict


@dataclass(frozen=True)
class Select:
    """Cells carrying any of `tags` whose expected outcome is one of `outcomes` (all
    outcomes when empty); "dropped" stands for a drop with any reason."""

    tags: frozenset[str]
    outcomes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if bad := unknown(self.tags):
            raise TagError(f"unknown capability tags {bad}; known: {sorted(TAGS)}")

    def matches(self, tags: frozenset[str], cell_outcome: str) -> bool:
        if not self.tags & tags:
            return False
        return not self.outcomes or any(cell_outcome == o or cell_outcome.startswith(f"{o} ")
                                        for o in self.outcomes)


def select(*tags: str, outcomes: Iterable[str] = ()) -> Select:
    return Select(frozenset(tags), tuple(outcomes))


def matches_any(clauses: Iterable[Select], tags: frozenset[str], cell_outcome: str) -> bool:
    return any(c.matches(tags, cell_outcome) for c in clauses)


# Every cell must say what decides its connection.
ENFORCEMENT = frozenset({L3L4, L7_HTTP, L7_GRPC, L7_TLS, DNS, FQDN, MUTUAL_AUTH, ICMP, KUBELET})


def checked(where: str, tags: frozenset[str], *, cells: bool = True) -> frozenset[str]:
    """`tags`, or TagError naming `where` when one is outside the vocabulary or (for a
    cell) none says what enforces it."""
    if bad := unknown(tags):
        raise TagError(f"{where}: unknown capability tags {bad} (Scenario.tags); the "
                       f"vocabulary is conformance/harness/capabilities.py: {sorted(TAGS)}")
    if cells and not tags & ENFORCEMENT:
        raise TagError(f"{where}: no capability tag says what enforces it (its request kind "
                       f"tags none: RequestKind.capability_tags); declare one in Scenario.tags: "
                       f"{sorted(ENFORCEMENT)}")
    return tags
