"""The small vocabulary scenarios are written in: who asks, what, and what must happen.

A scenario is a policy directory plus cells; a cell is one truth-table entry (one probe
and its written expectation). Scenarios name namespaces canonically — `payments` (the
worker's own) and `partners` (its second namespace) — and the harness renders them per
worker. Each cell's written expectation is checked against the policy model when the
module is collected; a disagreement is a collection error naming the probe.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

from conformance.harness.cluster import (
    ACCOUNT_SERVICE,
    AUDIT_LOGGER,
    GRPC_PORT,
    HTTP_PORT,
    PAYMENT_PROCESSOR,
    TLS_PORT,
)

# DNS_PORT ... workload_pod are re-exported: their home is the request kinds.
from conformance.harness.requests import DNS_PORT as DNS_PORT
from conformance.harness.requests import GRPC_SERVICE as GRPC_SERVICE
from conformance.harness.requests import ICMP_ECHO_REQUEST as ICMP_ECHO_REQUEST
from conformance.harness.requests import KUBE_DNS as KUBE_DNS
from conformance.harness.requests import TLS_PATH, RequestKind, kind_named
from conformance.harness.requests import workload_pod as workload_pod
from conformance.model.expectation import DropReason, Expectation, Verdict
from conformance.model.probe import Entity, Pod, Probe
from conformance.model.version import DEFAULT_VERSION

REPO = Path(__file__).resolve().parents[2]
POLICY_ROOT = REPO / "manifests" / "policies"
PAYMENTS = "payments"  # canonical name of the worker's namespace
PARTNERS = "partners"  # canonical name of the worker's second namespace
DEFAULT_MODEL_VERSION = DEFAULT_VERSION  # the catalogue's default line (model/version.py)


def collection_version(config: pytest.Config) -> str:
    """The Cilium version written expectations are checked against at collection: the
    run's --cilium-version (pytest's configuration), else the catalogue's default line."""
    return str(config.getoption("cilium_version", None) or DEFAULT_MODEL_VERSION)


@dataclass(frozen=True)
class Source:
    """A client: a workload app in a canonical namespace, or the node (kubelet)."""

    app: str
    namespace: str = PAYMENTS

    @property
    def is_host(self) -> bool:
        return self.app == "host"

    def label(self) -> str:
        if self.is_host:
            return "host(kubelet)"
        return self.app if self.namespace == PAYMENTS else f"{self.namespace}/{self.app}"

    def model(self) -> Pod | Entity:
        if self.is_host:
            return Entity("host")
        return workload_pod(self.namespace, self.app)


PAYMENT = Source(PAYMENT_PROCESSOR)
AUDIT = Source(AUDIT_LOGGER)
PARTNER_PAYMENT = Source(PAYMENT_PROCESSOR, PARTNERS)
HOST = Source("host")

@dataclass(frozen=True)
class Request:
    """What is sent. `to` is an app in canonical namespace `to_namespace`, "kube-dns", or
    an FQDN; `by_ip` connects to the FQDN target's IP without a lookup."""

    kind: str  # a name in conformance/harness/requests KINDS
    to: str
    port: int
    to_namespace: str = PAYMENTS
    method: str = ""
    path: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    grpc_method: str = ""
    dns_name: str = ""
    by_ip: bool = False
    sni: str = ""  # kind tls: the ClientHello's server_name ("" sends none)

    def __post_init__(self) -> None:
        kind_named(self.kind)  # an unknown kind is an error naming it, at once

    @property
    def type(self) -> RequestKind:
        return kind_named(self.kind)

    @property
    def is_fqdn(self) -> bool:
        return self.type.is_fqdn(self)

    def label(self) -> str:
        dest = self.to if self.to_namespace == PAYMENTS else f"{self.to_namespace}/{self.to}"
        return self.type.label(self, dest)


def http(method: str, path: str, *, to: str = ACCOUNT_SERVICE, namespace: str = PAYMENTS,
         port: int = HTTP_PORT, headers: dict[str, str] | None = None) -> Request:
    return Request("http", to, port, namespace, method=method.upper(), path=path,
                   headers=tuple((headers or {}).items()))


def grpc(method: str, *, to: str = ACCOUNT_SERVICE, port: int = GRPC_PORT) -> Request:
    return Request("grpc", to, port, grpc_method=method)


def dns(name: str) -> Request:
    return Request("dns", "kube-dns", DNS_PORT, to_namespace="kube-system", dns_name=name)


