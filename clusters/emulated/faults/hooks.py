"""The hook points where the emulated cluster asks the active fault what to do.

A fault is a `Hooks` value: every field is one place in the emulator that reads it, and
its default is "behave like the real component". The emulator never asks which fault is
active, only these values (tests/emulated/test_fault_registry.py greps for name
comparisons). A fault whose behaviour is new adds one field here and reads it at its one
place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from conformance.model.expectation import Expectation
from conformance.model.probe import Probe

if TYPE_CHECKING:
    from clusters.emulated.decide import Decision

NEVER_S = 1e9  # a lag that never ends within any run (agent-stuck, regen-stuck)


@dataclass(frozen=True)
class Connection:
    """What a decision hook may look at: the probe as the model sees it, the probe the
    world resolved (an FQDN's IP; None when there is none), and the model at the deciding
    policy version with the agents' options."""

    probe: Probe
    world_probe: Probe | None
    evaluate: Callable[[Probe], Expectation]


Bend = Callable[["Decision", Connection], "Decision"]
ProberAnswer = Literal["garbage", "short", "dies"]


@dataclass(frozen=True)
class Hooks:
    # decide.py Decider._bend: the datapath's decision for one connection
    decision: Bend | None = None
    # rollout.py UpgradedDecider.decide: the new release's decision after an upgrade
    upgraded_decision: Bend | None = None
    # controlplane.py ControlPlane lags: added to each import / regeneration / Envoy ack
    import_delay_s: float = 0.0
    regen_delay_s: float = 0.0
    proxy_ack_delay_s: float = 0.0
    # controlplane.py _jitter: a random extra delay up to this on every lag, probe, flow
    jitter_max_s: float = 0.0
    # controlplane.py _policy_changed: a foreign change imported first, ours this later
    foreign_change_s: float = 0.0
    # controlplane.py pod_ready: the kubelet's readiness probe passes whatever the policy
    readiness_unenforced: bool = False
    # controlplane.py _admit: every network policy refused with this 422 cause
    policy_refusal: str | None = None
    # controlplane.py _bootstrap: install objects that are missing / the marker's targets
    install_missing: frozenset[str] = field(default_factory=frozenset)  # "kind/ns/name"
    marker_targets: str | None = None
    # controlplane.py _publish: flows with these verdicts never published; every flow
    # this late
    hidden_flow_verdicts: frozenset[str] = field(default_factory=frozenset)
    flow_delay_s: float = 0.0
    # traffic.py (via controlplane): drops carry another drop reason
    wrong_drop_reason: bool = False
    # metrics.py NodeCounters(frozen=...): no counter moves
    counters_frozen: bool = False
    # apiserver.py: RBAC refuses these pod subresources; the relay, the metrics ports
    # refuse connections; only the v4 exec protocol is offered; no cilium.io CRDs
    forbidden_subresources: frozenset[str] = field(default_factory=frozenset)
    relay_refuses: bool = False
    metrics_refuse: bool = False
    exec_v4_only: bool = False
    crds_missing: bool = False
    # __main__.py: the relay ends every flow stream when its first flow is due
    relay_drops_streams: bool = False
    # execs.py: cilium-dbg cannot reach the agent; what `prober run` answers instead
    agent_api_down: bool = False
    prober_answer: ProberAnswer | None = None
    # rollout.py AgentRollout: enforcement missing during the first worker restart;
    # a restart resets its node's established connections
    upgrade_fail_open: bool = False
    upgrade_resets_connections: bool = False

    @property
    def never_realizes(self) -> bool:
        """Changes never take effect: waiting for them can only time out."""
        return max(self.import_delay_s, self.regen_delay_s) >= NEVER_S


NO_FAULT = Hooks()

# Hook fields that change what the suite's cluster client (conformance/harness/kube*.py,
# policy_wait.py) is answered: API refusals and errors, exec protocol and output, relay and
# metrics streams, and when agents import and endpoints realize. `nox -s coverage` measures
# the client against the faults that set one of them (python -m clusters.emulated.faults).
CLIENT_BOUNDARY = frozenset({
    "policy_refusal", "forbidden_subresources", "relay_refuses", "metrics_refuse",
    "exec_v4_only", "crds_missing", "relay_drops_streams", "agent_api_down", "prober_answer",
    "import_delay_s", "regen_delay_s", "proxy_ack_delay_s", "foreign_change_s"})


def at_client_boundary(hooks: Hooks) -> bool:
    return any(getattr(hooks, f) != getattr(NO_FAULT, f) for f in CLIENT_BOUNDARY)
