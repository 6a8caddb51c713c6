"""Read policy YAML (files, directories, multi-document) into compiled `Policy` objects.

Everything the API server or the Cilium agent would refuse is reported as a `Problem`
naming file, document (from 1) and field path; nothing is half-loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from conformance.model.errors import Problem
from conformance.model.icmp import ICMP_PROTOCOL, icmp_type_code
from conformance.model.matchers import (
    HeaderCheck,
    HttpMatch,
    NameMatch,
    PortMatch,
    SniMatch,
    cidr_match,
    describe_http,
    parse_header_string,
)
from conformance.model.policy import CCNP, CNP, KNP, PeerRule, Policy, PolicyRef, PortRule
from conformance.model.regex import Regex, RegexError, compile_re2
from conformance.model.schema import validate
from conformance.model.selectors import (
    NAMESPACE_LABEL,
    NAMESPACE_LABELS_PREFIX,
    Requirement,
    Selector,
    compile_selector,
)
from conformance.model.yaml_guard import first_hazard

API_VERSIONS = {CNP: "cilium.io/v2", CCNP: "cilium.io/v2", KNP: "networking.k8s.io/v1"}
YAML_SUFFIXES = (".yaml", ".yml", ".json")
# libyaml's loader is ~10x faster; same safe semantics (no arbitrary objects).
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
L3_FIELDS = {
    "ingress": ("fromEndpoints", "fromCIDR", "fromCIDRSet", "fromEntities", "fromGroups",
                "fromNodes"),
    "egress": ("toEndpoints", "toCIDR", "toCIDRSet", "toEntities", "toGroups", "toNodes",
               "toServices", "toFQDNs"),
}


# Far above any real policy file (the API server takes objects up to about 1.5 MiB, etcd's
# default request limit), far below what would exhaust memory.
MAX_FILE_BYTES = 64 << 20


def read_capped(path: Path, limit: int) -> bytes:
    """The file's bytes; ValueError when it holds more than `limit`."""
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"larger than {limit >> 20} MiB")
    return data


@dataclass(frozen=True)
class Document:
    """One YAML document (or one item of a `kind: List`), with where it came from."""

    file: str
    index: int  # counts from 1
    prefix: str  # "" or "items[3]." for List items
    data: Any


class _Problems:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.items: list[Problem] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(Problem(self.doc.file, self.doc.index, self.doc.prefix + path, message))


def expand_paths(paths: Sequence[str | Path]) -> tuple[list[Path], list[Problem]]:
    """Files as given; directories -> their *.yaml/*.yml/*.json files, recursively, sorted."""
    files: list[Path] = []
    problems: list[Problem] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in YAML_SUFFIXES)
            if not found:
                problems.append(Problem(str(path), 0, "", "directory holds no .yaml/.yml files"))
            files.extend(found)
        elif path.is_file():
            files.append(path)
        elif path.exists():  # a device, socket or FIFO: /dev/zero would never end
            problems.append(Problem(str(path), 0, "", "not a regular file or directory"))
        else:
            problems.append(Problem(str(path), 0, "", "no such file or directory"))
    return files, problems


def read_documents(text: str, file: str) -> tuple[list[Document], list[Problem]]:
    """Split multi-document YAML; a syntax error stops at its document with line and column.

    YAML that would hang or crash the loader (aliases, deep nesting, endless integers) is
    refused first, with its line (conformance/model/yaml_guard.py).
    """
    hazard = first_hazard(text, file, _YAML_LOADER)
    if hazard is not None:
        return [], [hazard]
    docs: list[Document] = []
    index = 0
    try:
        for index, data in enumerate(yaml.load_all(text, Loader=_YAML_LOADER), start=1):
            if data is None:
                continue
            if isinstance(data, dict) and data.get("kind") == "List":
                items = data.get("items") or []
                if not isinstance(items, list):
                    return docs, [Problem(file, index, "items", "expected a list")]
                docs.extend(Document(file, index, f"items[{i}].", item)
                            for i, item in enumerate(items))
            else:
                docs.append(Document(file, index, "", data))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return docs, [Problem(file, index + 1, "", f"invalid YAML{where}: {what}")]
    except (ValueError, RecursionError) as exc:  # a value the guard did not foresee
        return docs, [Problem(file, index + 1, "", f"cannot read this YAML: {exc}")]
    return docs, []


