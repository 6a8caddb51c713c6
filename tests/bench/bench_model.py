"""Benchmark of the policy model (run by `nox -s bench`; not a pytest module).

Targets (issue 3): 200 policies x 10,000 probes evaluated in under 2 s on one core,
compiling the policies included; one `explain` (compile the 200 parsed policies, then
evaluate one probe with cold caches) in under 50 ms. Issue 12: `lint` of 2,000 documents
(one namespace, one policy per workload, read from a YAML file) in under 5 s, and `explain`
of a path rule `/(a+)+$` against a 100,000-character path in under 1 s (RE2: linear
time). Reading the same policies from one YAML file is printed for information (PyYAML
parsing dominates it). Prints probes/s and
PASS/FAIL per target; exits 1 when a target is missed. Times are CPU time of this process,
pinned to one core, so other jobs sharing the machine do not count against the model.
"""

from __future__ import annotations

import io
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from conformance.cli import main as cli_main
from conformance.model import PolicySet, Probe, evaluate, load_policies
from conformance.model.lint import lint_paths
from conformance.model.probe import (
    DnsQuery,
    Entity,
    Fqdn,
    GrpcCall,
    HttpRequest,
    Peer,
    Pod,
    TlsHello,
)
from conformance.model.selectors import clear_compile_caches

POLICIES = 200
PROBES = 10_000
BULK_TARGET_S = 2.0
EXPLAIN_TARGET_S = 0.050
LINT_DOCUMENTS = 2_000
LINT_TARGET_S = 5.0
REDOS_PATH_LENGTH = 100_000
REDOS_TARGET_S = 1.0
NAMESPACES = [f"team-{i}" for i in range(20)]
APPS = [f"svc-{i}" for i in range(10)]
NAMES = ["api.stripe.com", "a.b.stripe.com", "api.github.com", "example.org"]
KUBE_DNS = Pod("kube-system", {"k8s-app": "kube-dns"})
SEED = 20260729


