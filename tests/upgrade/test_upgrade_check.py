"""`python -m conformance upgrade-check`: schema, version-aware lint and model diff."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.model import evaluate, load_policies
from conformance.upgrade.notes import notes
from conformance.upgrade.static import COMPARED, check, scenario_groups

KAFKA = """\
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: kafka-consumer, namespace: payments}
spec:
  endpointSelector: {matchLabels: {app: kafka}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: consumer}}]
    toPorts:
    - ports: [{port: "9092", protocol: TCP}]
      rules:
        kafka: [{role: consume, topic: payments}]
"""

AUTH = """\
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: authenticated, namespace: payments}
spec:
  endpointSelector: {matchLabels: {app: account-service}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: payment-processor}}]
    authentication: {mode: required}
"""

STARS = """\
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: stars, namespace: payments}
spec:
  endpointSelector: {matchLabels: {app: payment-processor}}
  egress:
  - toEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: kube-system,
                                 k8s:k8s-app: kube-dns}}]
    toPorts:
    - ports: [{port: "53", protocol: ANY}]
      rules: {dns: [{matchPattern: "*"}]}
  - toFQDNs: [{matchPattern: "**.stripe.com"}]
    toPorts: [{ports: [{port: "443", protocol: TCP}]}]
"""

PROBES = [
    {"id": "deep", "source": {"namespace": "payments", "labels": {"app": "payment-processor"}},
     "destination": {"fqdn": "a.b.stripe.com"}, "port": 443},
    {"id": "shallow", "source": {"namespace": "payments",
                                 "labels": {"app": "payment-processor"}},
     "destination": {"fqdn": "api.stripe.com"}, "port": 443},
]


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(["upgrade-check", *argv], out), out.getvalue()


def write(tmp: Path, name: str, text: str) -> Path:
    d = tmp / name
    d.mkdir()
    (d / "policy.yaml").write_text(text)
    return d


@pytest.mark.parametrize("old,new", [("1.18.12", "1.19.6"), ("1.19.6", "1.20.0"),
                                     ("1.18.12", "1.20.0")])
def test_scenarios_list_exactly_the_cells_whose_model_outcome_differs(old: str, new: str) -> None:
    expected = set()
    for group in scenario_groups():
        policies = load_policies(list(group.paths))
        for probe in group.probes:
            a, b = evaluate(policies, probe, old), evaluate(policies, probe, new)
            if any(getattr(a, f) != getattr(b, f) for f in COMPARED):
                expected.add((group.name, probe.id))
    assert check(scenario_groups(), old, new).changed_cells() == expected


def test_double_star_cell_is_the_change_from_1_18_to_1_19() -> None:
    report = check(scenario_groups(), "1.18.12", "1.19.6")
    assert report.changed_cells() == {
        ("fqdn-multilevel", "payment-processor TCP api.internal.stripe.com:443 => allowed")}
    (change,) = report.changes
    assert (change.before.verdict, change.after.verdict) == ("dropped", "allowed")
    assert report.exit_code == 1
    assert any(f.note == "double-star-wildcard" and f.severity == "changed"
               for f in report.findings)
    assert check(scenario_groups(), "1.19.6", "1.20.0").changes == []


def test_kafka_rules_block_an_upgrade_to_1_20_and_are_deprecated_before(tmp_path: Path) -> None:
    d = write(tmp_path, "kafka", KAFKA)
    code, text = run("--from", "1.19.6", "--to", "1.20.0", "--policies", str(d),
                     "--format", "json")
    report = json.loads(text)
    assert code == 1 and report["exit_code"] == 1
    kafka = [f for f in report["findings"] if f["note"] == "kafka-rules"]
    assert [(f["severity"], f["path"]) for f in kafka] == [
        ("blocking", "spec.ingress[0].toPorts[0].rules.kafka")]
    assert "upgrade.rst" in kafka[0]["source"]
    # the 1.20 CRD refuses it too (the emulated cluster's schema data, its source named)
    assert report["invalid"] and report["invalid"][0]["name"] == "kafka-consumer"
    assert any("rules" in c for c in report["invalid"][0]["causes"])
    source = report["schema_sources"]["CiliumNetworkPolicy"]
    assert source["path"].endswith("ciliumnetworkpolicies.yaml") and source["commit"]
    code, text = run("--from", "1.18.12", "--to", "1.19.6", "--policies", str(d),
                     "--format", "json")
    report = json.loads(text)
    assert [f["severity"] for f in report["findings"]] == ["deprecated"]
    assert report["invalid"] == [] and code == 0


def test_mutual_auth_is_a_deprecation_finding_for_1_20(tmp_path: Path) -> None:
    d = write(tmp_path, "auth", AUTH)
    code, text = run("--from", "1.19.6", "--to", "1.20.0", "--policies", str(d),
                     "--format", "json")
    findings = json.loads(text)["findings"]
    assert [(f["note"], f["severity"]) for f in findings] == [
        ("mutual-auth-default-off", "deprecated")]
    assert code == 0  # deprecated, not yet changed


def test_user_probes_are_diffed_with_both_explanations(tmp_path: Path) -> None:
    d = write(tmp_path, "stars", STARS)
    probes = tmp_path / "probes.jsonl"
    probes.write_text("".join(json.dumps(p) + "\n" for p in PROBES))
    code, text = run("--from", "1.18.12", "--to", "1.19.6", "--policies", str(d),
                     "--probes", str(probes), "--format", "json", "--no-generate")
    report = json.loads(text)
    assert code == 1 and report["probes"] == 2
    (change,) = report["changes"]
    assert change["probe"] == "deep" and change["changed"] == ["verdict", "drop_reason", "client"]
    assert change["before"]["verdict"] == "dropped" and change["after"]["verdict"] == "allowed"
    assert change["before"]["explanation"] and change["after"]["explanation"]
    code, table = run("--from", "1.18.12", "--to", "1.19.6", "--policies", str(d),
                      "--probes", str(probes), "--no-generate")
    assert "CHANGED PROBES (1 of 2)" in table and "deep" in table and code == 1


def test_generated_probes_find_the_double_star_change_without_probes(tmp_path: Path) -> None:
    d = write(tmp_path, "stars", STARS)
    code, text = run("--from", "1.18.12", "--to", "1.19.6", "--policies", str(d),
                     "--format", "json")
    report = json.loads(text)
    changed = report["changes"]
    assert code == 1 and changed and all(c["probe"].startswith("gen:") for c in changed)
    assert all(c["before"]["verdict"] == "dropped" and c["after"]["verdict"] == "allowed"
               for c in changed)
    assert any("generated from the policies' rules" in n for n in report["notes"])
    _, text = run("--from", "1.19.6", "--to", "1.20.0", "--policies", str(d), "--format",
                  "json")
    assert json.loads(text)["changes"] == []


def test_policies_the_model_cannot_read_get_no_generated_probes(tmp_path: Path) -> None:
    d = write(tmp_path, "kafka", KAFKA)
    _, text = run("--from", "1.19.6", "--to", "1.20.0", "--policies", str(d), "--format",
                  "json")
    report = json.loads(text)
    assert report["probes"] == 0 and report["not_modelled"]
    assert any(n.startswith("no generated probes: the model cannot read") for n in
               report["notes"])


def test_nothing_changes_exits_0_with_a_table(tmp_path: Path) -> None:
    code, table = run("--from", "1.19.6", "--to", "1.20.0")
    assert code == 0
    assert "CHANGED PROBES (0 of " in table and "result: nothing changes (exit 0)" in table


@pytest.mark.parametrize("argv,needle", [
    (["--from", "1.17.0", "--to", "1.19.6"], "not modelled"),
    (["--from", "1.20.0", "--to", "1.19.6"], "older than --from"),
    (["--from", "1.19.6", "--to", "1.20.0", "--policies", "/nonexistent/dir"],
     "no such file"),
    (["--from", "1.19.6", "--to", "1.20.0", "--probes", "x.jsonl"], "--probes needs"),
    (["--from", "one", "--to", "1.20.0"], "--from/--to"),
])
def test_bad_input_is_exit_2_with_one_paragraph(argv: list[str], needle: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(*argv)
    err = capsys.readouterr().err
    assert code == 2 and out == ""
    assert err.startswith("error: ") and needle in err and "Traceback" not in err


def test_every_note_cites_an_upstream_source_and_a_version() -> None:
    for note in notes():
        assert note.source and note.text
        assert note.deprecated or note.changed or note.removed, note.id
