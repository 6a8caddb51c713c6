"""From cells to concrete attempts on one worker's pods.

A cell names apps and canonical namespaces; an attempt is one prober request from a
real source pod to a real destination (a cell to account-service gets one attempt per
replica, so same-node and cross-node paths are both probed). Planning also decides, on
the cluster's own Cilium version, which cells run, which are skipped (with the reason)
and which the model says cannot hold there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.harness.attempt import Attempt as Attempt  # re-exported
from conformance.harness.cluster import Cluster, ClusterFacts, PodInfo
from conformance.harness.policy_wait import POLICY_TIMEOUT_S
from conformance.harness.render import (
    CLUSTERWIDE,
    DISRUPTIVE_PREFIX,
    OWNED_PREFIX,
    RUN_LABEL,
    WORKER_LABEL,
    render,
)
from conformance.harness.spec import (
    PARTNERS,
    PAYMENTS,
    POLICY_ROOT,
    Cell,
    Request,
    Scenario,
    agrees,
    describe,
    load_documents,
    version_at_least,
)
from conformance.harness.workload_facts import CANONICAL_LABEL
from conformance.model.expectation import Expectation
from conformance.vocabulary.timeouts import FLOW_GRACE_S as FLOW_GRACE_S
from conformance.vocabulary.timeouts import PROBE_TIMEOUT_S as PROBE_TIMEOUT_S

# A namespace name is a DNS-1123 label (k8s.io/apimachinery
# pkg/util/validation/validation.go IsDNS1123Label: 63 chars, [a-z0-9-], alnum ends).
MAX_NAMESPACE_LEN = 63
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


@dataclass(frozen=True)
class RunOptions:
    flow_grace: float = FLOW_GRACE_S
    probe_timeout: float = PROBE_TIMEOUT_S
    policy_timeout: float = POLICY_TIMEOUT_S  # deadline for a policy change to be realized
    artifacts: Path | None = None
    # The suite provisioned the cluster (kind) or started it (simulated): every feature is
    # there, so a missing one is a detection regression, an error rather than a skip.
    provisioned: bool = False


@dataclass
class Workspace:
    """One worker's view: its cluster, namespaces (canonical -> real) and their pods."""

    cluster: Cluster
    facts: ClusterFacts
    worker: str
    options: RunOptions
    namespaces: dict[str, str]
    pods: dict[str, list[PodInfo]] = field(default_factory=dict)
    run: str = ""  # the run id, in every name and label this worker creates

    def ensure(self, canonical: str) -> list[PodInfo]:
        real = self.namespaces[canonical]
        if real not in self.pods:
            labels = {WORKER_LABEL: self.worker, CANONICAL_LABEL: canonical,
                      **({RUN_LABEL: self.run} if self.run else {})}
            self.pods[real] = self.cluster.deploy_workloads(real, labels)
        return self.pods[real]

    def render(self, docs: list[dict[str, Any]], *,
               clusterwide: bool = False) -> list[dict[str, Any]]:
        return render(docs, self.namespaces, self.worker, clusterwide=clusterwide,
                      run=self.run)

    def app_pods(self, canonical: str, app: str) -> list[PodInfo]:
        pods = [p for p in self.ensure(canonical) if p.labels.get("app") == app]
        return sorted(pods, key=lambda p: p.name)  # stable attempt ids within a run

    def close(self) -> None:
        for real in list(self.pods):
            self.cluster.delete_namespace(real)
            del self.pods[real]


@dataclass
class Plan:
    attempts: dict[str, list[Attempt]] = field(default_factory=dict)  # cell id -> attempts
    expected: dict[str, Expectation] = field(default_factory=dict)  # on the cluster's version
    skipped: dict[str, str] = field(default_factory=dict)  # cell id -> reason
    disagreements: dict[str, str] = field(default_factory=dict)  # cell id -> failure message


