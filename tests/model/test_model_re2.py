"""Regexes have RE2 semantics (Envoy safe_regex, Go regexp): what RE2 refuses is refused,
what RE2 matches is what the model matches, and no pattern backtracks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from model_support import L7_IN, pod, policies, probe, verdict

from conformance.model import PolicyError
from conformance.model.matchers import NameMatch
from conformance.model.policyset import PolicySet
from conformance.model.regex import ENVOY_MAX_PROGRAM_SIZE, RegexError, compile_re2, is_re2
from conformance.model.schema import validate

# A catastrophic-backtracking rule and the request that sets it off: with Python's `re`
# this takes longer than the age of the universe; with RE2 it is linear.
REDOS_RULE = "/(a+)+$"
REDOS_PATH = "/" + "a" * 100_000 + "!"
CLI_TIMEOUT_S = 60  # generous for a loaded machine; a backtracking run never finishes


def http_policy(rule: str) -> str:
    return f"""
    apiVersion: cilium.io/v2
    kind: CiliumNetworkPolicy
    metadata: {{name: p, namespace: payments}}
    spec:
      endpointSelector: {{matchLabels: {{app: server}}}}
      ingress:
      - fromEndpoints: [{{matchLabels: {{app: client}}}}]
        toPorts:
        - ports: [{{port: '8080', protocol: TCP}}]
          rules: {{http: [{rule}]}}
    """


def call(ps: PolicySet, path: str, method: str = "GET", host: str | None = None) -> str:
    got = verdict(ps, probe(pod(app="client"), pod(app="server"), http=(method, path),
                            host=host))
    return str(got[0])


def test_http_rules_are_compiled_with_re2() -> None:
    ps = policies(http_policy("{method: GET, path: '/a/.*', host: 'api[.]x'}"))
    rule = ps.policies[0].ingress[0].port_rules[0].http
    assert rule is not None
    assert all(is_re2(rx) for rx in (rule[0].method, rule[0].path, rule[0].host))


def test_dns_patterns_are_compiled_with_re2_and_still_match() -> None:
    star, multi, name = (NameMatch("*.stripe.com", True), NameMatch("**.stripe.com", True),
                         NameMatch("API.Stripe.com.", False))
    assert is_re2(star.regex(multi_label=False))
    assert star.matches("api.stripe.com", False) and not star.matches("a.b.stripe.com", False)
    assert multi.matches("a.b.stripe.com", True) and not multi.matches("a.b.stripe.com", False)
    assert name.matches("api.stripe.com.", False) and not name.matches("xapi.stripe.com", False)
    # Many `*` cost linear time in RE2 (Python's `re` backtracks polynomially on them).
    many = NameMatch("*a" * 40 + "*b", True)
    assert not many.matches("a" * 200 + "c", False)


def test_catastrophic_rule_is_evaluated_not_backtracked() -> None:
    ps = policies(http_policy(f"{{path: '{REDOS_RULE}'}}"))
    assert call(ps, REDOS_PATH) == L7_IN[0]
    assert call(ps, "/aaaa") == "allowed"


@pytest.mark.parametrize(("rule", "path", "expected"), [
    # RE2's \d is ASCII; Python's `re` also takes other scripts' digits.
    (r"'/[0-9]+|/\d+'", "/\u0663", "l7-denied"),
    (r"'/\d+'", "/123", "allowed"),
    # RE2's $ is the end of the text; Python's also matches before a final newline.
    ("'/a$'", "/a\n", "l7-denied"),
    # (?i) works in RE2 as in Go.
    ("'(?i)/Admin'", "/aDMIN", "allowed"),
])
def test_matching_follows_re2(rule: str, path: str, expected: str) -> None:
    assert call(policies(http_policy(f"{{path: {rule}}}")), path) == expected


@pytest.mark.parametrize(("pattern", "reason"), [
    (r"/a/(x)\1", r"invalid escape sequence: \1"),
    ("/a(?=b)", "invalid perl operator: (?="),
    ("/a(?<!b)", "invalid perl operator: (?<!"),
    ("/(?(1)a|b)", "invalid perl operator: (?("),
    ("/a{1001}", "invalid repetition size: {1001}"),
    ("/a*+", "bad repetition operator: *+"),
    ("/(?>a)", "invalid perl operator: (?>"),
    (r"/a\Z", r"invalid escape sequence: \Z"),
])
def test_patterns_re2_refuses_are_rejected_with_the_reason(pattern: str, reason: str) -> None:
    for field in ("path", "method", "host"):
        text = http_policy("{" + f"{field}: '{pattern}'" + "}")
        with pytest.raises(PolicyError) as caught:
            policies(text)
        message = str(caught.value)
        assert f"rules.http[0].{field}" in message and reason in message
        assert ("Envoy refuses" if field == "host" else "agent rejects") in message


def test_program_size_limit_is_envoys_default() -> None:
    assert ENVOY_MAX_PROGRAM_SIZE == 100
    assert compile_re2("/" + "x" * 98).programsize > ENVOY_MAX_PROGRAM_SIZE
    assert compile_re2("/api/v1/accounts/[0-9a-f-]+").programsize <= ENVOY_MAX_PROGRAM_SIZE
    with pytest.raises(RegexError, match="missing \\)"):
        compile_re2("/(a")


@pytest.mark.parametrize(("type_name", "value"), [
    ("FQDNSelector", {"matchName": "a" * 40 + "!"}),
    ("FQDNSelector", {"matchPattern": "*" * 40 + "!"}),
])
def test_crd_patterns_answer_in_linear_time(type_name: str, value: dict[str, str]) -> None:
    """`([-a-zA-Z0-9_]+[.]?)+` on 40 characters and a '!' backtracks for hours in `re`."""
    from conformance.model import schema

    assert all(is_re2(rx) for rx in (schema._FQDN_NAME, schema._FQDN_PATTERN,
                                     schema._PORT_NAME, schema._LABEL_VALUE))
    problems = validate(value, type_name, "toFQDNs[0]")
    assert problems and "is not a valid DNS" in problems[0][1]


def test_explain_cli_with_a_catastrophic_rule_returns(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(http_policy(f"{{path: '{REDOS_RULE}'}}").replace("\n    ", "\n"))
    probes = tmp_path / "probes.jsonl"
    probes.write_text(json.dumps({
        "id": "redos", "port": 8080, "source": {"namespace": "payments",
                                                "labels": {"app": "client"}},
        "destination": {"namespace": "payments", "labels": {"app": "server"}},
        "http": {"method": "GET", "path": REDOS_PATH}}) + "\n")
    done = subprocess.run([sys.executable, "-m", "conformance", "explain", "--policies",
                           str(policy), "--probes", str(probes)], capture_output=True,
                          text=True, timeout=CLI_TIMEOUT_S, check=False)
    assert (done.returncode, done.stderr) == (0, "")
    assert json.loads(done.stdout)["verdict"] == "l7-denied"


@pytest.mark.parametrize(("pattern", "name", "on_1_20", "on_1_18"), [
    ("*", "a.b.example.com", True, True),
    ("**", "a.b.example.com", True, False),  # only `*` (and from 1.19 `**`) is "every name"
    ("**", "example", True, True),
    ("**.", "a.b.example.com", True, False),
    ("**.x.com", "a.b.x.com", True, False),
    ("***.x.com", "a.b.x.com", True, False),  # two or more leading stars, then a dot
    ("**.x.com", "x.com", False, False),  # at least one label in front
    ("*.x.com", "a.b.x.com", False, False),
    ("*.x.com", "A.X.COM.", True, True),
    ("a*b.com", "a-x_1b.com", True, True),
    ("a*b.com", "a.b.com", False, False),
    ("a**b.com", "a.zb.com", False, False),  # an inner run of stars stays in its label
])
def test_match_pattern_translation(pattern: str, name: str, on_1_20: bool,
                                   on_1_18: bool) -> None:
    """cilium pkg/fqdn/matchpattern/matchpattern.go from 1.19; plain `*` per label before."""
    match = NameMatch(pattern, is_pattern=True)
    assert (match.matches(name, multi_label=True), match.matches(name, multi_label=False)) == (
        on_1_20, on_1_18)