def load_documents(paths: Sequence[str | Path]) -> tuple[list[Document], list[Problem]]:
    """Every document of every path. A path that yields no document at all is a problem:
    an empty policy set would silently allow everything."""
    docs: list[Document] = []
    problems: list[Problem] = []
    for raw in paths:
        files, missing = expand_paths([raw])
        problems.extend(missing)
        found_here: list[Document] = []
        bad_here: list[Problem] = []
        for f in files:
            try:
                text = read_capped(f, MAX_FILE_BYTES).decode("utf-8")
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                bad_here.append(Problem(str(f), 0, "", f"cannot read: {exc}"))
                continue
            found, bad = read_documents(text, str(f))
            found_here.extend(found)
            bad_here.extend(bad)
        if files and not found_here and not bad_here:
            bad_here.append(Problem(str(raw), 0, "", "no policy documents here (an empty "
                                                     "policy set would allow everything)"))
        docs.extend(found_here)
        problems.extend(bad_here)
    return docs, problems


def parse_document(doc: Document) -> tuple[list[Policy], list[Problem]]:
    """Validate one document and compile it; ([], problems) when anything is wrong."""
    out = _Problems(doc)
    data = doc.data
    if not isinstance(data, dict):
        out.add("", f"expected a Kubernetes object (a map), got {type(data).__name__}")
        return [], out.items
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in API_VERSIONS:
        out.add("kind", f"unknown kind {kind!r}: expected {CNP}, {CCNP} or {KNP}")
        return [], out.items
    if data.get("apiVersion") != API_VERSIONS[kind]:
        out.add("apiVersion", f"{kind} needs apiVersion {API_VERSIONS[kind]}, "
                              f"got {data.get('apiVersion')!r}")
    data = _drop_nulls(data)
    schema_type = KNP if kind == KNP else CNP
    for path, message in validate(data, schema_type, ""):
        out.add(path, message)
    if out.items:
        return [], out.items
    meta = data["metadata"]
    namespace = None if kind == CCNP else str(meta.get("namespace") or "default")
    if kind == KNP:
        ref = PolicyRef(kind, namespace, str(meta["name"]), doc.file, doc.index, "spec")
        policies = [_network_policy(ref, data["spec"], out)]
    else:
        specs = [("spec", data["spec"])] if "spec" in data else []
        specs += [(f"specs[{i}]", s) for i, s in enumerate(data.get("specs") or [])]
        policies = [
            _cilium_policy(PolicyRef(kind, namespace, str(meta["name"]), doc.file, doc.index,
                                     path), spec, out)
            for path, spec in specs
        ]
    return ([], out.items) if out.items else (policies, [])


def _has_null(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        is_map = type(item) is dict
        for v in item.values() if is_map else item:
            kind = type(v)
            if kind is dict or kind is list:
                stack.append(v)
            elif v is None and is_map:
                return True
    return False


def _drop_nulls(value: Any) -> Any:
    """`field:` with nothing after it is null, which the API server treats as absent."""
    if not _has_null(value):  # the common case: no copy
        return value
    return _copy_without_nulls(value)


def _copy_without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy_without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_copy_without_nulls(v) for v in value]
    return value


# --- CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy -------------------------------

def _cilium_policy(ref: PolicyRef, spec: dict[str, Any], out: _Problems) -> Policy:
    selector = None
    if spec.get("endpointSelector") is not None or "nodeSelector" not in spec:
        selector = compile_selector(spec.get("endpointSelector"))
        if ref.namespace is not None:
            selector = selector.with_namespace(ref.namespace)
    if not any(spec.get(f) for f in ("ingress", "ingressDeny", "egress", "egressDeny")):
        out.add(ref.spec_path, "every one of ingress, ingressDeny, egress, egressDeny is empty; "
                               "the Cilium agent rejects such a rule (to deny all ingress, "
                               "write `ingress: [{}]`)")
    rules: dict[str, list[PeerRule]] = {"ingress": [], "egress": []}
    for direction in ("ingress", "egress"):
        for deny in (False, True):
            field = direction + ("Deny" if deny else "")
            for i, rule in enumerate(spec.get(field) or []):
                rules[direction].append(
                    _cilium_rule(ref, direction, deny, f"{ref.spec_path}.{field}[{i}]", rule, out))
    dd = spec.get("enableDefaultDeny") or {}
    has_in = bool(spec.get("ingress")) or bool(spec.get("ingressDeny"))
    has_eg = bool(spec.get("egress")) or bool(spec.get("egressDeny"))
    return Policy(
        ref=ref,
        cluster_wide=ref.kind == CCNP,
        endpoint_selector=selector,
        ingress=tuple(rules["ingress"]),
        egress=tuple(rules["egress"]),
        default_deny_ingress=bool(dd.get("ingress", has_in)) and has_in,
        default_deny_egress=bool(dd.get("egress", has_eg)) and has_eg,
    )


