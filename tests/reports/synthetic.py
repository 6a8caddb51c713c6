"""Artifacts folders of made-up runs, shaped like the suite's (conformance/harness/report.py
and conformance/reports/plugin.py): for unit tests and the report benchmark."""

from __future__ import annotations

import json
from pathlib import Path

from conformance.reports.model import FACTS, RESULTS, SCENARIO_MARKER, CellResult

POLICY = """apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: account-service-ingress, namespace: ztc-run-gw0}
spec:
  endpointSelector: {matchLabels: {app: account-service}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: payment-processor}}]
    toPorts: [{ports: [{port: "8080", protocol: TCP}], rules: {http: [{method: GET}]}}]
"""


def flow_line(probe_id: str, n: int, verdict: str = "FORWARDED") -> str:
    flow = {"time": f"2026-12-01T10:00:{n % 60:02d}.000Z", "verdict": verdict,
            "IP": {"source": "10.0.1.5", "destination": "10.0.2.7", "ipVersion": "IPv4"},
            "l4": {"TCP": {"source_port": 40000 + n, "destination_port": 8080}},
            "source": {"identity": 1001, "namespace": "ztc-run-gw0",
                       "labels": ["k8s:app=payment-processor"], "pod_name": "payment-0"},
            "destination": {"identity": 1002, "namespace": "ztc-run-gw0",
                            "labels": ["k8s:app=account-service"], "pod_name": "account-0"},
            "Type": "L7", "node_name": "kind-worker", "traffic_direction": "INGRESS",
            "l7": {"type": "REQUEST", "http": {"method": "GET", "url": "http://x/api",
                                               "headers": [{"key": "X-Probe-Id",
                                                            "value": probe_id}]}}}
    return json.dumps({"flow": flow, "node_name": "kind-worker", "time": flow["time"]})


def write_cell(scenario_dir: Path, index: int, cell: CellResult) -> None:
    folder = scenario_dir / f"{index:02d}-cell-{index}"
    folder.mkdir()
    cell.folder = folder.name
    probe_id = f"gw0.{cell.scenario}.{index}.0"
    ok = cell.outcome == "passed"
    checks = [{"kind": k, "ok": ok or k != "hubble", "expected": f"{k} as the model says",
               "observed": f"{k} observed" if ok or k != "hubble" else "no L7 flow"}
              for k in ("client", "app", "hubble", "metrics")]
    probes = {"cell": cell.cell,
              "probe": {"id": cell.cell, "port": 8080, "protocol": "TCP"},
              "expectation": {"verdict": cell.verdict, "explanation": "allowed by rule 0"},
              "attempts": [{"id": probe_id, "source": "payment-0", "target": "account-0",
                            "path": "cross-node", "request": {"kind": "http"},
                            "result": {"id": probe_id, "outcome": "ok", "status": 200},
                            "checks": checks}]}
    (folder / "probes.json").write_text(json.dumps(probes, indent=2))
    (folder / "flows.jsonl").write_text("".join(flow_line(probe_id, n) + "\n" for n in range(3)))
    (folder / "metrics.json").write_text(json.dumps([
        {"counter": "hubble_drop_total{reason=\"POLICY_DENIED\"}",
         "attributed_to": ["ztc-run-gw0"], "before": 1.0, "after": 3.0, "required_delta": 1}]))


def make_run(root: Path, scenarios: int, cells: int, *, failing: set[tuple[int, int]]
             | None = None, skipped: set[tuple[int, int]] | None = None,
             realize_s: dict[int, float] | None = None, evidence: bool = True) -> Path:
    """`scenarios` x `cells` cells; (scenario, cell) indexes in `failing`/`skipped` fail or
    skip; scenario i is named s<i>, cell j of it is `src<j%3> GET /p<j> -> svc:8080 => ...`."""
    failing, skipped, realize_s = failing or set(), skipped or set(), realize_s or {}
    root.mkdir(parents=True, exist_ok=True)
    results = []
    for i in range(scenarios):
        name = f"s{i}"
        sdir = root / name
        sdir.mkdir()
        (sdir / SCENARIO_MARKER).write_text("")
        (sdir / "run.json").write_text(json.dumps({
            "scenario": name, "worker": "gw0", "cilium_version": "1.20.0",
            "timings_s": {"realize_s": realize_s.get(i, 1.0 + i / 100), "probes_s": 0.1}}))
        (sdir / "policies.yaml").write_text(POLICY)
        app = [json.dumps({"event": "request", "probe_id": f"gw0.{name}.{j}.0"})
               for j in range(cells)]
        (sdir / "app-log.jsonl").write_text("".join(line + "\n" for line in app))
        for j in range(cells):
            outcome = ("failed" if (i, j) in failing else "skipped" if (i, j) in skipped
                       else "passed")
            cell = CellResult(name, f"src{j % 3} GET /p{j} -> svc:8080 => allowed", outcome,
                              source=f"src{j % 3}", request=f"GET /p{j} -> svc:8080",
                              expected="allowed", verdict="allowed", title=f"scenario {i}",
                              message="hubble: no L7 flow" if outcome == "failed" else "")
            if evidence and outcome != "skipped":
                write_cell(sdir, j, cell)
            results.append(cell)
    (root / RESULTS).write_text("".join(json.dumps(c.to_json()) + "\n" for c in results))
    (root / FACTS).write_text(json.dumps({"cilium": "1.20.0", "cluster": "kind",
                                          "kubernetes": "v1.34.11", "duration_s": 60.0}))
    return root
