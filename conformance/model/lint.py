"""Lint policies for the mistakes that make them fail silently (or get them rejected).

Structural checks read the raw YAML (so they still work on documents the API server would
refuse); cross-policy checks ask the model itself, e.g. "does a DNS lookup of this toFQDNs
name from the selected pods pass the DNS proxy?".
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from conformance.model.engine import KUBE_DNS, dns_proxy_learns, evaluate
from conformance.model.errors import Problem
from conformance.model.loader import Document, load_documents, parse_document
from conformance.model.policy import CCNP, CNP, Policy
from conformance.model.policyset import PolicySet
from conformance.model.probe import DnsQuery, Entity, Pod, Probe
from conformance.model.selectors import NAMESPACE_LABEL, identity_of, split_key
from conformance.model.version import DEFAULT_VERSION, multi_label_wildcard, parse_version

Severity = Literal["error", "warning"]

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
    "multi-label-wildcard": ("error", "`**.` targeted at Cilium < 1.19, where it matches one "
                                      "label like `*`"),
    "fqdn-mixed-l3": ("error", "toFQDNs combined with other L3 selectors in one rule"),
    "l7-on-deny": ("error", "L7 rules or authentication on ingressDeny/egressDeny rules"),
    "path-never-matches": ("error", "an L7 path regex that can never match a request path"),
    "method-never-matches": ("error", "an L7 method regex that matches no HTTP method"),
    "ccnp-selects-kube-system": ("warning", "a cluster-wide default deny that also selects "
                                            "kube-system and cuts CoreDNS's own traffic"),
    "use-double-star": ("warning", "several patterns for multi-level subdomains where `**.` "
                                   "(Cilium >= 1.19) says it once"),
    "empty-rule": ("warning", "an ingress/egress rule with no peer and no port: matches "
                              "nothing, yet switches default deny on"),
    "auth-deprecated": ("warning", "mutual authentication: deprecated in 1.20, first packets "
                                   "dropped with AUTH_REQUIRED, needs authentication.enabled"),
    "not-modelled": ("warning", "a construct the model cannot evaluate offline (named ports, "
                                "toServices, toNodes, CIDR groups, secrets, host policies)"),
}
UPSTREAM = "192.0.2.53"  # a documentation address standing for CoreDNS's upstream resolver
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")


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


def lint_paths(paths: Sequence[str | Path], cilium_version: str = DEFAULT_VERSION) -> LintResult:
    docs, problems = load_documents(paths)
    return lint_documents(docs, cilium_version, problems)


def lint_documents(docs: Sequence[Document], cilium_version: str = DEFAULT_VERSION,
                   fatal: Sequence[Problem] = ()) -> LintResult:
    version = parse_version(cilium_version)
    fatal_list = list(fatal)
    findings: list[Finding] = []
    policies: list[Policy] = []
    for doc in docs:
        kind = doc.data.get("kind") if isinstance(doc.data, dict) else None
        if kind not in (CNP, CCNP, "NetworkPolicy"):
            fatal_list.extend(parse_document(doc)[1])
            continue
        own = list(_structural(doc, version))
        findings.extend(own)
        found, problems = parse_document(doc)
        policies.extend(found)
        claimed = {f.path for f in own}
        for p in problems:
            if p.path not in claimed and not any(p.path.startswith(c + ".") for c in claimed):
                mixed = "toFQDNs" in p.message and "cannot be combined" in p.message
                rule = "fqdn-mixed-l3" if mixed else "rejected"
                findings.append(Finding(rule, p.file, p.document, p.path, p.message))
    findings.extend(_model_checks(PolicySet(policies), cilium_version))
    return LintResult(tuple(sorted(findings, key=lambda f: (f.file, f.document, f.path))),
                      tuple(fatal_list))


# --- structural checks on the raw documents -----------------------------------------------

def _rules(doc: Document) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(path, field, rule) of every CNP/CCNP ingress/egress/deny rule."""
    data = doc.data
    specs = [("spec", data.get("spec"))] + [
        (f"specs[{i}]", s) for i, s in enumerate(_list(data.get("specs")))]
    for spec_path, spec in specs:
        if not isinstance(spec, dict):
            continue
        for field in ("ingress", "egress", "ingressDeny", "egressDeny"):
            for i, rule in enumerate(_list(spec.get(field))):
                if isinstance(rule, dict):
                    yield f"{doc.prefix}{spec_path}.{field}[{i}]", field, rule


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _port_rules(rule: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for j, pr in enumerate(_list(rule.get("toPorts"))):
        if isinstance(pr, dict):
            yield f"{path}.toPorts[{j}]", pr


def _structural(doc: Document, version: tuple[int, int]) -> Iterator[Finding]:
    def finding(rule: str, path: str, message: str) -> Finding:
        return Finding(rule, doc.file, doc.index, path, message)

    data = doc.data
    if data.get("kind") == "NetworkPolicy":
        yield from _np_structural(doc)
        return
    specs = [data.get("spec"), *_list(data.get("specs"))]
    if any(isinstance(s, dict) and "nodeSelector" in s for s in specs):
        yield finding("not-modelled", doc.prefix + "spec.nodeSelector",
                      "host policies (nodeSelector) are not modelled: they select no pod here")
    for path, field, rule in _rules(doc):
        deny = field.endswith("Deny")
        if deny and "authentication" in rule:
            yield finding("l7-on-deny", f"{path}.authentication",
                          "deny rules cannot carry authentication; the API server rejects it")
        if not any(_list(rule.get(k)) for k in rule if k != "authentication"):
            yield finding("empty-rule", path,
                          "this rule has no peer and no port, so it matches nothing while "
                          "switching default deny on (to allow everything, use "
                          "fromEntities/toEntities: [all])")
        mode = (rule.get("authentication") or {}).get("mode") if isinstance(
            rule.get("authentication"), dict) else None
        if mode in ("required", "test-always-fail"):
            yield finding("auth-deprecated", f"{path}.authentication.mode", _auth_note(mode))
        yield from _peer_checks(doc, path, rule)
        for pr_path, pr in _port_rules(rule, path):
            for key in ("serverNames", "listener", "terminatingTLS", "originatingTLS"):
                if key in pr:
                    yield finding("not-modelled", f"{pr_path}.{key}",
                                  f"{key} (TLS inspection / custom listeners) is not "
                                  "modelled: verdicts ignore it")
            rules = pr.get("rules")
            if deny and rules is not None:
                yield finding("l7-on-deny", f"{pr_path}.rules",
                              "deny rules carry ports only; L7 rules (http/dns) are rejected")
            for k, port in enumerate(_list(pr.get("ports"))):
                if isinstance(port, dict) and isinstance(port.get("port"), str) and not str(
                        port["port"]).isdigit():
                    yield finding("not-modelled", f"{pr_path}.ports[{k}].port",
                                  f"named port {port['port']!r} cannot be resolved offline; "
                                  "the model treats it as matching nothing")
            if not isinstance(rules, dict):
                continue
            for k, http in enumerate(_list(rules.get("http"))):
                if isinstance(http, dict):
                    yield from _http_checks(doc, f"{pr_path}.rules.http[{k}]", http)
            for k, item in enumerate(_list(rules.get("dns"))):
                yield from _pattern_checks(doc, f"{pr_path}.rules.dns[{k}]", item, version)
        for k, item in enumerate(_list(rule.get("toFQDNs"))):
            yield from _pattern_checks(doc, f"{path}.toFQDNs[{k}]", item, version)
        yield from _double_star_hint(doc, path, rule, version)


def _np_structural(doc: Document) -> Iterator[Finding]:
    spec = doc.data.get("spec")
    if not isinstance(spec, dict):
        return
    for direction in ("ingress", "egress"):
        for i, rule in enumerate(_list(spec.get(direction))):
            for k, port in enumerate(_list(rule.get("ports") if isinstance(rule, dict) else [])):
                if isinstance(port, dict) and isinstance(port.get("port"), str):
                    yield Finding("not-modelled", doc.file, doc.index,
                                  f"{doc.prefix}spec.{direction}[{i}].ports[{k}].port",
                                  f"named port {port['port']!r} cannot be resolved offline")


def _auth_note(mode: str) -> str:
    if mode == "test-always-fail":
        return ("test-always-fail drops every connection with AUTH_REQUIRED (a test mode); "
                "mutual auth is deprecated in 1.20")
    return ("mutual authentication is deprecated in Cilium 1.20 (removal expected in 1.21) and "
            "needs authentication.enabled=true (default false since 1.19); the first packets "
            "of a new identity pair are dropped with AUTH_REQUIRED even when it succeeds")


def _peer_checks(doc: Document, path: str, rule: dict[str, Any]) -> Iterator[Finding]:
    for field in ("fromEndpoints", "toEndpoints"):
        for i, sel in enumerate(_list(rule.get(field))):
            labels = sel.get("matchLabels") if isinstance(sel, dict) else None
            if not isinstance(labels, dict):
                continue
            keys = {split_key(str(k))[1]: v for k, v in labels.items()}
            if keys.get("app") == "kube-dns":
                yield Finding("kube-dns-selector", doc.file, doc.index,
                              f"{path}.{field}[{i}].matchLabels",
                              "kube-dns pods carry `k8s-app: kube-dns`, not `app: kube-dns`: "
                              "this selector matches no pod, so the rule allows nothing")
    for field in ("toServices", "toNodes", "fromNodes", "toGroups", "fromGroups"):
        if rule.get(field):
            yield Finding("not-modelled", doc.file, doc.index, f"{path}.{field}",
                          f"{field} cannot be evaluated offline; the model matches nothing")
    for field in ("fromCIDRSet", "toCIDRSet"):
        for i, item in enumerate(_list(rule.get(field))):
            if isinstance(item, dict) and "cidr" not in item:
                yield Finding("not-modelled", doc.file, doc.index, f"{path}.{field}[{i}]",
                              "CIDR groups cannot be resolved offline; the model matches "
                              "nothing")


def _header_checks(doc: Document, path: str, http: dict[str, Any]) -> Iterator[Finding]:
    for j, header in enumerate(_list(http.get("headers"))):
        where = f"{path}.headers[{j}]"
        if isinstance(header, dict):
            text = "; ".join(f'"{k}: {v}"' for k, v in header.items())
            yield Finding("header-as-map", doc.file, doc.index, where,
                          f"this header is a YAML map, which the API server rejects; write "
                          f"the string {text}")
        elif isinstance(header, str) and " " not in header and ":" in header:
            name, _, value = header.partition(":")
            yield Finding("header-no-space", doc.file, doc.index, where,
                          f"{header!r} has no space after the colon, so Cilium checks for a "
                          f"header literally named {header!r}, which never exists; write "
                          f"\"{name}: {value}\"")
    for j, m in enumerate(_list(http.get("headerMatches"))):
        if isinstance(m, dict) and m.get("secret") is not None:
            yield Finding("not-modelled", doc.file, doc.index, f"{path}.headerMatches[{j}]",
                          "a header value from a Secret cannot be known offline; the model "
                          "uses `value` or treats the header as never matching")


def _http_checks(doc: Document, path: str, http: dict[str, Any]) -> Iterator[Finding]:
    yield from _header_checks(doc, path, http)
    rx = _compile(http.get("path"))
    if rx is not None and not _can_start_with_slash(rx):
        yield Finding("path-never-matches", doc.file, doc.index, f"{path}.path",
                      f"{http['path']!r} must match the whole request path, which always "
                      "starts with '/' (and includes the query string); this regex never "
                      "matches")
    method = _compile(http.get("method"))
    if method is not None and not any(method.fullmatch(m) for m in HTTP_METHODS):
        yield Finding("method-never-matches", doc.file, doc.index, f"{path}.method",
                      f"{http['method']!r} matches no HTTP method (methods are upper case "
                      "and matched whole)")


def _compile(value: Any) -> re.Pattern[str] | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return re.compile(value)
    except re.error:
        return None


_PATH_PROBES = ("/", "/a", "/a/b", "/api/v1/accounts", "/?a=1", "/a?x=1", "/1", "/-", "/_",
                "/a.b", "/A")


def _can_start_with_slash(rx: re.Pattern[str]) -> bool:
    """False when the regex provably never matches a string that starts with '/'.

    A match anywhere is tried first on sample paths; then the literal prefix is inspected:
    a regex whose fixed first character is not '/' can never match a request path.
    """
    if any(rx.fullmatch(p) for p in _PATH_PROBES):
        return True
    text = rx.pattern.removeprefix("^")
    if not text:
        return False
    first = text[0]
    if first == "/":
        return True
    return not (first.isalnum() or first in "-_~%:")


def _pattern_checks(doc: Document, path: str, item: Any,
                    version: tuple[int, int]) -> Iterator[Finding]:
    pattern = item.get("matchPattern") if isinstance(item, dict) else None
    if not isinstance(pattern, str) or "**" not in pattern:
        return
    if not multi_label_wildcard(version):
        yield Finding("multi-label-wildcard", doc.file, doc.index, f"{path}.matchPattern",
                      f"{pattern!r}: `**.` matches one or more labels only from Cilium 1.19; "
                      f"on {version[0]}.{version[1]} it acts like `*` (exactly one label)")


def _double_star_hint(doc: Document, path: str, rule: dict[str, Any],
                      version: tuple[int, int]) -> Iterator[Finding]:
    if not multi_label_wildcard(version):
        return
    patterns = [str(i.get("matchPattern")) for i in _list(rule.get("toFQDNs"))
                if isinstance(i, dict) and i.get("matchPattern")]
    for p in patterns:
        if p.startswith("*.") and not p.startswith("**.") and f"*.{p}" in patterns:
            yield Finding("use-double-star", doc.file, doc.index, f"{path}.toFQDNs",
                          f"{p!r} and '*.{p}' list subdomain levels one by one; from 1.19 "
                          f"'*{p}' covers every level")


# --- checks that ask the model ------------------------------------------------------------

def _model_checks(policies: PolicySet, cilium_version: str) -> Iterator[Finding]:
    multi = multi_label_wildcard(parse_version(cilium_version))
    kube_dns = identity_of(KUBE_DNS)
    for policy in policies:
        pod = representative_pod(policy)
        if pod is None:
            continue
        ref = policy.ref
        if policy.cluster_wide and policy.selects(kube_dns) and (
                policy.default_deny_ingress or policy.default_deny_egress):
            cut = _kube_dns_cut(policies, cilium_version)
            if cut:
                yield Finding("ccnp-selects-kube-system", ref.file, ref.document,
                              f"{ref.spec_path}.endpointSelector",
                              "this cluster-wide policy also selects kube-system (CoreDNS, "
                              "Hubble Relay), and with these policies " + "; ".join(cut)
                              + ". Exclude kube-system or allow DNS and kube-system traffic "
                              "explicitly")
        for rule in policy.egress:
            for k, name in enumerate(rule.fqdns):
                sample = sample_name(name.text, name.is_pattern, multi)
                if dns_proxy_learns(policies, pod, sample, cilium_version):
                    continue
                lookup = evaluate(policies, _lookup(pod, sample), cilium_version)
                why = lookup.explanation if lookup.verdict != "allowed" else (
                    "the lookup bypasses the DNS proxy: no DNS rule (rules.dns) on the egress "
                    "to kube-dns port 53")
                yield Finding("fqdn-without-dns-proxy", ref.file, ref.document,
                              f"{rule.path}.toFQDNs[{k}]",
                              f"{name.describe()}: a lookup of {sample} from {pod_text(pod)} "
                              f"does not pass the DNS proxy, so the name's IPs are never "
                              f"learned and connections to it are dropped. Add an egress rule "
                              f"to kube-dns (k8s:io.kubernetes.pod.namespace: kube-system, "
                              f"k8s:k8s-app: kube-dns) on port 53 with rules: dns: "
                              f"[{{matchPattern: \"*\"}}]. Model says: {why}")
        if policy.default_deny_egress and _uses_names(policy):
            lookup = evaluate(policies, _lookup(pod, "kubernetes.default.svc.cluster.local"),
                              cilium_version)
            if lookup.verdict == "dropped":
                yield Finding("dns-cut-off", ref.file, ref.document, f"{ref.spec_path}.egress",
                              f"egress default deny for {pod_text(pod)} drops its DNS lookups "
                              f"while it talks to FQDNs or services by name. Model says: "
                              f"{lookup.explanation}")


def _kube_dns_cut(policies: PolicySet, cilium_version: str) -> list[str]:
    """What the policy set breaks for CoreDNS itself (pods' queries in, upstream out)."""
    cut = []
    query = Probe(id="lint-dns-in", source=Pod("zt-lint", {"app": "lint"}), destination=KUBE_DNS,
                  port=53, protocol="UDP", dns=DnsQuery("kubernetes.default.svc.cluster.local"))
    got = evaluate(policies, query, cilium_version)
    if got.verdict == "dropped":
        where = "CoreDNS's ingress" if got.direction == "ingress" else "the pods' egress"
        cut.append(f"pods' DNS queries are dropped at {where}")
    upstream = Probe(id="lint-dns-out", source=KUBE_DNS, destination=Entity("world", UPSTREAM),
                     port=53, protocol="UDP")
    got = evaluate(policies, upstream, cilium_version)
    if got.verdict == "dropped" and got.direction == "egress":
        cut.append("CoreDNS cannot reach its upstream resolvers")
    return cut


def _uses_names(policy: Policy) -> bool:
    return any(r.fqdns or r.selectors for r in policy.egress if not r.deny)


def _lookup(pod: Pod, name: str) -> Probe:
    return Probe(id="lint-dns", source=pod, destination=KUBE_DNS, port=53, protocol="UDP",
                 dns=DnsQuery(name))


def pod_text(pod: Pod) -> str:
    return f"{pod.namespace}/{{{','.join(f'{k}={v}' for k, v in sorted(pod.labels.items()))}}}"


def representative_pod(policy: Policy) -> Pod | None:
    """A pod the policy selects, built from its selector (None when none can be built)."""
    sel = policy.endpoint_selector
    if sel is None:
        return None
    namespace = policy.ref.namespace or "default"
    labels: dict[str, str] = {}
    for req in sel.requirements:
        if req.source == "reserved":
            return None
        if req.key == NAMESPACE_LABEL:
            if req.op == "In":
                namespace = sorted(req.values)[0]
            elif req.op == "NotIn" and namespace in req.values:
                namespace = "zt-lint"
            continue
        if req.key.startswith("io.cilium.k8s."):
            continue
        if req.op == "In":
            labels[req.key] = sorted(req.values)[0]
        elif req.op == "Exists":
            labels[req.key] = "x"
    pod = Pod(namespace=namespace, labels=labels)
    return pod if policy.selects(identity_of(pod)) else None


def sample_name(text: str, is_pattern: bool, multi_label: bool) -> str:
    """A concrete DNS name that `text` matches (for asking the model about lookups)."""
    name = text.lower().rstrip(".")
    if not is_pattern:
        return name
    if name == "*":
        return "example.com"
    if multi_label and name.startswith("**."):
        name = "a.b." + name[3:]
    return name.replace("*", "x")
