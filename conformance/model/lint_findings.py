"""Lint vocabulary: the rule list, a finding, and a lint run's result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from conformance.model.errors import Problem
from conformance.vocabulary.catalogue import load_catalogue

Severity = Literal["error", "warning"]
# Where the rule texts name a minor, it is the catalogue's (conformance/vocabulary/cilium.yaml).
_MULTI = load_catalogue().since("multi-label-wildcard")
_L7_ALLOW = load_catalogue().since("l7-wildcard-in-default-allow")
_AUTH_DEPRECATED = load_catalogue().since("mutual-auth-deprecated")

# The rule list: name -> (severity, what it catches).
RULES: dict[str, tuple[Severity, str]] = {
    "rejected": ("error", "the API server or the Cilium agent rejects the document"),
    "header-as-map": ("error", "an http `headers` item written as a YAML map, not a string"),
    "header-no-space": ("error", "a header string with no space after the colon: a presence "
                                 "check for a header literally named 'Name:value'"),
    "fqdn-without-dns-proxy": ("error", "toFQDNs whose names no DNS rule lets the DNS proxy "
                                        "see, so their IPs are never learned"),
    "dns-cut-off": ("error", "egress default deny that drops the pods' DNS lookups while "
                             "they use FQDNs or service names"),
    "kube-dns-selector": ("error", "a selector for kube-dns using `app: kube-dns`; kube-dns "
                                   "pods carry `k8s-app: kube-dns`"),
    "multi-label-wildcard": ("error", f"`**.` targeted at Cilium < {_MULTI}, where it matches one "
                                      "label like `*`"),
    "fqdn-mixed-l3": ("error", "toFQDNs combined with other L3 selectors in one rule"),
    "l7-on-deny": ("error", "L7 rules or authentication on ingressDeny/egressDeny rules"),
    "path-never-matches": ("error", "an L7 path regex that can never match a request path"),
    "method-never-matches": ("error", "an L7 method regex that matches no HTTP method"),
    "regex-not-re2": ("error", "an L7 path/method/host regex RE2 rejects (backreferences, "
                               "lookaround, conditionals, repetition over 1000, ...)"),
    "regex-too-large": ("error", "an L7 regex whose RE2 program exceeds Envoy's default "
                                 "max program size (100)"),
    "l7-bypassed": ("warning", "HTTP rules that do not restrict a peer because another rule "
                               "allows it on the same port without L7 rules"),
    "sni-pattern-invalid": ("error", "a serverNames entry the CRD accepts but Envoy's SNI "
                                     "matcher refuses (e.g. a trailing dot, `***`)"),
    "sni-bypassed": ("warning", "serverNames that do not restrict a peer because a rule of "
                                "another selector allows it on the same port without them"),
    "l7-default-allow": ("warning", "L7 rules in a direction where default deny is off: from "
                                    f"{_L7_ALLOW} Cilium adds an allow-all L7 rule, so they "
                                    "restrict nothing"),
    "path-unescaped-query": ("warning", "an L7 path with an unescaped `?` before a query "
                                        "string: `?` is a regex quantifier"),
    "cidr-selects-no-pods": ("warning", "a CIDR rule or ipBlock inside a private range: "
                                        "Cilium never selects pods or nodes by CIDR"),
    "ccnp-selects-kube-system": ("warning", "a cluster-wide default deny that also selects "
                                            "kube-system and cuts CoreDNS's own traffic"),
    "use-double-star": ("warning", "several patterns for multi-level subdomains where `**.` "
                                   f"(Cilium >= {_MULTI}) says it once"),
    "empty-rule": ("warning", "an ingress/egress rule with no peer and no port: matches "
                              "nothing, yet switches default deny on"),
    "auth-deprecated": ("warning", f"mutual authentication: deprecated in {_AUTH_DEPRECATED}, "
                                   "first packets dropped with AUTH_REQUIRED, needs "
                                   "authentication.enabled"),
    "not-enforced": ("warning", "policy-enforcement-mode never: the agent enforces no policy"),
    "not-modelled": ("warning", "a construct the model cannot evaluate offline (toServices, "
                                "toNodes, CIDR groups, secrets, host policies, "
                                "and TLS interception)"),
}


@dataclass(frozen=True)
class Finding:
    rule: str
    file: str
    document: int
    path: str
    message: str

    @property
    def severity(self) -> Severity:
        return RULES[self.rule][0]

    def __str__(self) -> str:
        return (f"{self.file}: document {self.document}: {self.path}: "
                f"{self.severity} [{self.rule}] {self.message}")

    def to_json(self) -> dict[str, Any]:
        return {"severity": self.severity, "rule": self.rule, "file": self.file,
                "document": self.document, "path": self.path, "message": self.message}


@dataclass(frozen=True)
class LintResult:
    findings: tuple[Finding, ...]
    fatal: tuple[Problem, ...]  # unreadable files, invalid YAML, unknown kinds: cannot lint

    @property
    def errors(self) -> int:
        return sum(f.severity == "error" for f in self.findings)
