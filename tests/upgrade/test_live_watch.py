"""The live disruption watch against the emulated cluster, through the one real client:
`prober watch` runs as an exec streaming its samples, the agents' restarts are read from
the API's pods, and the "upgrade command" is what `helm upgrade` does to the agents, a
server-side apply of the cilium DaemonSet's new image. A clean upgrade passes; fault
`upgrade-fail-open` fails naming the instant, the node and the restarting agents;
`upgrade-conn-drop` fails on the established streams."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from clusters.emulated.process import EmulatorProcess
from conformance.harness.kube import KubeCluster
from conformance.harness.kube_api import ApiError
from conformance.upgrade.livewatch import AgentWindows, Options, live_watch
from conformance.upgrade.watch import (
    Budget,
    Sample,
    WatchReport,
    Window,
    summarize,
    watch_spec,
)
from tests.support.emulated import helm_like_upgrade

OLD, NEW = "1.19.6", "1.20.0"
RESTART_S = 1.5  # each emulated agent restart (emulator option; 6 s by default)
OPTS = Options(lead_s=1.0, tail_s=1.0)
WORKERS = {"sim-worker", "sim-worker2"}
CNP_PATH = f"/apis/cilium.io/v2/namespaces/{Options().namespace}/ciliumnetworkpolicies"


@pytest.fixture
def watched(request: pytest.FixtureRequest) -> Iterator[tuple[WatchReport, KubeCluster]]:
    em = EmulatorProcess(fault=request.param, cilium_version=OLD, agent_restart_s=RESTART_S)
    cluster = KubeCluster.connect(em.kubeconfig, em.context)
    try:
        report = live_watch(cluster, helm_like_upgrade(cluster, NEW), watch_spec(), Budget(),
                            OPTS)
        yield report, cluster
    finally:
        cluster.close()
        em.stop()


@pytest.mark.parametrize("watched", [None], indirect=True)
def test_a_clean_rollout_passes(watched: tuple[WatchReport, KubeCluster]) -> None:
    report, cluster = watched
    assert report.failures == []
    # every agent restarted, two at a time (the chart's maxUnavailable), and came back
    nodes = sorted(w.node for w in report.windows)
    assert nodes == ["sim-control-plane", "sim-worker", "sim-worker2"]
    assert all(0 < w.end - w.start < 3 * RESTART_S for w in report.windows)
    assert {p.get("spec", {}).get("containers", [{}])[0].get("image")
            for p in cluster.rollout_pods()[0]} == {f"quay.io/cilium/cilium:v{NEW}"}
    # samples from both workers at the watch's rate, before, during and after
    assert set(report.counts) == WORKERS
    for node in WORKERS:
        counts = report.counts[node]
        assert set(counts["l7-allowed"]) == {"ok"} and counts["l7-allowed"]["ok"] > 30
        assert set(counts["l7-denied"]) == {"denied"}
        assert set(counts["l4-denied"]) == {"denied"}
        # the DNS proxy restarts with the agent: reported apart, within the budget
        assert report.during[node]["dns-allowed"].get("error", 0) > 0
        assert 0 < report.gaps[node]["dns-allowed"] < 2 * RESTART_S
        assert "l7-allowed" not in report.gaps[node]
    assert all(s.reset_at is None for s in report.streams) and len(report.streams) == 4
    # the watch cleaned up after a pass
    with pytest.raises(ApiError) as gone:
        cluster.api.request("GET", f"{CNP_PATH}/upgrade-watch-ingress", timeout=10)
    assert gone.value.status == 404


@pytest.mark.parametrize("watched", ["upgrade-fail-open"], indirect=True)
def test_fail_open_names_instant_node_and_restarting_agent(
        watched: tuple[WatchReport, KubeCluster]) -> None:
    report, _ = watched
    opened = [f for f in report.failures if f.startswith("fail-open")]
    assert opened, report.failures
    first = re.match(r"fail-open: denied path (\S+) from (\S+) succeeded \d+ time\(s\), first "
                     r"at \+([\d.]+)s, last at \+[\d.]+s \(agents restarting at the first: "
                     r"(.+)\)", opened[0])
    assert first, opened[0]
    path, node, at, restarting = first.groups()
    assert path in ("l7-denied", "l4-denied") and node in WORKERS
    assert "sim-worker" in restarting.split(", ")  # the first worker's agent restart
    window = next(w for w in report.windows if w.node == "sim-worker")
    assert window.start <= float(at) < window.end
    assert {s.path for s in report.fail_open} == {"l7-denied", "l4-denied"}


@pytest.mark.parametrize("watched", ["upgrade-conn-drop"], indirect=True)
def test_conn_drop_fails_on_the_streams(watched: tuple[WatchReport, KubeCluster]) -> None:
    report, _ = watched
    assert not report.fail_open
    reset = [s for s in report.streams if s.reset_at is not None]
    assert {(s.name, s.node) for s in reset} == {(n, w) for n in ("tcp-stream", "grpc-stream")
                                                 for w in WORKERS}
    assert all(s.restarting for s in reset)
    assert sum(f.startswith("established ") for f in report.failures) == 4


def agent_pod(node: str, ready: bool, *, deleting: bool = False,
              image: str = "cilium:new") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": f"cilium-{node}"}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "spec": {"nodeName": node, "containers": [
        {"name": "cilium-agent", "image": image}]}, "status": {"conditions": [
            {"type": "Ready", "status": "True" if ready else "False"}]}}


def test_a_window_brackets_the_restart_from_the_polls() -> None:
    """From the last poll that saw the agent Ready (as sent) to the first that sees its
    new pod Ready (as answered); done only when every agent is Ready on the new image."""
    w = AgentWindows()
    w.observe([agent_pod("a", True, image="cilium:old"), agent_pod("b", True)], 10.0, 10.1)
    w.observe([agent_pod("a", False, deleting=True, image="cilium:old"),
               agent_pod("b", True)], 10.3, 10.4)
    assert w.windows(10.0, 10.5) == [Window("a", 0.0, 0.5)]  # still open: up to now
    w.observe([agent_pod("b", True)], 10.6, 10.7)  # a's old pod gone, no new one yet
    w.observe([agent_pod("a", False), agent_pod("b", True)], 10.8, 10.9)
    assert not w.done([agent_pod("a", False), agent_pod("b", True)], "cilium:new")
    w.observe([agent_pod("a", True), agent_pod("b", True)], 11.0, 11.2)
    assert w.windows(10.0, 12.0) == [Window("a", 0.0, pytest.approx(1.2))]
    assert w.done([agent_pod("a", True), agent_pod("b", True)], "cilium:new")
    assert not w.done([agent_pod("a", True), agent_pod("b", True, image="cilium:old")],
                      "cilium:new")


def test_a_pod_not_yet_bound_to_a_node_is_nobodys_agent() -> None:
    """The DaemonSet controller creates a node's new pod with a node affinity; the scheduler
    sets nodeName a moment later. A poll in between must not open a window for node ""
    that no pod ever closes (the rollout would then never be done)."""
    w = AgentWindows()
    w.observe([agent_pod("a", True), agent_pod("b", True)], 10.0, 10.1)
    unbound = agent_pod("a", False)
    del unbound["spec"]["nodeName"]
    w.observe([unbound, agent_pod("b", True)], 10.3, 10.4)  # a's old pod gone
    w.observe([agent_pod("a", True), agent_pod("b", True)], 10.6, 10.7)
    assert w.windows(10.0, 11.0) == [Window("a", 0.0, pytest.approx(0.7))]
    assert w.done([agent_pod("a", True), agent_pod("b", True)], "cilium:new")


def test_every_restart_window_of_a_node_counts() -> None:
    """An agent that restarts twice (or flaps): samples in either window count as during."""
    spec = watch_spec()
    samples = [Sample(t, "n1", "l7-allowed", "ok", ()) for t in (0.5, 1.5, 2.5)]
    windows = [Window("n1", 0.0, 1.0), Window("n1", 2.0, 3.0)]
    report = summarize(spec, samples, [], windows, Budget())
    assert report.during["n1"]["l7-allowed"] == {"ok": 2}


def test_no_upgrade_runs_unobserved() -> None:
    """A stream the policy does not let open (port 8081): the watch is not what it claims,
    so the upgrade command is never called and the report says why."""
    spec = watch_spec()
    blocked = tuple(replace(s, probe=replace(s.probe, port=8081)) for s in spec.streams)
    called: list[bool] = []
    em = EmulatorProcess(cilium_version=OLD, agent_restart_s=RESTART_S)
    cluster = KubeCluster.connect(em.kubeconfig, em.context)
    try:
        report = live_watch(cluster, lambda: called.append(True) or 0,
                            replace(spec, streams=blocked), Budget(), OPTS)
    finally:
        cluster.close()
        em.stop()
    assert called == []
    assert any("was not established before the upgrade" in f for f in report.failures)
    assert "the upgrade was not started: the watch was not running" in report.failures
    assert report.windows == []
