"""Judging one probe attempt: client result, Hubble flows and metric deltas against the
model's expectation. Pure functions; the batch runner gathers the inputs.

The evidence table (REFERENCE): an L3/L4 drop is a client timeout, a DROPPED L3_L4 flow
with the drop reason and direction, and a drop counter; an L7 deny is a 403 "Access
denied" (gRPC PERMISSION_DENIED), a DROPPED L7 REQUEST flow without a drop reason plus a
RESPONSE flow with code 403, and the L7 denied counters (a TLS SNI refusal: a reset during
the handshake and the REQUEST flow alone); a DNS deny is REFUSED, a
DROPPED L7 DNS flow and the fqdn-proxy denied counter. Allowed traffic has a FORWARDED
flow of the expected type and no DROPPED flow.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from conformance.harness import metrics
from conformance.harness.hubble import Flow
from conformance.model.expectation import ACCESS_DENIED_BODY, Expectation

if TYPE_CHECKING:
    from conformance.harness.requests import RequestKind

AUTH_REQUIRED = "AUTH_REQUIRED"

# Agent metric texts of Hubble drop reasons (cilium_drop_count_total{reason=...}).
AGENT_DROP_REASON = {
    "POLICY_DENIED": "Policy denied",
    "POLICY_DENY": "Policy denied by denylist",
    "AUTH_REQUIRED": "Authentication required",
}


@dataclass
class Check:
    """One kind of evidence for one attempt: what was expected, what was seen."""

    kind: str  # the evidence: client | app | hubble | metrics, or another source's name
    ok: bool
    expected: str
    observed: str
    flows: list[Flow] = field(default_factory=list)


def observed_signal(result: dict[str, Any] | None) -> str:
    """The prober result in the expectation's client vocabulary (or a precise other)."""
    if result is None:
        return "no result"
    outcome = str(result.get("outcome", "?"))
    if outcome in ("ok", "dns-refused", "reset"):
        return outcome
    if outcome in ("timeout", "dns-timeout"):
        return "timeout"
    if outcome == "http-error":
        status = result.get("status")
        if status == 403:
            # Only the proxy's exact body makes a 403 an L7 deny.
            ok = result.get("body") == ACCESS_DENIED_BODY
            return "http-403" if ok else "http-403 without the proxy's body"
        return f"http-{status}"
    if outcome == "grpc-error":
        code = str(result.get("grpc_code", "?"))
        return "grpc-permission-denied" if code == "PERMISSION_DENIED" else f"grpc-{code}"
    detail = result.get("error")
    return f"{outcome} ({detail})" if detail else outcome


def check_client(exp: Expectation, result: dict[str, Any] | None, *,
                 echo: dict[str, str] | None = None,
                 answer_ip: str | None = None) -> Check:
    """`echo` (probe_id/method/path/served_by) must appear in an allowed HTTP response's
    body — proof the request reached the app; `answer_ip` in an allowed DNS answer."""
    seen = observed_signal(result)
    expected = exp.client + (f" {ACCESS_DENIED_BODY!r}" if exp.client == "http-403" else "")
    if seen != exp.client:
        return Check("client", False, expected, _client_detail(seen, result))
    assert result is not None  # seen == expected implies a result
    if echo is not None:
        body = _json(result.get("body"))
        wrong = {k: (v, body.get(k)) for k, v in echo.items()
                 if body is not None and k in body and body.get(k) != v}
        if body is None or "probe_id" not in body:
            return Check("client", False, f"{expected} with the app's echo",
                         _client_detail("ok without the app's echo", result))
        if wrong:
            return Check("client", False, f"{expected} echoing {echo}",
                         f"echo differs: {wrong}")
        expected += " (echo: reached the app)"
    if answer_ip is not None:
        answers = [str(a) for a in result.get("answers", []) or []]
        if answer_ip not in answers:
            return Check("client", False, f"ok answering {answer_ip}",
                         f"ok answering {answers}")
    return Check("client", True, expected, _client_detail(seen, result))


def _json(text: Any) -> dict[str, Any] | None:
    if not isinstance(text, str):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _client_detail(seen: str, result: dict[str, Any] | None) -> str:
    if not result:
        return seen
    extras = []
    for key in ("status", "grpc_code", "answers", "elapsed_ms", "local", "remote"):
        if result.get(key) not in (None, "", []):
            extras.append(f"{key}={result[key]}")
    body = result.get("body")
    if isinstance(body, str) and body:
        extras.append(f"body={body[:80]!r}")
    return f"{seen} ({', '.join(extras)})" if extras else seen


