"""The fault registry and the capability tags the fault matrix derives its cells from:
tags are a closed vocabulary, every scenario cell has them, every breaking fault selects
cells, and nothing outside the registry asks which fault is active by name."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from clusters.emulated.faults import (
    BREAKING,
    FAULTS,
    NEVER_S,
    REFUSED,
    UPGRADE,
    BadFault,
    Fault,
    Hooks,
    hooks,
    of_effect,
    register,
)
from clusters.emulated.faults.hooks import NO_FAULT
from conformance.harness.requests import KINDS
from conformance.harness.requests.tcp import Tcp
from conformance.harness.spec import (
    ALLOWED,
    DEFAULT_MODEL_VERSION,
    PAYMENT,
    Cell,
    ExpectationMismatch,
    Request,
    Scenario,
    http,
)
from conformance.vocabulary import capabilities as cap
from tests.support.fault_matrix import scenario_cells, scenarios, selected

REPO = Path(__file__).resolve().parents[2]
REGISTRY = REPO / "clusters" / "emulated" / "faults"
# `fault == "x"`, `fault != "x"`, `fault in ("x", ...)`: asking the active fault its name
NAME_TEST = re.compile(r"\bfault\s*(==|!=)|(?<!for )\bfault\s+(not\s+)?in\s*[(\[{]")


def test_every_breaking_fault_selects_cells_and_names_what_fails() -> None:
    cells = scenario_cells()
    assert len(cells) >= 50
    for name in of_effect(BREAKING):
        fault = FAULTS[name]
        chosen = [k for k, c in cells.items() if not c.disruptive and selected(fault.fails, c)]
        assert chosen, f"fault {name} selects no scenario cell"
        assert fault.says


def test_every_scenario_cell_has_known_tags_and_an_enforcement_tag() -> None:
    for (module, cell_id), cell in scenario_cells().items():
        assert not cap.unknown(cell.tags), (module, cell_id)
        assert cell.tags & cap.ENFORCEMENT and cell.tags >= cap.BATCH, (module, cell_id)


def test_tags_follow_the_request_and_the_model() -> None:
    cells = scenario_cells()
    l7 = cells[("test_l7_http", "payment-processor DELETE /api/v1/accounts/"
                "3f2c1a9e-8b7d-4c6e-9f10-2a3b4c5d6e7f -> account-service:8080 => l7-denied")]
    assert {cap.L7_HTTP, cap.METRICS_EVIDENCE, cap.CILIUM_POLICY} <= l7.tags
    gap = cells[("test_l3l4_gap", "payment-processor GET /api/v1/accounts -> "
                 "account-service:8080 => allowed")]
    assert cap.L7_HTTP not in gap.tags and cap.CILIUM_POLICY not in gap.tags  # NetworkPolicy
    assert cap.METRICS_EVIDENCE not in gap.tags  # allowed: no counter must move
    kubelet = cells[("test_default_deny",
                     "host(kubelet) readiness GET /healthz -> account-service:8080 => allowed")]
    assert cap.KUBELET in kubelet.tags and cap.HUBBLE_EVIDENCE not in kubelet.tags


def _scenario(**kw: object) -> Scenario:
    base = Scenario(name="l3l4-gap", title="t", cells=(
        Cell(PAYMENT, http("GET", "/api/v1/accounts"), ALLOWED),))
    return replace(base, **kw)  # type: ignore[arg-type]


def test_a_scenario_with_unknown_tags_is_a_collection_error() -> None:
    with pytest.raises(ExpectationMismatch, match=r"scenario l3l4-gap: unknown capability "
                                                  r"tags \['l7-htpp'\]"):
        _scenario(tags=("l7-htpp",)).check_against_model(DEFAULT_MODEL_VERSION)
    _scenario(tags=(cap.ICMP,)).check_against_model(DEFAULT_MODEL_VERSION)  # a known tag: fine


class _Untagged(Tcp):
    """A registered kind that declares no enforcement tag."""

    name = "untagged"
    tags = ()


def test_a_cell_no_tag_says_what_enforces_is_a_collection_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(KINDS, _Untagged.name, _Untagged())
    odd = Cell(PAYMENT, Request(_Untagged.name, "account-service", 8080), ALLOWED)
    scenario = _scenario(cells=(odd,))
    with pytest.raises(cap.TagError, match="no capability tag says what enforces it"):
        scenario.tags_of(odd, common=scenario.scenario_tags())
    declared = _scenario(cells=(odd,), tags=(cap.L3L4,))
    assert cap.L3L4 in declared.tags_of(odd, common=declared.scenario_tags())


def test_a_fault_selecting_unknown_tags_or_nothing_is_refused() -> None:
    with pytest.raises(cap.TagError, match="unknown capability tags"):
        cap.select("l7-htpp")
    with pytest.raises(BadFault, match="declares the cells it fails"):
        Fault("x", BREAKING, "x", Hooks())
    with pytest.raises(BadFault, match="declared twice"):
        twice = type("M", (), {"FAULTS": (FAULTS["jitter"], FAULTS["jitter"])})
        register((twice,))  # type: ignore[arg-type]


def test_hooks_of_no_fault_change_nothing_and_stuck_faults_never_realize() -> None:
    assert hooks(None) == NO_FAULT
    assert [n for n, f in FAULTS.items() if f.hooks.never_realizes] == \
        ["agent-stuck", "regen-stuck"]
    assert hooks("regen-stuck").regen_delay_s == NEVER_S
    assert all(f.hooks != NO_FAULT for f in FAULTS.values()), "a fault that does nothing"


def test_upgrade_faults_are_exercised_by_the_upgrade_tests() -> None:
    text = "".join(p.read_text() for p in (REPO / "tests" / "upgrade").glob("test_*.py"))
    assert [n for n in of_effect(UPGRADE) if f'"{n}"' not in text] == []


def test_no_fault_is_asked_its_name_outside_the_registry() -> None:
    offenders = []
    for path in REPO.rglob("*.py"):
        rel = path.relative_to(REPO)
        if rel.parts[0].startswith(".") or REGISTRY in path.parents or path == Path(__file__):
            continue
        for no, text in enumerate(path.read_text().splitlines(), 1):
            if NAME_TEST.search(text):
                offenders.append(f"{rel}:{no}: {text.strip()}")
    assert offenders == [], "ask the fault's hooks (clusters/emulated/faults/hooks.py):\n" + \
        "\n".join(offenders)


def test_the_name_test_catches_comparisons() -> None:
    for text in ('if plane.fault == "x":', "if fault != 'y'", 'if fault in ("a", "b"):',
                 "if args.fault not in [a]"):
        assert NAME_TEST.search(text), text
    for text in ("for fault in (None, *X):", "cat.default == 1", "if fault:"):
        assert not NAME_TEST.search(text), text


def test_scenarios_are_found_by_module() -> None:
    assert {"test_l7_http", "test_fqdn", "test_clusterwide_default_deny"} <= set(scenarios())


def test_the_nox_fault_sets_come_from_the_declarations(capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    from clusters.emulated.faults.__main__ import main
    from clusters.emulated.faults.hooks import at_client_boundary

    assert main(["sets"]) == 0
    sets = json.loads(capsys.readouterr().out)
    assert set(sets) == {"coverage", "stuck", "passing", "refused"}
    assert set(sets["stuck"]) | set(sets["passing"]) <= set(sets["coverage"])
    assert all(FAULTS[n].effect == REFUSED for n in sets["refused"])
    assert all(at_client_boundary(FAULTS[n].hooks) for n in sets["coverage"])
    assert not at_client_boundary(FAULTS["l7-off"].hooks)  # a datapath fault: not the client's
    assert "relay-drop" in sets["coverage"] and "jitter" not in sets["coverage"]
    assert main(["list"]) == 2
    noxfile = (Path(__file__).resolve().parents[2] / "noxfile.py").read_text()
    # no fault is named there but `nox -s soak`'s default
    assert [name for name in FAULTS if f'"{name}"' in noxfile] == ["jitter"]
