"""A seeded generator of realistic team policies: namespaces of services, each with an
ingress policy (L7 HTTP or gRPC, callers in its namespace and from a partner namespace, a
port range for metrics, sometimes a deny of a caller on the admin port) and an egress
policy (DNS through the proxy, FQDNs, the services it calls).

    python tests/generate/team_policies.py OUT_DIR [COUNT] [SEED]

FQDNs and DNS names are the hermetic targets every cluster of the suite has
(clusters/emulated/world.py EXTERNAL_TARGETS; `clusters up` provisions the same names).
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

import yaml

TEAMS = ("payments", "ledger", "identity", "search", "orders", "shipping", "billing",
         "catalog", "risk", "notify")
TARGETS = ("api.stripe.com", "api.braintreegateway.com", "api.github.com")
HTTP_PORT, GRPC_PORT, ADMIN_PORT, METRICS_PORT = 8080, 9090, 8443, 9100
KUBE_DNS = {"k8s:io.kubernetes.pod.namespace": "kube-system", "k8s:k8s-app": "kube-dns"}


def _http_rules(rng: random.Random, svc: str) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = [
        {"method": "GET", "path": f"/api/v1/{svc}"},
        {"method": "GET", "path": f"/api/v1/{svc}/[0-9a-f-]+"},
    ]
    if rng.random() < 0.5:
        rules.append({"method": "POST|PUT", "path": f"/api/v1/{svc}/[0-9]+/items"})
    if rng.random() < 0.4:
        rules.append({"method": "POST", "path": f"/internal/{svc}/sync",
                      "headers": [f"X-Team: {svc}"]})
    return rules


def _grpc_rules(svc: str) -> list[dict[str, Any]]:
    name = svc.capitalize()
    return [{"method": "POST", "path": f"/{svc}.v1.{name}Service/Get{name}"},
            {"method": "POST", "path": f"/{svc}.v1.{name}Service/List{name}s"}]


def _ingress(rng: random.Random, ns: str, svc: str, callers: list[str],
             partner: tuple[str, str]) -> dict[str, Any]:
    grpc = rng.random() < 0.3
    port = GRPC_PORT if grpc else HTTP_PORT
    rules = _grpc_rules(svc) if grpc else _http_rules(rng, svc)
    spec: dict[str, Any] = {
        "endpointSelector": {"matchLabels": {"app": svc}},
        "ingress": [
            {"fromEndpoints": [{"matchLabels": {"app": c}} for c in callers],
             "toPorts": [{"ports": [{"port": str(port), "protocol": "TCP"}],
                          "rules": {"http": rules}}]},
            {"fromEndpoints": [{"matchLabels": {"app": partner[1],
                                                "k8s:io.kubernetes.pod.namespace": partner[0]}}],
             "toPorts": [{"ports": [{"port": str(port), "protocol": "TCP"}],
                          "rules": {"http": rules[:1]}}]},
            {"fromEndpoints": [{"matchLabels": {"app": "prometheus"}}],
             "toPorts": [{"ports": [{"port": str(METRICS_PORT), "endPort": METRICS_PORT + 2,
                                     "protocol": "TCP"}]}]},
        ],
    }
    if rng.random() < 0.3:
        spec["ingress"].append({"fromEndpoints": [{"matchLabels": {"app": callers[0]}}],
                                "toPorts": [{"ports": [{"port": str(ADMIN_PORT),
                                                        "protocol": "TCP"}]}]})
        spec["ingressDeny"] = [{"fromEndpoints": [{"matchLabels": {"app": callers[-1]}}],
                                "toPorts": [{"ports": [{"port": str(ADMIN_PORT),
                                                        "protocol": "TCP"}]}]}]
    return _cnp(f"{svc}-ingress", ns, spec)


def _egress(rng: random.Random, ns: str, svc: str, calls: list[str]) -> dict[str, Any]:
    names = rng.sample(TARGETS, 2)
    spec: dict[str, Any] = {
        "endpointSelector": {"matchLabels": {"app": svc}},
        "egress": [
            {"toEndpoints": [{"matchLabels": KUBE_DNS}],
             "toPorts": [{"ports": [{"port": "53", "protocol": "ANY"}],
                          "rules": {"dns": [{"matchName": names[0]},
                                            {"matchPattern": f"*.{names[1].split('.', 1)[1]}"}]}}]},
            {"toFQDNs": [{"matchName": names[0]}],
             "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}]},
            {"toEndpoints": [{"matchLabels": {"app": c}} for c in calls],
             "toPorts": [{"ports": [{"port": str(HTTP_PORT), "protocol": "TCP"},
                                    {"port": str(GRPC_PORT), "protocol": "TCP"}]}]},
        ],
    }
    return _cnp(f"{svc}-egress", ns, spec)


def _cnp(name: str, ns: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def team_policies(count: int, seed: int = 0) -> list[dict[str, Any]]:
    """`count` policies (half ingress, half egress), the same for the same seed."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    services_per_team = max(1, (count // 2 + len(TEAMS) - 1) // len(TEAMS))
    services = {t: [f"{t[:4]}{i}" for i in range(services_per_team)] for t in TEAMS}
    for n in range(count // 2 + count % 2):
        team = TEAMS[n % len(TEAMS)]
        svc = services[team][n // len(TEAMS)]
        others = [s for s in services[team] if s != svc] or [f"{team[:4]}-client"]
        callers = rng.sample(others, min(2, len(others)))
        partner_team = TEAMS[(n + 1) % len(TEAMS)]
        partner = (partner_team, rng.choice(services[partner_team]))
        out.append(_ingress(rng, team, svc, callers, partner))
        if len(out) < count:
            out.append(_egress(rng, team, svc, rng.sample(others, min(2, len(others)))))
    return out


class _NoAliases(yaml.SafeDumper):
    """Shared rule lists written out each time: policies take no YAML aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def write(directory: Path, count: int, seed: int = 0) -> Path:
    """One YAML file per team namespace under `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    by_team: dict[str, list[dict[str, Any]]] = {}
    for doc in team_policies(count, seed):
        by_team.setdefault(doc["metadata"]["namespace"], []).append(doc)
    for team, docs in by_team.items():
        (directory / f"{team}.yaml").write_text(
            yaml.dump_all(docs, Dumper=_NoAliases, sort_keys=False))
    return directory


if __name__ == "__main__":
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    write(Path(args[0]), int(args[1]) if len(args) > 1 else 200,
          int(args[2]) if len(args) > 2 else 0)
