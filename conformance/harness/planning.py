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

from conformance.harness.cluster import Cluster, ClusterError, ClusterFacts, PodInfo
from conformance.harness.hubble import Socket, split_hostport
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
    GRPC_SERVICE,
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
class Attempt:
    """One concrete request of a cell (a cell to account-service has one per replica)."""

    cell: Cell
    id: str
    source: PodInfo | None
    target: PodInfo | None
    probe: dict[str, Any] | None  # prober JSON; None for kubelet cells (not ours to send)
    via_service: bool = False  # sent to a Service address (DNS): flows show the backend
    answer_ip: str | None = None  # a DNS answer that must name this (hermetic target) IP
    destination_ip: str | None = None  # an off-cluster target's IP
    result: dict[str, Any] | None = None

    def socket(self) -> Socket:
        result = self.result or {}
        ip = self.target.ip if self.target else self.destination_ip
        dest_ips = frozenset([ip]) if ip else frozenset()
        # Hubble's ICMP flows carry type and code, no ports (flow.proto ICMPv4): an echo is
        # matched by its addresses, not by the socket's echo identifier.
        icmp = self.cell.request.kind == "icmp"
        return Socket(
            probe_id=self.id,
            source_ip=self.source.ip if self.source else "",
            local=None if icmp else split_hostport(result.get("local")),
            remote=None if icmp else split_hostport(result.get("remote")),
            destination_ips=dest_ips,
            port=self.cell.request.port,
            via_service=self.via_service,
            icmp=icmp,
        )

    def path_kind(self) -> str:
        if self.source is None or self.target is None:
            return ""
        return "same-node" if self.source.node == self.target.node else "cross-node"


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
    r, facts, timeout = cell.request, ws.facts, ws.options.probe_timeout
    if r.kind == "kubelet":
        targets = ws.app_pods(r.to_namespace, r.to)
        return [Attempt(cell, f"{prefix}.{i}", None, t, None) for i, t in enumerate(targets)]
    sources = ws.app_pods(cell.source.namespace, cell.source.app)
    if not sources:
        raise ClusterError(f"no {cell.source.app} pod in {cell.source.namespace}")
    source = sources[0]
    if r.kind == "dns":
        # In-cluster names carry a canonical namespace label: use the worker's.
        name = ".".join(ws.namespaces.get(part, part) for part in r.dns_name.split("."))
        return [Attempt(cell, f"{prefix}.0", source, None, prober_request(r, name, timeout),
                        via_service=True, answer_ip=facts.external_targets.get(r.dns_name))]
    if r.is_fqdn:
        ip = facts.external_targets[r.to]
        host = ip if r.by_ip else r.to + "."  # absolute: no resolv.conf search list
        return [Attempt(cell, f"{prefix}.0", source, None, prober_request(r, host, timeout),
                        destination_ip=ip)]
    out = [Attempt(cell, f"{prefix}.{i}", source, target, prober_request(r, target.ip, timeout))
           for i, target in enumerate(ws.app_pods(r.to_namespace, r.to))]
    if not out:
        raise ClusterError(f"no {r.to} pod in {r.to_namespace} to probe")
    return out


def prober_request(r: Request, host: str, timeout: float) -> dict[str, Any]:
    """The `prober run` JSON for one request to `host` (an IP, or a name to resolve);
    the prober adds the id as the X-Probe-Id header / x-probe-id metadata itself."""
    if r.kind == "dns":
        return {"kind": "dns", "name": host, "qtype": "A", "timeout": timeout}
    if r.kind == "tcp":
        return {"kind": "tcp", "host": host, "port": r.port, "timeout": timeout}
    if r.kind == "icmp":
        return {"kind": "icmp", "host": host, "family": "ipv4", "timeout": timeout}
    if r.kind == "grpc":
        return {"kind": "grpc", "target": f"{host}:{r.port}",
                "method": f"/{GRPC_SERVICE}/{r.grpc_method}", "timeout": timeout}
    if r.kind == "http":
        return {"kind": "http", "url": f"http://{host}:{r.port}{r.path}", "method": r.method,
                "headers": dict(r.headers), "timeout": timeout}
    raise ValueError(f"no prober request for a {r.kind!r} request")


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

