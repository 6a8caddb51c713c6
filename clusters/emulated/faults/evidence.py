"""Faults in evidence: enforcement is right, but what Hubble or the metrics show is not."""

from __future__ import annotations

from clusters.emulated.faults.base import BREAKING, Fault
from clusters.emulated.faults.hooks import Hooks
from conformance.vocabulary import capabilities as cap
from conformance.vocabulary.capabilities import select

FAULTS = (
    Fault("hubble-missing-drops", BREAKING, "Hubble never shows DROPPED flows",
          Hooks(hidden_flow_verdicts=frozenset({"DROPPED"})),
          fails=(select(cap.HUBBLE_EVIDENCE, outcomes=cap.DENIED),), says="FAIL hubble"),
    # The first-packet AUTH_REQUIRED drop a `required` cell tolerates changes reason too.
    Fault("wrong-drop-reason", BREAKING, "drops carry another drop reason",
          Hooks(wrong_drop_reason=True),
          fails=(select(cap.HUBBLE_EVIDENCE, outcomes=[cap.DROPPED]),),
          may_fail=(select(cap.MUTUAL_AUTH, outcomes=[cap.ALLOWED]),), says="FAIL hubble"),
    Fault("metrics-frozen", BREAKING, "no counter ever moves", Hooks(counters_frozen=True),
          fails=(select(cap.METRICS_EVIDENCE, outcomes=cap.DENIED),), says="FAIL metrics"),
    # Every cell that needs a flow fails and says the stream ended; kubelet cells need
    # none (but share the batch's stream).
    Fault("relay-drop", BREAKING, "Hubble Relay ends every flow stream when its first flow "
                                  "is due: no flow arrives",
          Hooks(relay_drops_streams=True), fails=(select(cap.HUBBLE_EVIDENCE),),
          may_fail=(select(cap.HUBBLE_RELAY),), says="flow stream ended early"),
)
