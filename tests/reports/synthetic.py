"""Artifacts folders of made-up runs, shaped like the suite's (conformance/harness/report.py
and conformance/reports/plugin.py): for unit tests and the report benchmark."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

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


def _attempt(probe_id: str, ok: bool, rng: random.Random) -> dict[str, Any]:
    """One attempt as write_cell records it, with the sizes and variety of a real one."""
    port = rng.randrange(32768, 61000)
    local = f"198.18.1.{rng.randrange(2, 250)}:{port}"
    remote = f"198.18.2.{rng.randrange(2, 250)}:8080"
    body = json.dumps({"route": "GET /api/v1/accounts/{id}", "probe_id": probe_id,
                       "headers": {"Host": remote, "X-Probe-Id": probe_id},
                       "served_by": f"account-service-7d9f8c6b5-{rng.randrange(16**5):05x}",
                       "client": local, "data": {"balance": rng.random()}})
    checks = [
        {"kind": "client", "ok": True, "expected": "ok (echo: reached the app)",
         "observed": f"ok (status=200, elapsed_ms={rng.randrange(1, 40)}, local={local}, "
                     f"remote={remote}, body={body[:80]!r})"},
        {"kind": "app", "ok": True, "expected": "reached the app: in its access log",
         "observed": f"in the access log of account-service-{rng.randrange(16**5):05x}"},
        {"kind": "hubble", "ok": ok, "expected": "L7 REQUEST FORWARDED; none DROPPED",
         "observed": f"{rng.randrange(2, 9)} flow(s) matched by 5-tuple"
                     + ("" if ok else "; missing: L7 REQUEST FORWARDED INGRESS")},
        {"kind": "metrics", "ok": True, "expected": "hubble_drop_total{protocol=\"HTTP\"} "
                                                   f"+>={rng.randrange(1, 20)} in ztc-run-gw0",
         "observed": f"hubble_drop_total +{rng.randrange(1, 40)} (+{rng.randrange(40)} in all)"},
    ]
    return {"id": probe_id, "source": f"payment-processor-{rng.randrange(16**5):05x}",
            "target": f"account-service-{rng.randrange(16**5):05x}", "path": "cross-node",
            "request": {"kind": "http", "url": f"http://{remote}/api/v1/accounts",
                        "method": "GET", "headers": {}, "timeout": 4.0},
            "result": {"id": probe_id, "outcome": "ok", "status": 200, "body": body,
                       "elapsed_ms": rng.randrange(1, 40), "local": local, "remote": remote},
            "checks": checks}


def write_cell(scenario_dir: Path, index: int, cell: CellResult) -> None:
    """The cell's folder with two attempts (cross- and same-node), their flows and metrics."""
    folder = scenario_dir / f"{index:02d}-cell-{index}"
    folder.mkdir()
    cell.folder = folder.name
    rng = random.Random(f"{cell.scenario}/{index}")
    ids = [f"gw0.{cell.scenario}.{index}.{n}" for n in range(2)]
    ok = cell.outcome == "passed"
    probes = {"cell": cell.cell,
              "probe": {"id": cell.cell, "source": {"namespace": "payments",
                                                    "labels": {"app": cell.source}},
                        "destination": {"namespace": "payments",
                                        "labels": {"app": "account-service"}},
                        "port": 8080, "protocol": "TCP",
                        "http": {"method": "GET", "path": f"/p{index}", "headers": {}}},
              "expectation": {"verdict": cell.verdict, "explanation": (
                  "allowed; egress of pod payments/{app=payment-processor}: not enforced "
                  "(no policy selecting it has egress rules); ingress of pod payments/"
                  "{app=account-service}: allowed by CiliumNetworkPolicy payments/account-"
                  f"service-ingress spec.ingress[0], rules.http[{index}] GET /p{index}")},
              "attempts": [_attempt(pid, ok, rng) for pid in ids]}
    (folder / "probes.json").write_text(json.dumps(probes, indent=2))
    (folder / "flows.jsonl").write_text("".join(flow_line(pid, rng.randrange(10**6)) + "\n"
                                                for pid in ids for _ in range(3)))
    (folder / "metrics.json").write_text(json.dumps([
        {"counter": "hubble_drop_total{reason=\"POLICY_DENIED\"}",
         "attributed_to": ["ztc-run-gw0"], "before": 1.0, "after": 3.0, "required_delta": 1}]))


def _message(scenario: str, j: int) -> str:
    """A failure message of a real run's length (conformance/harness/report.py)."""
    lines = [f"{scenario}: src GET /p{j} => allowed", "  model: allowed — allowed by rule 0"]
    for n in range(2):
        lines += [f"  attempt {n + 1}/2 id=gw0.{scenario}.{j}.{n} to account-service-{n}",
                  "    ok   client  expected: ok (echo: reached the app)",
                  f"         {'':<7} observed: ok (status=200, elapsed_ms={j % 40})",
                  "    FAIL hubble  expected: L7 REQUEST FORWARDED; none DROPPED",
                  f"         {'':<7} observed: {j % 7 + 2} flow(s) matched by 5-tuple; "
                  "missing: hubble: no L7 flow"]
    return "\n".join(lines)


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
                              message=_message(name, j) if outcome == "failed" else "")
            if evidence and outcome != "skipped":
                write_cell(sdir, j, cell)
            results.append(cell)
    (root / RESULTS).write_text("".join(json.dumps(c.to_json()) + "\n" for c in results))
    (root / FACTS).write_text(json.dumps({"cilium": "1.20.0", "cluster": "kind",
                                          "kubernetes": "v1.34.11", "duration_s": 60.0}))
    return root
