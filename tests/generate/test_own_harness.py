"""The own-policies harness pieces that need no cluster: mirrored namespace names,
stand-in Deployments, which pod serves what, shards by policy, probes files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.generate import generate
from conformance.harness.own import mirror_names, pods_of, standin_deployment
from conformance.harness.own_cells import (
    STANDIN_LABEL,
    OwnCell,
    OwnInputError,
    load_cells,
    shards,
    standin_key,
)
from conformance.harness.planning import MAX_NAMESPACE_LEN
from conformance.model.probe import Pod

REPO = Path(__file__).resolve().parents[2]
POLICIES = REPO / "manifests" / "policies"


def test_mirrors_keep_names_readable_and_short() -> None:
    names = mirror_names("ztc-abc-gw0", ["payments", "kube-system", "default", "x" * 60])
    assert next(iter(names)) == "default"  # render() puts namespace-less policies there
    assert "kube-system" not in names and names["payments"] == "ztc-abc-gw0-payments"
    assert len(names["x" * 60]) <= MAX_NAMESPACE_LEN and names["x" * 60] != names["default"]


def test_standin_carries_exactly_the_labels_and_serves_the_cells_ports() -> None:
    pod = Pod("shop", {"app": "orders", "tier": "api"})
    doc = standin_deployment(standin_key(pod), pod, {8080: "http", 9090: "grpc", 8081: "http"})
    template = doc["spec"]["template"]
    assert template["metadata"]["labels"] == {**pod.labels, STANDIN_LABEL: standin_key(pod)}
    assert doc["spec"]["selector"]["matchLabels"] == {STANDIN_LABEL: standin_key(pod)}
    container = template["spec"]["containers"][0]
    assert container["command"] == ["account-service", "--role", "standin", "--http-port",
                                    "8080,8081", "--grpc-port", "9090"]
    assert [p["name"] for p in container["ports"]] == ["http-8080", "http-8081", "grpc-9090"]


def test_pods_of_gives_grpc_ports_precedence_and_skips_kube_system() -> None:
    result = generate([POLICIES / "grpc", POLICIES / "l7-http"])
    cells = [c for s in shards(result, [], 1) for c in s.cells if isinstance(c, OwnCell)]
    pods = pods_of(cells)
    assert "kube-system" not in pods
    account = next(ports for pod, ports in pods["payments"].values()
                   if pod.labels == {"app": "account-service"})
    assert account[9090] == "grpc" and account[8080] == "http"


def test_shards_keep_a_policys_cells_together() -> None:
    result = generate([POLICIES / "deny", POLICIES / "l7-http", POLICIES / "grpc"])
    parts = shards(result, [], 3)
    where = {c.policy: s.name for s in parts for c in s.cells if isinstance(c, OwnCell)}
    for s in parts:
        assert all(where[c.policy] == s.name for c in s.cells if isinstance(c, OwnCell))
    assert sum(len(s.cells) for s in parts) == len(result.cells)


def test_probes_file_must_name_policies_of_the_set(tmp_path: Path) -> None:
    probes = tmp_path / "p.jsonl"
    probes.write_text(json.dumps({"id": "a", "source": {"namespace": "x"},
                                  "destination": {"namespace": "x"}, "port": 80,
                                  "rule": {"policy": "CiliumNetworkPolicy x/none"}}) + "\n")
    with pytest.raises(OwnInputError, match=r"line 1: rule\.policy: names no policy"):
        load_cells([str(POLICIES / "l7-http")], str(probes), "1.20")
    probes.write_text("{not json\n")
    with pytest.raises(OwnInputError, match="line 1"):
        load_cells([str(POLICIES / "l7-http")], str(probes), "1.20")
