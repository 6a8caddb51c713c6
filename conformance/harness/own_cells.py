"""Your own policies as scenarios: generated cells (conformance/generate) in the suite's
vocabulary, split into shards that workers take whole.

A shard is a Scenario whose cells come from `--policies` (or a `generate` output given with
`--probes`); every shard applies the whole policy set, since every verdict depends on it,
and sends the cells of its policies. Cells are grouped per policy (ids, artifacts).
"""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from conformance.generate import GenCell, Generation, RuleRef, describe_probe, generate
from conformance.harness.cluster import FEATURE_L7_PROXY
from conformance.harness.report import slug
from conformance.harness.spec import Cell, Request, Scenario, Source, Written
from conformance.model import (
    DEFAULT_VERSION,
    Expectation,
    PolicySet,
    Probe,
    ProbeError,
    evaluate,
)
from conformance.model.loader import load_documents
from conformance.model.probe import Entity, Fqdn, Pod

NAME = "own-policies"
SHARDS_ENV = "ZTC_OWN_SHARDS"  # how many scenario shards (workers take shards whole)
DEFAULT_SHARDS = 2
MAX_SHARDS = 64
# The stand-in's own label, which its Deployment selects on. Cilium leaves every label key
# matching `kubernetes\.io` out of identities (labelsfilter defaults, Documentation
# operations/performance/scalability/identity-relevant-labels.rst), so the pod's identity
# carries exactly the labels the selectors need.
STANDIN_LABEL = "standin.zt-conformance.kubernetes.io/id"
KUBE_SYSTEM = "kube-system"


class OwnInputError(ValueError):
    """Bad --policies/--probes input: one paragraph naming file, document/line and field."""


@dataclass(frozen=True)
class OwnCell(Cell):
    """A generated cell; its id, probe and rule come from the generator."""

    cell_id: str = ""
    probe: Probe | None = None
    rule: str = ""
    policy: str = ""
    artifact_dir: str = ""

    @property
    def id(self) -> str:
        return self.cell_id

    def model_probe(self, probe_id: str) -> Probe:
        assert self.probe is not None
        return replace(self.probe, id=probe_id)


@dataclass(frozen=True, eq=False)
class OwnScenario(Scenario):
    """A shard of the own-policies cells; expectations always come from the model."""

    paths: tuple[str, ...] = ()
    policy_set: PolicySet | None = field(default=None, compare=False)
    # canonical namespace -> the labels its mirror carries (what the cells' selectors ask
    # of it; the same for every shard, as the mirrors are shared by a worker's shards)
    namespace_labels: dict[str, dict[str, str]] = field(default_factory=dict, compare=False)
    not_generated: tuple[str, ...] = ()  # rule parts without cells, with the reason

    def policy_documents(self) -> list[dict[str, Any]]:
        docs, _ = load_documents(list(self.paths))
        return [d.data for d in docs if isinstance(d.data, dict)]

    def expectation_for(self, cell: Cell, cilium_version: str) -> Expectation:
        key = f"{cilium_version}|{cell.id}"
        if key not in self._expectations:
            assert self.policy_set is not None
            self._expectations[key] = evaluate(self.policy_set, cell.model_probe(cell.id),
                                               cilium_version)
        return self._expectations[key]

    def params(self) -> list[Any]:
        # No written expectation to check: each cell's is the model's (on the cluster's
        # version at run time, in the shard's plan).
        return [pytest.param(c, id=c.id) for c in self.cells]


def namespaces(scenarios: list[OwnScenario]) -> set[str]:
    """Every namespace the policies or the cells name (kube-system included: the caller
    leaves it alone)."""
    out = {"default"} if any(p.ref.namespace is None for s in scenarios
                             for p in s.policy_set or ()) else set()
    for s in scenarios:
        out.update(p.ref.namespace for p in s.policy_set or () if p.ref.namespace)
        for c in s.cells:
            if isinstance(c, OwnCell) and c.probe is not None:
                out.update(peer.namespace for peer in (c.probe.source, c.probe.destination)
                           if isinstance(peer, Pod))
    return out


def standin_key(pod: Pod) -> str:
    """The stand-in of a (namespace, labels) pod: one Deployment per distinct pod."""
    text = json.dumps([pod.namespace, sorted(pod.labels.items())])
    return "s" + hashlib.sha256(text.encode()).hexdigest()[:10]


@dataclass(frozen=True)
class OwnConfig:
    """What the run asks of the own-policies module (--policies, --probes, and the Cilium
    version its cells are generated for)."""

    paths: tuple[str, ...] = ()
    probes: str | None = None
    version: str = DEFAULT_VERSION
    allow_external_fqdn: bool = False  # FQDN cells may reach real names (--allow-external-fqdn)


_CONFIG = [OwnConfig()]


def configure(config: OwnConfig) -> None:
    """Set from pytest's configuration (conftest.py pytest_configure, in the controller and
    in each xdist worker) before collection: the module generates its cells on import,
    before any fixture or hook could hand it anything."""
    _CONFIG[0] = config


def configured() -> OwnConfig:
    return _CONFIG[0]


