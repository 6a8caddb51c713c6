"""The emulated cluster's public entry point for the in-process users outside `clusters`
(the simulated upgrade run and upgrade-check's CRD schema checks, conformance/upgrade/).
The suite's harness starts the emulator as a process through `clusters.api` instead.
Nothing else of clusters/emulated is imported from `conformance`
(tests/test_import_contract.py).

No behaviour of its own: what it re-exports cites its upstream where it is defined
(admission: apiextensions-apiserver pkg/registry/customresource/strategy.go Validate, in
validation.py; the agents' rollout: kubernetes pkg/controller/daemon/update.go
rollingUpdate, in rollout.py; the control plane: cilium pkg/policy repository revisions, in
controlplane.py and agents.py).
"""

from __future__ import annotations

from clusters.emulated.controlplane import ControlPlane
from clusters.emulated.crds.schema import UnknownKind, crds
from clusters.emulated.faults import UnknownFault
from clusters.emulated.faults import check as check_fault
from clusters.emulated.rollout import AgentRollout, StaticPolicies
from clusters.emulated.validation import default_version, validate, versions
from clusters.emulated.world import WORKER_NODES

__all__ = ["WORKER_NODES", "AgentRollout", "ControlPlane", "StaticPolicies", "UnknownFault",
           "UnknownKind", "check_fault", "crds", "default_version", "validate", "versions"]
