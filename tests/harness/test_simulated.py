"""SimulatedCluster: what the prober would answer, decided by the policy model.

Policies are written inline (the article's scenarios, in this file's own words) so these
tests pin the simulated cluster's behaviour, not the scenario manifests.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest

from conformance.harness.cluster import (
    ACCOUNT_SERVICE,
    AUDIT_LOGGER,
    FEATURE_FQDN_TARGETS,
    FEATURE_HUBBLE_RELAY,
    FEATURE_L7_PROXY,
    FEATURE_MUTUAL_AUTH,
    PAYMENT_PROCESSOR,
    ClusterError,
    PodInfo,
    PolicyRejected,
)
from conformance.harness.simulated import FAULTS, SimulatedCluster

NS = "payments"
ACCESS_DENIED = "Access denied\r\n"


def cnp(name: str, spec: dict[str, Any], namespace: str = NS) -> dict[str, Any]:
    return {"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def port(number: int, rules: dict[str, Any] | None = None,
         protocol: str = "TCP") -> dict[str, Any]:
    out: dict[str, Any] = {"ports": [{"port": str(number), "protocol": protocol}]}
    if rules:
        out["rules"] = rules
    return out


L7_POLICY = cnp("account-service-l7", {
    "endpointSelector": {"matchLabels": {"app": ACCOUNT_SERVICE}},
    "ingress": [
        {"fromEndpoints": [{"matchLabels": {"app": PAYMENT_PROCESSOR}}],
         "toPorts": [port(8080, {"http": [
             {"method": "GET", "path": "/api/v1/accounts"},
             {"method": "GET", "path": "/api/v1/accounts/[0-9a-f-]+"}]})]},
        {"fromEndpoints": [{"matchLabels": {"app": AUDIT_LOGGER}}],
         "toPorts": [port(8080, {"http": [
             {"method": "GET", "path": "/api/v1/accounts/[0-9a-f-]+"}]})]},
    ],
})
GRPC_POLICY = cnp("account-service-grpc", {
    "endpointSelector": {"matchLabels": {"app": ACCOUNT_SERVICE}},
    "ingress": [{"fromEndpoints": [{"matchLabels": {"app": PAYMENT_PROCESSOR}}],
                 "toPorts": [port(9090, {"http": [
                     {"method": "POST", "path": "/api.AccountService/GetAccount"},
                     {"method": "POST", "path": "/api.AccountService/ListAccounts"}]})]}],
})
KUBE_DNS = {"matchLabels": {"k8s:io.kubernetes.pod.namespace": "kube-system",
                            "k8s:k8s-app": "kube-dns"}}


def fqdn_policy(dns_rules: list[dict[str, str]] | None) -> dict[str, Any]:
    dns_port: dict[str, Any] = {"ports": [{"port": "53", "protocol": "UDP"},
                                          {"port": "53", "protocol": "TCP"}]}
    if dns_rules is not None:
        dns_port["rules"] = {"dns": dns_rules}
    return cnp("payment-processor-egress", {
        "endpointSelector": {"matchLabels": {"app": PAYMENT_PROCESSOR}},
        "egress": [
            {"toFQDNs": [{"matchName": "api.braintreegateway.com"},
                         {"matchPattern": "*.stripe.com"}],
             "toPorts": [port(80), port(443)]},
            {"toEndpoints": [KUBE_DNS], "toPorts": [dns_port]},
        ],
    })


def auth_policy() -> dict[str, Any]:
    return cnp("account-service-auth", {
        "endpointSelector": {"matchLabels": {"app": ACCOUNT_SERVICE}},
        "ingress": [
            {"fromEndpoints": [{"matchLabels": {"app": PAYMENT_PROCESSOR}}],
             "authentication": {"mode": "required"}, "toPorts": [port(8080)]},
            {"fromEndpoints": [{"matchLabels": {"app": AUDIT_LOGGER}}],
             "authentication": {"mode": "test-always-fail"}, "toPorts": [port(8080)]},
        ],
    })


class Sim:
    """A simulated cluster with one worker namespace and handy probe builders."""

    def __init__(self, fault: str | None = None, seed: int = 0) -> None:
        self.cluster = SimulatedCluster(fault=fault, seed=seed)
        self.pods = self.cluster.deploy_workloads(NS)
        self.accounts = [p for p in self.pods if p.labels["app"] == ACCOUNT_SERVICE]

    def pod(self, app: str) -> PodInfo:
        return next(p for p in self.pods if p.labels["app"] == app)

    def http(self, src: str, method: str, path: str, *, to: str | None = None,
             timeout: float = 2.0, headers: dict[str, str] | None = None) -> dict[str, Any]:
        host = to or f"{self.accounts[0].ip}:8080"
        probe = {"id": f"{src}-{method}-{path}", "kind": "http", "url": f"http://{host}{path}",
                 "method": method, "headers": headers or {}, "timeout": timeout}
        return self.cluster.run_probes(self.pod(src), [probe])[0]

    def run(self, src: str, probe: dict[str, Any]) -> dict[str, Any]:
        return self.cluster.run_probes(self.pod(src), [{"id": "p", "timeout": 2.0, **probe}])[0]


def test_facts_report_version_features_and_fake_targets() -> None:
    facts = SimulatedCluster().facts()
    assert facts.cilium_version == "1.20.0"
    assert {FEATURE_L7_PROXY, FEATURE_HUBBLE_RELAY, FEATURE_MUTUAL_AUTH,
            FEATURE_FQDN_TARGETS} <= facts.features
    assert set(facts.external_targets) == {"api.stripe.com", "api.braintreegateway.com",
                                           "api.github.com", "api.pastebin.com",
                                           "api.internal.stripe.com"}
    test_net = ipaddress.ip_network("203.0.113.0/24")
    assert all(ipaddress.ip_address(ip) in test_net for ip in facts.external_targets.values())
    assert facts.dns_server == "198.19.0.10:53"


def test_workloads_spread_account_service_over_two_nodes() -> None:
    sim = Sim()
    assert sorted(p.labels["app"] for p in sim.pods) == sorted(
        [ACCOUNT_SERVICE, ACCOUNT_SERVICE, PAYMENT_PROCESSOR, AUDIT_LOGGER])
    assert len({p.node for p in sim.accounts}) == 2
    bench = ipaddress.ip_network("198.18.0.0/15")
    assert all(ipaddress.ip_address(p.ip) in bench for p in sim.pods)
    assert len({p.ip for p in sim.pods}) == 4
    assert sim.cluster.deploy_workloads(NS) == sim.pods  # idempotent
    assert all(sim.cluster.pods_ready(NS).values())
    sim.cluster.delete_namespace(NS)
    assert sim.cluster.pods_ready(NS) == {}


def test_same_seed_same_world_different_seed_different_names() -> None:
    a, b, c = Sim(seed=3), Sim(seed=3), Sim(seed=4)
    assert a.pods == b.pods
    assert {p.name for p in a.pods} != {p.name for p in c.pods}


def test_no_policy_everything_reaches_the_app_with_an_echo() -> None:
    sim = Sim()
    result = sim.http(AUDIT_LOGGER, "DELETE", "/api/v1/accounts/abc")
    assert result["outcome"] == "ok" and result["status"] == 200
    echo = json.loads(result["body"])
    assert echo["route"] == "DELETE /api/v1/accounts/{id}"
    assert echo["served_by"] == sim.accounts[0].name
    assert echo["probe_id"] == f"{AUDIT_LOGGER}-DELETE-/api/v1/accounts/abc"
    assert echo["headers"]["X-Probe-Id"] == echo["probe_id"]
    assert result["remote"] == f"{sim.accounts[0].ip}:8080"
    local_ip, _, local_port = result["local"].rpartition(":")
    assert local_ip == sim.pod(AUDIT_LOGGER).ip and 32768 <= int(local_port) <= 60999


def test_app_answers_404_and_405_like_account_service() -> None:
    sim = Sim()
    missing = sim.http(PAYMENT_PROCESSOR, "GET", "/nope")
    assert (missing["outcome"], missing["status"]) == ("http-error", 404)
    assert json.loads(missing["body"])["route"] is None
    wrong_method = sim.http(PAYMENT_PROCESSOR, "PUT", "/healthz")
    assert (wrong_method["outcome"], wrong_method["status"]) == ("http-error", 405)


def test_l7_policy_allows_reads_and_answers_403_access_denied_otherwise() -> None:
    sim = Sim()
    sim.cluster.apply([L7_POLICY])
    assert sim.http(PAYMENT_PROCESSOR, "GET", "/api/v1/accounts")["status"] == 200
    assert sim.http(PAYMENT_PROCESSOR, "GET", "/api/v1/accounts/0a1b-2c")["status"] == 200
    for src, method, path in [(PAYMENT_PROCESSOR, "DELETE", "/api/v1/accounts/0a1b"),
                              (PAYMENT_PROCESSOR, "POST", "/api/v1/accounts/0a1b/withdraw"),
                              (PAYMENT_PROCESSOR, "GET", "/api/v1/accounts?limit=1"),
                              (AUDIT_LOGGER, "GET", "/api/v1/accounts")]:
        result = sim.http(src, method, path)
        assert result["outcome"] == "http-error", (src, method, path)
        assert (result["status"], result["body"]) == (403, ACCESS_DENIED)


def test_l3l4_drop_times_out_after_the_probe_timeout_with_its_socket() -> None:
    sim = Sim()
    sim.cluster.apply([L7_POLICY])
    result = sim.run(PAYMENT_PROCESSOR, {"kind": "tcp", "host": sim.accounts[1].ip,
                                         "port": 9090, "timeout": 1.5})
    assert result["outcome"] == "timeout" and result["phase"] == "connect"
    assert result["elapsed_ms"] == 1500
    assert result["remote"] == f"{sim.accounts[1].ip}:9090"
    assert result["local"].startswith(sim.pod(PAYMENT_PROCESSOR).ip + ":")


def test_closed_port_is_refused_when_policy_allows_it() -> None:
    sim = Sim()
    result = sim.run(PAYMENT_PROCESSOR, {"kind": "tcp", "host": sim.accounts[0].ip,
                                         "port": 7777})
    assert result["outcome"] == "refused"


def test_grpc_rules_allow_named_methods_and_deny_with_permission_denied() -> None:
    sim = Sim()
    sim.cluster.apply([GRPC_POLICY])
    target = f"{sim.accounts[0].ip}:9090"
    ok = sim.run(PAYMENT_PROCESSOR, {"kind": "grpc", "target": target,
                                     "method": "/api.AccountService/GetAccount"})
    assert (ok["outcome"], ok["grpc_code"]) == ("ok", "OK")
    denied = sim.run(PAYMENT_PROCESSOR, {"kind": "grpc", "target": target,
                                         "method": "/api.AccountService/DeleteAccount"})
    assert denied["outcome"] == "grpc-error"
    assert (denied["grpc_code"], denied["grpc_message"]) == ("PERMISSION_DENIED",
                                                            "Access denied")


def test_service_names_resolve_through_kube_dns_to_a_backend() -> None:
    sim = Sim()
    result = sim.http(PAYMENT_PROCESSOR, "GET", "/api/v1/accounts",
                      to=f"{ACCOUNT_SERVICE}.{NS}.svc.cluster.local:8080")
    assert result["outcome"] == "ok"
    assert json.loads(result["body"])["served_by"] in {p.name for p in sim.accounts}
    remote_ip = result["remote"].rpartition(":")[0]
    assert remote_ip not in {p.ip for p in sim.pods}  # the Service IP, as the socket saw it


def test_lookup_blocked_by_default_deny_fails_in_the_resolver() -> None:
    sim = Sim()
    deny_egress = cnp("deny-egress", {"endpointSelector": {"matchLabels": {
        "app": PAYMENT_PROCESSOR}}, "egress": [{}]})
    sim.cluster.apply([deny_egress])
    result = sim.http(PAYMENT_PROCESSOR, "GET", "/api/v1/accounts", to=f"{ACCOUNT_SERVICE}:8080")
    assert (result["outcome"], result["phase"]) == ("error", "resolve")


def test_dns_rules_answer_allowed_names_and_refuse_others() -> None:
    sim = Sim()
    sim.cluster.apply([fqdn_policy([{"matchPattern": "*.stripe.com"}])])
    ok = sim.run(PAYMENT_PROCESSOR, {"kind": "dns", "name": "api.stripe.com"})
    assert ok["outcome"] == "ok" and ok["answers"] == ["203.0.113.10"] and ok["ttl"] > 0
    refused = sim.run(PAYMENT_PROCESSOR, {"kind": "dns", "name": "api.pastebin.com"})
    assert refused["outcome"] == "dns-refused"
    over_tcp = sim.run(PAYMENT_PROCESSOR, {"kind": "dns", "name": "api.stripe.com",
                                           "transport": "tcp"})
    assert (over_tcp["outcome"], over_tcp["transport"]) == ("ok", "tcp")
    nxdomain = Sim()
    assert nxdomain.run(PAYMENT_PROCESSOR, {"kind": "dns", "name": "nope.example"}
                        )["outcome"] == "dns-nxdomain"


def test_fqdn_egress_allows_learned_names_only() -> None:
    sim = Sim()
    sim.cluster.apply([fqdn_policy([{"matchPattern": "*"}])])
    assert sim.http(PAYMENT_PROCESSOR, "GET", "/healthz", to="api.stripe.com")["outcome"] == "ok"
    blocked = sim.http(PAYMENT_PROCESSOR, "GET", "/healthz", to="api.github.com")
    assert blocked["outcome"] == "timeout"
    multi = sim.http(PAYMENT_PROCESSOR, "GET", "/healthz", to="api.internal.stripe.com")
    assert multi["outcome"] == "timeout"  # `*` matches one label only


def test_fqdn_policy_without_dns_rule_never_learns_the_ips() -> None:
    sim = Sim()
    sim.cluster.apply([fqdn_policy(None)])
    result = sim.http(PAYMENT_PROCESSOR, "GET", "/healthz", to="api.stripe.com")
    assert result["outcome"] == "timeout"


def test_mutual_auth_required_passes_after_a_first_drop_and_always_fail_times_out() -> None:
    sim = Sim()
    sim.cluster.apply([auth_policy()])
    first = sim.http(PAYMENT_PROCESSOR, "GET", "/healthz")
    assert first["outcome"] == "ok" and first["elapsed_ms"] >= 1000
    again = sim.http(PAYMENT_PROCESSOR, "GET", "/healthz")
    assert again["outcome"] == "ok" and again["elapsed_ms"] < 1000
    assert sim.http(AUDIT_LOGGER, "GET", "/healthz")["outcome"] == "timeout"


def test_bad_probes_are_errors_and_the_rest_still_run() -> None:
    sim = Sim()
    results = sim.cluster.run_probes(sim.pod(PAYMENT_PROCESSOR), [
        {"id": 1, "kind": "smtp"},
        {"id": 2, "kind": "http", "url": "ftp://x/"},
        {"id": 3, "kind": "tcp", "host": "10.99.0.1", "port": 80},
        {"id": 4, "kind": "tcp", "host": sim.accounts[0].ip, "port": 8080},
        {"id": 5, "kind": "dns", "name": "api.github.com"},
    ])
    assert [r["id"] for r in results] == [1, 2, 3, 4, 5]  # ids keep their JSON type
    assert [r["outcome"] for r in results] == ["error", "error", "error", "ok", "ok"]
    assert "smtp" in results[0]["error"] and "url" in results[1]["error"]


def test_probes_from_an_unknown_pod_are_a_cluster_error() -> None:
    sim = Sim()
    ghost = PodInfo(name="ghost", namespace=NS, labels={}, ip="198.18.9.9", node="x")
    with pytest.raises(ClusterError, match="ghost"):
        sim.cluster.run_probes(ghost, [])


@pytest.mark.parametrize("doc, words", [
    ({"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
      "metadata": {"name": "x"}, "spec": {}}, "metadata.namespace"),
    ({"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicyy",
      "metadata": {"name": "x", "namespace": NS}}, "no matches for kind"),
    (cnp("bad-headers", {"endpointSelector": {}, "ingress": [{"toPorts": [port(8080, {
        "http": [{"method": "POST", "headers": [{"X-Internal-Service": "payment-processor"}]}]
    })]}]}), "headers"),
])
def test_rejected_policies_raise_policy_rejected_and_change_nothing(
        doc: dict[str, Any], words: str) -> None:
    sim = Sim()
    before = sim.cluster.policy_revisions()
    with pytest.raises(PolicyRejected, match=words):
        sim.cluster.apply([doc])
    assert sim.cluster.policy_revisions() == before


def test_unknown_fault_is_a_value_error_listing_valid_faults() -> None:
    with pytest.raises(ValueError) as err:
        SimulatedCluster(fault="l8-off")
    assert all(name in str(err.value) for name in FAULTS)


def _logged(sim: Sim) -> list[dict[str, Any]]:
    """The probes' requests in the access logs (kubelet readiness requests carry no id)."""
    records = [json.loads(line) for pod in sim.accounts for line in sim.cluster.app_log(pod)]
    return [r for r in records if r["probe_id"]]