def shard_count() -> int:
    raw = os.environ.get(SHARDS_ENV) or str(DEFAULT_SHARDS)
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_SHARDS:
        raise OwnInputError(f"env {SHARDS_ENV}={raw!r}: expected a number 1-{MAX_SHARDS}")
    return int(raw)


def load_cells(paths: list[str], probes: str | None, version: str) -> Generation:
    """The cells to run: generated from `paths`, or read from a `generate` output. Raises
    PolicyError for bad policies, OwnInputError for a bad probes file."""
    result = generate(paths, cilium_version=version)
    if not probes:
        return result
    return replace(result, cells=tuple(read_generated(Path(probes), result.policies,
                                                      version)))


def read_generated(path: Path, policies: PolicySet, version: str) -> list[GenCell]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise OwnInputError(f"--probes {path}: cannot read: {exc}") from None
    by_ref = {str(p.ref): p.ref for p in policies}
    cells: list[GenCell] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"--probes {path}: line {number}"
        try:
            row = json.loads(line)
            probe = Probe.from_dict(row)
        except (ValueError, ProbeError) as exc:
            raise OwnInputError(f"{where}: {exc}") from None
        rule = row.get("rule") if isinstance(row, dict) else None
        ref = by_ref.get(str((rule or {}).get("policy"))) if isinstance(rule, dict) else None
        if ref is None or not isinstance(rule, dict):
            raise OwnInputError(f"{where}: rule.policy: names no policy of --policies "
                                "(a line of `python -m conformance generate` names its rule)")
        cells.append(GenCell(probe, RuleRef(ref, str(rule.get("path", "")),
                                            str(rule.get("direction", "")),
                                            bool(rule.get("deny")), rule.get("ports"),
                                            rule.get("l7")),
                             "negative" if row.get("cell") == "negative" else "positive",
                             str(row.get("step", "")),
                             expect=evaluate(policies, probe, version)))
    if not cells:
        raise OwnInputError(f"--probes {path}: no cells (one JSON object per line)")
    return cells


def shards(result: Generation, paths: list[str], count: int) -> list[OwnScenario]:
    """Cells split into `count` shards by policy (a policy's cells stay together)."""
    gen, policies = result.cells, result.policies
    groups: list[list[OwnCell]] = [[] for _ in range(count)]
    for g in gen:
        policy = str(g.rule.policy)
        groups[zlib.crc32(policy.encode()) % count].append(own_cell(g))
    l7 = any(c.request.type.l7 for grp in groups for c in grp)
    ns_labels: dict[str, dict[str, str]] = {}
    for g in gen:  # the first cell's wish wins; a cell wanting others is skipped (own.py)
        for peer in (g.probe.source, g.probe.destination):
            if isinstance(peer, Pod) and peer.namespace_labels:
                ns_labels[peer.namespace] = {**peer.namespace_labels,
                                             **ns_labels.get(peer.namespace, {})}
    return [OwnScenario(name=f"{NAME}-{k}", title=f"own policies, shard {k + 1}/{count}",
                        cells=tuple(cells), requires=(FEATURE_L7_PROXY,) if l7 else (),
                        paths=tuple(paths), policy_set=policies, namespace_labels=ns_labels,
                        not_generated=tuple(str(s) for s in result.skipped))
            for k, cells in enumerate(groups) if cells]


def own_cell(g: GenCell) -> OwnCell:
    p, exp = g.probe, g.expect
    assert exp is not None
    # mutual auth `required`: the first packets are dropped with AUTH_REQUIRED until the
    # handshake completes (the model's note, conformance/model/engine.py _side).
    auth = exp.verdict == "allowed" and "authentication required by" in exp.explanation
    written = Written(exp.verdict, exp.drop_reason, exp.direction, tolerate_auth_drop=auth)
    verdict = exp.verdict + (f" {exp.drop_reason} {exp.direction}" if exp.drop_reason else "")
    return OwnCell(
        source=_source(p), request=_request(p), expect=written,
        why=f"{g.kind}{'/' + g.step if g.step else ''} of {g.rule.label()}",
        cell_id=f"{p.id}: {describe_probe(p)} => {verdict}", probe=p, rule=g.rule.label(),
        policy=str(g.rule.policy),
        artifact_dir=f"{slug(str(g.rule.policy))}/{slug(p.id)}")


def _source(p: Probe) -> Source:
    if isinstance(p.source, Pod):
        return Source(standin_key(p.source), p.source.namespace)
    assert isinstance(p.source, Entity)
    return Source(p.source.entity, "")


def _request(p: Probe) -> Request:
    dst = p.destination
    if isinstance(dst, Fqdn):
        to, ns = dst.fqdn, ""
    elif isinstance(dst, Pod):
        to, ns = standin_key(dst), dst.namespace
    else:
        to, ns = dst.entity, ""
    if p.dns is not None:
        return Request("dns", to, p.port, ns, dns_name=p.dns.name)
    if p.grpc is not None:
        return Request("grpc", to, p.port, ns, grpc_method=p.grpc.path)
    if p.http is not None:
        headers = {**p.http.headers, **({"Host": p.http.host} if p.http.host else {})}
        return Request("http", to, p.port, ns, method=p.http.method, path=p.http.path,
                       headers=tuple(headers.items()))
    return Request("tcp", to, p.port, ns)