def _cilium_rule(ref: PolicyRef, direction: str, deny: bool, path: str,
                 rule: dict[str, Any], out: _Problems) -> PeerRule:
    side = "from" if direction == "ingress" else "to"
    selectors = tuple(
        _confine(compile_selector(s), ref) for s in rule.get(f"{side}Endpoints") or [])
    cidrs = [cidr_match(c) for c in rule.get(f"{side}CIDR") or []]
    for i, item in enumerate(rule.get(f"{side}CIDRSet") or []):
        if "cidr" in item:  # cidrGroupRef/cidrGroupSelector name objects the model cannot see
            match = cidr_match(item["cidr"], item.get("except"))
            outside = [str(e) for e in match.excepts if e.version != match.network.version
                       or not e.subnet_of(match.network)]  # type: ignore[arg-type]
            if outside:
                out.add(f"{path}.{side}CIDRSet[{i}].except",
                        f"{', '.join(outside)} is not inside {item['cidr']}; Cilium rejects "
                        "the policy")
            cidrs.append(match)
    fqdns = tuple(_name_match(f) for f in rule.get("toFQDNs") or [])
    l3_used = [f for f in L3_FIELDS[direction] if rule.get(f)]
    if len(l3_used) > 1:
        # Cilium's rule validation: one kind of L3 peer per rule ("combining X and Y is not
        # supported yet"); the agent refuses the whole policy.
        out.add(f"{path}.{l3_used[1]}", f"{' and '.join(l3_used)} cannot be combined in one "
                                        "rule; Cilium rejects the policy. Split the rule")
    if rule.get("icmps") and rule.get("toPorts"):
        out.add(f"{path}.icmps", "icmps and toPorts cannot be in the same rule; Cilium "
                                 "rejects the policy")
    port_rules = tuple(
        _port_rule(p, f"{path}.toPorts[{i}]", f"toPorts[{i}]", direction, out)
        for i, p in enumerate(rule.get("toPorts") or [])) + tuple(
        _icmp_rule(p, f"{path}.icmps[{i}]", f"icmps[{i}]", out)
        for i, p in enumerate(rule.get("icmps") or []))
    auth = (rule.get("authentication") or {}).get("mode")
    return PeerRule(
        policy=ref,
        direction=direction,
        deny=deny,
        path=path,
        selectors=selectors,
        entities=frozenset(rule.get(f"{side}Entities") or []),
        cidrs=tuple(cidrs),
        fqdns=fqdns,
        # An absent L3 field is no constraint; an empty list (`fromEndpoints: []`) selects
        # nothing, as Cilium special-cases empty non-nil slices.
        any_peer=not any(f in rule for f in L3_FIELDS[direction])
        and bool(port_rules or rule.get("icmps")),
        port_rules=port_rules,
        l4_blocked=bool(rule.get("icmps")) and not rule.get("toPorts"),
        auth=None if auth in (None, "disabled") else str(auth),
    )


def _confine(selector: Selector, ref: PolicyRef) -> Selector:
    """A namespaced policy's peers stay in its namespace unless the selector names one
    (or a namespace label); `reserved:` selectors are never confined."""
    if ref.namespace is None or selector.names_namespace() or selector.reserved:
        return selector
    return selector.with_namespace(ref.namespace)


