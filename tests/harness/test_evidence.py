"""Judging attempts against the evidence table: client, Hubble, metrics."""

from __future__ import annotations

import json

from conformance.harness import evidence, metrics
from conformance.harness.cluster import MetricsScrape
from conformance.harness.hubble import Flow, parse_line
from conformance.harness.requests import KINDS
from conformance.model.expectation import ACCESS_DENIED_BODY, Expectation, HubbleEvidence

L3L4_DENIED = Expectation("p", "dropped", "POLICY_DENIED", "ingress", "timeout",
                          HubbleEvidence("DROPPED", "L3_L4", "POLICY_DENIED", "INGRESS"), "x")
L7_DENIED = Expectation("p", "l7-denied", None, "ingress", "http-403",
                        HubbleEvidence("DROPPED", "L7", None, "INGRESS"), "x")
GRPC_DENIED = Expectation("p", "l7-denied", None, "ingress", "grpc-permission-denied",
                          HubbleEvidence("DROPPED", "L7", None, "INGRESS"), "x")
DNS_REFUSED = Expectation("p", "dns-refused", None, "egress", "dns-refused",
                          HubbleEvidence("DROPPED", "L7", None, "EGRESS"), "x")
ALLOWED_L7 = Expectation("p", "allowed", None, None, "ok",
                         HubbleEvidence("FORWARDED", "L7", None, "INGRESS"), "x")
ALLOWED_L4 = Expectation("p", "allowed", None, None, "ok",
                         HubbleEvidence("FORWARDED", "L3_L4", None, None), "x")

HTTP, GRPC, DNS = (KINDS[k] for k in ("http", "grpc", "dns"))


def flow(**f: object) -> Flow:
    base: dict[str, object] = {"IP": {"source": "10.0.1.2", "destination": "10.0.2.3"},
                               "l4": {"TCP": {"source_port": 40000, "destination_port": 8080}}}
    base.update(f)
    parsed = parse_line(json.dumps({"flow": base}))
    assert parsed is not None
    return parsed


DROP = flow(verdict="DROPPED", Type="L3_L4", drop_reason_desc="POLICY_DENIED",
            traffic_direction="INGRESS")
DROP_EGRESS = flow(verdict="DROPPED", Type="L3_L4", drop_reason_desc="POLICY_DENIED",
                   traffic_direction="EGRESS")
DROP_DENY = flow(verdict="DROPPED", Type="L3_L4", drop_reason_desc="POLICY_DENY",
                 traffic_direction="INGRESS")
AUTH_DROP = flow(verdict="DROPPED", Type="L3_L4", drop_reason_desc="AUTH_REQUIRED",
                 traffic_direction="INGRESS")
REQ_DROPPED = flow(verdict="DROPPED", Type="L7", traffic_direction="INGRESS",
                   l7={"type": "REQUEST", "http": {"method": "DELETE"}})
RESP_403 = flow(verdict="FORWARDED", Type="L7", traffic_direction="INGRESS",
                l7={"type": "RESPONSE", "http": {"code": 403}})
REQ_OK = flow(verdict="FORWARDED", Type="L7", traffic_direction="INGRESS",
              l7={"type": "REQUEST", "http": {"method": "GET"}})
TRACE = flow(verdict="FORWARDED", Type="L3_L4", traffic_direction="INGRESS")
DNS_DROP = flow(verdict="DROPPED", Type="L7", traffic_direction="EGRESS",
                l7={"type": "REQUEST", "dns": {"query": "api.pastebin.com."}})


def test_client_signals() -> None:
    sig = evidence.observed_signal
    assert sig({"outcome": "timeout"}) == "timeout"
    assert sig({"outcome": "dns-timeout"}) == "timeout"
    assert sig({"outcome": "http-error", "status": 403, "body": ACCESS_DENIED_BODY}) == "http-403"
    # A 403 that is not the proxy's is not an L7 deny.
    assert sig({"outcome": "http-error", "status": 403, "body": "{}"}) == \
        "http-403 without the proxy's body"
    assert sig({"outcome": "http-error", "status": 404, "body": "{}"}) == "http-404"
    assert sig({"outcome": "grpc-error", "grpc_code": "PERMISSION_DENIED"}) == \
        "grpc-permission-denied"
    assert sig({"outcome": "grpc-error", "grpc_code": "UNAVAILABLE"}) == "grpc-UNAVAILABLE"
    assert sig({"outcome": "error", "error": "boom"}) == "error (boom)"
    assert sig(None) == "no result"


