"""The seed article's policies, as published and as corrected: verdicts and lint findings."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from model_support import (
    ALLOWED,
    DENIED_EG,
    DENIED_IN,
    KUBE_DNS,
    L7_IN,
    REFUSED,
    Outcome,
    entity,
    fqdn,
    pod,
    probe,
    run,
    verdict,
)

from conformance.model import PolicyError, PolicySet, load_policies
from conformance.model.lint import lint_paths
from conformance.model.probe import Peer

DATA = Path(__file__).parent / "data"
ARTICLE = DATA / "article"
FIXED = DATA / "fixed"
ACCOUNT = pod("payments", app="account-service")
PAYMENT = pod("payments", app="payment-processor")
AUDIT = pod("payments", app="audit-logger")
UUID = "/api/v1/accounts/3f2a9c1e-0b7d-4c1e-9f00-1234567890ab"


def load(*names: str, base: Path = ARTICLE) -> PolicySet:
    return load_policies([base / n for n in names])


@pytest.mark.parametrize(("source", "method", "path", "expected"), [
    (PAYMENT, "GET", "/api/v1/accounts", ALLOWED),
    (PAYMENT, "GET", UUID, ALLOWED),
    (PAYMENT, "DELETE", UUID, L7_IN),
    (PAYMENT, "POST", UUID + "/withdraw", L7_IN),
    (AUDIT, "GET", UUID, DENIED_IN),  # audit-logger is not in the policy at all
])
def test_account_service_ingress(source: Peer, method: str, path: str,
                                 expected: Outcome) -> None:
    ps = load("01-account-service-ingress.yaml")
    assert verdict(ps, probe(source, ACCOUNT, http=(method, path))) == expected


def test_published_header_rule_is_rejected_with_its_field_path() -> None:
    with pytest.raises(PolicyError) as info:
        load("02-header-rule.yaml")
    text = str(info.value)
    assert "02-header-rule.yaml: document 1: " in text
    assert "spec.ingress[0].toPorts[0].rules.http[0].headers[0]" in text
    assert '"X-Internal-Service: payment-processor"' in text


@pytest.mark.parametrize(("headers", "expected"), [
    ({"X-Internal-Service": "payment-processor"}, ALLOWED),
    ({"x-internal-service": "payment-processor"}, ALLOWED),
    ({"X-Internal-Service": "PAYMENT-PROCESSOR"}, L7_IN),  # the article says "case-insensitive"
    ({}, L7_IN),
])
def test_corrected_header_rule(headers: dict[str, str], expected: Outcome) -> None:
    ps = load("02-header-rule.yaml", base=FIXED)
    pr = probe(PAYMENT, ACCOUNT, http=("POST", "/internal/v1/transfer"), headers=headers)
    assert verdict(ps, pr) == expected


@pytest.mark.parametrize(("method", "expected"), [
    ("GetAccount", ALLOWED), ("ListAccounts", ALLOWED),
    ("DeleteAccount", L7_IN), ("CreateWithdrawal", L7_IN),
])
def test_grpc_rules(method: str, expected: Outcome) -> None:
    ps = load("03-grpc.yaml")
    pr = probe(PAYMENT, ACCOUNT, 9090, grpc=("api.AccountService", method))
    assert verdict(ps, pr) == expected


def test_published_fqdn_policy_reaches_nothing() -> None:
    ps = load("04-payment-processor-egress.yaml")
    e = run(ps, probe(PAYMENT, fqdn("api.stripe.com"), 443))
    assert (e.verdict, e.direction) == ("dropped", "egress")
    assert "DNS lookup of api.stripe.com fails" in e.explanation
    assert verdict(ps, probe(PAYMENT, KUBE_DNS, 53, "UDP", dns="api.stripe.com")) == DENIED_EG


@pytest.mark.parametrize(("destination", "port", "expected"), [
    (fqdn("api.stripe.com"), 443, ALLOWED),
    (fqdn("api.braintreegateway.com"), 443, ALLOWED),
    (fqdn("api.stripe.com"), 80, DENIED_EG),
    (fqdn("api.pastebin.com"), 443, DENIED_EG),  # resolves (pattern *), never allowed
    (entity("world", "203.0.113.10"), 443, DENIED_EG),
])
def test_corrected_fqdn_policy(destination: Peer, port: int, expected: Outcome) -> None:
    ps = load("04-payment-processor-egress.yaml", base=FIXED)
    assert verdict(ps, probe(PAYMENT, destination, port)) == expected


def test_corrected_fqdn_policy_with_narrow_dns_rule_refuses_other_names() -> None:
    text = (FIXED / "04-payment-processor-egress.yaml").read_text().replace(
        'matchPattern: "*"', "matchName: api.stripe.com")
    ps = PolicySet.from_documents(list(yaml.safe_load_all(text)))
    assert verdict(ps, probe(PAYMENT, fqdn("api.braintreegateway.com"), 443)) == REFUSED


@pytest.mark.parametrize(("source", "destination", "port", "expected"), [
    (PAYMENT, ACCOUNT, 8080, ALLOWED),
    (pod("other", app="x"), ACCOUNT, 8080, DENIED_EG),
    (PAYMENT, pod("other", app="x"), 8080, DENIED_EG),
    (entity("host"), ACCOUNT, 8080, ALLOWED),
    (PAYMENT, entity("kube-apiserver"), 6443, ALLOWED),
    (PAYMENT, entity("world", "198.51.100.1"), 443, DENIED_EG),
])
def test_default_deny_and_intra_namespace(source: Peer, destination: Peer, port: int,
                                          expected: Outcome) -> None:
    ps = load("05-default-deny.yaml")
    assert verdict(ps, probe(source, destination, port)) == expected


def test_published_default_deny_cuts_dns() -> None:
    ps = load("05-default-deny.yaml")
    e = run(ps, probe(PAYMENT, KUBE_DNS, 53, "UDP", dns="account-service.payments"))
    assert (e.verdict, e.drop_reason) == ("dropped", "POLICY_DENIED")


def test_corrected_default_deny_keeps_dns() -> None:
    ps = load("05-default-deny.yaml", base=FIXED)
    assert verdict(ps, probe(PAYMENT, KUBE_DNS, 53, "UDP", dns="x.payments")) == ALLOWED
    assert verdict(ps, probe(PAYMENT, ACCOUNT, 8080)) == ALLOWED
    assert verdict(ps, probe(pod("other", app="x"), ACCOUNT, 8080)) == DENIED_EG


def test_mutual_auth_policy() -> None:
    ps = load("06-mutual-auth.yaml")
    e = run(ps, probe(PAYMENT, ACCOUNT, http=("GET", UUID)))
    assert e.verdict == "allowed" and "AUTH_REQUIRED" in e.explanation
    assert verdict(ps, probe(PAYMENT, ACCOUNT, http=("GET", "/api/v1/accounts"))) == L7_IN


def test_lint_catches_the_articles_mistakes() -> None:
    result = lint_paths([ARTICLE])
    found = {(Path(f.file).name, f.rule) for f in result.findings}
    assert ("02-header-rule.yaml", "header-as-map") in found
    assert ("04-payment-processor-egress.yaml", "kube-dns-selector") in found
    assert ("04-payment-processor-egress.yaml", "fqdn-without-dns-proxy") in found
    assert ("05-default-deny.yaml", "ccnp-selects-kube-system") in found
    assert ("05-default-deny.yaml", "dns-cut-off") in found
    assert ("06-mutual-auth.yaml", "auth-deprecated") in found
    # Its intra-namespace L3 allow silently lifts the L7 rules of the ingress policy.
    assert {r for n, r in found if n == "01-account-service-ingress.yaml"} == {"l7-bypassed"}
    assert result.errors >= 5 and not result.fatal


def test_lint_is_clean_on_the_corrected_policies() -> None:
    result = lint_paths([FIXED])
    assert result.errors == 0, [str(f) for f in result.findings]