def policy(i: int, rng: random.Random, callers_of: dict[tuple[str, str], list[str]]
           ) -> dict[str, Any]:
    """A realistic mix: L7 ingress, TLS serverNames, egress with DNS proxy + FQDNs, some
    denies, some CCNPs."""
    ns, app = NAMESPACES[i % len(NAMESPACES)], APPS[(i // len(NAMESPACES)) % len(APPS)]
    callers = rng.sample(APPS, 3)
    callers_of[(ns, app)] = callers
    spec: dict[str, Any] = {
        "endpointSelector": {"matchLabels": {"app": app}},
        "ingress": [
            {"fromEndpoints": [{"matchLabels": {"app": callers[0]}}],
             "toPorts": [{"ports": [{"port": "8080", "protocol": "TCP"}],
                          "rules": {"http": [
                              {"method": "GET", "path": "/api/v1/items(/[0-9a-f-]+)?"},
                              {"method": "POST", "path": "/api/v1/items",
                               "headers": ["X-Caller: " + callers[0]]},
                              {"method": "POST", "path": f"/pkg.{app}/Get"}]}}]},
            {"fromEndpoints": [{"matchExpressions": [
                {"key": "app", "operator": "In", "values": callers[1:]}]}],
             "toPorts": [{"ports": [{"port": "9090", "protocol": "TCP"}]}]},
            {"fromEntities": ["host", "remote-node"]},
            {"fromEndpoints": [{"matchLabels": {"app": callers[0]}}],
             "toPorts": [{"ports": [{"port": "8443", "protocol": "TCP"}],
                          "serverNames": [f"{app}.{ns}.example", "*.api.example"]}]},
        ],
        "egress": [
            {"toEndpoints": [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": "kube-system",
                                              "k8s:k8s-app": "kube-dns"}}],
             "toPorts": [{"ports": [{"port": "53", "protocol": "ANY"}],
                          "rules": {"dns": [{"matchPattern": "*.stripe.com"},
                                            {"matchPattern": "**.github.com"}]}}]},
            {"toFQDNs": [{"matchPattern": "**.stripe.com"}],
             "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}]},
            {"toEndpoints": [{}],
             "toPorts": [{"ports": [{"port": "8080", "protocol": "TCP"},
                                    {"port": "9090", "protocol": "TCP"},
                                    {"port": "8443", "protocol": "TCP"}]}]},
            {"toEndpoints": [{"matchLabels": {"app": rng.choice(APPS)}}]},
        ],
    }
    if i % 7 == 0:
        spec["ingressDeny"] = [{"fromEntities": ["world"]}]
    meta: dict[str, Any] = {"name": f"p-{i}", "namespace": ns}
    kind = "CiliumNetworkPolicy"
    if i % 50 == 0:
        kind = "CiliumClusterwideNetworkPolicy"
        meta.pop("namespace")
        spec["endpointSelector"] = {"matchExpressions": [
            {"key": "k8s:io.kubernetes.pod.namespace", "operator": "NotIn",
             "values": ["kube-system"]}, {"key": "app", "operator": "In", "values": [app]}]}
    return {"apiVersion": "cilium.io/v2", "kind": kind, "metadata": meta, "spec": spec}


def probe(i: int, rng: random.Random, callers_of: dict[tuple[str, str], list[str]]) -> Probe:
    """Mostly in-namespace traffic, half of it from a caller the destination expects."""
    def pod(ns: str | None = None) -> Pod:
        return Pod(ns or rng.choice(NAMESPACES), {"app": rng.choice(APPS)})

    kind = rng.random()
    if kind < 0.1:
        return Probe(str(i), pod(), KUBE_DNS, 53, "UDP", dns=DnsQuery(rng.choice(NAMES)))
    if kind < 0.2:
        return Probe(str(i), pod(), Fqdn(rng.choice(NAMES)), 443)
    dst = pod()
    src: Peer = pod(dst.namespace if rng.random() < 0.8 else None)
    if rng.random() < 0.5:
        src = Pod(dst.namespace, {"app": rng.choice(callers_of[(dst.namespace,
                                                                   dst.labels["app"])])})
    elif rng.random() < 0.1:
        src = Entity(rng.choice(["host", "world"]))
    if kind < 0.6:
        method = rng.choice(["GET", "POST", "DELETE"])
        path = rng.choice(["/api/v1/items", f"/api/v1/items/{rng.randrange(16**6):x}",
                           "/admin", "/api/v1/items?x=1"])
        return Probe(str(i), src, dst, 8080, http=HttpRequest(
            method, path, {"X-Caller": rng.choice(APPS)}))
    if kind < 0.7:
        return Probe(str(i), src, dst, 8080, grpc=GrpcCall(f"pkg.{dst.labels['app']}", "Get"))
    if kind < 0.8:  # TLS with an SNI serverNames allows, or not
        sni = rng.choice([f"{dst.labels['app']}.{dst.namespace}.example", "x.api.example",
                          "a.b.api.example", "evil.example"])
        return Probe(str(i), src, dst, 8443, tls=TlsHello(sni))
    return Probe(str(i), src, dst, rng.choice([8080, 9090, 5432]))


def main() -> int:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    rng = random.Random(SEED)
    callers_of: dict[tuple[str, str], list[str]] = {}
    docs = [policy(i, rng, callers_of) for i in range(POLICIES)]
    probes = [probe(i, rng, callers_of) for i in range(PROBES)]

    start = time.process_time()
    policies = PolicySet.from_documents(docs, source="bench")
    compiled = time.process_time()
    verdicts: dict[str, int] = {}
    for p in probes:
        v = evaluate(policies, p).verdict
        verdicts[v] = verdicts.get(v, 0) + 1
    done = time.process_time()
    bulk = done - start

    explain = _median(lambda p: _cold_explain(docs, p), probes[:20])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "policies.yaml"
        path.write_text(yaml.dump_all(docs, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper)))
        from_file = _median(lambda p: evaluate(load_policies([path]), p), probes[:5])

    bulk_ok, explain_ok = bulk < BULK_TARGET_S, explain < EXPLAIN_TARGET_S
    print(f"policy model: {POLICIES} policies compiled in {(compiled - start) * 1000:.1f} ms")
    print(f"policy model: {PROBES} probes in {done - compiled:.3f} s "
          f"({PROBES / (done - compiled):,.0f} probes/s); "
          f"verdicts {dict(sorted(verdicts.items()))}")
    print(f"policy model: compile + {PROBES} probes = {bulk:.3f} s "
          f"(target < {BULK_TARGET_S:.1f} s): {'PASS' if bulk_ok else 'FAIL'}")
    print(f"policy model: one explain (compile + 1 probe, cold, median of 20) = "
          f"{explain * 1000:.1f} ms (target < {EXPLAIN_TARGET_S * 1000:.0f} ms): "
          f"{'PASS' if explain_ok else 'FAIL'}")
    print(f"policy model: (info) the same from a YAML file, parsing included = "
          f"{from_file * 1000:.1f} ms")
    lint_s = _lint_seconds()
    redos_s = _redos_explain_seconds()
    lint_ok, redos_ok = lint_s < LINT_TARGET_S, redos_s < REDOS_TARGET_S
    print(f"policy model: lint of {LINT_DOCUMENTS:,} documents (one namespace, one policy per "
          f"workload, YAML parsing included) = {lint_s:.2f} s (target < {LINT_TARGET_S:.0f} s): "
          f"{'PASS' if lint_ok else 'FAIL'}")
    print(f"policy model: explain with path rule /(a+)+$ and a {REDOS_PATH_LENGTH:,}-character "
          f"path = {redos_s * 1000:.1f} ms (target < {REDOS_TARGET_S * 1000:.0f} ms): "
          f"{'PASS' if redos_ok else 'FAIL'}")
    return 0 if bulk_ok and explain_ok and lint_ok and redos_ok else 1


