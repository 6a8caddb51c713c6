"""Request kinds are types: each owns its label, model probe, prober request, flows and
whether it reaches the app, and only the registry looks a kind up by its name."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any, ClassVar

import pytest

from conformance.harness import evidence
from conformance.harness.requests import KINDS, UnknownRequestKind
from conformance.harness.requests.tcp import Tcp
from conformance.harness.spec import (
    ALLOWED,
    PAYMENT,
    Cell,
    Request,
    connect,
    dns,
    grpc,
    http,
    kubelet,
    ping,
    tcp,
    tls,
)
from conformance.model.expectation import Expectation, HubbleEvidence
from workloads.prober.spec import PARSERS, parse

REPO = Path(__file__).resolve().parents[2]
REGISTRY = REPO / "conformance" / "harness" / "requests"
# Code that decides by request kind: all of the suite but the registry itself.
SCANNED = [REPO / "conftest.py", *sorted((REPO / "conformance").rglob("*.py"))]
SAMPLES = {"http": http("GET", "/api/v1/accounts"), "grpc": grpc("GetAccount"),
           "dns": dns("api.stripe.com"), "tcp": connect(9090), "icmp": ping(),
           "kubelet": kubelet(), "tls": tls("api.example.com")}


def kind_comparisons(source: str) -> list[int]:
    """Lines comparing a `kind` (a name or an attribute) with a registered kind's name,
    alone or in a tuple/list/set: `r.kind == "http"`, `kind in ("http", "grpc")`."""
    def names(node: ast.expr) -> set[str]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return {node.value}
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            return set().union(*(names(e) for e in node.elts)) if node.elts else set()
        return set()

    def is_kind(node: ast.expr) -> bool:
        return (isinstance(node, ast.Attribute) and node.attr == "kind") or \
            (isinstance(node, ast.Name) and node.id == "kind")

    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(is_kind(o) for o in operands) and \
                    any(names(o) & set(KINDS) for o in operands):
                lines.append(node.lineno)
    return lines


def test_no_request_kind_comparison_outside_the_registry() -> None:
    found = [f"{path.relative_to(REPO)}:{line}" for path in SCANNED
             if REGISTRY not in path.parents
             for line in kind_comparisons(path.read_text())]
    assert not found, f"request kinds compared by name outside {REGISTRY}: {found}"


def test_the_scan_sees_each_form_of_comparison() -> None:
    assert kind_comparisons('if r.kind == "dns": pass') == [1]
    assert kind_comparisons('x = kind in ("http", "grpc")') == [1]
    assert kind_comparisons('x = "icmp" != self.cell.request.kind') == [1]
    assert kind_comparisons('x = check.kind == "hubble"') == []  # not a request kind


def test_every_kind_has_a_sample_and_every_sample_its_kind() -> None:
    assert set(SAMPLES) == set(KINDS)
    assert all(r.type is KINDS[name] for name, r in SAMPLES.items())


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_kind_labels_models_and_builds_a_request_the_prober_accepts(name: str) -> None:
    r = SAMPLES[name]
    kind = r.type
    probe = Cell(PAYMENT, r, ALLOWED).model_probe("p1")
    assert probe.id == "p1" and probe.port == (53 if name == "dns" else
                                               8 if name == "icmp" else r.port)
    request = kind.prober_request(r, "10.0.0.9", 2.0)
    if request is None:  # observed, not sent (the kubelet's own probes)
        assert not kind.reaches_app
        return
    assert request["kind"] in PARSERS
    parse({"id": "p1", **request}, 2.0)  # raises SpecError naming the field otherwise


def test_labels_are_distinct_per_kind() -> None:
    labels = [r.label() for r in SAMPLES.values()]
    assert len(set(labels)) == len(labels)
    assert SAMPLES["kubelet"].label() == "readiness GET /healthz -> account-service:8080"


def test_only_http_grpc_and_tls_reach_the_app_and_only_l7_kinds_need_the_proxy() -> None:
    assert {n for n, k in KINDS.items() if k.reaches_app} == {"http", "grpc", "tls"}
    assert {n for n, k in KINDS.items() if k.l7} == {"http", "grpc", "dns", "tls"}
    assert {n for n, k in KINDS.items() if not k.flows_carry_ports} == {"icmp"}


def test_fqdn_targets_are_a_property_of_tcp_requests_without_namespace() -> None:
    assert tcp("api.stripe.com", 443).is_fqdn and not connect(443).is_fqdn
    assert not any(SAMPLES[n].is_fqdn for n in ("http", "grpc", "dns", "icmp", "kubelet"))


def test_grpc_method_paths_of_own_cells_are_sent_as_is() -> None:
    def method(r: Request) -> object:
        return (r.type.prober_request(r, "h", 1) or {}).get("method")

    assert method(Request("grpc", "x", 9090, grpc_method="/pkg.Svc/Do")) == "/pkg.Svc/Do"
    assert method(grpc("GetAccount")) == "/api.AccountService/GetAccount"


def test_unknown_kind_is_one_clear_error() -> None:
    with pytest.raises(UnknownRequestKind, match=r"'sctp' is not registered.*known: dns, grpc"):
        Request("sctp", "account-service", 9)


class Sni(Tcp):
    """A kind added the documented way: a class, plus its entry in KINDS."""

    name: ClassVar[str] = "sni-example"

    def label(self, r: Request, dest: str) -> str:
        return f"TLS {r.dns_name} -> {dest}:{r.port}"

    def prober_request(self, r: Request, host: str, timeout: float) -> dict[str, Any]:
        return {**super().prober_request(r, host, timeout), "note": r.dns_name}


def test_a_new_kind_is_one_class_plus_its_registration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(KINDS, Sni.name, Sni())
    r = Request(Sni.name, "account-service", 443, dns_name="api.example")
    assert r.label() == "TLS api.example -> account-service:443"
    assert Cell(PAYMENT, r, ALLOWED).model_probe("p").port == 443
    assert (r.type.prober_request(r, "10.0.0.9", 1) or {}).get("note") == "api.example"


def test_kinds_say_which_flows_an_l7_verdict_shows() -> None:
    denied = Expectation("p", "l7-denied", None, "ingress", "grpc-permission-denied",
                         HubbleEvidence("DROPPED", "L7", None, "INGRESS"), "x")
    allowed = Expectation("p", "allowed", None, None, "ok",
                          HubbleEvidence("FORWARDED", "L7", None, "EGRESS"), "x")
    grpc_rules = [r.text for r in evidence.required_flows(denied, kind=KINDS["grpc"])]
    assert grpc_rules[1] == "L7 RESPONSE code=403 or 200 (gRPC local reply)"
    assert [r.text for r in evidence.required_flows(denied, kind=KINDS["http"])][1] == \
        "L7 RESPONSE code=403"
    assert [r.text for r in evidence.required_flows(allowed, kind=KINDS["dns"])] == \
        ["L7 DNS FORWARDED"]
