"""Lint checks that read one raw policy document (they work even on rejected documents)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Generator, Iterator
from typing import Any

from conformance.model.lint_findings import Finding
from conformance.model.loader import Document, regex_rejection
from conformance.model.matchers import envoy_accepts_sni_pattern
from conformance.model.regex import ENVOY_MAX_PROGRAM_SIZE, Regex, RegexError, compile_re2
from conformance.model.selectors import split_key
from conformance.model.version import (
    MULTI_LABEL_WILDCARD,
    multi_label_wildcard,
    server_names_pattern,
)
from conformance.vocabulary.catalogue import load_catalogue

_UNESCAPED_QUERY = re.compile(r"(?<![\\\[])\?[A-Za-z0-9_-]+=")
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")


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


def structural_findings(doc: Document, version: tuple[int, int]) -> Iterator[Finding]:
    """Checks on one raw CNP/CCNP/NetworkPolicy document (schema-valid or not)."""
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
                          "this rule has no peer and no port: it matches nothing and only "
                          "switches default deny on (Cilium's deny-all idiom). Unlike a "
                          "NetworkPolicy `{}` rule it does not allow everything; for that use "
                          "fromEntities/toEntities: [all]")
        mode = (rule.get("authentication") or {}).get("mode") if isinstance(
            rule.get("authentication"), dict) else None
        if mode in ("required", "test-always-fail"):
            yield finding("auth-deprecated", f"{path}.authentication.mode", _auth_note(mode))
        yield from _peer_checks(doc, path, rule)
        for pr_path, pr in _port_rules(rule, path):
            yield from _server_names_checks(doc, pr_path, pr, version)
            for key in ("listener", "terminatingTLS", "originatingTLS"):
                if key in pr:
                    yield finding("not-modelled", f"{pr_path}.{key}",
                                  f"{key} (Cilium's TLS interception / CiliumEnvoyConfig "
                                  "listeners, enforced by Envoy) is not modelled: verdicts "
                                  "ignore it")
            rules = pr.get("rules")
            if deny and rules is not None:
                yield finding("l7-on-deny", f"{pr_path}.rules",
                              "deny rules carry ports only; L7 rules (http/dns) are rejected")
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
    for direction, peers in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(_list(spec.get(direction))):
            if not isinstance(rule, dict):
                continue
            for k, peer in enumerate(_list(rule.get(peers))):
                block = peer.get("ipBlock") if isinstance(peer, dict) else None
                if isinstance(block, dict):
                    yield from _private_cidr(
                        doc, f"{doc.prefix}spec.{direction}[{i}].{peers}[{k}].ipBlock.cidr",
                        block.get("cidr"))


def _auth_note(mode: str) -> str:
    cat = load_catalogue()
    if mode == "test-always-fail":
        return ("test-always-fail drops every connection with AUTH_REQUIRED (a test mode); "
                f"mutual auth is deprecated in {cat.since('mutual-auth-deprecated')}")
    return (f"mutual authentication is deprecated in Cilium {cat.since('mutual-auth-deprecated')} "
            "(removal expected in 1.21) and needs authentication.enabled=true (default false "
            f"since {cat.since('mutual-auth-default-off')}); the first packets "
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
    for field in ("fromCIDR", "toCIDR"):
        for i, cidr in enumerate(_list(rule.get(field))):
            yield from _private_cidr(doc, f"{path}.{field}[{i}]", cidr)
    for field in ("fromCIDRSet", "toCIDRSet"):
        for i, item in enumerate(_list(rule.get(field))):
            if isinstance(item, dict):
                yield from _private_cidr(doc, f"{path}.{field}[{i}].cidr", item.get("cidr"))
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
    compiled: dict[str, Regex] = {}
    for key in ("method", "path", "host"):
        value = http.get(key)
        if isinstance(value, str) and value:
            rx = yield from _regex_checks(doc, f"{path}.{key}", value, host=key == "host")
            if rx is not None:
                compiled[key] = rx
    rx = compiled.get("path")
    if rx is not None and not _can_start_with_slash(rx):
        yield Finding("path-never-matches", doc.file, doc.index, f"{path}.path",
                      f"{http['path']!r} must match the whole request path, which always "
                      "starts with '/' (and includes the query string); this regex never "
                      "matches")
    if rx is not None and _UNESCAPED_QUERY.search(rx.pattern):
        yield Finding("path-unescaped-query", doc.file, doc.index, f"{path}.path",
                      f"{http['path']!r}: `?` is a regex quantifier (optional previous "
                      "character), not the start of the query string; write `\\?` to match "
                      "a literal '?'")
    method = compiled.get("method")
    if method is not None and not any(method.fullmatch(m) for m in HTTP_METHODS):
        yield Finding("method-never-matches", doc.file, doc.index, f"{path}.method",
                      f"{http['method']!r} matches no HTTP method (methods are upper case "
                      "and matched whole)")


def _regex_checks(doc: Document, where: str, value: str,
                  host: bool) -> Generator[Finding, None, Regex | None]:
    """RE2 must accept the regex, and Envoy must accept its size (conformance/model/regex.py
    names the upstream code); returns the compiled regex when RE2 accepts it."""
    try:
        rx = compile_re2(value)
    except RegexError as exc:
        yield Finding("regex-not-re2", doc.file, doc.index, where,
                      regex_rejection(value, str(exc), host=host))
        return None
    if rx.programsize > ENVOY_MAX_PROGRAM_SIZE:
        yield Finding("regex-too-large", doc.file, doc.index, where,
                      f"'{value}' compiles to an RE2 program of size {rx.programsize}; Envoy "
                      f"refuses regexes above {ENVOY_MAX_PROGRAM_SIZE} (runtime key "
                      "re2.max_program_size.error_level, which Cilium's Envoy bootstrap does "
                      "not raise), so the proxy rejects the policy update that carries this "
                      "rule and it is not enforced as written. Shorten it, or split "
                      "alternatives into several http rules")
    return rx


_PATH_PROBES = ("/", "/a", "/a/b", "/api/v1/accounts", "/?a=1", "/a?x=1", "/1", "/-", "/_",
                "/a.b", "/A")


def _can_start_with_slash(rx: Regex) -> bool:
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


SERVER_NAME_MAX = 255


def _server_names_checks(doc: Document, path: str, pr: dict[str, Any],
                         version: tuple[int, int]) -> Iterator[Finding]:
    """What the version's CRD refuses in `serverNames` (the API server rejects the object)."""
    names = pr.get("serverNames")
    if not isinstance(names, list):
        return
    where = f"{path}.serverNames"
    release = f"{version[0]}.{version[1]}"
    if not names:
        yield Finding("rejected", doc.file, doc.index, where,
                      f"an empty serverNames list is refused by the {release} CRD (minItems 1)")
    pattern = compile_re2(server_names_pattern(version))
    seen: set[str] = set()
    for k, name in enumerate(names):
        if not isinstance(name, str):
            continue
        if name in seen:
            yield Finding("rejected", doc.file, doc.index, f"{where}[{k}]",
                          f"{name!r} is listed twice; the {release} CRD makes serverNames a set")
        seen.add(name)
        if len(name) > SERVER_NAME_MAX or pattern.fullmatch(name) is None:
            yield Finding("rejected", doc.file, doc.index, f"{where}[{k}]",
                          f"{name[:80]!r} does not match the {release} CRD pattern "
                          f"{server_names_pattern(version)} (at most {SERVER_NAME_MAX} "
                          "characters): the API server refuses the object")
        elif not envoy_accepts_sni_pattern(name):
            yield Finding("sni-pattern-invalid", doc.file, doc.index, f"{where}[{k}]",
                          f"{name[:80]!r} passes the CRD but Envoy's SNI matcher refuses it "
                          "(no trailing dot, no empty label, at most `**` in a row and `**` "
                          "only as a whole label): with the cilium-envoy builds the catalogue "
                          "pins, Envoy rejects the endpoint's whole network policy update "
                          "(cilium/proxy network_policy.cc SniPattern::SniPattern throws); "
                          "older builds keep it as an exact name that matches no SNI, so "
                          "every connection to the port is reset. What the agent does after "
                          "a rejected update is not pinned down here")