def test_client_403_needs_the_proxy_body() -> None:
    wrong_body = {"outcome": "http-error", "status": 403, "body": "forbidden by app"}
    assert not evidence.check_client(L7_DENIED, wrong_body).ok
    proxy = {"outcome": "http-error", "status": 403, "body": ACCESS_DENIED_BODY}
    assert evidence.check_client(L7_DENIED, proxy).ok


def test_allowed_http_must_show_the_app_echo() -> None:
    echo = {"probe_id": "gw0.l7.0.0", "method": "GET", "path": "/api/v1/accounts",
            "served_by": "account-service-abc"}
    body = json.dumps({**echo, "route": "GET /api/v1/accounts"})
    assert evidence.check_client(ALLOWED_L7, {"outcome": "ok", "body": body}, echo=echo).ok
    other_pod = json.dumps({**echo, "served_by": "account-service-xyz"})
    check = evidence.check_client(ALLOWED_L7, {"outcome": "ok", "body": other_pod}, echo=echo)
    assert not check.ok and "served_by" in check.observed
    no_echo = evidence.check_client(ALLOWED_L7, {"outcome": "ok", "body": "hi"}, echo=echo)
    assert not no_echo.ok


def test_allowed_dns_must_answer_the_target() -> None:
    ok = {"outcome": "ok", "answers": ["172.18.0.50"]}
    assert evidence.check_client(ALLOWED_L4, ok, answer_ip="172.18.0.50").ok
    assert not evidence.check_client(ALLOWED_L4, ok, answer_ip="172.18.0.51").ok


def test_l3l4_drop_needs_reason_and_direction() -> None:
    assert evidence.check_hubble(L3L4_DENIED, [TRACE, DROP], "5-tuple", kind=HTTP).ok
    wrong_dir = evidence.check_hubble(L3L4_DENIED, [DROP_EGRESS], "5-tuple", kind=HTTP)
    assert not wrong_dir.ok and "missing" in wrong_dir.observed
    assert not evidence.check_hubble(L3L4_DENIED, [DROP_DENY], "5-tuple", kind=HTTP).ok
    none = evidence.check_hubble(L3L4_DENIED, [], "5-tuple", kind=HTTP)
    assert not none.ok and none.observed == "no flow matched (5-tuple)"


def test_l7_deny_needs_dropped_request_and_403_response() -> None:
    assert evidence.check_hubble(L7_DENIED, [REQ_DROPPED, RESP_403], "5-tuple", kind=HTTP).ok
    assert evidence.check_hubble(GRPC_DENIED, [REQ_DROPPED, RESP_403], "5-tuple", kind=GRPC).ok
    # gRPC: Envoy sends the local 403 as HTTP 200 + grpc-status 7; HTTP must be a 403.
    grpc_reply = flow(verdict="FORWARDED", Type="L7", traffic_direction="INGRESS",
                      l7={"type": "RESPONSE", "http": {"code": 200}})
    assert evidence.check_hubble(GRPC_DENIED, [REQ_DROPPED, grpc_reply], "x", kind=GRPC).ok
    assert not evidence.check_hubble(L7_DENIED, [REQ_DROPPED, grpc_reply], "x", kind=HTTP).ok
    assert not evidence.check_hubble(L7_DENIED, [REQ_DROPPED], "5-tuple", kind=HTTP).ok
    with_reason = flow(verdict="DROPPED", Type="L7", drop_reason_desc="POLICY_DENIED",
                       traffic_direction="INGRESS", l7={"type": "REQUEST"})
    assert not evidence.check_hubble(L7_DENIED, [with_reason, RESP_403], "x", kind=HTTP).ok


def test_dns_refusal_flow() -> None:
    assert evidence.check_hubble(DNS_REFUSED, [DNS_DROP], "5-tuple", kind=DNS).ok
    assert not evidence.check_hubble(DNS_REFUSED, [DROP_EGRESS], "5-tuple", kind=DNS).ok


def test_allowed_needs_forwarded_of_the_right_type_and_no_drop() -> None:
    assert evidence.check_hubble(ALLOWED_L7, [TRACE, REQ_OK], "5-tuple", kind=HTTP).ok
    assert not evidence.check_hubble(ALLOWED_L7, [TRACE], "5-tuple", kind=HTTP).ok
    assert evidence.check_hubble(ALLOWED_L4, [TRACE], "5-tuple", kind=HTTP).ok
    dropped_too = evidence.check_hubble(ALLOWED_L4, [TRACE, DROP], "5-tuple", kind=HTTP)
    assert not dropped_too.ok and "unexpected" in dropped_too.observed


