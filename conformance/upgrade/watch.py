"""The disruption watch: which paths are probed during an upgrade (watch.yaml), and what the
samples mean — a denied probe that passed (fail-open), allowed traffic lost, established
connections reset — judged against a budget."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml

from conformance.model.probe import DnsQuery, GrpcCall, HttpRequest, Pod, Probe

WATCH_FILE = Path(__file__).with_name("watch.yaml")
NAMESPACE = "payments"
CLIENT = Pod(NAMESPACE, {"app": "payment-processor"})
SERVER = Pod(NAMESPACE, {"app": "account-service"})
KUBE_DNS = Pod("kube-system", {"k8s-app": "kube-dns"})
DNS_PORT = 53
MAX_GAP_S = 2.0  # default budget: the longest run of failed allowed (non-DNS) connections

Expect = Literal["allowed", "denied"]


@dataclass(frozen=True)
class WatchPath:
    name: str
    kind: str  # l7 | l4 | dns
    expect: Expect
    probe: Probe

    @property
    def to_pod(self) -> bool:
        return self.probe.dns is None


@dataclass(frozen=True)
class WatchSpec:
    rate_per_s: float
    policies: tuple[dict[str, Any], ...]
    paths: tuple[WatchPath, ...]
    streams: tuple[WatchPath, ...]


def _path(raw: dict[str, Any]) -> WatchPath:
    name = str(raw["name"])
    if "dns" in raw:
        probe = Probe(id=name, source=CLIENT, destination=KUBE_DNS, port=DNS_PORT,
                      protocol="UDP", dns=DnsQuery(str(raw["dns"])))
    else:
        http = HttpRequest(**raw["http"]) if "http" in raw else None
        grpc = GrpcCall(**raw["grpc"]) if "grpc" in raw else None
        probe = Probe(id=name, source=CLIENT, destination=SERVER, port=int(raw["port"]),
                      http=http, grpc=grpc)
    return WatchPath(name, str(raw["kind"]), raw["expect"], probe)


@lru_cache(maxsize=1)
def watch_spec() -> WatchSpec:
    raw = yaml.safe_load(WATCH_FILE.read_text(encoding="utf-8"))
    return WatchSpec(float(raw["rate_per_s"]), tuple(raw["policies"]),
                     tuple(_path(p) for p in raw["paths"]),
                     tuple(_path(p) for p in raw["streams"]))


@dataclass(frozen=True)
class Sample:
    t: float  # seconds since the upgrade started
    node: str  # the client's node
    path: str
    outcome: str  # ok | denied | error
    restarting: tuple[str, ...]  # nodes whose agent was down at that instant


@dataclass(frozen=True)
class Window:
    node: str
    start: float  # seconds since the upgrade started
    end: float


@dataclass(frozen=True)
class Stream:
    name: str
    node: str  # the client's node
    reset_at: float | None  # seconds since the upgrade started; None: survived
    restarting: tuple[str, ...] = ()


@dataclass(frozen=True)
class Budget:
    streams_survive: bool = True
    max_gap_s: float = MAX_GAP_S  # allowed L7/L4 paths; DNS gaps are reported apart


@dataclass
class WatchReport:
    windows: list[Window]
    counts: dict[str, dict[str, dict[str, int]]]  # node -> path -> outcome -> n
    gaps: dict[str, dict[str, float]]  # node -> allowed path -> longest gap (s)
    fail_open: list[Sample]
    streams: list[Stream]
    during: dict[str, dict[str, dict[str, int]]]  # node -> path -> outcome -> n in window
    failures: list[str] = field(default_factory=list)
    # node -> allowed path -> what was restarting during its longest gap
    gap_restarting: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "windows": [vars(w) for w in self.windows],
            "counts": self.counts, "longest_gap_s": self.gaps,
            "fail_open": [vars(s) | {"restarting": list(s.restarting)} for s in self.fail_open],
            "streams": [vars(s) | {"restarting": list(s.restarting)} for s in self.streams],
            "during_restart": self.during, "gap_restarting": self.gap_restarting,
            "failures": self.failures,
        }


def summarize(spec: WatchSpec, samples: Sequence[Sample], streams: Sequence[Stream],
              windows: Sequence[Window], budget: Budget) -> WatchReport:
    expect = {p.name: p for p in spec.paths}
    step = 1.0 / spec.rate_per_s
    counts: dict[str, dict[str, Counter[str]]] = {}
    during: dict[str, dict[str, Counter[str]]] = {}
    # (node, path) -> the current failing run: its first and last failure, and what was
    # restarting during it
    runs: dict[tuple[str, str], tuple[float, set[str]]] = {}
    gaps: dict[str, dict[str, float]] = {}
    fail_open = []
    windows_of: dict[str, list[Window]] = {}  # an agent may restart more than once
    for w in windows:
        windows_of.setdefault(w.node, []).append(w)
    causes: dict[str, dict[str, list[str]]] = {}  # node -> path -> restarting in its gap
    for s in sorted(samples, key=lambda s: s.t):
        counts.setdefault(s.node, {}).setdefault(s.path, Counter())[s.outcome] += 1
        if any(w.start <= s.t < w.end for w in windows_of.get(s.node, ())):
            during.setdefault(s.node, {}).setdefault(s.path, Counter())[s.outcome] += 1
        path = expect[s.path]
        if path.expect == "denied" and s.outcome == "ok":
            fail_open.append(s)
        if path.expect != "allowed":
            continue
        key = (s.node, s.path)
        if s.outcome == "ok":
            runs.pop(key, None)
            continue
        start, seen = runs.setdefault(key, (s.t, set()))
        seen.update(s.restarting)
        gap = s.t - start + step
        node_gaps = gaps.setdefault(s.node, {})
        if gap >= node_gaps.get(s.path, 0.0):
            causes.setdefault(s.node, {})[s.path] = sorted(seen)
        node_gaps[s.path] = round(max(node_gaps.get(s.path, 0.0), gap), 3)
    report = WatchReport(list(windows), _plain(counts), gaps, fail_open, list(streams),
                         _plain(during), gap_restarting=causes)
    report.failures = _judge(report, spec, budget)
    return report


def _plain(nested: dict[str, dict[str, Counter[str]]]) -> dict[str, dict[str, dict[str, int]]]:
    return {n: {p: dict(c) for p, c in sorted(paths.items())} for n, paths in sorted(
        nested.items())}


def _judge(r: WatchReport, spec: WatchSpec, budget: Budget) -> list[str]:
    out = []
    seen: dict[tuple[str, str], list[Sample]] = {}
    for s in r.fail_open:
        seen.setdefault((s.node, s.path), []).append(s)
    for (node, path), hits in seen.items():
        who = ", ".join(hits[0].restarting) or "none"
        out.append(f"fail-open: denied path {path} from {node} succeeded {len(hits)} time(s), "
                   f"first at +{hits[0].t:.2f}s, last at +{hits[-1].t:.2f}s (agents "
                   f"restarting at the first: {who})")
    kinds = {p.name: p.kind for p in spec.paths}
    for node, paths in r.gaps.items():
        for path, gap in paths.items():
            if kinds[path] != "dns" and gap > budget.max_gap_s:
                who = ", ".join(r.gap_restarting.get(node, {}).get(path, ())) or "none"
                out.append(f"allowed path {path} from {node} lost {gap:.2f}s of connections "
                           f"(budget {budget.max_gap_s:g}s; restarting during it: {who})")
    if budget.streams_survive:
        for st in r.streams:
            if st.reset_at is not None:
                out.append(f"established {st.name} from {st.node} was reset at "
                           f"+{st.reset_at:.2f}s (agents restarting: "
                           f"{', '.join(st.restarting) or 'none'})")
    return out
