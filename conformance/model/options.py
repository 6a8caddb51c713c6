"""Cilium agent options that change verdicts, as the model assumes them.

Each one is an agent flag (and a Helm value of the chart, named in `HELM`):
- `policy-enforcement-mode` (`policyEnforcementMode`): `default` enforces a direction only
  when some policy selecting the endpoint has rules there; `always` enforces every endpoint
  in both directions (default deny without any policy); `never` enforces nothing, deny rules
  included. Upstream: `pkg/policy/repository.go` `computePolicyEnforcementAndRules`, the modes
  in `pkg/option/config.go` (DefaultEnforcement, AlwaysEnforce, NeverEnforce).
- `tofqdns-dns-reject-response-code` (`dnsProxy.dnsRejectResponseCode`): what the DNS proxy
  answers a query no DNS rule allows, `refused` (REFUSED) or `nameError` (NXDOMAIN). Upstream:
  `pkg/fqdn/dnsproxy/proxy.go` (the reject reply), option ToFQDNsDNSRejectResponseCode.
- `enable-l7-proxy` (`l7Proxy`): off, the agent refuses every rule with L7 rules ("L7 policy is
  not supported since L7 proxy is not enabled", `pkg/policy/api/rule_validation.go`
  IngressRule/EgressRule Validate), so such a policy never applies, and with no DNS proxy no
  toFQDNs selector ever learns an IP.
- mutual authentication (`authentication.mutual.spire.enabled`): without it, rules with
  `authentication.mode: required` drop their traffic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

EnforcementMode = Literal["default", "always", "never"]
DnsReject = Literal["refused", "nameError"]
ENFORCEMENT_MODES: tuple[EnforcementMode, ...] = ("default", "always", "never")
DNS_REJECT_CODES: tuple[DnsReject, ...] = ("refused", "nameError")
# Helm value paths of the chart (values.yaml of 1.18-1.20) for each option.
HELM = {"enforcement": "policyEnforcementMode", "dns_reject": "dnsProxy.dnsRejectResponseCode",
        "l7_proxy": "l7Proxy"}


class OptionsError(ValueError):
    """An option value the agent does not accept; the message names the option."""


@dataclass(frozen=True)
class AgentOptions:
    enforcement: EnforcementMode = "default"
    dns_reject: DnsReject = "refused"
    l7_proxy: bool = True
    mutual_auth: bool = True

    def __post_init__(self) -> None:
        if self.enforcement not in ENFORCEMENT_MODES:
            raise OptionsError(f"policy enforcement mode {self.enforcement!r} is not one of "
                               f"{', '.join(ENFORCEMENT_MODES)}")
        if self.dns_reject not in DNS_REJECT_CODES:
            raise OptionsError(f"DNS reject response code {self.dns_reject!r} is not one of "
                               f"{', '.join(DNS_REJECT_CODES)}")

    def to_json(self) -> dict[str, Any]:
        """The assumed options, with the agent's flag names."""
        return {"policy-enforcement-mode": self.enforcement,
                "tofqdns-dns-reject-response-code": self.dns_reject,
                "enable-l7-proxy": self.l7_proxy, "mutual-auth": self.mutual_auth}

    def describe(self) -> str:
        return ", ".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}"
                         for k, v in self.to_json().items())


DEFAULT_OPTIONS = AgentOptions()


def options_from_helm(values: dict[str, Any], *, mutual_auth: bool = True) -> AgentOptions:
    """The options a chart install with these Helm values runs with (chart defaults for
    values not given); OptionsError names the Helm value that is wrong."""
    def get(path: str, default: Any) -> Any:
        node: Any = values
        for key in path.split("."):
            if not isinstance(node, dict) or key not in node:
                return default
            node = node[key]
        return node

    l7 = get(HELM["l7_proxy"], True)
    if not isinstance(l7, bool):
        raise OptionsError(f"Helm value {HELM['l7_proxy']}: expected true or false, got {l7!r}")
    try:
        return AgentOptions(enforcement=get(HELM["enforcement"], "default"),
                            dns_reject=get(HELM["dns_reject"], "refused"), l7_proxy=l7,
                            mutual_auth=mutual_auth)
    except OptionsError as exc:
        which = "enforcement" if "enforcement" in str(exc) else "dns_reject"
        raise OptionsError(f"Helm value {HELM[which]}: {exc}") from None
