"""The batch runner's order of operations and its per-cell judgement.

A recording wrapper around the simulated cluster logs every Cluster call, so the tests
can assert what the issue demands: policies realized before traffic, Hubble followed
before the first probe, metrics scraped before and after, one `prober run` per source
pod (never one per probe), policies deleted afterwards.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from conformance.harness.batch import MissingFeature, ScenarioRun, ScenarioSkipped
from conformance.harness.cluster import (
    FEATURE_MUTUAL_AUTH,
    ClusterFacts,
    FlowFollower,
    PodInfo,
    PolicyRejected,
)
from conformance.harness.kube import KubeCluster
from conformance.harness.planning import (
    RunOptions,
    clusterwide_policies,
    new_workspace,
    owned_policies,
)
from conformance.harness.render import render
from conformance.harness.report import MARKER, ArtifactsError
from conformance.harness.sources import AppLog, Flows
from conformance.harness.spec import Scenario
from conformance.harness.verdicts import gather, judge_cell
from conformance.scenarios import (
    test_clusterwide_default_deny,
    test_default_deny,
    test_fqdn_multilevel,
    test_l7_http,
    test_mutual_auth,
)
from tests.support.emulated import Emulators


@dataclass
class Recorder:
    inner: KubeCluster
    calls: list[str] = field(default_factory=list)
    batches: list[tuple[str, int]] = field(default_factory=list)
    drop_features: frozenset[str] = frozenset()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if callable(attr):
            def wrapped(*args: Any, **kwargs: Any) -> Any:
                self.calls.append(name)
                return attr(*args, **kwargs)
            return wrapped
        return attr

    def facts(self) -> ClusterFacts:
        f = self.inner.facts()
        return ClusterFacts(f.cilium_version, f.features - self.drop_features, f.dns_server,
                            f.external_targets)

    def run_probes(self, pod: PodInfo, probes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.calls.append("run_probes")
        self.batches.append((pod.name, len(probes)))
        return self.inner.run_probes(pod, probes)

    def follow_flows(self, namespaces: list[str]) -> FlowFollower:
        self.calls.append("follow_flows")
        return self.inner.follow_flows(namespaces)


def run(scenario: Any, tmp: Path, cluster: Recorder) -> ScenarioRun:
    ws = new_workspace(cluster, "gw7", RunOptions(flow_grace=5, artifacts=tmp))
    r = ScenarioRun(scenario, ws)
    gather(r)
    return r


def test_order_of_operations_and_one_exec_per_source_pod(tmp_path: Path,
                                                         emulated: Emulators) -> None:
    cluster = Recorder(emulated.cluster())
    r = run(test_l7_http.SCENARIO, tmp_path, cluster)
    calls = [c for c in cluster.calls if c in
             ("apply", "follow_flows", "scrape_metrics", "run_probes", "delete")]
    first_probe = calls.index("run_probes")
    assert calls.index("apply") < calls.index("follow_flows") < first_probe
    assert "scrape_metrics" in calls[:first_probe] and "scrape_metrics" in calls[first_probe:]
    assert calls[-1] == "delete"
    # Two source pods in this scenario (payment-processor, audit-logger): two execs.
    assert len(cluster.batches) == 2
    # Every cell to account-service probes both replicas (same-node and cross-node).
    total = sum(n for _, n in cluster.batches)
    assert total == 2 * len(test_l7_http.SCENARIO.cells)
    paths = {a.path_kind() for group in r.attempts.values() for a in group}
    assert paths == {"same-node", "cross-node"}
    assert r.timings.realize_s >= 0 and r.namespaces == ["ztc-gw7"]


def test_every_cell_passes_and_writes_its_artifacts(tmp_path: Path, emulated: Emulators) -> None:
    r = run(test_l7_http.SCENARIO, tmp_path, Recorder(emulated.cluster()))
    for cell in test_l7_http.SCENARIO.cells:
        assert judge_cell(r, cell) is None
    root = tmp_path / "l7-http"
    assert (root / "policies.yaml").read_text().count("namespace: ztc-gw7") >= 1
    assert (root / "flows.jsonl").read_text().count('"flow"') == len(r.source(Flows).flows)
    assert "hubble_drop_total" in (root / "metrics-after.prom").read_text()
    cell_dirs = sorted(p for p in root.iterdir() if p.is_dir())
    assert len(cell_dirs) == len(test_l7_http.SCENARIO.cells)
    denied = json.loads((cell_dirs[2] / "probes.json").read_text())
    assert denied["expectation"]["verdict"] == "l7-denied"
    assert {a["result"]["outcome"] for a in denied["attempts"]} == {"http-error"}
    metric = json.loads((cell_dirs[2] / "metrics.json").read_text())
    assert all(m["after"] - m["before"] >= m["required_delta"] > 0 for m in metric)
    assert (cell_dirs[2] / "flows.jsonl").read_text().count("DROPPED") >= 2


def test_failure_message_shows_expected_and_observed(tmp_path: Path, emulated: Emulators) -> None:
    r = run(test_l7_http.SCENARIO, tmp_path, Recorder(emulated.cluster("l7-off")))
    cell = test_l7_http.SCENARIO.cells[2]  # payment-processor DELETE => l7-denied
    message = judge_cell(r, cell)
    assert message is not None
    assert "FAIL client  expected: http-403" in message
    assert "observed: ok" in message
    assert "FAIL hubble" in message and "FAIL metrics" in message
    assert "FAIL app" in message and "in the access log of" in message
    assert "matching flows:" in message and "FORWARDED" in message
    assert "model: l7-denied" in message and str(tmp_path) in message


def test_app_access_log_proves_denied_requests_never_arrived(tmp_path: Path,
                                                             emulated: Emulators) -> None:
    r = run(test_l7_http.SCENARIO, tmp_path, Recorder(emulated.cluster()))
    judged = {cell.expect.verdict: r.judge(cell) for cell in test_l7_http.SCENARIO.cells}
    for verdict, expected in (("allowed", "reached the app"), ("l7-denied", "never reached")):
        app = [c for _, checks in judged[verdict] for c in checks if c.kind == "app"]
        assert len(app) == 2 and all(c.ok and c.expected.startswith(expected) for c in app)
    # Bare TCP connects send no request: nothing for the access log to show.
    connect = judged["dropped"]
    assert connect and not [c for _, checks in connect for c in checks if c.kind == "app"]
    lines = (tmp_path / "l7-http" / "app-log.jsonl").read_text().splitlines()
    probed = [line for line in lines if json.loads(line)["probe_id"]]
    allowed = sum(1 for c in test_l7_http.SCENARIO.cells if c.expect.verdict == "allowed")
    assert len(probed) == 2 * allowed


def test_app_log_lines_from_before_the_batch_are_not_evidence(tmp_path: Path,
                                                              emulated: Emulators) -> None:
    cluster = Recorder(emulated.cluster())
    first = run(test_l7_http.SCENARIO, tmp_path, cluster)
    second = ScenarioRun(test_l7_http.SCENARIO, first.ws)
    gather(second)

    def probed(r: ScenarioRun) -> int:
        return sum(len(ids) for ids in r.source(AppLog).seen.values())

    assert probed(second) == probed(first) > 0


def test_missing_feature_skips_with_the_reason(tmp_path: Path, emulated: Emulators) -> None:
    cluster = Recorder(emulated.cluster(), drop_features=frozenset({FEATURE_MUTUAL_AUTH}))
    with pytest.raises(ScenarioSkipped, match="does not provide mutual-auth"):
        run(test_mutual_auth.SCENARIO, tmp_path, cluster)
    assert "apply" not in cluster.calls  # nothing half-done left behind


def test_missing_feature_on_a_cluster_the_suite_provisioned_is_an_error(
        tmp_path: Path, emulated: Emulators) -> None:
    # kind and the simulated cluster get every feature: not detecting one is a regression
    # that would otherwise skip whole scenarios quietly.
    cluster = Recorder(emulated.cluster(), drop_features=frozenset({FEATURE_MUTUAL_AUTH}))
    ws = new_workspace(cluster, "gw7", RunOptions(flow_grace=5, artifacts=tmp_path,
                                                  provisioned=True))
    with pytest.raises(MissingFeature, match=r"does not provide mutual-auth.*regressed"):
        ScenarioRun(test_mutual_auth.SCENARIO, ws).execute()
    assert "apply" not in cluster.calls


def test_foreign_artifacts_folder_is_refused_before_any_cluster_work(tmp_path: Path,
                                                                     emulated: Emulators) -> None:
    # `--artifacts ~` with a ~/l7-http of the user's own: never emptied, never written.
    precious = tmp_path / "l7-http" / "notes.txt"
    precious.parent.mkdir()
    precious.write_text("mine")
    cluster = Recorder(emulated.cluster())
    with pytest.raises(ArtifactsError, match=r"refusing to write evidence into .*l7-http"):
        run(test_l7_http.SCENARIO, tmp_path, cluster)
    assert precious.read_text() == "mine" and "apply" not in cluster.calls
    # A folder the suite wrote (it carries the marker) is replaced by the next run.
    precious.unlink()
    (precious.parent / MARKER).write_text("")
    (precious.parent / "stale-cell").mkdir()
    run(test_l7_http.SCENARIO, tmp_path, Recorder(emulated.cluster()))
    assert not (precious.parent / "stale-cell").exists()
    assert (precious.parent / MARKER).is_file()


def test_peer_namespace_and_kubelet_cell(tmp_path: Path, emulated: Emulators) -> None:
    cluster = Recorder(emulated.cluster())
    r = run(test_default_deny.SCENARIO, tmp_path, cluster)
    assert r.namespaces == ["ztc-gw7", "ztc-gw7-partners"]
    for cell in test_default_deny.SCENARIO.cells:
        assert judge_cell(r, cell) is None, judge_cell(r, cell)
    kubelet = test_default_deny.SCENARIO.cells[-1]
    assert all(a.probe is None for a in r.attempts[kubelet.id])  # the kubelet's own probes
    r.ws.close()
    assert "delete_namespace" in cluster.calls


class KubeletBlocked(Recorder):
    """The kubelet's probes stop reaching the app, while the pods still look Ready (the
    failure threshold has not been reached yet)."""

    def app_log(self, pod: PodInfo) -> list[str]:
        return [line for line in self.inner.app_log(pod) if "/healthz" not in line]


def test_kubelet_cell_needs_its_probes_in_the_access_log(tmp_path: Path,
                                                         emulated: Emulators) -> None:
    r = run(test_default_deny.SCENARIO, tmp_path, KubeletBlocked(emulated.cluster()))
    kubelet = test_default_deny.SCENARIO.cells[-1]
    message = judge_cell(r, kubelet)
    assert message is not None and "FAIL app" in message
    assert "0 kubelet GET /healthz" in message and "ok   client" in message


class OldCilium(Recorder):
    def facts(self) -> ClusterFacts:
        f = super().facts()
        return ClusterFacts("1.18.12", f.features, f.dns_server, f.external_targets)


def test_version_gated_cells_skip_without_touching_the_cluster(tmp_path: Path,
                                                               emulated: Emulators) -> None:
    cluster = OldCilium(emulated.cluster())
    with pytest.raises(ScenarioSkipped, match=r"needs Cilium >= 1\.19; the cluster runs 1\.18"):
        run(test_fqdn_multilevel.SCENARIO, tmp_path, cluster)
    assert "apply" not in cluster.calls


def test_expectation_that_does_not_hold_on_the_cluster_version_fails(tmp_path: Path,
                                                                     emulated: Emulators) -> None:
    # Written (and checked at collection) for 1.20, where `**.` spans labels.
    ungated = Scenario("fqdn-multilevel", "t", requires=test_fqdn_multilevel.SCENARIO.requires,
                       cells=tuple(replace(c, min_version=None)
                                   for c in test_fqdn_multilevel.SCENARIO.cells))
    ungated.check_against_model("1.20")
    r = run(ungated, tmp_path, OldCilium(emulated.cluster()))
    message = judge_cell(r, ungated.cells[1])
    assert message is not None and "on Cilium 1.18.12 the policy model predicts dropped" in message
    assert judge_cell(r, ungated.cells[2]) is None  # api.github.com is dropped on every version


def test_scenario_whose_cells_all_disagree_fails_rather_than_skips(tmp_path: Path,
                                                                   emulated: Emulators) -> None:
    # An existing cluster of another Cilium line: every cell the model says cannot hold
    # there must fail; a green run that skipped them would prove nothing.
    cluster = OldCilium(emulated.cluster())
    ungated = [replace(c, min_version=None) for c in test_fqdn_multilevel.SCENARIO.cells]
    disagreeing = tuple(c for c in ungated
                        if test_fqdn_multilevel.SCENARIO.expectation_for(c, "1.18.12").verdict
                        != c.expect.verdict)
    assert disagreeing
    scenario = Scenario("fqdn-multilevel", "t", cells=disagreeing,
                        requires=test_fqdn_multilevel.SCENARIO.requires)
    r = run(scenario, tmp_path, cluster)  # no ScenarioSkipped
    for cell in disagreeing:
        message = judge_cell(r, cell)
        assert message is not None and "on Cilium 1.18.12 the policy model predicts" in message
    assert "apply" not in cluster.calls and "run_probes" not in cluster.calls


class RejectsSecond(Recorder):
    def apply(self, docs: list[dict[str, Any]]) -> None:
        self.calls.append("apply")
        self.inner.apply(docs[:1])
        raise PolicyRejected('admission webhook denied "allow-intra-namespace": bad field')


def test_rejected_policy_errors_with_the_server_message_and_cleans_up(tmp_path: Path,
                                                                      emulated: Emulators) -> None:
    cluster = RejectsSecond(emulated.cluster())
    with pytest.raises(PolicyRejected, match="admission webhook denied"):
        run(test_default_deny.SCENARIO, tmp_path, cluster)
    assert cluster.calls.index("delete") > cluster.calls.index("apply")
    assert "run_probes" not in cluster.calls


class RejectsFirst(Recorder):
    def apply(self, docs: list[dict[str, Any]]) -> None:
        self.calls.append("apply")
        raise PolicyRejected('CiliumNetworkPolicy "x" is invalid: spec.ingress: bad field')


def test_policy_rejected_before_anything_applied_is_the_servers_message_at_once(
        tmp_path: Path, emulated: Emulators) -> None:
    # Nothing was accepted, so no revision moves: waiting for the clean-up to be
    # imported would time out and hide the server's message.
    cluster = RejectsFirst(emulated.cluster())
    ws = new_workspace(cluster, "gw7", RunOptions(flow_grace=5, artifacts=tmp_path,
                                                  policy_timeout=2))
    with pytest.raises(PolicyRejected, match=r"is invalid: spec\.ingress"):
        ScenarioRun(test_l7_http.SCENARIO, ws).execute()
    assert "run_probes" not in cluster.calls


def test_owned_policies_cover_every_scenario_document(emulated: Emulators) -> None:
    ws = new_workspace(emulated.cluster(), "gw7", RunOptions())
    owned = {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"])
             for d in owned_policies(ws)}
    for scenario in (test_l7_http.SCENARIO, test_default_deny.SCENARIO):
        for d in render(scenario.policy_documents(), ws.namespaces, ws.worker):
            assert (d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]) in owned


def test_leftover_cleanup_only_names_the_suites_own_policies(emulated: Emulators) -> None:
    ws = new_workspace(emulated.cluster(), "gw7", RunOptions())
    names = [d["metadata"]["name"] for d in clusterwide_policies(ws)]
    assert "ztc-gw7-default-deny-all" in names  # the scoped baseline of default-deny
    assert "zt-conformance-default-deny-all" in names  # the disruptive one
    assert all(n.startswith(("ztc-gw7-", "zt-conformance-")) for n in names), names
    assert all(d["kind"] == "CiliumClusterwideNetworkPolicy" for d in clusterwide_policies(ws))


def test_disruptive_scenario_restores_the_cluster_before_returning(tmp_path: Path,
                                                                   emulated: Emulators) -> None:
    cluster = Recorder(emulated.cluster())
    run(test_clusterwide_default_deny.SCENARIO, tmp_path, cluster)
    after_delete = cluster.calls[cluster.calls.index("delete"):]
    assert "endpoint_revisions" in after_delete  # removal realized on every endpoint

    scoped = Recorder(emulated.cluster())
    run(test_default_deny.SCENARIO, tmp_path, scoped)
    # Between scoped scenarios the next apply's wait covers the removal.
    assert "endpoint_revisions" not in scoped.calls[scoped.calls.index("delete"):]