def test_mutual_auth_first_packet_drop_is_tolerated_only_when_asked() -> None:
    flows = [AUTH_DROP, TRACE, REQ_OK]
    assert evidence.check_hubble(ALLOWED_L7, flows, "5-tuple", kind=HTTP,
                                 tolerate_auth_drop=True).ok
    assert not evidence.check_hubble(ALLOWED_L7, flows, "5-tuple", kind=HTTP).ok
    assert not evidence.check_hubble(ALLOWED_L7, [DROP, REQ_OK], "5-tuple", kind=HTTP,
                                     tolerate_auth_drop=True).ok


def test_counters_follow_the_evidence_table() -> None:
    names = {c.describe() for c in evidence.counters(L3L4_DENIED)}
    assert names == {'hubble_drop_total{reason="POLICY_DENIED"}',
                     'cilium_drop_count_total{reason="Policy denied"}'}
    l7 = {c.describe() for c in evidence.counters(L7_DENIED)}
    assert 'hubble_drop_total{protocol="HTTP",reason="DROP_REASON_UNKNOWN"}' in l7
    assert 'cilium_policy_l7_total{proxy_type="envoy",rule="denied"}' in l7
    dns = {c.describe() for c in evidence.counters(DNS_REFUSED)}
    assert dns == {'cilium_policy_l7_total{proxy_type="fqdn",rule="denied"}'}
    assert evidence.counters(ALLOWED_L7) == []


def test_metric_delta_must_reach_the_batch_minimum() -> None:
    def snap(hubble: int, agent: int) -> metrics.Snapshot:
        text = (f'hubble_drop_total{{reason="POLICY_DENIED",source_namespace="ztc-gw0",'
                f'destination_namespace="ztc-gw0"}} {hubble}\n'
                f'cilium_drop_count_total{{reason="Policy denied",direction="INGRESS"}} {agent}\n')
        return metrics.snapshot([MetricsScrape("n", 9965, text)])

    need = {c: 3 for c in evidence.counters(L3L4_DENIED)}
    ok = evidence.check_metrics(L3L4_DENIED, metrics.delta(snap(1, 1), snap(5, 9)), need,
                                ["ztc-gw0"])
    assert ok.ok
    short = evidence.check_metrics(L3L4_DENIED, metrics.delta(snap(1, 1), snap(3, 9)), need,
                                   ["ztc-gw0"])
    assert not short.ok and "+2" in short.observed
    elsewhere = evidence.check_metrics(L3L4_DENIED, metrics.delta(snap(1, 1), snap(5, 9)),
                                       need, ["ztc-gw1"])
    assert not elsewhere.ok  # another worker's drops are not ours


def test_unattributable_drops_are_explained() -> None:
    # Drops happened, but the cluster's Hubble metrics have no namespace context labels.
    before = metrics.snapshot([MetricsScrape("n", 9965, "")])
    after = metrics.snapshot([MetricsScrape(
        "n", 9965, 'hubble_drop_total{reason="POLICY_DENIED",protocol="TCP"} 6\n')])
    need = {c: 2 for c in evidence.counters(L3L4_DENIED)}
    check = evidence.check_metrics(L3L4_DENIED, metrics.delta(before, after), need, ["ztc-gw0"])
    assert not check.ok
    assert "+6 in all namespaces" in check.observed and "labelsContext" in check.observed


def _log(probe_id: str | None, **extra: object) -> str:
    return json.dumps({"event": "request", "method": "GET", "path": "/", "status": 200,
                       "probe_id": probe_id, **extra})


def test_access_log_ids_skip_other_lines_and_unlabelled_requests() -> None:
    lines = [_log("a"), "serving on :8080", _log(None), json.dumps({"event": "start"}),
             _log("b"), "[1, 2]"]
    assert evidence.app_probe_ids(lines) == {"a", "b"}


def test_allowed_request_must_be_in_its_targets_access_log() -> None:
    seen = {"pod-a": {"p1"}, "pod-b": set()}
    assert evidence.check_app(ALLOWED_L7, "p1", "pod-a", seen).ok
    missing = evidence.check_app(ALLOWED_L7, "p1", "pod-b", seen)
    assert not missing.ok and "pod-a" in missing.observed
    assert not evidence.check_app(ALLOWED_L7, "p2", "pod-a", seen).ok


def test_denied_request_must_be_in_no_access_log() -> None:
    seen = {"pod-a": {"p1"}, "pod-b": {"p2"}}
    for exp in (L7_DENIED, GRPC_DENIED, L3L4_DENIED):
        assert evidence.check_app(exp, "p3", "pod-a", seen).ok
        leaked = evidence.check_app(exp, "p2", "pod-a", seen)
        assert not leaked.ok
        assert leaked.expected.startswith("never reached the app") and "pod-b" in leaked.observed