def tcp(fqdn: str, port: int, *, by_ip: bool = False) -> Request:
    """A TCP connect to an off-cluster name (looked up through the pod's resolver), or
    with `by_ip` straight to that target's IP, skipping the lookup."""
    return Request("tcp", fqdn.lower(), port, to_namespace="", by_ip=by_ip)


def connect(port: int, *, to: str = ACCOUNT_SERVICE, namespace: str = PAYMENTS) -> Request:
    """A bare TCP connect to every pod of an app (no L7 request)."""
    return Request("tcp", to, port, namespace)


def ping(*, to: str = ACCOUNT_SERVICE, namespace: str = PAYMENTS) -> Request:
    """An ICMP echo request (IPv4) to every pod of an app, from an unprivileged ICMP socket."""
    return Request("icmp", to, 0, namespace)


def tls(sni: str, *, to: str = ACCOUNT_SERVICE, port: int = TLS_PORT) -> Request:
    """A TLS handshake with server_name `sni` ("": none), then GET /healthz over it."""
    return Request("tls", to, port, sni=sni, path=TLS_PATH)


def kubelet(path: str = "/healthz", *, to: str = ACCOUNT_SERVICE) -> Request:
    """The kubelet's readiness probe; observed through the pods' Ready condition."""
    return Request("kubelet", to, HTTP_PORT, method="GET", path=path)


@dataclass(frozen=True)
class Written:
    """An expectation as the scenario author wrote it."""

    verdict: Verdict
    drop_reason: DropReason | None = None
    direction: Literal["ingress", "egress"] | None = None
    # mutual auth `required`: the first packets of a new identity pair are dropped with
    # AUTH_REQUIRED while the agents authenticate; the retransmit passes.
    tolerate_auth_drop: bool = False

    def label(self) -> str:
        if self.verdict == "dropped":
            return f"dropped {self.drop_reason} {self.direction}"
        return self.verdict + (" after auth" if self.tolerate_auth_drop else "")


ALLOWED = Written("allowed")
AUTHENTICATED = Written("allowed", tolerate_auth_drop=True)
L7_DENIED = Written("l7-denied")
DNS_REFUSED = Written("dns-refused")


def dropped(reason: DropReason, direction: Literal["ingress", "egress"]) -> Written:
    return Written("dropped", reason, direction)


@dataclass(frozen=True)
class Cell:
    source: Source
    request: Request
    expect: Written
    why: str = ""
    min_version: str | None = None  # e.g. "1.19" for `**.` patterns

    @property
    def id(self) -> str:
        text = f"{self.source.label()} {self.request.label()} => {self.expect.label()}"
        return re.sub(r"\s+", " ", text)

    def model_probe(self, probe_id: str) -> Probe:
        return self.request.type.model_probe(self.request, self.source.model(), probe_id)


class ExpectationMismatch(pytest.Collector.CollectError):
    """A written expectation the policy model disagrees with (reported at collection)."""


