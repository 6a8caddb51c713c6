"""L7 HTTP and gRPC rules: whole-string regexes, headers, ORed entries, union across rules."""

from __future__ import annotations

import pytest
from model_support import ALLOWED, L7_EG, L7_IN, Outcome, pod, policies, probe, run, verdict

SERVER = pod(app="server")
CLIENT = pod(app="client")


def http_policy(entries: str, extra_rules: str = "") -> str:
    return f"""
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {{name: h, namespace: payments}}
spec:
  endpointSelector: {{matchLabels: {{app: server}}}}
  ingress:
  - fromEndpoints: [{{matchLabels: {{app: client}}}}]
    toPorts:
    - ports: [{{port: '8080', protocol: TCP}}]
      rules:
        http:
{entries}
{extra_rules}"""


ACCOUNTS = http_policy("""\
        - {method: GET, path: /api/v1/accounts}
        - {method: GET, path: '/api/v1/accounts/[0-9a-f-]+'}""")


@pytest.mark.parametrize(("method", "path", "expected"), [
    ("GET", "/api/v1/accounts", ALLOWED),
    ("GET", "/api/v1/accounts/3f2a-77", ALLOWED),
    ("DELETE", "/api/v1/accounts/3f2a-77", L7_IN),
    ("POST", "/api/v1/accounts/3f2a/withdraw", L7_IN),
    ("GET", "/api/v1/accounts/", L7_IN),          # regex must match the whole path
    ("GET", "/api/v1/accounts?limit=5", L7_IN),  # the path includes the query string
    ("GET", "/x/api/v1/accounts", L7_IN),
    ("get", "/api/v1/accounts", L7_IN),          # methods are matched case-sensitively
])
def test_method_and_path_are_whole_regexes(method: str, path: str,
                                           expected: Outcome) -> None:
    assert verdict(policies(ACCOUNTS), probe(CLIENT, SERVER, http=(method, path))) == expected


def test_l7_denied_evidence() -> None:
    e = run(policies(ACCOUNTS), probe(CLIENT, SERVER, http=("DELETE", "/api/v1/accounts/1")))
    assert e.client == "http-403"
    assert (e.hubble.verdict, e.hubble.type, e.hubble.drop_reason_desc,
            e.hubble.traffic_direction) == ("DROPPED", "L7", None, "INGRESS")
    assert "matched no rules.http entry" in e.explanation
    assert "CiliumNetworkPolicy payments/h spec.ingress[0]" in e.explanation


def test_allowed_through_l7_is_an_l7_flow_naming_the_entry() -> None:
    e = run(policies(ACCOUNTS), probe(CLIENT, SERVER, http=("GET", "/api/v1/accounts/ab")))
    assert (e.hubble.verdict, e.hubble.type) == ("FORWARDED", "L7")
    assert "rules.http[1]" in e.explanation


def test_plain_tcp_probe_to_an_l7_port_connects() -> None:
    e = run(policies(ACCOUNTS), probe(CLIENT, SERVER))
    assert (e.verdict, e.hubble.type) == ("allowed", "L3_L4")


def test_other_peers_are_dropped_at_l4_not_l7() -> None:
    e = run(policies(ACCOUNTS), probe(pod(app="x"), SERVER, http=("GET", "/api/v1/accounts")))
    assert (e.verdict, e.drop_reason) == ("dropped", "POLICY_DENIED")


HEADERS = http_policy("""\
        - method: POST
          path: /internal/v1/transfer
          headers: ['X-Internal-Service: payment-processor', 'X-Trace']""")


@pytest.mark.parametrize(("headers", "expected"), [
    ({"X-Internal-Service": "payment-processor", "X-Trace": "1"}, ALLOWED),
    ({"x-internal-service": "payment-processor", "x-trace": ""}, ALLOWED),  # names: any case
    ({"X-Internal-Service": "Payment-Processor", "X-Trace": "1"}, L7_IN),  # values: exact
    ({"X-Internal-Service": "payment-processor"}, L7_IN),  # presence check fails
    ({"X-Trace": "1"}, L7_IN),
])
def test_header_strings(headers: dict[str, str], expected: Outcome) -> None:
    pr = probe(CLIENT, SERVER, http=("POST", "/internal/v1/transfer"), headers=headers)
    assert verdict(policies(HEADERS), pr) == expected