def _pattern_checks(doc: Document, path: str, item: Any,
                    version: tuple[int, int]) -> Iterator[Finding]:
    pattern = item.get("matchPattern") if isinstance(item, dict) else None
    if not isinstance(pattern, str) or "**" not in pattern:
        return
    if not multi_label_wildcard(version):
        yield Finding("multi-label-wildcard", doc.file, doc.index, f"{path}.matchPattern",
                      f"{pattern!r}: `**.` matches one or more labels only from Cilium "
                      f"{load_catalogue().since(MULTI_LABEL_WILDCARD)}; "
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
                          f"{p!r} and '*.{p}' list subdomain levels one by one; from "
                          f"{load_catalogue().since(MULTI_LABEL_WILDCARD)} "
                          f"'*{p}' covers every level")


_PRIVATE = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12",
                                                   "192.168.0.0/16", "fc00::/7"))


def _private_cidr(doc: Document, path: str, cidr: Any) -> Iterator[Finding]:
    """Cilium CIDR rules (and NetworkPolicy ipBlock) never select pods or nodes."""
    try:
        net = ipaddress.ip_network(str(cidr), strict=False)
    except ValueError:
        return
    if any(net.version == p.version and net.subnet_of(p) for p in _PRIVATE):  # type: ignore[arg-type]
        yield Finding("cidr-selects-no-pods", doc.file, doc.index, path,
                      f"{cidr} is a private range, but Cilium matches CIDR rules and "
                      "ipBlock only against addresses outside the cluster: pods and nodes in "
                      "it are not selected (select them by labels or entities)")