def plan(scenario: Scenario, ws: Workspace) -> Plan:
    out = Plan()
    version = ws.facts.cilium_version
    for n, cell in enumerate(scenario.cells):
        if cell.min_version and not version_at_least(version, cell.min_version):
            out.skipped[cell.id] = f"needs Cilium >= {cell.min_version}; the cluster runs {version}"
            continue
        exp = scenario.expectation_for(cell, version)
        if not agrees(cell.expect, exp):
            out.disagreements[cell.id] = (
                f"{cell.id}: on Cilium {version} the policy model predicts {describe(exp)}, "
                f"not the written {cell.expect.label()} — {exp.explanation}")
            continue
        out.expected[cell.id] = exp
        if cell.request.is_fqdn and cell.request.to not in ws.facts.external_targets:
            out.skipped[cell.id] = (
                f"the cluster has no hermetic target for {cell.request.to} "
                "(external-targets of the zt-conformance ConfigMap)")
            continue
        out.attempts[cell.id] = attempts(cell, f"{ws.worker}.{scenario.name}.{n}", ws)
    return out


def attempts(cell: Cell, prefix: str, ws: Workspace) -> list[Attempt]:
    return cell.request.type.attempts(cell, prefix, ws)


def prober_request(r: Request, host: str, timeout: float) -> dict[str, Any] | None:
    """The `prober run` JSON for one request to `host` (None: not the prober's to send)."""
    return r.type.prober_request(r, host, timeout)


def owned_policies(ws: Workspace) -> list[dict[str, Any]]:
    """Every policy the suite can create for this worker, as rendered: deleted when a
    worker starts. A killed run leaves its policies behind, and re-applying an identical
    object is a no-op that no agent revision shows, so the realization wait would time
    out."""
    out = clusterwide_policies(ws)
    for directory in sorted(p for p in POLICY_ROOT.iterdir() if p.is_dir()):
        docs = [d for d in load_documents(directory) if d.get("kind") != CLUSTERWIDE]
        out += ws.render(docs)
    return out


def clusterwide_policies(ws: Workspace) -> list[dict[str, Any]]:
    """Every cluster-wide policy the suite can create for this worker, as rendered.

    Deleted when a worker starts: a run that was killed leaves its cluster-wide policies
    behind (namespaced ones go with their namespace), and a stale per-worker baseline
    would select the recreated namespace of the same name.
    """
    out: list[dict[str, Any]] = []
    for directory in sorted(p for p in POLICY_ROOT.iterdir() if p.is_dir()):
        docs = [d for d in load_documents(directory) if d.get("kind") == CLUSTERWIDE]
        out += ws.render(docs)
        out += [d for d in ws.render(docs, clusterwide=True)
                if d["metadata"]["name"].startswith(DISRUPTIVE_PREFIX)]
    return out


def namespace_names(worker: str, run: str = "") -> dict[str, str]:
    """Canonical -> real namespace of a worker of a run: `ztc-<run>-<worker>` and
    `...-partners` (`ztc-<worker>` for a run without an id, as before run ids)."""
    base = f"{OWNED_PREFIX}{run}-{worker}" if run else f"{OWNED_PREFIX}{worker}"
    names = {PAYMENTS: base, PARTNERS: f"{base}-partners"}
    for name in names.values():
        if len(name) > MAX_NAMESPACE_LEN or not DNS_LABEL.fullmatch(name):
            raise ValueError(
                f"namespace {name!r} (run id {run!r}, worker {worker!r}) is not a DNS label "
                f"of at most {MAX_NAMESPACE_LEN} lowercase letters, digits and '-'")
    return names


def new_workspace(cluster: Cluster, worker: str, options: RunOptions,
                  run: str = "") -> Workspace:
    names = namespace_names(worker, run)  # checked before the cluster is asked anything
    return Workspace(cluster=cluster, facts=cluster.facts(), worker=worker, options=options,
                     namespaces=names, run=run)