def test_access_log_records_what_reached_the_app_and_nothing_denied() -> None:
    sim = Sim()
    sim.cluster.apply([L7_POLICY])
    sim.http(PAYMENT_PROCESSOR, "GET", "/api/v1/accounts")
    sim.http(PAYMENT_PROCESSOR, "DELETE", "/api/v1/accounts/0a1b")
    records = _logged(sim)
    assert [(r["method"], r["path"], r["status"]) for r in records] == [
        ("GET", "/api/v1/accounts", 200)]
    assert records[0]["probe_id"] == f"{PAYMENT_PROCESSOR}-GET-/api/v1/accounts"
    assert records[0]["served_by"] == sim.accounts[0].name


def test_access_log_of_l7_off_shows_the_denied_request_arriving() -> None:
    sim = Sim(fault="l7-off")
    sim.cluster.apply([L7_POLICY])
    sim.http(PAYMENT_PROCESSOR, "DELETE", "/api/v1/accounts/0a1b")
    assert [r["method"] for r in _logged(sim)] == ["DELETE"]


def test_access_log_of_an_unknown_pod_is_a_cluster_error() -> None:
    sim = Sim()
    ghost = PodInfo("ghost", NS, {"app": "account-service"}, "198.18.9.9", "sim-worker")
    with pytest.raises(ClusterError, match="ghost"):
        sim.cluster.app_log(ghost)


def test_access_log_shows_kubelet_probes_unless_policy_stops_them() -> None:
    sim = Sim()
    pod = sim.accounts[0]
    records = [json.loads(line) for line in sim.cluster.app_log(pod)]
    assert [(r["path"], r["probe_id"]) for r in records] == [("/healthz", None)]
    assert records[0]["client"].startswith(("198.18.0.2:", "198.18.0.3:"))
    # An ingress deny of port 8080 for everyone (the host included) stops them.
    sim.cluster.apply([{"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
                        "metadata": {"name": "deny-8080", "namespace": NS},
                        "spec": {"endpointSelector": {"matchLabels": {"app": ACCOUNT_SERVICE}},
                                 "ingressDeny": [{"fromEntities": ["all"],
                                                  "toPorts": [port(8080)]}]}}])
    assert len(sim.cluster.app_log(pod)) == 1
