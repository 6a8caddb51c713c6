"""The simulated upgrade: a rolling agent restart of the emulated cluster under the
disruption watch, its three faults, chains, and the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clusters.emulated.rollout import MAX_UNAVAILABLE, AgentRollout, StaticPolicies
from conformance.upgrade.__main__ import main
from conformance.upgrade.run import chain, run_upgrade
from conformance.upgrade.simulated import SimulatedTarget, run_simulated
from conformance.upgrade.static import CheckInputError, ProbeGroup
from conformance.upgrade.watch import Budget, Sample, Stream, Window, summarize, watch_spec

RELEASES = ["1.18.12", "1.19.6", "1.20.0"]
KAFKA = """\
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: kafka, namespace: payments}
spec:
  endpointSelector: {matchLabels: {app: kafka}}
  ingress:
  - toPorts:
    - ports: [{port: "9092", protocol: TCP}]
      rules: {kafka: [{topic: payments}]}
"""


@pytest.mark.parametrize("old,new", [("1.18.12", "1.19.6"), ("1.19.6", "1.20.0")])
def test_a_clean_simulated_upgrade_passes(old: str, new: str) -> None:
    report = run_simulated(old, new, None, Budget())
    assert report.passed, report.failures
    (step,) = report.steps
    assert step.watch is not None and step.watch.fail_open == []
    assert all(s.reset_at is None for s in step.watch.streams)
    # the DNS proxy is down with its agent: lookups fail, reported apart, not a failure
    assert all(gaps.get("dns-allowed", 0) > 0 for gaps in step.watch.gaps.values())
    assert all("l7-allowed" not in gaps for gaps in step.watch.gaps.values())


def test_the_1_18_to_1_19_step_sees_exactly_the_predicted_double_star_change() -> None:
    report = run_simulated("1.18.12", "1.19.6", None, Budget())
    assert [(c["scenario"], c["predicted"]) for c in report.steps[0].changed] == [
        ("fqdn-multilevel", True)]


def test_a_chain_over_a_minor_runs_both_steps() -> None:
    report = run_simulated("1.18.12", "1.20.0", None, Budget())
    assert report.plan == [("1.18.12", "1.19.6"), ("1.19.6", "1.20.0")]
    assert [(s.old, s.new) for s in report.steps] == report.plan
    assert report.passed


def test_fail_open_names_the_instant_the_node_and_the_restarting_agent() -> None:
    report = run_simulated("1.19.6", "1.20.0", "upgrade-fail-open", Budget())
    assert not report.passed
    assert all("fail-open: denied path" in f for f in report.failures)
    assert any("from sim-worker " in f and "first at +0.00s" in f
               and "restarting at the first: sim-control-plane, sim-worker" in f
               for f in report.failures)
    json.dumps(report.to_json())


def test_conn_drop_names_the_reset_stream() -> None:
    report = run_simulated("1.18.12", "1.19.6", "upgrade-conn-drop", Budget())
    assert not report.passed
    assert report.failures and all("was reset at" in f for f in report.failures)
    assert {f.split("established ")[1].split(" ")[0] for f in report.failures} == {
        "tcp-stream", "grpc-stream"}
    assert run_simulated("1.18.12", "1.19.6", "upgrade-conn-drop",
                         Budget(streams_survive=False)).passed


def test_unpredicted_change_names_the_cells() -> None:
    report = run_simulated("1.19.6", "1.20.0", "upgrade-unpredicted-change", Budget())
    assert not report.passed
    assert report.failures and all("which the model did not predict" in f
                                   for f in report.failures)
    assert any("payment-processor TCP api.stripe.com:443 => allowed" in f
               for f in report.failures)


def test_a_chain_stops_at_the_first_failing_step() -> None:
    report = run_simulated("1.18.12", "1.20.0", "upgrade-conn-drop", Budget())
    assert len(report.plan) == 2 and len(report.steps) == 1 and not report.passed


def test_a_blocking_finding_stops_the_step_before_the_upgrade(tmp_path: Path) -> None:
    (tmp_path / "kafka.yaml").write_text(KAFKA)
    target = SimulatedTarget("1.19.6")
    report = run_upgrade(target, "1.20.0", RELEASES, [ProbeGroup("mine", (tmp_path,), ())],
                         watch_spec(), Budget())
    (step,) = report.steps
    assert step.watch is None and "static check blocks" in step.failures[0]
    assert target.version == "1.19.6"


def test_the_rollout_restarts_agents_in_waves_and_changes_the_image() -> None:
    target = SimulatedTarget("1.19.6")
    plane = target.plane
    rollout = AgentRollout(plane, "1.20.0", start=plane.clock())
    ds = plane.objects.get(("daemonsets", "kube-system", "cilium"))
    assert ds["spec"]["template"]["spec"]["containers"][0]["image"].endswith("v1.20.0")
    starts = sorted({w.start for w in rollout.windows})
    assert len(starts) == 2 and sum(w.start == starts[0] for w in rollout.windows) == \
        MAX_UNAVAILABLE
    first = rollout.windows[0]
    assert rollout.agent_version(first.node, first.start) == "1.19.6"
    assert rollout.agent_version(first.node, first.end) == "1.20.0"
    # while an agent is down its pinned maps keep enforcing: an L3/L4 deny stays denied
    policies = StaticPolicies(dict(enumerate(watch_spec().policies)))
    l4 = next(p for p in watch_spec().paths if p.name == "l4-denied")
    dns = next(p for p in watch_spec().paths if p.name == "dns-allowed")
    assert rollout.decide(policies, l4.probe, "sim-worker", "sim-worker2",
                          first.start) == "denied"
    assert rollout.decide(policies, dns.probe, "sim-worker", None, first.start) == "error"
    assert rollout.decide(policies, dns.probe, "sim-worker", None, rollout.end) == "ok"
    rollout.finish()
    assert plane.version == "1.20.0"
    agents = [o for k, o in plane.objects.objects.items() if k[:2] == ("pods", "kube-system")
              and (o["metadata"].get("labels") or {}).get("k8s-app") == "cilium"]
    assert agents and all(o["spec"]["containers"][0]["image"].endswith("v1.20.0")
                          for o in agents)


def test_chain_goes_to_the_latest_patch_first_then_one_minor_at_a_time() -> None:
    assert chain("1.18.3", "1.20.0", RELEASES) == [
        ("1.18.3", "1.18.12"), ("1.18.12", "1.19.6"), ("1.19.6", "1.20.0")]
    assert chain("1.19.6", "1.19.6", RELEASES) == []
    with pytest.raises(CheckInputError, match="older than"):
        chain("1.20.0", "1.19.6", RELEASES)
    with pytest.raises(CheckInputError, match="one minor at a time"):
        chain("1.18.12", "1.20.0", ["1.18.12", "1.20.0"])


def test_watch_summary_gaps_fail_open_and_budget() -> None:
    spec = watch_spec()
    samples = [Sample(0.0, "n1", "l7-allowed", "ok", ()),
               Sample(0.1, "n1", "l7-allowed", "error", ("n1",)),
               Sample(0.2, "n1", "l7-allowed", "error", ("n1",)),
               Sample(0.3, "n1", "l7-allowed", "ok", ()),
               Sample(0.1, "n1", "l4-denied", "ok", ("n1",)),
               Sample(0.1, "n1", "dns-allowed", "error", ("n1",))]
    r = summarize(spec, samples, [Stream("tcp-stream", "n1", None)],
                  [Window("n1", 0.0, 1.0)], Budget(max_gap_s=0.15))
    assert r.gaps == {"n1": {"l7-allowed": 0.2, "dns-allowed": 0.1}}
    assert len(r.fail_open) == 1
    assert r.failures[0].startswith("fail-open: denied path l4-denied from n1")
    assert r.failures[1:] == [
        "allowed path l7-allowed from n1 lost 0.20s of connections (budget 0.15s; "
        "restarting during it: n1)"]
    assert summarize(spec, samples[:4], [], [], Budget(max_gap_s=0.2)).failures == []


def test_cli_writes_the_report_and_exits_by_result(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--cluster", "simulated", "--from", "1.19.6", "--to", "1.20.0",
                 "--report", str(tmp_path / "ok")]) == 0
    data = json.loads((tmp_path / "ok" / "upgrade-report.json").read_text())
    assert data["passed"] and data["rollback"] is None
    assert (tmp_path / "ok" / "upgrade-summary.txt").read_text().startswith("upgrade PASSED")
    assert main(["--cluster", "simulated", "--from", "1.19.6", "--to", "1.20.0",
                 "--fault", "upgrade-fail-open", "--report", str(tmp_path / "bad")]) == 1
    assert "helm rollback cilium" in capsys.readouterr().out
    assert main(["--cluster", "simulated", "--from", "1.19.6", "--to", "1.20.0",
                 "--fault", "nope", "--report", str(tmp_path / "x")]) == 2
    assert main(["--cluster", "simulated", "--from", "1.19.3", "--to", "1.20.0",
                 "--report", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "unknown fault 'nope'" in err and "runs only" in err
    assert not (tmp_path / "x").exists()  # bad input writes nothing
