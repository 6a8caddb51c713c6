"""`python -m conformance explain|lint`: output shapes and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.cli import main

DATA = Path(__file__).parent / "data"
INGRESS = DATA / "article" / "01-account-service-ingress.yaml"
PP = {"namespace": "payments", "labels": {"app": "payment-processor"}}
ACC = {"namespace": "payments", "labels": {"app": "account-service"}}
PROBES = [
    {"id": "get", "source": PP, "destination": ACC, "port": 8080, "protocol": "TCP",
     "http": {"method": "GET", "path": "/api/v1/accounts", "headers": {}}, "note": "extra"},
    {"id": "delete", "source": PP, "destination": ACC, "port": 8080,
     "http": {"method": "DELETE", "path": "/api/v1/accounts/1"}},
    {"id": "kubelet", "source": {"entity": "host"}, "destination": ACC, "port": 8080},
    {"id": "stranger", "source": {"namespace": "other", "labels": {}}, "destination": ACC,
     "port": 8080},
]


def probes_file(tmp_path: Path, rows: list[dict[str, object]] | None = None,
                text: str | None = None) -> Path:
    path = tmp_path / "probes.jsonl"
    path.write_text(text if text is not None else
                    "\n".join(json.dumps(r) for r in (rows or PROBES)) + "\n")
    return path


def explain(tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str,
            policies: Path = INGRESS, probes: Path | None = None) -> tuple[int, str, str]:
    probes = probes or probes_file(tmp_path)
    code = main(["explain", "--policies", str(policies), "--probes", str(probes), *extra])
    out, err = capsys.readouterr()
    return code, out, err


def test_explain_json_one_line_per_probe_in_order(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = explain(tmp_path, capsys)
    assert (code, err) == (0, "")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in rows] == ["get", "delete", "kubelet", "stranger"]
    assert [r["verdict"] for r in rows] == ["allowed", "l7-denied", "allowed", "dropped"]
    assert rows[3]["drop_reason"] == "POLICY_DENIED" and rows[3]["direction"] == "ingress"
    assert rows[1]["client"] == "http-403"
    assert rows[1]["hubble"] == {"verdict": "DROPPED", "type": "L7", "drop_reason_desc": None,
                                 "traffic_direction": "INGRESS"}
    assert "no rule matched: default deny" in rows[3]["explanation"]
    assert all({"id", "verdict", "drop_reason", "direction", "explanation"} <= set(r)
               for r in rows)


def test_explain_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = explain(tmp_path, capsys, "--format", "table")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "VERDICT", "REASON", "DIRECTION", "CLIENT", "HUBBLE"]
    assert any(line.split()[:3] == ["stranger", "dropped", "POLICY_DENIED"] for line in lines)
    assert lines[-2] == "4 probe(s): 2 allowed, 1 dropped, 1 l7-denied"
    assert lines[-1] == ("assumed: cilium-version=1.20, policy-enforcement-mode=default, "
                         "tofqdns-dns-reject-response-code=refused, enable-l7-proxy=true, "
                         "mutual-auth=true")


def test_explain_version_changes_the_answer(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "fq.yaml"
    policy.write_text((DATA / "fixed" / "04-payment-processor-egress.yaml").read_text()
                      .replace("matchName: api.stripe.com", "matchPattern: '**.stripe.com'"))
    probes = probes_file(tmp_path, [{"id": "deep", "source": PP, "port": 443,
                                     "destination": {"fqdn": "a.b.stripe.com"}}])
    verdicts = []
    for version in ("1.18", "1.20.0"):
        code, out, _ = explain(tmp_path, capsys, "--cilium-version", version, policies=policy,
                               probes=probes)
        verdicts.append((code, json.loads(out)["verdict"]))
    assert verdicts == [(0, "dropped"), (0, "allowed")]


@pytest.mark.parametrize(("text", "message"), [
    ("{not json}\n", "line 1: not valid JSON"),
    ('{"id": "a", "port": 80, "destination": {"entity": "world"}}\n', "line 1: probe a.source"),
    ('{"id": "a", "port": 0, "source": {"entity": "world"}, "destination": {"entity": "host"}}',
     "probe a.port"),
    ("\n\n", "no probes"),
    ('{"id": "e", "port": 80, "source": {"entity": "internet"}, "destination": '
     '{"entity": "host"}}', "line 1: probe e.source.entity: unknown entity 'internet'"),
])
def test_explain_bad_probes(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
                            message: str) -> None:
    code, out, err = explain(tmp_path, capsys, probes=probes_file(tmp_path, text=text))
    assert code == 2 and out == ""
    assert message in err and "Traceback" not in err
    assert "probes.jsonl" in err


def test_explain_duplicate_probe_ids(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = explain(tmp_path, capsys, probes=probes_file(tmp_path, PROBES[:1] * 2))
    assert code == 2 and "line 2: probe id 'get' is used twice" in err


def test_explain_bad_policy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = DATA / "article" / "02-header-rule.yaml"
    code, out, err = explain(tmp_path, capsys, policies=bad)
    assert code == 2 and out == ""
    assert err.startswith("error: ")
    assert "02-header-rule.yaml: document 1: spec.ingress[0].toPorts[0].rules.http[0]" in err


def test_explain_bad_version(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = explain(tmp_path, capsys, "--cilium-version", "1.15.6")
    assert code == 2 and "--cilium-version: Cilium version '1.15.6' is not modelled" in err


def test_lint_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(DATA / "fixed")]) == 0
    assert "0 error(s)" in capsys.readouterr().out
    assert main(["lint", str(DATA / "article")]) == 1
    out = capsys.readouterr().out
    assert "04-payment-processor-egress.yaml: document 1: spec.egress[1].toEndpoints[0]" in out
    assert "error [kube-dns-selector]" in out


def test_lint_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", "--format", "json", str(DATA / "article" / "02-header-rule.yaml")]) == 1
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[0]["rule"] == "header-as-map" and rows[0]["document"] == 1


def test_lint_version_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "fq.yaml"
    policy.write_text((DATA / "fixed" / "04-payment-processor-egress.yaml").read_text()
                      .replace("matchName: api.stripe.com", "matchPattern: '**.stripe.com'"))
    assert main(["lint", str(policy)]) == 0
    assert main(["lint", "--cilium-version", "1.18", str(policy)]) == 1
    assert "multi-label-wildcard" in capsys.readouterr().out


def test_lint_unreadable_input_is_exit_2(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.yaml").write_text("kind: [\n")
    assert main(["lint", str(tmp_path / "bad.yaml")]) == 2
    assert "document 1: invalid YAML at line" in capsys.readouterr().err
    assert main(["lint", str(tmp_path / "missing")]) == 2
    assert main(["lint"]) == 2


def test_list_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", "--list-rules"]) == 0
    assert "header-as-map" in capsys.readouterr().out


def test_module_entry_point_never_shows_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: x}\n"
                   "spec: {endpointSelector: {}, ingress: [{toPorts: [{ports: [{port: 80}]}]}]}\n")
    probes = probes_file(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "conformance", "explain", "--policies", str(bad), "--probes",
         str(probes)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "spec.ingress[0].toPorts[0].ports[0].port" in done.stderr
    assert "Traceback" not in done.stderr
    usage = subprocess.run([sys.executable, "-m", "conformance", "explain"],
                           capture_output=True, text=True, timeout=60, check=False)
    assert usage.returncode == 2 and "--policies" in usage.stderr


def test_explain_without_mutual_auth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = DATA / "article" / "06-mutual-auth.yaml"
    probes = probes_file(tmp_path, [{"id": "a", "source": PP, "destination": ACC, "port": 8080,
                                     "http": {"method": "GET", "path": "/api/v1/accounts/ab"}}])
    code, out, _ = explain(tmp_path, capsys, policies=policy, probes=probes)
    assert json.loads(out)["verdict"] == "allowed"
    code, out, _ = explain(tmp_path, capsys, "--no-mutual-auth", policies=policy, probes=probes)
    assert (code, json.loads(out)["drop_reason"]) == (0, "AUTH_REQUIRED")


def test_internal_error_is_one_line_not_a_traceback(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import conformance.cli as cli

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "evaluate", broken)
    code, out, err = explain(tmp_path, capsys)
    assert code == 3 and out == ""
    assert err.startswith("error: internal error in `explain`: RuntimeError: boom")
