"""`generate` on hand-written inputs: regex draws, not-modelled rules, a policy selecting
nothing, bad input (one paragraph naming file, document and field; no file written)."""

from __future__ import annotations

import io
import json
import random
import textwrap
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.generate import generate
from conformance.generate.regexdraw import draw
from conformance.model.regex import compile_re2


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


CNP_HEAD = """\
    apiVersion: cilium.io/v2
    kind: CiliumNetworkPolicy
    metadata:
      name: orders
      namespace: shop
    spec:
      endpointSelector:
        matchLabels:
          app: orders
"""


@pytest.mark.parametrize("pattern", [
    "/api/v1/accounts/[0-9a-f-]+", "GET|HEAD", "/v[12]/items/\\d{3,5}", "/(a|b)+/c?",
    "/files/[^/]+\\.json", "/api.Orders/(Get|List)Order", ".*", "/x/\\w*-[A-Z]{2}",
])
def test_drawn_string_is_matched_by_re2(pattern: str) -> None:
    for seed in range(20):
        text = draw(pattern, random.Random(seed))
        assert text is not None and compile_re2(pattern).fullmatch(text), (pattern, text)


def test_patterns_that_cannot_be_drawn_give_none() -> None:
    assert draw("(a)\\1", random.Random(0)) is None  # a backreference: not RE2
    assert draw("[^\\x00-\\x{10FFFF}]", random.Random(0)) is None  # an empty class


def test_negatives_the_rule_still_matches_are_not_made(tmp_path: Path) -> None:
    path = write(tmp_path, CNP_HEAD + """\
      ingress:
        - fromEndpoints: [{matchLabels: {app: web}}]
          toPorts:
            - ports: [{port: "8080", protocol: TCP}]
              rules:
                http:
                  - {method: "GET|POST", path: "/api/.*"}
    """)
    cells = generate([path]).cells
    steps = {c.step for c in cells if c.kind == "negative"}
    # `/api/.*` matches the path with a suffix or a query: they are not one step off
    assert "path-suffix" not in steps and "path-query" not in steps
    assert {"method", "next-port", "source", "namespace"} <= steps
    method = next(c for c in cells if c.step == "method")
    assert method.probe.http is not None and method.probe.http.method not in ("GET", "POST")
    assert method.expect is not None and method.expect.verdict == "l7-denied"


def test_port_range_ends_and_the_next_port(tmp_path: Path) -> None:
    path = write(tmp_path, CNP_HEAD + """\
      ingress:
        - fromEndpoints: [{matchLabels: {app: web}}]
          toPorts:
            - ports: [{port: "9000", endPort: 9005, protocol: TCP}]
    """)
    cells = generate([path]).cells
    ports = {(c.kind, c.step, c.probe.port) for c in cells}
    assert ("positive", "", 9000) in ports and ("positive", "", 9005) in ports
    assert ("negative", "next-port", 9006) in ports


def test_not_modelled_rules_get_no_cell_and_are_listed(tmp_path: Path) -> None:
    path = write(tmp_path, CNP_HEAD + """\
      egress:
        - toServices: [{k8sService: {serviceName: db, namespace: shop}}]
        - toEndpoints: [{matchLabels: {app: cache}}]
          toPorts:
            - ports: [{port: "6379", protocol: TCP}]
    """)
    result = generate([path])
    assert {c.rule.path for c in result.cells if c.kind != "default-deny"} == {
        "spec.egress[1]"}
    [skip] = result.skipped
    assert skip.path == "spec.egress[0]" and "not-modelled" in skip.reason
    assert "toServices" in skip.reason


def test_a_policy_selecting_nothing_is_reported_not_a_crash(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        apiVersion: cilium.io/v2
        kind: CiliumNetworkPolicy
        metadata: {name: nobody, namespace: shop}
        spec:
          endpointSelector:
            matchLabels: {app: a}
            matchExpressions: [{key: app, operator: NotIn, values: [a]}]
          ingress:
            - fromEndpoints: [{matchLabels: {app: web}}]
    """)
    out = io.StringIO()
    assert main(["generate", "--policies", str(path)], out) == 0
    assert out.getvalue() == ""
    [skip] = generate([path]).skipped
    assert skip.path == "spec.endpointSelector" and "selects no pod" in skip.reason


def test_cli_writes_jsonl_that_explain_reads_and_a_table(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    repo = Path(__file__).resolve().parents[2]
    policies = str(repo / "manifests" / "policies" / "l7-http")
    out = tmp_path / "probes.jsonl"
    assert main(["generate", "--policies", policies, "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows and all(r["rule"]["policy"].endswith("account-service-ingress") for r in rows)
    assert "cell(s) from 1 policy spec(s)" in capsys.readouterr().err
    explained = io.StringIO()
    assert main(["explain", "--policies", policies, "--probes", str(out)], explained) == 0
    again = [json.loads(line) for line in explained.getvalue().splitlines()]
    assert [r["verdict"] for r in again] == [r["expect"]["verdict"] for r in rows]
    table = io.StringIO()
    assert main(["generate", "--policies", policies, "--format", "table"], table) == 0
    assert "== CiliumNetworkPolicy payments/account-service-ingress" in table.getvalue()


def test_bad_policy_is_one_paragraph_and_nothing_is_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, CNP_HEAD + "      ingress: [{fromEndpoints: [{}]}]\n", "a.yaml")
    bad = write(tmp_path, CNP_HEAD + """\
      ingress:
        - toPorts:
            - ports: [{port: 8080, protocol: TCP}]
    """, "b.yaml")
    out = tmp_path / "probes.jsonl"
    assert main(["generate", "--policies", str(good), str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    assert "b.yaml: document 1: spec.ingress[0].toPorts[0].ports[0].port" in err
    assert "a.yaml" not in err  # the good file is fine; only the bad one is named
    assert sorted(tmp_path.iterdir()) == sorted([good, bad])  # nothing written


def test_unparsable_yaml_and_unwritable_out(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    broken = write(tmp_path, "kind: [unclosed\n")
    assert main(["generate", "--policies", str(broken)]) == 2
    assert f"{broken}: document 1: invalid YAML" in capsys.readouterr().err
    good = write(tmp_path, CNP_HEAD + "      ingress: [{fromEndpoints: [{}]}]\n", "a.yaml")
    assert main(["generate", "--policies", str(good), "--out",
                 str(tmp_path / "missing" / "p.jsonl")]) == 2
    assert "--out" in capsys.readouterr().err