def app_probe_ids(lines: list[str]) -> set[str]:
    """Probe ids in account-service's access log (one JSON object per request that
    reached the application); other lines are ignored."""
    ids = set()
    for text in lines:
        record = _json(text)
        if record and record.get("event") == "request" and record.get("probe_id"):
            ids.add(str(record["probe_id"]))
    return ids


def kubelet_requests(lines: list[str], path: str) -> int:
    """Requests for `path` without a probe id in an access log: the kubelet's probes."""
    count = 0
    for text in lines:
        record = _json(text)
        if record and record.get("event") == "request" and record.get("path") == path \
                and not record.get("probe_id"):
            count += 1
    return count


def check_kubelet(exp: Expectation, target: str, path: str, requests: int,
                  ready: bool | None) -> list[Check]:
    """Kubelet probes: their requests reach the app during the batch (policy in force)
    and the pod stays Ready — or, when the model denies them, none arrive."""
    seen = f"{requests} kubelet GET {path} in {target}'s access log during the batch"
    if exp.verdict == "allowed":
        return [Check("client", ready is True, f"pod {target} Ready (kubelet probes pass)",
                      f"Ready={ready}"),
                Check("app", requests > 0, f"kubelet GET {path} reached the app", seen)]
    return [Check("app", requests == 0, f"no kubelet GET {path} reaches the app", seen)]


def check_app(exp: Expectation, probe_id: str, target: str,
              seen: dict[str, set[str]]) -> Check:
    """The server side of a request: an allowed one is in its target's access log; a
    denied one (L7 deny, drop) is in no account-service log — it never reached the app."""
    where = sorted(pod for pod, ids in seen.items() if probe_id in ids)
    observed = f"in the access log of {', '.join(where)}" if where else \
        "in no account-service access log"
    if exp.verdict == "allowed":
        return Check("app", where == [target], f"reached the app: in {target}'s access log",
                     observed)
    return Check("app", not where, "never reached the app: in no access log", observed)


@dataclass(frozen=True)
class FlowRule:
    text: str
    test: Callable[[Flow], bool]


def required_flows(exp: Expectation, *, kind: RequestKind) -> list[FlowRule]:
    """Flows that must be present for an attempt of request `kind`; the kind names its
    L7 deny's RESPONSE codes and its allowed L7 record."""
    direction = exp.hubble.traffic_direction or (
        exp.direction.upper() if exp.direction else None)

    def dir_ok(f: Flow) -> bool:
        return direction is None or f.traffic_direction == direction

    if exp.verdict == "dropped":
        reason = exp.drop_reason
        return [FlowRule(
            f"DROPPED L3_L4 drop_reason_desc={reason} {direction or ''}".strip(),
            lambda f: f.verdict == "DROPPED" and f.type == "L3_L4"
            and f.drop_reason_desc == reason and dir_ok(f))]
    if exp.verdict == "l7-denied":
        codes = kind.denied_response_codes
        request = FlowRule(f"L7 REQUEST DROPPED (no drop reason) {direction or ''}".strip(),
                           lambda f: f.type == "L7" and f.l7_type == "REQUEST"
                           and f.verdict == "DROPPED" and f.drop_reason_desc is None
                           and dir_ok(f))
        if exp.client == "reset":
            # An SNI refused by cilium.network: the access log's Denied entry carries no L7
            # record, which the agent logs as an (empty) HTTP request; no response record
            # (pkg/envoy/accesslog_server.go logRecord; cilium/network_filter.cc).
            return [request]
        return [request, FlowRule(
            f"L7 RESPONSE code={' or '.join(str(c) for c in codes)}{kind.denied_response_note}",
            lambda f: f.type == "L7" and f.l7_type == "RESPONSE" and f.http_code in codes)]
    if exp.verdict == "dns-refused":
        return [FlowRule("L7 DNS DROPPED (no drop reason)",
                         lambda f: f.type == "L7" and f.verdict == "DROPPED"
                         and f.dns_query is not None and f.drop_reason_desc is None)]
    if exp.hubble.type == "L7":
        dns = kind.forwarded_l7 == "DNS"
        return [FlowRule(f"L7 {kind.forwarded_l7} FORWARDED",
                         lambda f: f.type == "L7" and f.verdict == "FORWARDED"
                         and (f.dns_query is not None if dns else f.l7_type == "REQUEST"))]
    return [FlowRule("L3_L4 FORWARDED",
                     lambda f: f.type == "L3_L4" and f.verdict == "FORWARDED")]


