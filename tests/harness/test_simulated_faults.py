"""SimulatedCluster over time and under faults: realization, late flows, jitter, and each
fault's effect on client results, flows and counters.

A fake clock drives time, so "5 s later" costs nothing and nothing sleeps.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conformance.harness.cluster import ACCOUNT_SERVICE, AUDIT_LOGGER, PAYMENT_PROCESSOR
from conformance.harness.simulated import (
    HUBBLE_LATE_S,
    JITTER_MAX_S,
    SLOW_REALIZATION_S,
    SimulatedCluster,
)
from tests.harness.test_simulated import (
    L7_POLICY,
    NS,
    auth_policy,
    cnp,
    fqdn_policy,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Timed:
    def __init__(self, fault: str | None = None, seed: int = 0) -> None:
        self.clock = FakeClock()
        self.cluster = SimulatedCluster(fault=fault, seed=seed, clock=self.clock)
        self.pods = self.cluster.deploy_workloads(NS)
        self.account = next(p for p in self.pods if p.labels["app"] == ACCOUNT_SERVICE)

    def src(self, app: str) -> Any:
        return next(p for p in self.pods if p.labels["app"] == app)

    def http(self, src: str, method: str, path: str, host: str | None = None
             ) -> dict[str, Any]:
        url = f"http://{host or f'{self.account.ip}:8080'}{path}"
        return self.cluster.run_probes(self.src(src), [
            {"id": f"{method} {path}", "kind": "http", "url": url, "method": method,
             "timeout": 2.0}])[0]

    def tcp(self, src: str, port: int) -> dict[str, Any]:
        return self.cluster.run_probes(self.src(src), [
            {"id": f"tcp {port}", "kind": "tcp", "host": self.account.ip, "port": port,
             "timeout": 2.0}])[0]

    def realized(self) -> bool:
        revisions = self.cluster.policy_revisions()
        return all(ep.policy_revision >= revisions[ep.node]
                   and ep.proxy_policy_revision >= revisions[ep.node]
                   for ep in self.cluster.endpoint_revisions() if ep.has_identity)


def flows(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line)["flow"] for line in lines]


def counters(cluster: SimulatedCluster) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for scrape in cluster.scrape_metrics():
        for family in text_string_to_metric_families(scrape.text):
            for s in family.samples:
                key = (s.name, tuple(sorted(s.labels.items())))
                out[key] = out.get(key, 0.0) + s.value
    return out


def total(values: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
          **labels: str) -> float:
    return sum(v for (n, items), v in values.items()
               if n == name and all(dict(items).get(k) == x for k, x in labels.items()))


# ---- realization -------------------------------------------------------------------------


def test_apply_and_delete_bump_every_agent_revision_and_endpoints_follow() -> None:
    t = Timed()
    before = t.cluster.policy_revisions()
    assert len(set(before.values())) == len(before)  # agents count independently
    t.cluster.apply([L7_POLICY])
    after = t.cluster.policy_revisions()
    assert all(after[n] == before[n] + 1 for n in before)
    assert t.realized()
    assert t.http(PAYMENT_PROCESSOR, "DELETE", "/api/v1/accounts/ab")["status"] == 403
    t.cluster.delete([L7_POLICY])
    assert all(v == before[n] + 2 for n, v in t.cluster.policy_revisions().items())
    assert t.http(PAYMENT_PROCESSOR, "DELETE", "/api/v1/accounts/ab")["status"] == 200


def test_endpoint_list_has_host_and_identity_less_endpoints_like_an_agent() -> None:
    eps = Timed().cluster.endpoint_revisions()
    assert any(not ep.has_identity for ep in eps)
    assert {ep.node for ep in eps} == {"sim-worker", "sim-worker2"}
    assert len({(ep.node, ep.endpoint_id) for ep in eps}) == len(eps)


def test_slow_realization_keeps_the_old_policy_for_five_seconds() -> None:
    t = Timed("slow-realization")
    before = t.cluster.policy_revisions()
    t.cluster.apply([L7_POLICY])
    assert all(v == before[n] + 1 for n, v in t.cluster.policy_revisions().items())
    assert not t.realized()
    assert t.http(PAYMENT_PROCESSOR, "DELETE", "/api/v1/accounts/ab")["status"] == 200
    t.clock.advance(SLOW_REALIZATION_S - 0.01)
    assert not t.realized()
    t.clock.advance(0.02)
    assert t.realized()
    assert t.http(PAYMENT_PROCESSOR, "DELETE", "/api/v1/accounts/ab")["status"] == 403


def test_jitter_delays_revisions_realization_and_flows_by_at_most_the_bound() -> None:
    t = Timed("jitter", seed=7)
    before = t.cluster.policy_revisions()
    follower = t.cluster.follow_flows([NS])
    t.cluster.apply([L7_POLICY])
    t.clock.advance(JITTER_MAX_S)
    assert all(v == before[n] + 1 for n, v in t.cluster.policy_revisions().items())
    t.clock.advance(JITTER_MAX_S)
    assert t.realized()
    t.http(PAYMENT_PROCESSOR, "DELETE", "/api/v1/accounts/ab")
    t.clock.advance(2 * JITTER_MAX_S + 0.01)  # probe start jitter + delivery jitter
    assert any(f["verdict"] == "DROPPED" for f in flows(follower.lines()))


def test_jitter_is_seeded() -> None:
    def run(seed: int) -> list[Any]:
        t = Timed("jitter", seed=seed)
        t.cluster.apply([L7_POLICY])
        return [t.cluster.policy_revisions(), t.tcp(PAYMENT_PROCESSOR, 9090)["local"]]

    assert run(1) == run(1)


# ---- followers ---------------------------------------------------------------------------


def test_followers_see_traffic_after_their_start_in_their_namespaces_only() -> None:
    t = Timed()
    t.cluster.deploy_workloads("other")
    early = t.cluster.follow_flows([NS])
    elsewhere = t.cluster.follow_flows(["other"])
    t.http(PAYMENT_PROCESSOR, "GET", "/healthz")
    t.clock.advance(0.1)
    late = t.cluster.follow_flows([NS])
    assert early.lines() and not elsewhere.lines() and not late.lines()
    seen = len(early.lines())
    early.close()
    t.http(PAYMENT_PROCESSOR, "GET", "/healthz")
    assert len(early.lines()) == seen


def test_hubble_late_delivers_flows_three_seconds_after_they_happen() -> None:
    t = Timed("hubble-late")
    follower = t.cluster.follow_flows([NS])
    t.http(PAYMENT_PROCESSOR, "GET", "/healthz")
    t.clock.advance(HUBBLE_LATE_S - 0.1)
    assert follower.lines() == []
    t.clock.advance(0.2)
    assert follower.lines()


def test_retransmitted_syn_drops_arrive_when_they_happen() -> None:
    t = Timed()
    t.cluster.apply([L7_POLICY])
    follower = t.cluster.follow_flows([NS])
    t.tcp(PAYMENT_PROCESSOR, 9090)  # 2 s timeout: SYN at 0 s and 1 s
    t.clock.advance(0.01)
    assert sum(f["verdict"] == "DROPPED" for f in flows(follower.lines())) == 1
    t.clock.advance(1.1)
    assert sum(f["verdict"] == "DROPPED" for f in flows(follower.lines())) == 2


# ---- faults that must make the suite fail -------------------------------------------------


def test_l7_off_lets_denied_requests_reach_the_app() -> None:
    t = Timed("l7-off")
    t.cluster.apply([L7_POLICY])
    result = t.http(PAYMENT_PROCESSOR, "DELETE", "/api/v1/accounts/ab")
    assert result["status"] == 200
    assert json.loads(result["body"])["route"] == "DELETE /api/v1/accounts/{id}"


def test_l3l4_off_lets_dropped_connections_through() -> None:
    t = Timed("l3l4-off")
    t.cluster.apply([L7_POLICY])
    assert t.tcp(PAYMENT_PROCESSOR, 9090)["outcome"] == "ok"
    assert t.http(PAYMENT_PROCESSOR, "DELETE", "/api/v1/accounts/ab")["status"] == 403


def test_dns_open_answers_every_name() -> None:
    t = Timed("dns-open")
    t.cluster.apply([fqdn_policy([{"matchName": "api.stripe.com"}])])
    result = t.cluster.run_probes(t.src(PAYMENT_PROCESSOR), [
        {"id": 1, "kind": "dns", "name": "api.pastebin.com", "timeout": 2.0}])[0]
    assert result["outcome"] == "ok" and result["answers"] == ["203.0.113.13"]


def test_fqdn_broken_drops_connections_to_allowed_names() -> None:
    t = Timed("fqdn-broken")
    t.cluster.apply([fqdn_policy([{"matchPattern": "*"}])])
    follower = t.cluster.follow_flows([NS])
    result = t.http(PAYMENT_PROCESSOR, "GET", "/healthz", host="api.stripe.com")
    assert result["outcome"] == "timeout"
    t.clock.advance(0.1)  # the first SYN goes out after the lookup
    drops = [f for f in flows(follower.lines()) if f["verdict"] == "DROPPED"]
    assert drops and all(f["traffic_direction"] == "EGRESS" for f in drops)
    assert drops[0]["destination"]["labels"] == ["reserved:world"]


def test_fqdn_broken_leaves_unrestricted_egress_alone() -> None:
    t = Timed("fqdn-broken")
    assert t.http(PAYMENT_PROCESSOR, "GET", "/healthz", host="api.github.com")["outcome"] == "ok"


def test_auth_off_lets_test_always_fail_pass() -> None:
    t = Timed("auth-off")
    t.cluster.apply([auth_policy()])
    assert t.http(AUDIT_LOGGER, "GET", "/healthz")["outcome"] == "ok"


def test_hubble_missing_drops_hides_dropped_flows_but_not_counters() -> None:
    t = Timed("hubble-missing-drops")
    t.cluster.apply([L7_POLICY])
    follower = t.cluster.follow_flows([NS])
    before = counters(t.cluster)
    assert t.tcp(PAYMENT_PROCESSOR, 9090)["outcome"] == "timeout"
    assert t.http(PAYMENT_PROCESSOR, "DELETE", "/api/v1/accounts/ab")["status"] == 403
    t.clock.advance(5)
    seen = flows(follower.lines())
    assert seen and all(f["verdict"] != "DROPPED" for f in seen)
    after = counters(t.cluster)
    assert total(after, "hubble_drop_total") > total(before, "hubble_drop_total")


def test_wrong_drop_reason_mislabels_flows_and_counters() -> None:
    t = Timed("wrong-drop-reason")
    t.cluster.apply([L7_POLICY])
    follower = t.cluster.follow_flows([NS])
    t.tcp(PAYMENT_PROCESSOR, 9090)
    t.clock.advance(0.1)
    drops = [f for f in flows(follower.lines()) if f["verdict"] == "DROPPED"]
    assert drops and {f["drop_reason_desc"] for f in drops} == {"POLICY_DENY"}
    values = counters(t.cluster)
    assert total(values, "hubble_drop_total", reason="POLICY_DENIED") == 0
    assert total(values, "cilium_drop_count_total", reason="Policy denied by denylist") > 0


def test_metrics_frozen_never_moves_a_counter() -> None:
    t = Timed("metrics-frozen")
    t.cluster.apply([L7_POLICY])
    before = counters(t.cluster)
    t.tcp(PAYMENT_PROCESSOR, 9090)
    t.http(PAYMENT_PROCESSOR, "DELETE", "/api/v1/accounts/ab")
    assert counters(t.cluster) == before


@pytest.mark.parametrize("fault", ["hubble-late", "slow-realization", "jitter"])
def test_benign_faults_keep_decisions_once_realized_and_flows_once_due(fault: str) -> None:
    t = Timed(fault, seed=2)
    t.cluster.apply([L7_POLICY, cnp("deny-egress-audit", {
        "endpointSelector": {"matchLabels": {"app": AUDIT_LOGGER}}, "egress": [{}]})])
    t.clock.advance(SLOW_REALIZATION_S + 2 * JITTER_MAX_S)
    assert t.realized()
    follower = t.cluster.follow_flows([NS])
    assert t.http(PAYMENT_PROCESSOR, "DELETE", "/api/v1/accounts/ab")["status"] == 403
    assert t.tcp(AUDIT_LOGGER, 8080)["outcome"] == "timeout"
    t.clock.advance(HUBBLE_LATE_S + 2 * JITTER_MAX_S + 0.01)
    reasons = {f.get("drop_reason_desc") for f in flows(follower.lines())
               if f["verdict"] == "DROPPED"}
    assert reasons == {None, "POLICY_DENIED"}  # the L7 request drop and the L3/L4 drop
