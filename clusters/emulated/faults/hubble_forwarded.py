"""Hubble never shows FORWARDED flows: the suite must not pass an allowed cell without
its flow (README "Adding a fault" walks through this file)."""

from __future__ import annotations

from clusters.emulated.faults.base import BREAKING, Fault
from clusters.emulated.faults.hooks import Hooks
from conformance.vocabulary import capabilities as cap
from conformance.vocabulary.capabilities import select

FAULTS = (
    # Allowed cells miss their FORWARDED flow. L7 and DNS denials may too: the proxy's
    # verdict flows are DROPPED, but the connection that carried them was forwarded.
    Fault("hubble-missing-forwarded", BREAKING, "Hubble never shows FORWARDED flows",
          Hooks(hidden_flow_verdicts=frozenset({"FORWARDED"})),
          fails=(select(cap.HUBBLE_EVIDENCE, outcomes=[cap.ALLOWED]),),
          may_fail=(select(cap.HUBBLE_EVIDENCE, outcomes=[cap.L7_DENIED, cap.DNS_REFUSED]),),
          says="FAIL hubble"),
)