def test_header_without_space_is_a_presence_check_of_that_literal_name() -> None:
    ps = policies(http_policy("""\
        - headers: ['X-Internal-Service:payment-processor']"""))
    pr = probe(CLIENT, SERVER, http=("GET", "/"), headers={"X-Internal-Service":
                                                           "payment-processor"})
    assert verdict(ps, pr) == L7_IN


@pytest.mark.parametrize(("entry", "headers", "expected"), [
    ("- headerMatches: [{name: X-Team, value: blue}]", {"x-team": "blue"}, ALLOWED),
    ("- headerMatches: [{name: X-Team, value: blue}]", {"x-team": "red"}, L7_IN),
    ("- headerMatches: [{name: X-Team}]", {"X-Team": "any"}, ALLOWED),
    ("- headerMatches: [{name: X-Team}]", {}, L7_IN),
    ("- headerMatches: [{name: X-Team, value: blue, mismatch: LOG}]", {"x-team": "red"},
     ALLOWED),
])
def test_header_matches(entry: str, headers: dict[str, str], expected: Outcome) -> None:
    ps = policies(http_policy("        " + entry))
    assert verdict(ps, probe(CLIENT, SERVER, http=("GET", "/"), headers=headers)) == expected


def test_host_regex() -> None:
    ps = policies(http_policy("        - {host: 'accounts\\.payments(:8080)?'}"))
    ok = probe(CLIENT, SERVER, http=("GET", "/"), host="accounts.payments:8080")
    bad = probe(CLIENT, SERVER, http=("GET", "/"), host="evil.example")
    assert verdict(ps, ok) == ALLOWED
    assert verdict(ps, bad) == L7_IN


def test_fields_of_one_entry_are_anded() -> None:
    ps = policies(http_policy("        - {method: GET, path: /a}"))
    assert verdict(ps, probe(CLIENT, SERVER, http=("GET", "/a"))) == ALLOWED
    assert verdict(ps, probe(CLIENT, SERVER, http=("POST", "/a"))) == L7_IN
    assert verdict(ps, probe(CLIENT, SERVER, http=("GET", "/b"))) == L7_IN


def test_empty_entry_allows_every_request() -> None:
    ps = policies(http_policy("        - {}"))
    assert verdict(ps, probe(CLIENT, SERVER, http=("PATCH", "/anything?x"))) == ALLOWED


GRPC = http_policy("""\
        - {method: POST, path: /api.AccountService/GetAccount}
        - {method: POST, path: /api.AccountService/ListAccounts}""")


@pytest.mark.parametrize(("method", "expected"), [
    ("GetAccount", ALLOWED), ("ListAccounts", ALLOWED),
    ("DeleteAccount", L7_IN), ("CreateWithdrawal", L7_IN),
])
def test_grpc_is_post_service_method(method: str, expected: Outcome) -> None:
    pr = probe(CLIENT, SERVER, grpc=("api.AccountService", method))
    assert verdict(policies(GRPC), pr) == expected


def test_grpc_denial_is_permission_denied() -> None:
    e = run(policies(GRPC), probe(CLIENT, SERVER, grpc=("api.AccountService", "DeleteAccount")))
    assert e.client == "grpc-permission-denied"
    assert e.hubble.type == "L7"


def test_an_l4_only_rule_for_the_same_peer_lifts_the_l7_restriction() -> None:
    ps = policies(ACCOUNTS + """---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: l4, namespace: payments}
spec:
  endpointSelector: {matchLabels: {app: server}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: client}}]
    toPorts: [{ports: [{port: '8080', protocol: TCP}]}]
""")
    e = run(ps, probe(CLIENT, SERVER, http=("DELETE", "/api/v1/accounts/1")))
    assert (e.verdict, e.hubble.type) == ("allowed", "L7")  # still proxied, allowed by all
    assert "CiliumNetworkPolicy payments/l4" in e.explanation


