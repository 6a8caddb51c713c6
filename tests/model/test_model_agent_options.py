"""Agent options that change verdicts: enforcement mode, DNS reject code, L7 proxy off."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from model_support import KUBE_DNS, pod, policies, probe
from test_model_cli import ACC, INGRESS, PP, explain, probes_file

from conformance.cli import main
from conformance.model import evaluate
from conformance.model.options import AgentOptions, OptionsError, options_from_helm

SERVER = pod(app="server")
CLIENT = pod(app="client")
LONE = pod("elsewhere", app="lone")  # no policy selects it
ALLOW_GET = """
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: get-only, namespace: payments}
spec:
  endpointSelector: {matchLabels: {app: server}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: client}}]
    toPorts:
    - ports: [{port: '8080', protocol: TCP}]
      rules: {http: [{method: GET}]}
  ingressDeny:
  - fromEndpoints: [{matchLabels: {app: evil}}]
"""
DNS_ONLY = """
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: dns-only, namespace: payments}
spec:
  endpointSelector: {matchLabels: {app: client}}
  egress:
  - toEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: kube-system,
                                 k8s:k8s-app: kube-dns}}]
    toPorts:
    - ports: [{port: '53', protocol: ANY}]
      rules: {dns: [{matchName: api.stripe.com}]}
"""


def outcome(text: str, pr: object, options: AgentOptions) -> tuple[str, str | None, str]:
    e = evaluate(policies(text), pr, "1.20", options=options)  # type: ignore[arg-type]
    return e.verdict, e.drop_reason, e.client


EG_IN = ("dropped", "POLICY_DENIED", "timeout")  # `always`: the client's egress is enforced


@pytest.mark.parametrize(("pr", "default", "always", "never"), [
    # a pod no policy selects: open by default, closed with `always`
    (probe(LONE, LONE), ("allowed", None, "ok"), EG_IN, ("allowed", None, "ok")),
    # L7 and deny rules are not enforced at all with `never`
    (probe(CLIENT, SERVER, http=("DELETE", "/x")), ("l7-denied", None, "http-403"), EG_IN,
     ("allowed", None, "ok")),
    (probe(pod(app="evil"), SERVER), ("dropped", "POLICY_DENY", "timeout"), EG_IN,
     ("allowed", None, "ok")),
])
def test_enforcement_modes(pr: object, default: tuple[str, str | None, str],
                           always: tuple[str, str | None, str],
                           never: tuple[str, str | None, str]) -> None:
    got = [outcome(ALLOW_GET, pr, AgentOptions(enforcement=m))
           for m in ("default", "always", "never")]
    assert got == [default, always, never]


def test_always_keeps_the_host_allowed() -> None:
    from model_support import entity
    e = evaluate(policies(ALLOW_GET), probe(entity("host"), LONE), "1.20",
                 options=AgentOptions(enforcement="always"))
    assert e.verdict == "allowed"


CLIENT_OUT = """
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: client-out, namespace: payments}
spec:
  endpointSelector: {matchLabels: {app: client}}
  egress: [{toEntities: [all]}]
"""


def test_always_keeps_l7_rules_under_default_allow() -> None:
    """With `always` the endpoint is enforced, so ensureWildcard adds nothing."""
    text = ALLOW_GET.replace("  ingress:\n", "  enableDefaultDeny: {ingress: false}\n"
                                             "  ingress:\n", 1) + "---" + CLIENT_OUT
    pr = probe(CLIENT, SERVER, http=("DELETE", "/x"))
    assert outcome(text, pr, AgentOptions())[0] == "allowed"
    assert outcome(text, pr, AgentOptions(enforcement="always"))[0] == "l7-denied"


def test_dns_reject_response_code() -> None:
    pr = probe(CLIENT, KUBE_DNS, 53, "UDP", dns="evil.example")
    assert outcome(DNS_ONLY, pr, AgentOptions()) == ("dns-refused", None, "dns-refused")
    assert outcome(DNS_ONLY, pr, AgentOptions(dns_reject="nameError")) == (
        "dns-refused", None, "dns-nxdomain")


def test_l7_proxy_off_refuses_policies_with_l7_rules() -> None:
    options = AgentOptions(l7_proxy=False)
    e = evaluate(policies(ALLOW_GET), probe(CLIENT, SERVER, http=("DELETE", "/x")), "1.20",
                 options=options)
    assert e.verdict == "allowed"  # the policy never applies: no default deny either
    assert "refuses CiliumNetworkPolicy payments/get-only" in e.explanation
    # its deny rule is gone too, since the whole object is refused
    assert outcome(ALLOW_GET, probe(pod(app="evil"), SERVER), options)[0] == "allowed"


def test_unknown_option_values_are_refused() -> None:
    with pytest.raises(OptionsError, match="policy enforcement mode 'sometimes'"):
        AgentOptions(enforcement="sometimes")  # type: ignore[arg-type]


def test_options_from_helm_values() -> None:
    assert options_from_helm({}) == AgentOptions()
    got = options_from_helm({"policyEnforcementMode": "always", "l7Proxy": False,
                             "dnsProxy": {"dnsRejectResponseCode": "nameError"}},
                            mutual_auth=False)
    assert got == AgentOptions("always", "nameError", False, False)
    with pytest.raises(OptionsError, match=r"Helm value dnsProxy\.dnsRejectResponseCode"):
        options_from_helm({"dnsProxy": {"dnsRejectResponseCode": "drop"}})
    with pytest.raises(OptionsError, match="Helm value l7Proxy"):
        options_from_helm({"l7Proxy": "yes"})


def test_explain_reports_assumed_options(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = explain(tmp_path, capsys, "--policy-enforcement-mode", "never",
                           "--no-l7-proxy", "--dns-reject-response-code", "nameError")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert rows[0]["assumed"] == {
        "cilium-version": "1.20", "policy-enforcement-mode": "never",
        "tofqdns-dns-reject-response-code": "nameError", "enable-l7-proxy": False,
        "mutual-auth": True}
    assert {r["verdict"] for r in rows} == {"allowed"}


def test_explain_refuses_a_bad_option(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    probes = probes_file(tmp_path, [{"id": "a", "source": PP, "destination": ACC,
                                     "port": 8080}])
    with pytest.raises(SystemExit) as exc:
        main(["explain", "--policies", str(INGRESS), "--probes", str(probes),
              "--policy-enforcement-mode", "sometimes"])
    assert exc.value.code == 2
    assert "--policy-enforcement-mode" in capsys.readouterr().err


def test_lint_with_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(ALLOW_GET)
    assert main(["lint", str(path), "--format", "json"]) == 0
    capsys.readouterr()
    assert main(["lint", str(path), "--format", "json", "--no-l7-proxy"]) == 1
    rules = {json.loads(line)["rule"] for line in capsys.readouterr().out.splitlines()}
    assert "rejected" in rules
    assert main(["lint", str(path), "--policy-enforcement-mode", "never"]) == 0
    assert "not-enforced" in capsys.readouterr().out
