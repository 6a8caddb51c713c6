"""Prometheus text from the agents: parsing, summing over nodes, deltas, attribution."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.harness import metrics
from conformance.harness.cluster import MetricsScrape

# Scrapes in the agents' exposition format, as served on 9965 (Hubble) and 9962 (agent).
DATA = Path(__file__).parent / "data" / "metrics"

NODE1 = (DATA / "hubble-node1.prom").read_text()
NODE2 = (DATA / "hubble-node2.prom").read_text()
AGENT = (DATA / "agent-node1.prom").read_text()

DROPS = metrics.hubble("hubble_drop_total", reason="POLICY_DENIED")
AGENT_DROPS = metrics.agent("cilium_drop_count_total", reason="Policy denied")


def snap(*texts: str) -> metrics.Snapshot:
    return metrics.snapshot([MetricsScrape(f"node{i}", 9965, t) for i, t in enumerate(texts)])


def test_counters_only_and_summed_over_nodes() -> None:
    s = snap(NODE1, NODE2, AGENT)
    assert DROPS.value(s, ["ztc-gw0"]) == 3 + 4 + 1
    assert DROPS.value(s, ["ztc-gw1"]) == 7
    assert AGENT_DROPS.value(s, ["ignored: not attributed"]) == 17
    assert s.select("hubble_flows_processed_total") == 1.2e6
    assert s.select("go_goroutines") == 0  # gauges are not counters


def test_label_subset_selection() -> None:
    s = snap(NODE1)
    assert s.select("hubble_drop_total", {"protocol": "HTTP"}) == 2
    assert s.select("hubble_drop_total", {"reason": "POLICY_DENIED", "protocol": "UDP"},
                    namespaces=["ztc-gw0"]) == 1


def test_delta_attributes_to_our_namespaces_only() -> None:
    before = snap(NODE1)
    other_worker = NODE1.replace('"ztc-gw1"} 7', '"ztc-gw1"} 70')
    after = snap(other_worker)
    d = metrics.delta(before, after)
    assert DROPS.value(d, ["ztc-gw0"]) == 0
    assert DROPS.value(d, ["ztc-gw1"]) == 63


def test_delta_after_counter_reset_counts_from_zero() -> None:
    before = snap(AGENT)
    after = snap(AGENT.replace("} 12", "} 2"))  # agent restarted
    assert metrics.delta(before, after).select(
        "cilium_drop_count_total", {"direction": "INGRESS"}) == 2


def test_new_series_count_fully() -> None:
    d = metrics.delta(snap(""), snap(NODE2))
    assert DROPS.value(d, ["ztc-gw0"]) == 4


def test_describe() -> None:
    assert DROPS.describe() == 'hubble_drop_total{reason="POLICY_DENIED"}'


def test_bad_text_names_the_scrape() -> None:
    with pytest.raises(metrics.MetricsParseError, match="kind-worker:9962"):
        metrics.snapshot([MetricsScrape("kind-worker", 9962, "cilium_x{a= 1\n")])
