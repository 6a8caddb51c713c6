"""Prometheus text from every agent, summed over nodes, and deltas attributed to us.

Each agent serves its own counters (9965 Hubble, 9962 agent); a cluster-wide value is
the sum over scrapes. Parallel workers share the cluster, so a delta is attributed to a
worker only through the `source_namespace`/`destination_namespace` context labels;
counters without them (the agent's own) can only be checked as lower bounds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from conformance.harness.cluster import MetricsScrape

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]  # (sample name, sorted labels)

NAMESPACE_LABELS = ("source_namespace", "destination_namespace")
# Samples whose value only ever grows; the suite only looks at these.
_COUNTER_SUFFIXES = ("_total",)


class MetricsParseError(ValueError):
    """A scrape that is not Prometheus text; the message names the node and port."""


@dataclass(frozen=True)
class Snapshot:
    """Counter values summed over all scrapes (nodes), keyed by name and labels."""

    values: Mapping[SeriesKey, float]

    def select(self, name: str, labels: Mapping[str, str] | None = None,
               namespaces: Iterable[str] | None = None) -> float:
        """Sum of series `name` whose labels include `labels`; with `namespaces`, only
        series whose source or destination namespace is one of them."""
        wanted = dict(labels or {})
        spaces = set(namespaces) if namespaces is not None else None
        total = 0.0
        for (sample, items), value in self.values.items():
            if sample != name:
                continue
            have = dict(items)
            if any(have.get(k) != v for k, v in wanted.items()):
                continue
            if spaces is not None and not (
                have.get("source_namespace") in spaces
                or have.get("destination_namespace") in spaces
            ):
                continue
            total += value
        return total


    def has_namespace_labels(self, name: str) -> bool:
        return any(sample == name and any(k in NAMESPACE_LABELS for k, _ in items)
                   for sample, items in self.values)


def parse(text: str, where: str = "<scrape>") -> dict[SeriesKey, float]:
    """Counter samples of one exposition text."""
    out: dict[SeriesKey, float] = {}
    try:
        families = list(text_string_to_metric_families(text))
    except (ValueError, TypeError, IndexError) as exc:
        raise MetricsParseError(f"{where}: not Prometheus text exposition ({exc})") from exc
    for family in families:
        for sample in family.samples:
            if not sample.name.endswith(_COUNTER_SUFFIXES):
                continue
            key = (sample.name, tuple(sorted(sample.labels.items())))
            out[key] = out.get(key, 0.0) + float(sample.value)
    return out


def snapshot(scrapes: Iterable[MetricsScrape]) -> Snapshot:
    """Sum the counters of every node's scrapes."""
    total: dict[SeriesKey, float] = {}
    for scrape in scrapes:
        for key, value in parse(scrape.text, f"{scrape.node}:{scrape.port}").items():
            total[key] = total.get(key, 0.0) + value
    return Snapshot(total)


def delta(before: Snapshot, after: Snapshot) -> Snapshot:
    """after - before per series; a series that went down (agent restart) counts from 0."""
    out: dict[SeriesKey, float] = {}
    for key, value in after.values.items():
        prev = before.values.get(key, 0.0)
        out[key] = value - prev if value >= prev else value
    return Snapshot(out)


@dataclass(frozen=True)
class Counter:
    """One counter the evidence table names; `attributed` when it has namespace labels."""

    name: str
    labels: tuple[tuple[str, str], ...]
    attributed: bool

    def describe(self) -> str:
        inner = ",".join(f'{k}="{v}"' for k, v in self.labels)
        return f"{self.name}{{{inner}}}"

    def value(self, snap: Snapshot, namespaces: Iterable[str]) -> float:
        return snap.select(self.name, dict(self.labels),
                           namespaces if self.attributed else None)


def hubble(name: str, **labels: str) -> Counter:
    return Counter(name, tuple(sorted(labels.items())), attributed=True)


def agent(name: str, **labels: str) -> Counter:
    return Counter(name, tuple(sorted(labels.items())), attributed=False)