def _port_rule(item: dict[str, Any], path: str, short: str, direction: str,
               out: _Problems) -> PortRule:
    raw_ports = item.get("ports") or []
    for i, p in enumerate(raw_ports):
        if "port" not in p:
            out.add(f"{path}.ports[{i}].port", "port must be specified; Cilium rejects the "
                                               "policy (use \"0\" for every port)")
    ports = tuple(_port_match(p) for p in raw_ports)
    rules = item.get("rules") or {}
    http = dns = None
    if rules.get("http") is not None:
        http = tuple(_http_match(r, f"{path}.rules.http[{i}]", out)
                     for i, r in enumerate(rules["http"]))
        for i, p in enumerate(raw_ports):
            if p.get("protocol") != "TCP":
                out.add(f"{path}.ports[{i}].protocol",
                        f"HTTP rules need protocol TCP, got {p.get('protocol', 'none (ANY)')}; "
                        "Cilium rejects the policy")
    if rules.get("dns") is not None:
        if direction == "ingress":
            out.add(f"{path}.rules.dns", "DNS rules are only allowed on egress; Cilium "
                                         "rejects the policy")
        if not raw_ports:
            out.add(f"{path}.rules.dns", "DNS rules need an explicit port (53); Cilium "
                                         "rejects the policy")
        if any(p.end_port > p.port for p in ports):
            out.add(f"{path}.ports", "DNS rules do not support port ranges (endPort)")
        dns = tuple(_name_match(d) for d in rules["dns"])
    if (http is not None or dns is not None) and any(
            p.port == 0 and p.name is None for p in ports):
        out.add(f"{path}.ports", "L7 rules cannot be used with port 0; Cilium rejects the "
                                 "policy")
    names = [str(n) for n in item.get("serverNames") or []]
    # pkg/policy/api/rule_validation.go PortRule.sanitize: `!pr.Rules.IsEmpty()`, and
    # L7Rules.IsEmpty counts http, kafka, dns and l7 entries (not the l7proto name alone)
    l7_entries = bool(http or dns or rules.get("kafka") or rules.get("l7"))
    if names and l7_entries and "terminatingTLS" not in item:
        out.add(f"{path}.serverNames", "serverNames cannot be combined with L7 rules without "
                                       "terminatingTLS; Cilium rejects the policy")
    return PortRule(ports, http, dns, short, tuple(SniMatch(n) for n in names))


def _icmp_rule(item: dict[str, Any], path: str, short: str, out: _Problems) -> PortRule:
    """An `icmps[]` item as upstream compiles it (pkg/policy/api/icmp.go GetPortRule): one
    port item per field, the ICMP type as the port, protocol ICMP or ICMPv6."""
    ports = []
    for j, field_ in enumerate(item.get("fields") or []):
        where = f"{path}.fields[{j}]"
        if not isinstance(field_, dict):
            out.add(where, "expected an object with family and type")
            continue
        family = str(field_.get("family") or "IPv4")
        if family not in ("IPv4", "IPv6"):
            out.add(f"{where}.family", f"{family!r} is not IPv4 or IPv6")
            continue
        code = icmp_type_code(field_.get("type"), family)
        if code is None:
            out.add(f"{where}.type", f"{field_.get('type')!r} is not an {family} ICMP type "
                                     "(0-255 or a CamelCase name of pkg/policy/api/icmp.go)")
            continue
        ports.append(PortMatch(code, 0, ICMP_PROTOCOL[family]))
    if not ports:
        out.add(f"{path}.fields", "an icmps item needs at least one field")
    return PortRule(tuple(ports), None, None, short)


def _port_match(p: dict[str, Any]) -> PortMatch:
    raw = str(p.get("port", "0") or "0")
    protocol = str(p.get("protocol") or "ANY")
    end = int(p.get("endPort") or 0)
    if raw.isdigit():
        return PortMatch(int(raw), end, protocol)
    return PortMatch(0, 0, protocol, name=raw)


def _name_match(item: dict[str, Any]) -> NameMatch:
    if "matchName" in item:
        return NameMatch(str(item["matchName"]), is_pattern=False)
    return NameMatch(str(item["matchPattern"]), is_pattern=True)


def _regex(text: Any, path: str, out: _Problems) -> Regex | None:
    """An HTTP path/method/host regex, compiled with RE2 (see conformance/model/regex.py).

    A pattern RE2 rejects: the agent refuses the policy for `path` and `method`
    (PortRuleHTTP.Sanitize, Go regexp), and Envoy refuses the rule for `host`; either way
    it is not enforced as written, so the model refuses it too.
    """
    if text is None or text == "":
        return None
    try:
        return compile_re2(str(text))
    except RegexError as exc:
        out.add(path, regex_rejection(str(text), str(exc), host=path.endswith(".host")))
        return None


