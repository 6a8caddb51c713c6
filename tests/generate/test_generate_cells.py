"""`generate` on the suite's own policies: every verdict kind, positives matched by the rule
they name and negatives not (the model's explanation of that rule alone), deterministic."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from generate_oracle import alone, named, unlearned

from conformance.generate import Generation, generate
from conformance.generate.cli import render_jsonl
from conformance.model.probe import Entity, Fqdn
from conformance.model.regex import compile_re2

REPO = Path(__file__).resolve().parents[2]
POLICY_DIRS = sorted(p for p in (REPO / "manifests" / "policies").iterdir() if p.is_dir())
L7_STEPS = ("method", "path-suffix", "path-query", "header-missing", "header-value")


@pytest.fixture(scope="module")
def generations() -> dict[str, Generation]:
    return {d.name: generate([d]) for d in POLICY_DIRS}


def test_cells_cover_every_verdict(generations: dict[str, Generation]) -> None:
    verdicts = Counter(c.expect.verdict for g in generations.values() for c in g.cells
                       if c.expect is not None)
    assert set(verdicts) == {"allowed", "dropped", "l7-denied", "dns-refused"}, verdicts
    kinds = Counter(c.kind for g in generations.values() for c in g.cells)
    assert kinds["positive"] and kinds["negative"] and kinds["default-deny"], kinds


def test_positive_cells_are_matched_by_their_rule(generations: dict[str, Generation]) -> None:
    checked = skipped = 0
    for name, g in generations.items():
        for cell in g.cells:
            if cell.kind != "positive":
                continue
            exp = alone(g.policies, cell)
            if "(allow-localhost)" in exp.explanation:
                # ingress from the node: allowed before any rule is asked (engine._side)
                assert isinstance(cell.probe.source, Entity)
                assert cell.probe.source.entity == "host"
                continue
            if unlearned(exp):  # the article's policy: no DNS proxy rule
                assert isinstance(cell.probe.destination, Fqdn), cell.probe.id
                skipped += 1
                continue
            assert named(cell, exp), (name, cell.probe.id, exp.explanation)
            if cell.rule.deny:
                assert exp.drop_reason == "POLICY_DENY", (cell.probe.id, exp.explanation)
            else:
                assert exp.verdict == "allowed" or exp.drop_reason == "AUTH_REQUIRED", (
                    cell.probe.id, exp.explanation)
            checked += 1
    assert checked >= 30 and skipped < checked / 5


def test_negative_cells_are_not_matched_by_their_rule(
        generations: dict[str, Generation]) -> None:
    steps: Counter[str] = Counter()
    for name, g in generations.items():
        for cell in g.cells:
            if cell.kind != "negative":
                continue
            exp = alone(g.policies, cell)
            assert not named(cell, exp), (name, cell.probe.id, cell.step, exp.explanation)
            if cell.step in L7_STEPS:
                assert exp.verdict == "l7-denied", (cell.probe.id, exp.explanation)
            elif cell.step in ("deeper", "shallower") and (cell.rule.l7 or "").startswith(
                    "rules.dns"):
                assert exp.verdict == "dns-refused", (cell.probe.id, exp.explanation)
            steps[cell.step] += 1
    assert set(steps) >= {"method", "path-suffix", "path-query", "header-missing",
                          "header-value", "next-port", "source", "namespace", "deeper",
                          "shallower"}, steps


def test_drawn_strings_really_match_their_regex(generations: dict[str, Generation]) -> None:
    g = generations["l7-http"]
    pattern = "/api/v1/accounts/[0-9a-f-]+"
    drawn = [c.probe.http.path for c in g.cells if c.kind == "positive" and c.probe.http
             and c.probe.http.path.startswith("/api/v1/accounts/")]
    assert drawn and all(compile_re2(pattern).fullmatch(p) for p in drawn)
    grpc = generations["grpc"]
    calls = {c.probe.grpc.path for c in grpc.cells if c.kind == "positive" and c.probe.grpc}
    assert calls == {"/api.AccountService/GetAccount", "/api.AccountService/ListAccounts"}


def test_same_input_same_cells_and_ids_are_unique() -> None:
    first = render_jsonl(generate([REPO / "manifests" / "policies" / "l7-http"], seed=7))
    again = render_jsonl(generate([REPO / "manifests" / "policies" / "l7-http"], seed=7))
    assert first == again
    rows = [json.loads(line) for line in first.splitlines()]
    assert len({r["id"] for r in rows}) == len(rows)
    probes = [json.dumps({k: v for k, v in r.items() if k in (
        "source", "destination", "port", "protocol", "http", "grpc", "dns")}, sort_keys=True)
              for r in rows]
    assert len(set(probes)) == len(probes), "duplicate probes"


def test_every_cell_names_its_rule_and_carries_the_model_verdict(
        generations: dict[str, Generation]) -> None:
    for g in generations.values():
        for cell in g.cells:
            row = cell.to_json()
            assert row["rule"]["file"] and row["rule"]["path"].startswith("spec")
            assert row["expect"]["verdict"] == cell.expect.verdict  # type: ignore[union-attr]
            assert row["tags"] and row["cell"] in ("positive", "negative", "default-deny")
