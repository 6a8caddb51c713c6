"""The emulated control plane answers like the prober and the API server would, decided by
the policy model (ported from the retired SimulatedCluster's tests)."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest

from clusters.detect import detect_api
from clusters.emulated.controlplane import NAMESPACE_FINALIZE_S, POD_START_S, ControlPlane
from clusters.emulated.faults import FAULTS, UnknownFault
from clusters.emulated.objects import ApiStatus
from conformance.harness.cluster import (
    ACCOUNT_SERVICE,
    AUDIT_LOGGER,
    FEATURE_HUBBLE_METRICS,
    FEATURE_HUBBLE_RELAY,
    FEATURE_KPR,
    FEATURE_L7_PROXY,
    FEATURE_MUTUAL_AUTH,
    PAYMENT_PROCESSOR,
)
from tests.emulated.support import (
    DENY_EGRESS,
    GRPC_POLICY,
    L7_POLICY,
    NS,
    Emulated,
    FakeClock,
    auth_policy,
    cnp,
    deploy,
    fqdn_policy,
    logged,
    pods,
    port,
    ready,
    revisions,
)

ACCESS_DENIED = "Access denied\r\n"


def test_detection_reads_version_features_targets_and_cluster_dns() -> None:
    plane = ControlPlane()

    def get(what: str, namespace: str, resource: str, name: str) -> dict[str, Any] | None:
        found = plane.objects.find((resource + "s", namespace, name))
        return None if found is None else plane.get((resource + "s", namespace, name))

    detected = detect_api(get)  # what KubeCluster.facts reads, through the API
    assert str(detected.cilium_version) == "1.20.0"
    assert {FEATURE_L7_PROXY, FEATURE_HUBBLE_RELAY, FEATURE_HUBBLE_METRICS,
            FEATURE_MUTUAL_AUTH, FEATURE_KPR} <= set(detected.features)
    assert set(detected.external_targets) == {"api.stripe.com", "api.braintreegateway.com",
                                              "api.github.com", "api.pastebin.com",
                                              "api.internal.stripe.com"}
    test_net = ipaddress.ip_network("203.0.113.0/24")
    assert all(ipaddress.ip_address(ip) in test_net
               for ip in detected.external_targets.values())
    dns = plane.get(("services", "kube-system", "kube-dns"))["spec"]
    assert (dns["clusterIP"], dns["ports"][0]["port"], dns["ports"][0]["protocol"]) == (
        "198.19.0.10", 53, "UDP")


def test_workloads_spread_account_service_over_two_nodes_and_go_with_the_namespace() -> None:
    clock = FakeClock()
    plane = ControlPlane(clock=clock)
    placed = deploy(plane, NS)
    assert sorted(p.labels["app"] for p in placed) == sorted(
        [ACCOUNT_SERVICE, ACCOUNT_SERVICE, PAYMENT_PROCESSOR, AUDIT_LOGGER])
    accounts = [p for p in placed if p.labels["app"] == ACCOUNT_SERVICE]
    assert len({p.node for p in accounts}) == 2
    bench = ipaddress.ip_network("198.18.0.0/15")
    assert all(ipaddress.ip_address(p.ip) in bench for p in placed)
    assert len({p.ip for p in placed}) == 4
    assert not any(ready(plane, NS).values())  # still starting
    assert deploy(plane, NS) == placed  # re-applying the same manifests adds nothing
    clock.advance(POD_START_S)
    assert all(ready(plane, NS).values()) and len(ready(plane, NS)) == 4
    plane.delete(("namespaces", "", NS))
    assert pods(plane, NS) == placed  # Terminating: the pods are still there
    clock.advance(NAMESPACE_FINALIZE_S)
    assert pods(plane, NS) == [] and plane.world.pods.get(NS) is None
    with pytest.raises(ApiStatus, match="not found"):
        plane.get(("namespaces", "", NS))


def test_same_seed_same_world_different_seed_different_names() -> None:
    a, b, c = Emulated(seed=3), Emulated(seed=3), Emulated(seed=4)
    assert a.pods == b.pods
    assert {p.name for p in a.pods} != {p.name for p in c.pods}


def test_no_policy_everything_reaches_the_app_with_an_echo() -> None:
    em = Emulated()
    result = em.http(AUDIT_LOGGER, "DELETE", "/api/v1/accounts/abc")
    assert result["outcome"] == "ok" and result["status"] == 200
    echo = json.loads(result["body"])
    assert echo["route"] == "DELETE /api/v1/accounts/{id}"
    assert echo["served_by"] == em.account.name
    assert echo["probe_id"] == f"{AUDIT_LOGGER}-DELETE-/api/v1/accounts/abc"
    assert echo["headers"]["X-Probe-Id"] == echo["probe_id"]
    assert result["remote"] == f"{em.account.ip}:8080"
    local_ip, _, local_port = result["local"].rpartition(":")
    assert local_ip == em.pod(AUDIT_LOGGER).ip and 32768 <= int(local_port) <= 60999


def test_app_answers_404_and_405_like_account_service() -> None:
    em = Emulated()
    missing = em.http(PAYMENT_PROCESSOR, "GET", "/nope")
    assert (missing["outcome"], missing["status"]) == ("http-error", 404)
    assert json.loads(missing["body"])["route"] is None
    wrong_method = em.http(PAYMENT_PROCESSOR, "PUT", "/healthz")
    assert (wrong_method["outcome"], wrong_method["status"]) == ("http-error", 405)


def test_l7_policy_allows_reads_and_answers_403_access_denied_otherwise() -> None:
    em = Emulated()
    em.apply(L7_POLICY)
    assert em.http(PAYMENT_PROCESSOR, "GET", "/api/v1/accounts")["status"] == 200
    assert em.http(PAYMENT_PROCESSOR, "GET", "/api/v1/accounts/0a1b-2c")["status"] == 200
    for src, method, path in [(PAYMENT_PROCESSOR, "DELETE", "/api/v1/accounts/0a1b"),
                              (PAYMENT_PROCESSOR, "POST", "/api/v1/accounts/0a1b/withdraw"),
                              (PAYMENT_PROCESSOR, "GET", "/api/v1/accounts?limit=1"),
                              (AUDIT_LOGGER, "GET", "/api/v1/accounts")]:
        result = em.http(src, method, path)
        assert result["outcome"] == "http-error", (src, method, path)
        assert (result["status"], result["body"]) == (403, ACCESS_DENIED)


def test_l3l4_drop_times_out_after_the_probe_timeout_with_its_socket() -> None:
    em = Emulated()
    em.apply(L7_POLICY)
    other = em.accounts[1]
    result = em.run(PAYMENT_PROCESSOR, {"kind": "tcp", "host": other.ip, "port": 9090,
                                        "timeout": 1.5})
    assert result["outcome"] == "timeout" and result["phase"] == "connect"
    assert result["elapsed_ms"] == 1500
    assert result["remote"] == f"{other.ip}:9090"
    assert result["local"].startswith(em.pod(PAYMENT_PROCESSOR).ip + ":")


def test_closed_port_is_refused_when_policy_allows_it() -> None:
    assert Emulated().tcp(PAYMENT_PROCESSOR, 7777)["outcome"] == "refused"


def test_grpc_rules_allow_named_methods_and_deny_with_permission_denied() -> None:
    em = Emulated()
    em.apply(GRPC_POLICY)
    target = f"{em.account.ip}:9090"
    ok = em.run(PAYMENT_PROCESSOR, {"kind": "grpc", "target": target,
                                    "method": "/api.AccountService/GetAccount"})
    assert (ok["outcome"], ok["grpc_code"]) == ("ok", "OK")
    denied = em.run(PAYMENT_PROCESSOR, {"kind": "grpc", "target": target,
                                        "method": "/api.AccountService/DeleteAccount"})
    assert denied["outcome"] == "grpc-error"
    assert (denied["grpc_code"], denied["grpc_message"]) == ("PERMISSION_DENIED",
                                                            "Access denied")


def test_service_names_resolve_through_kube_dns_to_a_backend() -> None:
    em = Emulated()
    result = em.http(PAYMENT_PROCESSOR, "GET", "/api/v1/accounts",
                     to=f"{ACCOUNT_SERVICE}.{NS}.svc.cluster.local:8080")
    assert result["outcome"] == "ok"
    assert json.loads(result["body"])["served_by"] in {p.name for p in em.accounts}
    remote_ip = result["remote"].rpartition(":")[0]
    service = em.plane.get(("services", NS, ACCOUNT_SERVICE))["spec"]["clusterIP"]
    assert remote_ip == service  # the Service IP, as the socket saw it


def test_lookup_blocked_by_default_deny_fails_in_the_resolver() -> None:
    em = Emulated()
    em.apply(DENY_EGRESS)
    result = em.http(PAYMENT_PROCESSOR, "GET", "/api/v1/accounts", to=f"{ACCOUNT_SERVICE}:8080")
    assert (result["outcome"], result["phase"]) == ("error", "resolve")


def test_dns_rules_answer_allowed_names_and_refuse_others() -> None:
    em = Emulated()
    em.apply(fqdn_policy([{"matchPattern": "*.stripe.com"}]))
    ok = em.run(PAYMENT_PROCESSOR, {"kind": "dns", "name": "api.stripe.com"})
    assert ok["outcome"] == "ok" and ok["answers"] == ["203.0.113.10"] and ok["ttl"] > 0
    refused = em.run(PAYMENT_PROCESSOR, {"kind": "dns", "name": "api.pastebin.com"})
    assert refused["outcome"] == "dns-refused"
    over_tcp = em.run(PAYMENT_PROCESSOR, {"kind": "dns", "name": "api.stripe.com",
                                          "transport": "tcp"})
    assert (over_tcp["outcome"], over_tcp["transport"]) == ("ok", "tcp")
    assert Emulated().run(PAYMENT_PROCESSOR, {"kind": "dns", "name": "nope.example"}
                          )["outcome"] == "dns-nxdomain"


def test_fqdn_egress_allows_learned_names_only() -> None:
    em = Emulated()
    em.apply(fqdn_policy([{"matchPattern": "*"}]))
    assert em.http(PAYMENT_PROCESSOR, "GET", "/healthz", to="api.stripe.com")["outcome"] == "ok"
    blocked = em.http(PAYMENT_PROCESSOR, "GET", "/healthz", to="api.github.com")
    assert blocked["outcome"] == "timeout"
    multi = em.http(PAYMENT_PROCESSOR, "GET", "/healthz", to="api.internal.stripe.com")
    assert multi["outcome"] == "timeout"  # `*` matches one label only


def test_fqdn_policy_without_dns_rule_never_learns_the_ips() -> None:
    em = Emulated()
    em.apply(fqdn_policy(None))
    assert em.http(PAYMENT_PROCESSOR, "GET", "/healthz", to="api.stripe.com"
                   )["outcome"] == "timeout"


def test_mutual_auth_required_passes_after_a_first_drop_and_always_fail_times_out() -> None:
    em = Emulated()
    em.apply(auth_policy())
    first = em.http(PAYMENT_PROCESSOR, "GET", "/healthz")
    assert first["outcome"] == "ok" and first["elapsed_ms"] >= 1000
    again = em.http(PAYMENT_PROCESSOR, "GET", "/healthz")
    assert again["outcome"] == "ok" and again["elapsed_ms"] < 1000
    assert em.http(AUDIT_LOGGER, "GET", "/healthz")["outcome"] == "timeout"


def test_bad_probes_are_errors_and_the_rest_still_run() -> None:
    em = Emulated()
    results = em.plane.run_probes(NS, em.pod(PAYMENT_PROCESSOR).name, [
        {"id": 1, "kind": "smtp"},
        {"id": 2, "kind": "http", "url": "ftp://x/"},
        {"id": 3, "kind": "tcp", "host": "10.99.0.1", "port": 80},
        {"id": 4, "kind": "tcp", "host": em.account.ip, "port": 8080},
        {"id": 5, "kind": "dns", "name": "api.github.com"},
    ])
    assert [r["id"] for r in results] == [1, 2, 3, 4, 5]  # ids keep their JSON type
    assert [r["outcome"] for r in results] == ["error", "error", "error", "ok", "ok"]
    assert "smtp" in results[0]["error"] and "url" in results[1]["error"]


def test_probes_from_an_unknown_pod_are_a_404_naming_it() -> None:
    em = Emulated()
    with pytest.raises(ApiStatus, match="ghost") as err:
        em.plane.run_probes(NS, "ghost", [])
    assert err.value.code == 404


@pytest.mark.parametrize("key, doc, code, words", [
    (("ciliumnetworkpolicies", "", "x"),
     {"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy", "metadata": {"name": "x"},
      "spec": {"endpointSelector": {}, "ingress": [{}]}}, 422, "metadata.namespace"),
    # The path names one kind, the body another: the server refuses the body.
    (("ciliumnetworkpolicies", NS, "x"),
     {"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicyy",
      "metadata": {"name": "x", "namespace": NS}}, 400, "unknown format"),
    (("ciliumnetworkpolicies", NS, "bad-headers"),
     cnp("bad-headers", {"endpointSelector": {}, "ingress": [{"toPorts": [port(8080, {
         "http": [{"method": "POST",
                   "headers": [{"X-Internal-Service": "payment-processor"}]}]})]}]}),
     # Server-side apply of a field the schema does not declare fails to build the typed
     # patch: a 500, as test_validation pins.
     500, "headers"),
])
def test_rejected_policies_are_a_status_and_change_nothing(
        key: tuple[str, str, str], doc: dict[str, Any], code: int, words: str) -> None:
    em = Emulated()
    before, changes = revisions(em.plane), len(em.plane.agents.changes)
    with pytest.raises(ApiStatus, match=words) as err:
        em.plane.apply(key, doc, None)
    assert err.value.code == code
    em.clock.advance(1.0)
    assert revisions(em.plane) == before and len(em.plane.agents.changes) == changes
    assert em.plane.objects.find(key) is None


def test_unknown_fault_lists_the_valid_faults() -> None:
    with pytest.raises(UnknownFault) as err:
        ControlPlane(fault="l8-off")
    assert isinstance(err.value, ValueError)
    assert all(name in str(err.value) for name in FAULTS)


def test_access_log_records_what_reached_the_app_and_nothing_denied() -> None:
    em = Emulated()
    em.apply(L7_POLICY)
    em.http(PAYMENT_PROCESSOR, "GET", "/api/v1/accounts")
    em.http(PAYMENT_PROCESSOR, "DELETE", "/api/v1/accounts/0a1b")
    records = logged(em)
    assert [(r["method"], r["path"], r["status"]) for r in records] == [
        ("GET", "/api/v1/accounts", 200)]
    assert records[0]["probe_id"] == f"{PAYMENT_PROCESSOR}-GET-/api/v1/accounts"
    assert records[0]["served_by"] == em.account.name


def test_access_log_of_l7_off_shows_the_denied_request_arriving() -> None:
    em = Emulated(fault="l7-off")
    em.apply(L7_POLICY)
    em.http(PAYMENT_PROCESSOR, "DELETE", "/api/v1/accounts/0a1b")
    assert [r["method"] for r in logged(em)] == ["DELETE"]


def test_access_log_of_an_unknown_pod_is_a_404_naming_it() -> None:
    em = Emulated()
    with pytest.raises(ApiStatus, match="ghost") as err:
        em.plane.app_log(NS, "ghost")
    assert err.value.code == 404


def test_access_log_shows_kubelet_probes_unless_policy_stops_them() -> None:
    em = Emulated()
    name = em.account.name
    records = [json.loads(line) for line in em.plane.app_log(NS, name).splitlines()]
    assert [(r["path"], r["probe_id"]) for r in records] == [("/healthz", None)]
    assert records[0]["client"].startswith(("198.18.0.2:", "198.18.0.3:"))  # its node
    # An ingress deny of port 8080 for everyone (the host included) stops them, and the
    # pod stops being Ready.
    em.apply(cnp("deny-8080", {"endpointSelector": {"matchLabels": {"app": ACCOUNT_SERVICE}},
                               "ingressDeny": [{"fromEntities": ["all"],
                                                "toPorts": [port(8080)]}]}))
    assert len(em.plane.app_log(NS, name).splitlines()) == 1
    assert ready(em.plane, NS)[name] is False

