"""Faults that act only during or after a simulated upgrade (rollout.py); the upgrade
validation must fail (tests/upgrade/test_simulated_upgrade.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from clusters.emulated.faults.base import UPGRADE, Fault
from clusters.emulated.faults.hooks import Connection, Hooks
from conformance.model.probe import Fqdn

if TYPE_CHECKING:
    from clusters.emulated.decide import Decision


def fqdn_selectors_lost(d: Decision, c: Connection) -> Decision:
    """A release whose toFQDNs selectors no longer match: connections to names the rules
    allow are dropped at egress (a change no release note announces)."""
    if isinstance(c.probe.destination, Fqdn) and d.verdict == "allowed":
        return replace(d, verdict="dropped", drop_reason="POLICY_DENIED", direction="EGRESS",
                       l7=False, explanation="fault upgrade-unpredicted-change")
    return d


FAULTS = (
    Fault("upgrade-fail-open", UPGRADE, "while the first agents restart, denied connections "
                                        "to or from their nodes pass",
          Hooks(upgrade_fail_open=True)),
    Fault("upgrade-conn-drop", UPGRADE, "an agent restart resets the established connections "
                                        "of its node", Hooks(upgrade_resets_connections=True)),
    Fault("upgrade-unpredicted-change", UPGRADE, "after the upgrade, connections toFQDNs "
                                                 "rules allow are dropped (no model predicts "
                                                 "it)",
          Hooks(upgraded_decision=fqdn_selectors_lost)),
)