@dataclass(frozen=True)
class Scenario:
    name: str  # also the policy directory under manifests/policies/
    title: str
    cells: tuple[Cell, ...]
    requires: tuple[str, ...] = ()  # FEATURE_* names the cluster must report
    disruptive: bool = False  # a truly cluster-wide policy: opt-in, alone, at the end
    peer_namespace: bool = False  # also deploy workloads in `partners`
    policies: Path | None = None  # default: manifests/policies/<name>
    # capability tags its cells carry beyond the derived ones (conformance/harness/
    # capabilities.py); the fault matrix selects cells by tags
    tags: tuple[str, ...] = ()
    _expectations: dict[str, Expectation] = field(default_factory=dict, compare=False)

    @property
    def policy_dir(self) -> Path:
        return self.policies or POLICY_ROOT / self.name

    def policy_documents(self) -> list[dict[str, Any]]:
        return load_documents(self.policy_dir)

    def expectation(self, cell: Cell) -> Expectation:
        return self._expectations[cell.id]

    def expectation_for(self, cell: Cell, cilium_version: str) -> Expectation:
        """The model's expectation on the cluster's own Cilium version."""
        from conformance.model import evaluate, load_policies

        key = f"{cilium_version}|{cell.id}"
        if key not in self._expectations:
            policies = load_policies([self.policy_dir])
            self._expectations[key] = evaluate(policies, cell.model_probe(cell.id),
                                               cilium_version)
        return self._expectations[key]

    def scenario_tags(self) -> frozenset[str]:
        """The tags every cell carries: its batch's, its policies', the declared ones."""
        from conformance.harness.capabilities import policy_tags
        from conformance.vocabulary.capabilities import BATCH

        return BATCH | policy_tags(self.policy_documents()) | frozenset(self.tags)

    def tags_of(self, cell: Cell, cilium_version: str = DEFAULT_MODEL_VERSION,
                common: frozenset[str] | None = None) -> frozenset[str]:
        """The cell's capability tags (`common`: scenario_tags(), when already known);
        TagError for tags outside the vocabulary or a cell without an enforcement tag."""
        from conformance.harness.capabilities import cell_tags
        from conformance.vocabulary.capabilities import checked

        common = self.scenario_tags() if common is None else common
        exp = self.expectation_for(cell, cilium_version)
        return checked(f"scenario {self.name}, cell '{cell.id}'", common | cell_tags(cell, exp))

    def params(self) -> list[Any]:
        """The cells as pytest parameters. Their written expectations are checked against
        the model when the module is collected, for the run's Cilium version
        (check_against_model, from conformance/scenarios/conftest.py
        pytest_generate_tests)."""
        self._check_duplicates()
        return [pytest.param(c, id=c.id) for c in self.cells]

    def marks(self) -> list[pytest.MarkDecorator]:
        out = [pytest.mark.conformance, pytest.mark.xdist_group(self.name)]
        if self.disruptive:
            out.append(pytest.mark.disruptive)
        return out

    def _check_duplicates(self) -> None:
        ids = [c.id for c in self.cells]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ExpectationMismatch(f"scenario {self.name}: duplicate cells {dupes}")

    def check_against_model(self, version: str) -> None:
        """Every written expectation against the model on Cilium `version`; one
        ExpectationMismatch naming each disagreeing probe."""
        from conformance.model import PolicyError, evaluate, load_policies

        self._check_duplicates()
        try:
            policies = load_policies([self.policy_dir])
        except PolicyError as exc:
            raise ExpectationMismatch(
                f"scenario {self.name}: the policies in {self.policy_dir} do not load: {exc}"
            ) from exc
        problems: list[str] = []
        untagged: list[str] = []
        common = self._common_tags(untagged)
        for cell in self.cells:
            if cell.min_version and not version_at_least(version, cell.min_version):
                continue  # not expected to hold on this version; skipped at run time
            exp = evaluate(policies, cell.model_probe(cell.id), version)
            self._expectations[cell.id] = self._expectations[f"{version}|{cell.id}"] = exp
            if common is not None:
                untagged += self._tag_problems(cell, version, common)
            if not agrees(cell.expect, exp):
                problems.append(
                    f"probe '{cell.id}': written {cell.expect.label()}, but the policy model "
                    f"(Cilium {version}) predicts {describe(exp)} — {exp.explanation}"
                )
        if problems:
            raise ExpectationMismatch(
                f"scenario {self.name}: {len(problems)} written expectation(s) disagree "
                "with the policy model:\n  " + "\n  ".join(problems)
            )
        if untagged:
            raise ExpectationMismatch("\n".join(untagged))

    def _common_tags(self, problems: list[str]) -> frozenset[str] | None:
        from conformance.vocabulary.capabilities import TagError, checked

        try:
            return checked(f"scenario {self.name}", self.scenario_tags(), cells=False)
        except TagError as exc:
            problems.append(str(exc))
            return None

    def _tag_problems(self, cell: Cell, version: str, common: frozenset[str]) -> list[str]:
        from conformance.vocabulary.capabilities import TagError

        try:
            self.tags_of(cell, version, common)
        except TagError as exc:
            return [str(exc)]
        return []


def agrees(written: Written, exp: Expectation) -> bool:
    if written.verdict != exp.verdict:
        return False
    if written.verdict != "dropped":
        return True
    return written.drop_reason == exp.drop_reason and written.direction == exp.direction


def describe(exp: Expectation) -> str:
    if exp.verdict == "dropped":
        return f"dropped {exp.drop_reason} {exp.direction}"
    return exp.verdict


def load_documents(directory: Path) -> list[dict[str, Any]]:
    """Every YAML document of the directory's *.yaml files, in file-name order."""
    import yaml

    docs: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict):
                docs.append(doc)
    return docs


def version_at_least(version: str, minimum: str) -> bool:
    def parts(v: str) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", v)[:3])

    return parts(version) >= parts(minimum)