def lint_document(i: int) -> dict[str, Any]:
    """One workload's policy: L7 ingress from its client, DNS proxy and one FQDN egress."""
    dns = {"toEndpoints": [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": "kube-system",
                                            "k8s:k8s-app": "kube-dns"}}],
           "toPorts": [{"ports": [{"port": "53", "protocol": "ANY"}],
                        "rules": {"dns": [{"matchPattern": "*"}]}}]}
    return {"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
            "metadata": {"name": f"p{i}", "namespace": "one"},
            "spec": {"endpointSelector": {"matchLabels": {"app": f"svc-{i}"}},
                     "ingress": [{"fromEndpoints": [{"matchLabels": {"app": f"client-{i}"}}],
                                  "toPorts": [{"ports": [{"port": "8080", "protocol": "TCP"}],
                                               "rules": {"http": [{"method": "GET",
                                                                   "path": "/api/.*"}]}}]}],
                     "egress": [dns, {"toFQDNs": [{"matchName": f"api{i}.example.com"}]}]}}


def _lint_seconds() -> float:
    docs = [lint_document(i) for i in range(LINT_DOCUMENTS)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "policies.yaml"
        path.write_text(yaml.dump_all(docs, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper)))
        clear_compile_caches()
        t0 = time.process_time()
        result = lint_paths([path])
        elapsed = time.process_time() - t0
    if result.fatal or result.errors:
        raise SystemExit(f"bench: the lint documents do not lint clean: {result.fatal[:1]}")
    return elapsed


def _redos_explain_seconds() -> float:
    """The whole `explain` command, in process: load the policy, read the probe, evaluate."""
    policy = lint_document(0)
    policy["spec"]["ingress"][0]["toPorts"][0]["rules"]["http"][0]["path"] = "/(a+)+$"
    probe_row = {"id": "redos", "port": 8080,
                 "source": {"namespace": "one", "labels": {"app": "client-0"}},
                 "destination": {"namespace": "one", "labels": {"app": "svc-0"}},
                 "http": {"method": "GET", "path": "/" + "a" * REDOS_PATH_LENGTH + "!"}}
    with tempfile.TemporaryDirectory() as tmp:
        policies, probes = Path(tmp) / "p.yaml", Path(tmp) / "probes.jsonl"
        policies.write_text(yaml.safe_dump(policy))
        probes.write_text(json.dumps(probe_row) + "\n")
        out = io.StringIO()
        t0 = time.process_time()
        code = cli_main(["explain", "--policies", str(policies), "--probes", str(probes)], out)
        elapsed = time.process_time() - t0
    if code != 0 or json.loads(out.getvalue())["verdict"] != "l7-denied":
        raise SystemExit(f"bench: explain of the /(a+)+$ rule went wrong: {out.getvalue()!r}")
    return elapsed


def _cold_explain(docs: list[dict[str, Any]], probe: Probe) -> None:
    clear_compile_caches()
    evaluate(PolicySet.from_documents(docs, source="bench"), probe)


def _median(run: Callable[[Probe], object], probes: list[Probe]) -> float:
    times = []
    for p in probes:
        t0 = time.process_time()
        run(p)
        times.append(time.process_time() - t0)
    return sorted(times)[len(times) // 2]


if __name__ == "__main__":
    sys.exit(main())
