"""Pure policy model: what Cilium should do with a probe under a set of policies, and why.

Imports nothing from the harness, the scenarios, clusters or workloads (tests enforce it).
"""

from conformance.model.engine import evaluate
from conformance.model.errors import PolicyError, Problem
from conformance.model.expectation import Expectation, HubbleEvidence
from conformance.model.policyset import PolicySet, load_policies
from conformance.model.probe import Probe, ProbeError
from conformance.model.version import DEFAULT_VERSION, VersionError

__all__ = [
    "DEFAULT_VERSION",
    "Expectation",
    "HubbleEvidence",
    "PolicyError",
    "PolicySet",
    "Probe",
    "ProbeError",
    "Problem",
    "VersionError",
    "evaluate",
    "load_policies",
]
