"""The simulated datapath's decision for one connection: the model's verdict, bent by a fault.

Only `conformance.model` is shared with the check layer; everything a fault changes is
changed here, before client results, flows and counters are produced from the decision.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from clusters.emulated import faults
from clusters.emulated.faults.hooks import Bend, Connection
from conformance.model import PolicySet, evaluate
from conformance.model.options import DEFAULT_OPTIONS, AgentOptions
from conformance.model.probe import Probe
from conformance.vocabulary.catalogue import load_catalogue


class Version(Protocol):
    """A policy repository version: its objects and their compiled model."""

    @property
    def docs(self) -> Mapping[Any, dict[str, Any]]: ...

    def policies(self) -> PolicySet: ...


# The catalogue's default release (conformance/vocabulary/cilium.yaml).
CILIUM_VERSION = load_catalogue().default


@dataclass(frozen=True)
class Decision:
    verdict: str  # allowed | dropped | l7-denied | dns-refused
    drop_reason: str | None = None
    direction: str | None = None  # INGRESS | EGRESS: the side that decided (or ran L7)
    l7: bool = False  # the request went through the proxy (http/dns rules on the port)
    auth: str | None = None  # "required": first packets dropped AUTH_REQUIRED, then pass
    explanation: str = ""
    reset: bool = False  # l7-denied by serverNames: Envoy resets the connection


def _direction(exp_direction: str | None, hubble_direction: str | None) -> str | None:
    if hubble_direction:
        return hubble_direction
    return exp_direction.upper() if exp_direction else None


class Decider:
    """Model verdicts per policy version, with the fault applied."""

    def __init__(self, fault: str | None, cilium_version: str = CILIUM_VERSION,
                 options: AgentOptions = DEFAULT_OPTIONS) -> None:
        self.fault = fault
        self.hooks = faults.hooks(fault)  # decision: how the fault bends each decision
        self.version = cilium_version
        # The agents' options (policy enforcement mode, DNS reject code, L7 proxy): the
        # emulated agents run with the chart's defaults unless told otherwise.
        self.options = options
        self._auth_probe_sets: dict[int, PolicySet | None] = {}

    def decide(self, version: Version, probe: Probe, world_probe: Probe | None = None
               ) -> Decision:
        exp = evaluate(version.policies(), probe, self.version, options=self.options)
        decision = Decision(verdict=exp.verdict, drop_reason=exp.drop_reason,
                            direction=_direction(exp.direction, exp.hubble.traffic_direction),
                            l7=exp.hubble.type == "L7", explanation=exp.explanation,
                            reset=exp.client == "reset")
        if decision.verdict == "allowed" and self._needs_auth(version, probe):
            decision = replace(decision, auth="required",
                               direction=decision.direction or "INGRESS")
        return self._bend(decision, version, probe, world_probe)

    def _needs_auth(self, version: Version, probe: Probe) -> bool:
        """Allowed through a `required` rule? Then it fails when `required` always fails."""
        key = id(version)
        if key not in self._auth_probe_sets:
            self._auth_probe_sets[key] = _always_fail_variant(version)
        variant = self._auth_probe_sets[key]
        if variant is None:
            return False
        exp = evaluate(variant, probe, self.version, options=self.options)
        return exp.verdict == "dropped" and exp.drop_reason == "AUTH_REQUIRED"

    def _bend(self, d: Decision, version: Version, probe: Probe,
              world_probe: Probe | None) -> Decision:
        return self._bent(self.hooks.decision, d, version, probe, world_probe)

    def _bent(self, bend: Bend | None, d: Decision, version: Version, probe: Probe,
              world_probe: Probe | None) -> Decision:
        """`d` as a fault's decision hook changes it (unchanged without one)."""
        if bend is None:
            return d
        return bend(d, Connection(probe, world_probe, lambda p: evaluate(
            version.policies(), p, self.version, options=self.options)))


def _always_fail_variant(version: Version) -> PolicySet | None:
    docs = [copy.deepcopy(doc) for doc in version.docs.values()]
    if not any(_swap_required(doc) for doc in docs):
        return None
    return PolicySet.from_documents(docs, "<simulated auth probe>")


def _swap_required(node: Any) -> bool:
    """Turn every `authentication.mode: required` into test-always-fail, in place."""
    found = False
    if isinstance(node, dict):
        auth = node.get("authentication")
        if isinstance(auth, dict) and auth.get("mode") == "required":
            auth["mode"] = "test-always-fail"
            found = True
        for value in node.values():
            found = _swap_required(value) or found
    elif isinstance(node, list):
        for value in node:
            found = _swap_required(value) or found
    return found
