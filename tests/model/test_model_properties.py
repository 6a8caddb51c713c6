"""Properties of the model over generated policies and probes (hypothesis)."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.model import Expectation, PolicyError, PolicySet, Probe, evaluate
from conformance.model.lint import lint_documents
from conformance.model.loader import Document
from conformance.model.probe import DnsQuery, Entity, Fqdn, HttpRequest, Peer, Pod

NAMESPACES = ("a", "b")
LIKELY_NS = st.sampled_from(("a", "a", "a", "b"))  # mostly one namespace: policies collide
APPS = ("x", "y", "z")
PORTS = (53, 80, 8080)
NAMES = ("api.stripe.com", "a.b.stripe.com", "example.org")
KUBE_DNS = Pod("kube-system", {"k8s-app": "kube-dns"})
Doc = dict[str, Any]

ports = st.sampled_from(PORTS)
protocols = st.sampled_from(("TCP", "UDP", "ANY"))
apps = st.sampled_from(APPS)


@st.composite
def port_rules(draw: st.DrawFn, allow_l7: bool) -> list[Doc]:
    port, protocol = draw(ports), draw(protocols)
    item: Doc = {"ports": [{"port": str(port), "protocol": protocol}]}
    if allow_l7 and protocol == "TCP" and draw(st.booleans()):
        item["rules"] = {"http": draw(st.lists(
            st.fixed_dictionaries({"method": st.sampled_from(("GET", "POST")),
                                   "path": st.sampled_from(("/a", "/b", "/.*"))}),
            min_size=1, max_size=2))}
    return [item]


@st.composite
def peers(draw: st.DrawFn, side: str) -> Doc:
    pre = "from" if side == "ingress" else "to"
    choice = draw(st.sampled_from(("app", "all-ns", "entity", "none", "other-ns")))
    if choice == "app":
        return {f"{pre}Endpoints": [{"matchLabels": {"app": draw(apps)}}]}
    if choice == "all-ns":
        return {f"{pre}Endpoints": [{}]}
    if choice == "other-ns":
        ns = draw(st.sampled_from(NAMESPACES))
        return {f"{pre}Endpoints": [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": ns}}]}
    if choice == "entity":
        return {f"{pre}Entities": [draw(st.sampled_from(("world", "cluster", "host", "all")))]}
    return {}


@st.composite
def allow_rules(draw: st.DrawFn, side: str, allow_l7: bool = True) -> Doc:
    rule = draw(peers(side))
    if not rule or draw(st.booleans()):
        rule["toPorts"] = draw(port_rules(allow_l7))
    return rule


DNS_RULE: Doc = {
    "toEndpoints": [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": "kube-system",
                                     "k8s:k8s-app": "kube-dns"}}],
    "toPorts": [{"ports": [{"port": "53", "protocol": "ANY"}],
                 "rules": {"dns": [{"matchPattern": "*.stripe.com"}]}}],
}


@st.composite
def egress_rules(draw: st.DrawFn, allow_l7: bool = True) -> Doc:
    # DNS rules are L7 too: they restrict lookups even without default deny
    kind = draw(st.sampled_from(("plain", "fqdn", "dns") if allow_l7 else ("plain", "fqdn")))
    if kind == "dns":
        return copy.deepcopy(DNS_RULE)
    if kind == "fqdn":
        return {"toFQDNs": [{"matchPattern": draw(st.sampled_from(
            ("*.stripe.com", "**.stripe.com", "example.org")))}],
                "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}]}
    return draw(allow_rules("egress", allow_l7))


@st.composite
def selectors(draw: st.DrawFn) -> Doc:
    return draw(st.sampled_from(({}, {"matchLabels": {"app": "x"}},
                                 {"matchLabels": {"app": "y"}})))


@st.composite
def allow_policies(draw: st.DrawFn, name: str, allow_l7: bool = True) -> Doc:
    spec: Doc = {"endpointSelector": draw(selectors())}
    spec["ingress"] = draw(st.lists(allow_rules("ingress", allow_l7), max_size=2))
    spec["egress"] = draw(st.lists(egress_rules(allow_l7), max_size=2))
    if not spec["ingress"] and not spec["egress"]:
        spec["ingress"] = [draw(allow_rules("ingress", allow_l7))]
    return _wrap(draw, name, spec)


@st.composite
def deny_policies(draw: st.DrawFn, name: str) -> Doc:
    side = draw(st.sampled_from(("ingress", "egress")))
    pre = "to" if side == "egress" else "from"
    rule = draw(st.one_of(st.just({f"{pre}Endpoints": [{}]}),
                          st.just({f"{pre}Entities": ["all"]}), peers(side)))
    rule = rule or {f"{pre}Endpoints": [{}]}
    if draw(st.booleans()):
        rule["toPorts"] = [{"ports": [{"port": str(draw(ports)), "protocol": draw(protocols)}]}]
    selector = draw(st.one_of(st.just({}), selectors()))
    return _wrap(draw, name, {"endpointSelector": selector, f"{side}Deny": [rule]})


def _wrap(draw: st.DrawFn, name: str, spec: Doc) -> Doc:
    ns = draw(st.one_of(LIKELY_NS, st.none()))
    meta: Doc = {"name": name}
    if ns is not None:
        meta["namespace"] = ns
    kind = "CiliumNetworkPolicy" if ns else "CiliumClusterwideNetworkPolicy"
    return {"apiVersion": "cilium.io/v2", "kind": kind, "metadata": meta, "spec": spec}


@st.composite
def policy_docs(draw: st.DrawFn, allow_l7: bool = True) -> list[Doc]:
    n = draw(st.integers(1, 4))
    return [draw(allow_policies(f"p{i}", allow_l7)) for i in range(n)]


pods = st.builds(Pod, LIKELY_NS, st.fixed_dictionaries({"app": apps}))
destinations: st.SearchStrategy[Peer] = st.one_of(
    pods, st.just(Entity("world", "203.0.113.7")), st.just(Entity("host")),
    st.builds(Fqdn, st.sampled_from(NAMES)))
sources: st.SearchStrategy[Peer] = st.one_of(pods, st.just(Entity("world", "203.0.113.7")),
                                             st.just(Entity("host")))


@st.composite
def probes(draw: st.DrawFn) -> Probe:
    if draw(st.integers(0, 5)) == 0:
        return Probe("dns", draw(pods), KUBE_DNS, 53, "UDP",
                     dns=DnsQuery(draw(st.sampled_from(NAMES))))
    dst = draw(destinations)
    port = 443 if isinstance(dst, Fqdn) else draw(ports)
    http = None
    if draw(st.booleans()):
        http = HttpRequest(draw(st.sampled_from(("GET", "POST", "PUT"))),
                           draw(st.sampled_from(("/a", "/b", "/c"))))
    return Probe("p", draw(sources), dst, port, draw(st.sampled_from(("TCP", "UDP"))),
                 http=http)


def outcome(e: Expectation) -> tuple[Any, ...]:
    return (e.verdict, e.drop_reason, e.direction, e.client, e.hubble)


versions = st.sampled_from(("1.18", "1.19", "1.20"))
SETTINGS = settings(max_examples=200, deadline=None)


@SETTINGS
@given(docs=policy_docs(), probe=probes(), order=st.randoms(use_true_random=False),
       version=versions)
def test_policy_order_never_matters(docs: list[Doc], probe: Probe, order: Any,
                                    version: str) -> None:
    shuffled = copy.deepcopy(docs)
    order.shuffle(shuffled)
    for doc in shuffled:  # rule order inside a policy must not matter either
        for field in ("ingress", "egress"):
            order.shuffle(doc["spec"].get(field, []))
    first = evaluate(PolicySet.from_documents(docs), probe, version)
    second = evaluate(PolicySet.from_documents(shuffled), probe, version)
    assert outcome(first) == outcome(second)


@SETTINGS
@given(docs=policy_docs(), deny=deny_policies("zz-deny"), probe=probes(), version=versions)
def test_adding_a_deny_never_allows_more(docs: list[Doc], deny: Doc, probe: Probe,
                                         version: str) -> None:
    before = evaluate(PolicySet.from_documents(docs), probe, version)
    after = evaluate(PolicySet.from_documents([*docs, deny]), probe, version)
    if before.verdict != "allowed":
        assert after.verdict != "allowed"
    if after.verdict == "allowed":
        assert before.verdict == "allowed"


@SETTINGS
@given(docs=policy_docs(), extra=allow_policies("zz-allow", allow_l7=False), probe=probes(),
       version=versions)
def test_allow_without_default_deny_never_denies(docs: list[Doc], extra: Doc, probe: Probe,
                                                 version: str) -> None:
    extra["spec"]["enableDefaultDeny"] = {"ingress": False, "egress": False}
    before = evaluate(PolicySet.from_documents(docs), probe, version)
    after = evaluate(PolicySet.from_documents([*docs, extra]), probe, version)
    if before.verdict == "allowed":
        assert after.verdict == "allowed", after.explanation


@SETTINGS
@given(docs=policy_docs(), rule=allow_rules("ingress", allow_l7=False), egress=egress_rules(
    allow_l7=False), probe=probes(), version=versions)
def test_more_rules_in_a_policy_never_deny(docs: list[Doc], rule: Doc, egress: Doc,
                                           probe: Probe, version: str) -> None:
    """A policy that already has rules in a direction: one more L3/L4 rule only allows."""
    grown = copy.deepcopy(docs)
    spec = grown[0]["spec"]
    if spec.get("ingress"):
        spec["ingress"].append(rule)
    if spec.get("egress"):
        spec["egress"].append(egress)
    before = evaluate(PolicySet.from_documents(docs), probe, version)
    after = evaluate(PolicySet.from_documents(grown), probe, version)
    if before.verdict == "allowed":
        assert after.verdict == "allowed", after.explanation


@SETTINGS
@given(docs=policy_docs(), probe=probes())
def test_every_expectation_is_consistent(docs: list[Doc], probe: Probe) -> None:
    e = evaluate(PolicySet.from_documents(docs), probe)
    assert (e.drop_reason is not None) == (e.verdict == "dropped")
    assert (e.direction is None) == (e.verdict == "allowed")
    assert (e.hubble.verdict == "FORWARDED") == (e.verdict == "allowed")
    assert (e.hubble.type == "L7") or e.verdict not in ("l7-denied", "dns-refused")
    assert e.hubble.drop_reason_desc == e.drop_reason
    assert e.explanation.startswith(e.verdict)
    if e.verdict == "dropped" and e.drop_reason == "POLICY_DENIED":
        assert "no rule matched: default deny" in e.explanation


FIELD_NAMES = ("endpointSelector", "ingress", "egress", "ingressDeny", "egressDeny",
               "fromEndpoints", "toEndpoints", "fromEntities", "toEntities", "toPorts",
               "ports", "port", "endPort", "protocol", "rules", "http", "dns", "method",
               "path", "headers", "headerMatches", "name", "value", "matchLabels",
               "matchExpressions", "key", "operator", "values", "toFQDNs", "matchName",
               "matchPattern", "fromCIDR", "toCIDRSet", "cidr", "except", "authentication",
               "mode", "enableDefaultDeny", "icmps", "specs", "nodeSelector")
scalars = st.one_of(st.none(), st.booleans(), st.integers(-1, 70000),
                    st.sampled_from(("", "80", "TCP", "ANY", "GET", "/a", "*", "world", "In",
                                     "x: y", "10.0.0.0/8", "required", "a.com", "[")))
shapes = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.sampled_from(FIELD_NAMES), inner, max_size=4)), max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(spec=shapes, kind=st.sampled_from(("CiliumNetworkPolicy",
                                          "CiliumClusterwideNetworkPolicy", "NetworkPolicy")))
def test_any_document_loads_or_fails_with_policy_error(spec: Any, kind: str) -> None:
    api = "networking.k8s.io/v1" if kind == "NetworkPolicy" else "cilium.io/v2"
    doc = {"apiVersion": api, "kind": kind, "metadata": {"name": "n", "namespace": "a"},
           "spec": spec}
    linted = lint_documents([Document("f.yaml", 1, "", doc)])
    try:
        ps = PolicySet.from_documents([doc])
    except PolicyError as exc:
        assert exc.problems and all(p.document == 1 for p in exc.problems)
        assert linted.errors > 0
        return
    probe = Probe("p", Pod("a", {"app": "x"}), Pod("a", {"app": "y"}), 80,
                  http=HttpRequest("GET", "/a"))
    assert evaluate(ps, probe).verdict in ("allowed", "dropped", "l7-denied", "dns-refused")


# Documents generated from schema.yaml itself: every shape the API server accepts.
SCALAR_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "any": st.none(),
    "str": st.sampled_from(("GET", "/a", "/api/.*", "x", "X-A: b", "a.com", "")),
    "int": st.integers(0, 3),
    "bool": st.booleans(),
    "cidr": st.sampled_from(("0.0.0.0/0", "10.0.0.0/8", "203.0.113.0/24", "::/0")),
    "entity": st.sampled_from(("all", "world", "cluster", "host", "remote-node", "none",
                               "kube-apiserver", "health")),
    "label_value": st.sampled_from(("x", "y", "a", "kube-dns", "")),
    "dns_label": st.sampled_from(("a", "b", "kube-system")),
    "dns_subdomain": st.just("n"),
    "fqdn_name": st.sampled_from(("api.stripe.com", "a.com", "example.org.")),
    "fqdn_pattern": st.sampled_from(("*", "*.stripe.com", "**.stripe.com", "a*.com")),
    "port_string": st.sampled_from(("0", "53", "80", "8080", "http")),
    "port_number": st.sampled_from((0, 80, 8090)),
    "int_or_string": st.sampled_from((80, 8080, "http")),
    "header_string": st.sampled_from(("X-A: b", "X-A", "X-A:b")),
}


def from_schema(spec: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    from conformance.model.schema import SCALARS, _types

    if isinstance(spec, str):
        if spec in SCALARS:
            return SCALAR_VALUES[spec]
        obj = _types()[spec]
        skip = {"metadata", "status", "apiVersion", "kind", "specs", "nodeSelector",
                "fromNodes", "toNodes", "fromGroups", "toGroups", "toServices", "fromRequires",
                "toRequires", "cidrGroupRef", "cidrGroupSelector", "listener",
                "originatingTLS", "terminatingTLS", "serverNames", "secret"}
        if depth > 6:
            return st.just({})
        fields = {k: from_schema(v, depth + 1) for k, v in obj["fields"].items()
                  if k not in skip}
        return _object_of(fields, obj)
    if "enum" in spec:
        return st.sampled_from(spec["enum"])
    if "list" in spec:
        return st.lists(from_schema(spec["list"], depth + 1), max_size=min(2, spec.get("max", 2)))
    return st.dictionaries(st.sampled_from(("app", "k8s:app", "team")),
                           from_schema(spec["map"], depth + 1), max_size=2)


@st.composite
def _object_of(draw: st.DrawFn, fields: dict[str, st.SearchStrategy[Any]],
               obj: dict[str, Any]) -> Doc:
    """Honour `required`, `one_of` and `any_of`, so most documents are accepted."""
    groups = [[k for k in g if k in fields] for g in obj.get("one_of", [])]
    keep = {draw(st.sampled_from(g)) for g in groups if g}
    grouped = {k for g in groups for k in g}
    out: Doc = {}
    for key, strategy in fields.items():
        wanted = key in keep or key in obj.get("required", [])
        if wanted or (key not in grouped and draw(st.booleans())):
            out[key] = draw(strategy)
    for group in obj.get("any_of", []):
        if not any(k in out for k in group):
            key = draw(st.sampled_from([k for k in group if k in fields]))
            out[key] = draw(fields[key])
    return out


@settings(max_examples=300, deadline=None)
@given(spec=from_schema("Rule"), np_spec=from_schema("NPSpec"), probe=probes(),
       version=versions)
def test_schema_shaped_documents_never_crash(spec: Doc, np_spec: Doc, probe: Probe,
                                             version: str) -> None:
    docs: list[Doc] = [
        {"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
         "metadata": {"name": "c", "namespace": "a"}, "spec": spec},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": {"name": "k", "namespace": "a"}, "spec": np_spec},
    ]
    for doc in docs:
        linted = lint_documents([Document("f.yaml", 1, "", doc)], version)
        try:
            ps = PolicySet.from_documents([doc])
        except PolicyError as exc:
            assert all(p.message for p in exc.problems)
            assert linted.errors > 0  # lint reports whatever the loader rejects
            continue
        e = evaluate(ps, probe, version)
        assert e.explanation.startswith(e.verdict)