def test_peers_outside_the_l7_rule_bypass_the_proxy() -> None:
    ps = policies(ACCOUNTS + """---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: l4, namespace: payments}
spec:
  endpointSelector: {matchLabels: {app: server}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: other}}]
    toPorts: [{ports: [{port: '8080', protocol: TCP}]}]
""")
    e = run(ps, probe(pod(app="other"), SERVER, http=("DELETE", "/x")))
    assert (e.verdict, e.hubble.type) == ("allowed", "L3_L4")


def test_rules_from_two_policies_are_ored() -> None:
    ps = policies(ACCOUNTS + "---\n" + http_policy("        - {method: DELETE, path: /x}")
                  .replace("name: h,", "name: h2,"))
    assert verdict(ps, probe(CLIENT, SERVER, http=("DELETE", "/x"))) == ALLOWED
    assert verdict(ps, probe(CLIENT, SERVER, http=("GET", "/api/v1/accounts"))) == ALLOWED
    assert verdict(ps, probe(CLIENT, SERVER, http=("DELETE", "/y"))) == L7_IN


def test_l7_on_the_egress_side() -> None:
    ps = policies("""
        apiVersion: cilium.io/v2
        kind: CiliumNetworkPolicy
        metadata: {name: eg, namespace: payments}
        spec:
          endpointSelector: {matchLabels: {app: client}}
          egress:
          - toEndpoints: [{matchLabels: {app: server}}]
            toPorts:
            - ports: [{port: '8080', protocol: TCP}]
              rules: {http: [{method: GET}]}
        """)
    assert verdict(ps, probe(CLIENT, SERVER, http=("GET", "/a"))) == ALLOWED
    e = run(ps, probe(CLIENT, SERVER, http=("PUT", "/a")))
    assert (e.verdict, e.direction, e.hubble.traffic_direction) == ("l7-denied", "egress",
                                                                     "EGRESS")
    assert verdict(ps, probe(CLIENT, SERVER, http=("PUT", "/a"))) == L7_EG


def test_l7_on_both_sides_each_must_pass() -> None:
    egress = """
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: eg, namespace: payments}
spec:
  endpointSelector: {matchLabels: {app: client}}
  egress:
  - toEndpoints: [{matchLabels: {app: server}}]
    toPorts:
    - ports: [{port: '8080', protocol: TCP}]
      rules: {http: [{method: GET}, {method: DELETE}]}
"""
    ps = policies(egress + "---\n" + ACCOUNTS)
    assert verdict(ps, probe(CLIENT, SERVER, http=("GET", "/api/v1/accounts"))) == ALLOWED
    assert verdict(ps, probe(CLIENT, SERVER, http=("DELETE", "/api/v1/accounts/1"))) == L7_IN
    assert verdict(ps, probe(CLIENT, SERVER, http=("POST", "/api/v1/accounts"))) == L7_EG


def test_l7_rules_restrict_nothing_without_default_deny() -> None:
    """From 1.18 (l4.go ensureWildcard): see test_model_l7_default_allow.py for the table."""
    ps = policies(ACCOUNTS.replace("  ingress:", "  enableDefaultDeny: {ingress: false}\n"
                                                 "  ingress:"))
    assert verdict(ps, probe(CLIENT, SERVER, http=("DELETE", "/api/v1/accounts/1"))) == ALLOWED
    assert verdict(ps, probe(pod(app="other"), SERVER, http=("DELETE", "/x"))) == ALLOWED


def test_two_port_items_of_one_rule_are_ored() -> None:
    ps = policies("""
        apiVersion: cilium.io/v2
        kind: CiliumNetworkPolicy
        metadata: {name: two, namespace: payments}
        spec:
          endpointSelector: {matchLabels: {app: server}}
          ingress:
          - fromEndpoints: [{matchLabels: {app: client}}]
            toPorts:
            - ports: [{port: '8080', protocol: TCP}]
              rules: {http: [{method: GET}]}
            - ports: [{port: '8080', protocol: TCP}]
              rules: {http: [{method: PUT}]}
        """)
    assert verdict(ps, probe(CLIENT, SERVER, http=("PUT", "/"))) == ALLOWED
    assert verdict(ps, probe(CLIENT, SERVER, http=("GET", "/"))) == ALLOWED
    assert verdict(ps, probe(CLIENT, SERVER, http=("POST", "/"))) == L7_IN