def regex_rejection(text: str, reason: str, *, host: bool = False) -> str:
    """The one message for a regex RE2 rejects (loader and lint say the same)."""
    who = ("Envoy refuses the rule (the agent does not check `host`)" if host
           else "the Cilium agent rejects the policy")
    return (f"'{text}' is not an RE2 regular expression ({reason}); {who}. RE2 (Go regexp, "
            "Envoy safe_regex) has no lookaround, backreferences, conditionals, possessive "
            "or atomic groups, and repeats at most {1000}")


def _http_match(rule: dict[str, Any], path: str, out: _Problems) -> HttpMatch:
    headers = [parse_header_string(h) for h in rule.get("headers") or []]
    for m in rule.get("headerMatches") or []:
        value = m.get("value")
        if value is None and m.get("secret") is not None:
            value = "\0secret"  # a Secret's value cannot be known offline: never equal
        headers.append(HeaderCheck(str(m["name"]).lower(), value, always="mismatch" in m))
    return HttpMatch(
        method=_regex(rule.get("method"), f"{path}.method", out),
        path=_regex(rule.get("path"), f"{path}.path", out),
        host=_regex(rule.get("host"), f"{path}.host", out),
        headers=tuple(headers),
        text=describe_http(rule),
    )


# --- networking.k8s.io/v1 NetworkPolicy ---------------------------------------------------

def _network_policy(ref: PolicyRef, spec: dict[str, Any], out: _Problems) -> Policy:
    assert ref.namespace is not None
    types = spec.get("policyTypes") or (["Ingress"] + (["Egress"] if spec.get("egress") else []))
    rules: dict[str, list[PeerRule]] = {"ingress": [], "egress": []}
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        if direction.capitalize() not in types:
            continue
        for i, rule in enumerate(spec.get(direction) or []):
            rules[direction].append(
                _np_rule(ref, direction, f"spec.{direction}[{i}]", peers_key, rule))
    return Policy(
        ref=ref,
        cluster_wide=False,
        endpoint_selector=compile_selector(spec.get("podSelector")).with_namespace(ref.namespace),
        ingress=tuple(rules["ingress"]),
        egress=tuple(rules["egress"]),
        default_deny_ingress="Ingress" in types,
        default_deny_egress="Egress" in types,
    )


def _np_rule(ref: PolicyRef, direction: str, path: str, peers_key: str,
             rule: dict[str, Any]) -> PeerRule:
    selectors: list[Selector] = []
    cidrs = []
    for peer in rule.get(peers_key) or []:
        if "ipBlock" in peer:
            cidrs.append(cidr_match(peer["ipBlock"]["cidr"], peer["ipBlock"].get("except")))
            continue
        selectors.append(_np_peer_selector(peer, ref))
    ports = tuple(
        PortMatch(0, 0, str(p.get("protocol") or "TCP")) if "port" not in p else
        PortMatch(p["port"], int(p.get("endPort") or 0), str(p.get("protocol") or "TCP"))
        if isinstance(p["port"], int) else
        PortMatch(0, 0, str(p.get("protocol") or "TCP"), name=str(p["port"]))
        for p in rule.get("ports") or [])
    return PeerRule(
        policy=ref,
        direction=direction,
        deny=False,
        path=path,
        selectors=tuple(selectors),
        entities=frozenset(),
        cidrs=tuple(cidrs),
        fqdns=(),
        any_peer=not rule.get(peers_key),
        port_rules=(PortRule(ports, None, None, "ports"),) if ports else (),
    )


def _np_peer_selector(peer: dict[str, Any], ref: PolicyRef) -> Selector:
    assert ref.namespace is not None
    pods = compile_selector(peer.get("podSelector"))
    if "namespaceSelector" not in peer:
        return pods.with_namespace(ref.namespace)
    ns = compile_selector(peer["namespaceSelector"], key_prefix=NAMESPACE_LABELS_PREFIX)
    in_some_ns = Requirement("k8s", NAMESPACE_LABEL, "Exists", frozenset())
    text = f"namespaceSelector {ns.text}" + (
        f" podSelector {pods.text}" if "podSelector" in peer else "")
    return Selector((*ns.requirements, *pods.requirements, in_some_ns), text)
