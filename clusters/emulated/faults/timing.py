"""Faults in time: changes that never take effect (the policy wait must time out naming
where), and late or slow evidence and real clusters' races (the suite must still pass)."""

from __future__ import annotations

from clusters.emulated.faults.base import BENIGN, BREAKING, CONDITION, Fault
from clusters.emulated.faults.hooks import NEVER_S, Hooks
from conformance.vocabulary import capabilities as cap
from conformance.vocabulary.capabilities import select

HUBBLE_LATE_S = 3.0
SLOW_REALIZATION_S = 5.0
JITTER_MAX_S = 0.5
REVISION_RACE_S = 2.0
PROXY_LAG_S = 3.0
# The suite measures the evidence wait on its own clock from the end of its probes, the
# relay delays from when the flow happened: up to this much earlier.
EVIDENCE_WAIT_MARGIN_S = 0.5

FAULTS = (
    # A stuck regeneration also holds the node's importer: later changes are never
    # imported (pkg/policy/cell/policy_importer.go); either wait names its deadline.
    Fault("agent-stuck", BREAKING, "no agent ever imports a change",
          Hooks(import_delay_s=NEVER_S), fails=(select(cap.POLICY_WAIT),),
          says="has not imported the object uid"),
    Fault("regen-stuck", BREAKING, "selected endpoints never finish regenerating",
          Hooks(regen_delay_s=NEVER_S), fails=(select(cap.POLICY_WAIT),),
          says="before the deadline"),
    Fault("hubble-late", BENIGN, f"flows reach followers {HUBBLE_LATE_S:g} s after they "
                                 "happened", Hooks(flow_delay_s=HUBBLE_LATE_S),
          waits=(("evidence_wait_s", HUBBLE_LATE_S - EVIDENCE_WAIT_MARGIN_S),)),
    Fault("slow-realization", BENIGN, f"endpoints regenerate {SLOW_REALIZATION_S:g} s after "
                                      "the import", Hooks(regen_delay_s=SLOW_REALIZATION_S),
          waits=(("realize_s", SLOW_REALIZATION_S),)),
    Fault("jitter", BENIGN, f"random delays up to {JITTER_MAX_S:g} s on imports, "
                            "regenerations, probes and flows", Hooks(jitter_max_s=JITTER_MAX_S)),
    Fault("revision-race", CONDITION, "a foreign change moves every agent's revision before "
                                      f"each of ours is imported ({REVISION_RACE_S:g} s later)",
          Hooks(foreign_change_s=REVISION_RACE_S)),
    Fault("proxy-lag", CONDITION, f"Envoy acknowledges L7 endpoints' policies {PROXY_LAG_S:g} "
                                  "s after their regeneration",
          Hooks(proxy_ack_delay_s=PROXY_LAG_S)),
)