def forbidden_flows(exp: Expectation, *, tolerate_auth_drop: bool) -> list[FlowRule]:
    """Flows that must not be present: any DROPPED flow for allowed traffic."""
    if exp.verdict != "allowed":
        return []
    if tolerate_auth_drop:
        return [FlowRule("DROPPED other than the first-packet AUTH_REQUIRED",
                         lambda f: f.verdict == "DROPPED"
                         and f.drop_reason_desc != AUTH_REQUIRED)]
    return [FlowRule("DROPPED", lambda f: f.verdict == "DROPPED")]


def check_hubble(exp: Expectation, flows: list[Flow], matched_by: str, *,
                 kind: RequestKind,
                 tolerate_auth_drop: bool = False) -> Check:
    required = required_flows(exp, kind=kind)
    forbidden = forbidden_flows(exp, tolerate_auth_drop=tolerate_auth_drop)
    missing = [r.text for r in required if not any(r.test(f) for f in flows)]
    bad = [f for r in forbidden for f in flows if r.test(f)]
    expected = " + ".join(r.text for r in required)
    if forbidden:
        expected += f"; none {' / '.join(r.text for r in forbidden)}"
    if not flows:
        observed = f"no flow matched ({matched_by})"
    else:
        observed = f"{len(flows)} flow(s) matched by {matched_by}"
        if missing:
            observed += f"; missing: {', '.join(missing)}"
        if bad:
            observed += f"; unexpected: {bad[0].summary()}"
    return Check("hubble", not missing and not bad, expected, observed, flows)


def required_satisfied(exp: Expectation, flows: list[Flow], *, kind: RequestKind) -> bool:
    return all(any(r.test(f) for f in flows) for r in required_flows(exp, kind=kind))


def counters(exp: Expectation) -> list[metrics.Counter]:
    """The counters that must grow for this expectation (REFERENCE evidence table)."""
    if exp.verdict == "dropped" and exp.drop_reason:
        return [metrics.hubble("hubble_drop_total", reason=exp.drop_reason),
                metrics.agent("cilium_drop_count_total",
                              reason=AGENT_DROP_REASON[exp.drop_reason])]
    if exp.verdict == "l7-denied":
        # An SNI refusal (client reset) is a DROPPED L7 flow without an L7 record, so its
        # protocol label is its L4 one (cilium pkg/hubble/metrics/api FlowProtocol).
        protocol = "TCP" if exp.client == "reset" else "HTTP"
        return [metrics.hubble("hubble_drop_total", reason="DROP_REASON_UNKNOWN",
                               protocol=protocol),
                metrics.agent("cilium_policy_l7_total", rule="denied", proxy_type="envoy")]
    if exp.verdict == "dns-refused":
        return [metrics.agent("cilium_policy_l7_total", rule="denied", proxy_type="fqdn")]
    return []


def check_metrics(exp: Expectation, delta: metrics.Snapshot, minimum: dict[metrics.Counter, int],
                  namespaces: list[str]) -> Check:
    """Each counter's delta must reach the batch's minimum (one per attempt expected to
    increment it); attributed counters only count our namespaces' series."""
    wanted = counters(exp)
    if not wanted:
        return Check("metrics", True, "no counter required", "-")
    parts_exp, parts_obs, ok = [], [], True
    for counter in wanted:
        need = minimum.get(counter, 1)
        got = counter.value(delta, namespaces)
        scope = f" in {','.join(namespaces)}" if counter.attributed else " (cluster-wide)"
        parts_exp.append(f"{counter.describe()} +>={need}{scope}")
        seen = f"{counter.describe()} +{got:g}"
        if counter.attributed and got < need:
            # Say whether the drops happened but could not be attributed to us.
            everywhere = delta.select(counter.name, dict(counter.labels))
            seen += f" (+{everywhere:g} in all namespaces"
            if everywhere and not delta.has_namespace_labels(counter.name):
                seen += "; its series carry no source_namespace/destination_namespace " \
                        "labels: Hubble metrics need labelsContext"
            seen += ")"
        parts_obs.append(seen)
        ok = ok and got >= need
    return Check("metrics", ok, "; ".join(parts_exp), "; ".join(parts_obs))
