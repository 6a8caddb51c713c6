"""The emulated control plane over time and under faults: realization, late flows, jitter,
and each fault's effect on client results, flows and counters (ported from the retired
SimulatedCluster's tests).

A fake clock drives the control plane, so "5 s later" costs nothing and nothing sleeps.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from clusters.emulated.controlplane import IMPORT_LAG_S, PROXY_ACK_S, REGEN_LAG_S
from clusters.emulated.faults import HUBBLE_LATE_S, JITTER_MAX_S, SLOW_REALIZATION_S
from clusters.emulated.relay import RelayServer
from clusters.emulated.world import NODES
from conformance.harness.cluster import ACCOUNT_SERVICE, AUDIT_LOGGER, PAYMENT_PROCESSOR
from conformance.harness.kube_relay import RelayFollower
from tests.emulated.support import (
    L7_POLICY,
    NS,
    SETTLE_S,
    Emulated,
    auth_policy,
    cnp,
    counters,
    deploy,
    endpoints,
    fqdn_policy,
    revisions,
    total,
)
from tests.support.wait import wait_for

FOLLOW_WAIT_S = 10.0  # a relay stream delivering flows already due (real time)
DENY_EGRESS_AUDIT = cnp("deny-egress-audit", {
    "endpointSelector": {"matchLabels": {"app": AUDIT_LOGGER}}, "egress": [{}]})


# ---- realization -------------------------------------------------------------------------


def test_apply_and_delete_bump_every_agent_revision_and_endpoints_follow() -> None:
    em = Emulated()
    before = revisions(em.plane)
    assert len(set(before.values())) == len(before)  # agents count independently
    em.apply(L7_POLICY, settle=0.0)
    assert revisions(em.plane) == before  # no agent has imported it yet
    em.clock.advance(SETTLE_S)
    assert all(v == before[n] + 1 for n, v in revisions(em.plane).items())
    assert em.realized()
    assert em.http(PAYMENT_PROCESSOR, "DELETE", "/api/v1/accounts/ab")["status"] == 403
    em.delete(L7_POLICY)
    assert all(v == before[n] + 2 for n, v in revisions(em.plane).items())
    assert em.realized()
    assert em.http(PAYMENT_PROCESSOR, "DELETE", "/api/v1/accounts/ab")["status"] == 200


def test_endpoint_list_has_host_and_identity_less_endpoints_like_an_agent() -> None:
    eps = endpoints(Emulated().plane)
    assert {ep.node for ep in eps} == set(NODES)
    for node in NODES:
        mine = [ep for ep in eps if ep.node == node]
        assert any(ep.labels == ("reserved:host",) for ep in mine)  # the host endpoint
        assert any(not ep.has_identity for ep in mine)  # one still being created
    assert len({(ep.node, ep.endpoint_id) for ep in eps}) == len(eps)


def test_slow_realization_keeps_the_old_policy_for_five_seconds() -> None:
    em = Emulated("slow-realization")
    before = revisions(em.plane)
    em.apply(L7_POLICY, settle=IMPORT_LAG_S[1])
    assert all(v == before[n] + 1 for n, v in revisions(em.plane).items())
    assert not em.realized()
    assert em.http(PAYMENT_PROCESSOR, "DELETE", "/api/v1/accounts/ab")["status"] == 200
    # The earliest regeneration ends import + regeneration + 5 s after the apply.
    em.clock.advance(SLOW_REALIZATION_S - IMPORT_LAG_S[1])
    assert not em.realized()
    em.clock.advance(SETTLE_S)
    assert em.realized()
    assert em.http(PAYMENT_PROCESSOR, "DELETE", "/api/v1/accounts/ab")["status"] == 403


def test_jitter_delays_revisions_realization_and_flows_by_at_most_the_bound() -> None:
    em = Emulated("jitter", seed=7)
    before = revisions(em.plane)
    em.mark()
    em.apply(L7_POLICY, settle=IMPORT_LAG_S[1] + JITTER_MAX_S)
    assert all(v == before[n] + 1 for n, v in revisions(em.plane).items())
    # Regeneration and Envoy's acknowledgement are jittered each.
    em.clock.advance(REGEN_LAG_S[1] + PROXY_ACK_S + 2 * JITTER_MAX_S)
    assert em.realized()
    em.http(PAYMENT_PROCESSOR, "DELETE", "/api/v1/accounts/ab")
    em.clock.advance(2 * JITTER_MAX_S + 0.01)  # probe start jitter + delivery jitter
    assert em.drops()


def test_jitter_is_seeded() -> None:
    def run(seed: int) -> list[Any]:
        em = Emulated("jitter", seed=seed)
        em.apply(L7_POLICY)
        return [revisions(em.plane), em.plane.agents.changes[-1].imported_at,
                em.tcp(PAYMENT_PROCESSOR, 9090)["local"]]

    assert run(1) == run(1)
    assert run(1)[1] != run(2)[1]


# ---- what a Hubble follower sees ------------------------------------------------------------


def test_followers_see_traffic_after_their_start_in_their_namespaces_only() -> None:
    em = Emulated()
    other = deploy(em.plane, "other")
    relay = RelayServer(em.plane.flows, nodes=NODES)

    def since() -> datetime:
        return datetime.fromtimestamp(em.plane.wall(), UTC)

    def other_probe() -> None:
        src = next(p for p in other if p.labels["app"] == PAYMENT_PROCESSOR)
        dst = next(p for p in other if p.labels["app"] == ACCOUNT_SERVICE)
        em.plane.run_probes("other", src.name, [{"id": "o", "kind": "tcp", "host": dst.ip,
                                                 "port": 8080, "timeout": 2.0}])

    def seen(lines: list[str], field: str) -> set[str]:
        return {json.loads(line)["flow"][side].get(field, "")
                for line in lines for side in ("source", "destination")}

    first = em.pod(PAYMENT_PROCESSOR).name

    try:
        early = RelayFollower(relay.address, [NS], since())
        elsewhere = RelayFollower(relay.address, ["other"], since())
        em.http(PAYMENT_PROCESSOR, "GET", "/healthz")
        em.clock.advance(0.1)
        late = RelayFollower(relay.address, [NS], since())
        other_probe()
        em.tcp(AUDIT_LOGGER, 8080)
        em.clock.advance(0.1)
        got = wait_for(early.lines, FOLLOW_WAIT_S, "the early follower's flows")
        wait_for(elsewhere.lines, FOLLOW_WAIT_S, "the other namespace's flows")
        wait_for(late.lines, FOLLOW_WAIT_S, "the late follower's flows")
        # Both namespaces' flows went into one log in order: each follower has read past
        # the other's, so what it lacks it will never get.
        wait_for(lambda: len(early.lines()) > len(got), FOLLOW_WAIT_S, "the second probe")
        assert seen(elsewhere.lines(), "namespace") == {"other"}
        assert seen(early.lines(), "namespace") == {NS}
        assert first in seen(early.lines(), "pod_name")
        assert first not in seen(late.lines(), "pod_name")  # before its start
        early.close()
        count = len(early.lines())
        em.tcp(AUDIT_LOGGER, 8080)
        em.clock.advance(0.1)
        wait_for(lambda: len(late.lines()) > 2, FOLLOW_WAIT_S, "flows after the close")
        assert len(early.lines()) == count
        for follower in (elsewhere, late):
            follower.close()
    finally:
        relay.stop()


def test_hubble_late_delivers_flows_three_seconds_after_they_happen() -> None:
    em = Emulated("hubble-late")
    em.mark()
    em.http(PAYMENT_PROCESSOR, "GET", "/healthz")
    em.clock.advance(HUBBLE_LATE_S - 0.1)
    assert em.flows() == []
    em.clock.advance(0.2)
    assert em.flows()


def test_retransmitted_syn_drops_arrive_when_they_happen() -> None:
    em = Emulated()
    em.apply(L7_POLICY)
    em.mark()
    em.tcp(PAYMENT_PROCESSOR, 9090)  # 2 s timeout: SYN at 0 s and 1 s
    em.clock.advance(0.01)
    assert len(em.drops()) == 1
    em.clock.advance(1.1)
    assert len(em.drops()) == 2


# ---- faults that must make the suite fail -------------------------------------------------


def test_l7_off_lets_denied_requests_reach_the_app() -> None:
    em = Emulated("l7-off")
    em.apply(L7_POLICY)
    result = em.http(PAYMENT_PROCESSOR, "DELETE", "/api/v1/accounts/ab")
    assert result["status"] == 200
    assert json.loads(result["body"])["route"] == "DELETE /api/v1/accounts/{id}"


def test_l3l4_off_lets_dropped_connections_through() -> None:
    em = Emulated("l3l4-off")
    em.apply(L7_POLICY)
    assert em.tcp(PAYMENT_PROCESSOR, 9090)["outcome"] == "ok"
    assert em.http(PAYMENT_PROCESSOR, "DELETE", "/api/v1/accounts/ab")["status"] == 403


def test_dns_open_answers_every_name() -> None:
    em = Emulated("dns-open")
    em.apply(fqdn_policy([{"matchName": "api.stripe.com"}]))
    result = em.run(PAYMENT_PROCESSOR, {"kind": "dns", "name": "api.pastebin.com"})
    assert result["outcome"] == "ok" and result["answers"] == ["203.0.113.13"]


def test_fqdn_broken_drops_connections_to_allowed_names() -> None:
    em = Emulated("fqdn-broken")
    em.apply(fqdn_policy([{"matchPattern": "*"}]))
    em.mark()
    result = em.http(PAYMENT_PROCESSOR, "GET", "/healthz", to="api.stripe.com")
    assert result["outcome"] == "timeout"
    em.clock.advance(0.1)  # the first SYN goes out after the lookup
    drops = em.drops()
    assert drops and all(f["traffic_direction"] == "EGRESS" for f in drops)
    assert drops[0]["destination"]["labels"] == ["reserved:world"]


def test_fqdn_broken_leaves_unrestricted_egress_alone() -> None:
    em = Emulated("fqdn-broken")
    assert em.http(PAYMENT_PROCESSOR, "GET", "/healthz", to="api.github.com")["outcome"] == "ok"


def test_auth_off_lets_test_always_fail_pass() -> None:
    em = Emulated("auth-off")
    em.apply(auth_policy())
    assert em.http(AUDIT_LOGGER, "GET", "/healthz")["outcome"] == "ok"


def test_hubble_missing_drops_hides_dropped_flows_but_not_counters() -> None:
    em = Emulated("hubble-missing-drops")
    em.apply(L7_POLICY)
    em.mark()
    before = counters(em.plane)
    assert em.tcp(PAYMENT_PROCESSOR, 9090)["outcome"] == "timeout"
    assert em.http(PAYMENT_PROCESSOR, "DELETE", "/api/v1/accounts/ab")["status"] == 403
    em.clock.advance(5)
    seen = em.flows()
    assert seen and all(f["verdict"] != "DROPPED" for f in seen)
    assert total(counters(em.plane), "hubble_drop_total") > total(before, "hubble_drop_total")


def test_wrong_drop_reason_mislabels_flows_and_counters() -> None:
    em = Emulated("wrong-drop-reason")
    em.apply(L7_POLICY)
    em.mark()
    em.tcp(PAYMENT_PROCESSOR, 9090)
    em.clock.advance(0.1)
    drops = em.drops()
    assert drops and {f["drop_reason_desc"] for f in drops} == {"POLICY_DENY"}
    values = counters(em.plane)
    assert total(values, "hubble_drop_total", reason="POLICY_DENIED") == 0
    assert total(values, "cilium_drop_count_total", reason="Policy denied by denylist") > 0


def test_metrics_frozen_never_moves_a_counter() -> None:
    em = Emulated("metrics-frozen")
    em.apply(L7_POLICY)
    before = counters(em.plane)
    em.tcp(PAYMENT_PROCESSOR, 9090)
    em.http(PAYMENT_PROCESSOR, "DELETE", "/api/v1/accounts/ab")
    assert counters(em.plane) == before


@pytest.mark.parametrize("fault", ["hubble-late", "slow-realization", "jitter"])
def test_benign_faults_keep_decisions_once_realized_and_flows_once_due(fault: str) -> None:
    em = Emulated(fault, seed=2)
    # Two changes: a node's importer takes the second after the first's regenerations.
    em.apply(L7_POLICY, DENY_EGRESS_AUDIT,
             settle=2 * (SLOW_REALIZATION_S + 3 * JITTER_MAX_S + SETTLE_S))
    assert em.realized()
    em.mark()
    assert em.http(PAYMENT_PROCESSOR, "DELETE", "/api/v1/accounts/ab")["status"] == 403
    assert em.tcp(AUDIT_LOGGER, 8080)["outcome"] == "timeout"
    em.clock.advance(HUBBLE_LATE_S + 2 * JITTER_MAX_S + 0.01)
    reasons = {f.get("drop_reason_desc") for f in em.drops()}
    assert reasons == {None, "POLICY_DENIED"}  # the L7 request drop and the L3/L4 drop
