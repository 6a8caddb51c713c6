"""The model over cilium's own test tables, restated as data in tests/model/data/upstream/.

Each YAML file names the upstream file and tests its rows come from, and what was left out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance.model import PolicySet, Probe, evaluate
from conformance.model.matchers import NameMatch
from conformance.model.probe import DnsQuery, Entity, HttpRequest, Peer, Pod

DATA = Path(__file__).parent / "data" / "upstream"
NAMESPACE = "upstream"
SUBJECT = Pod(NAMESPACE, {"id": "a"})
VERSIONS = ("1.18", "1.19", "1.20")


def _load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((DATA / name).read_text())
    assert isinstance(data, dict)
    return data


def _policy(spec: dict[str, Any], name: str) -> PolicySet:
    doc = {"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
           "metadata": {"name": name, "namespace": NAMESPACE},
           "spec": {"endpointSelector": {"matchLabels": {"id": "a"}}, **spec}}
    return PolicySet.from_documents([doc], source=name)


def _peer(text: str) -> Peer:
    return Entity("host") if text == "host" else Pod(NAMESPACE, {"id": text})


def _probe(direction: str, row: dict[str, Any]) -> Probe:
    peer = _peer(row["peer"])
    src, dst = (peer, SUBJECT) if direction == "ingress" else (SUBJECT, peer)
    http = None
    if "http" in row:
        method, path = row["http"].split(" ", 1)
        http = HttpRequest(method, path)
    return Probe(id="t", source=src, destination=dst, port=row["port"],
                 protocol=row.get("protocol", "TCP"), http=http,
                 dns=DnsQuery(row["dns"]) if "dns" in row else None)


def _case_rows(name: str) -> list[Any]:
    return [pytest.param(case, id=f"{case['case']}")
            for case in _load(name)["cases"]]


# -- FQDN patterns (pkg/fqdn/matchpattern/matchpattern_test.go) --------------------------------

def _pattern_rows() -> list[Any]:
    rows = []
    for row in _load("fqdn-patterns.yaml")["patterns"]:
        for version in VERSIONS:
            if version < row.get("since", "0"):
                continue
            rows += [pytest.param(row["pattern"], n, True, version, id=f"{row['pattern']}+{n}")
                     for n in row["accept"]]
            rows += [pytest.param(row["pattern"], n, False, version, id=f"{row['pattern']}-{n}")
                     for n in row["reject"]]
    return rows


@pytest.mark.parametrize(("pattern", "name", "accepted", "version"), _pattern_rows())
def test_fqdn_pattern_table(pattern: str, name: str, accepted: bool, version: str) -> None:
    multi = version >= "1.19"
    assert NameMatch(pattern, is_pattern=True).matches(name, multi) is accepted


# -- L4 filter merging and deny precedence (pkg/policy) -----------------------------------------

def _check_case(case: dict[str, Any]) -> None:
    policies = _policy(case["spec"], f"case-{str(case['case']).lower()}")
    for row in case["probes"]:
        for version in VERSIONS:
            got = evaluate(policies, _probe(case["direction"], row), version)
            where = f"case {case['case']} ({case['test']}) probe {row}: {got.explanation}"
            assert got.verdict == row["expect"], where
            if "reason" in row:
                assert got.drop_reason == row["reason"], where
            if "via" in row:
                assert got.hubble.type == row["via"], where


@pytest.mark.parametrize("case", _case_rows("l4-filter-merge.yaml"))
def test_l4_filter_merge_table(case: dict[str, Any]) -> None:
    _check_case(case)


@pytest.mark.parametrize("case", _case_rows("deny-precedence.yaml"))
def test_deny_precedence_table(case: dict[str, Any]) -> None:
    _check_case(case)


# -- Port ranges (TestEgressPortRangePrecedence) ------------------------------------------------

def _range_spec(rules: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, list[Any]] = {"egress": [], "egressDeny": []}
    for r in rules:
        port: dict[str, Any] = {"port": str(r["port"]), "protocol": "TCP"}
        if "end" in r:
            port["endPort"] = r["end"]
        spec["egress" if r["allow"] else "egressDeny"].append(
            {"toEndpoints": [{"matchLabels": {"id": "b"}}], "toPorts": [{"ports": [port]}]})
    return {k: v for k, v in spec.items() if v}


@pytest.mark.parametrize("case", [pytest.param(c, id=c["name"])
                                  for c in _load("port-ranges.yaml")["cases"]])
def test_port_range_table(case: dict[str, Any]) -> None:
    policies = _policy(_range_spec(case["rules"]), "ranges")
    for r in case["ranges"]:
        for port in range(r["from"], r["to"] + 1):
            got = evaluate(policies, _probe("egress", {"peer": "b", "port": port}), "1.20")
            assert (got.verdict == "allowed") is r["allow"], (port, got.explanation)


def test_tables_are_not_empty() -> None:
    """A table that stopped loading must fail, not pass with no rows."""
    assert len(_pattern_rows()) > 100
    assert len(_case_rows("l4-filter-merge.yaml")) >= 15
    assert len(_case_rows("deny-precedence.yaml")) >= 7
    assert len(_load("port-ranges.yaml")["cases"]) == 5
