"""Small builders shared by the policy-model tests."""

from __future__ import annotations

import textwrap

import yaml

from conformance.model import Expectation, PolicySet, Probe, evaluate
from conformance.model.probe import (
    DnsQuery,
    Entity,
    Fqdn,
    GrpcCall,
    HttpRequest,
    Peer,
    Pod,
)

KUBE_DNS = Pod("kube-system", {"k8s-app": "kube-dns"})


def policies(text: str) -> PolicySet:
    """A PolicySet from (dedented) multi-document YAML."""
    docs = [d for d in yaml.safe_load_all(textwrap.dedent(text)) if d is not None]
    return PolicySet.from_documents(docs, source="test.yaml")


def pod(namespace: str = "payments", **labels: str) -> Pod:
    return Pod(namespace, dict(labels))


def entity(name: str, ip: str | None = None) -> Entity:
    return Entity(name, ip)


def fqdn(name: str) -> Fqdn:
    return Fqdn(name)


def probe(source: Peer, destination: Peer, port: int = 8080, protocol: str = "TCP", *,
          http: tuple[str, str] | None = None, headers: dict[str, str] | None = None,
          host: str | None = None, grpc: tuple[str, str] | None = None,
          dns: str | None = None, pid: str = "p") -> Probe:
    return Probe(
        id=pid, source=source, destination=destination, port=port,
        protocol=protocol,  # type: ignore[arg-type]
        http=HttpRequest(http[0], http[1], headers or {}, host) if http else None,
        grpc=GrpcCall(*grpc) if grpc else None,
        dns=DnsQuery(dns) if dns else None,
    )


def verdict(ps: PolicySet, pr: Probe, version: str = "1.20") -> Outcome:
    """(verdict, drop_reason, direction) — the part most tables compare."""
    e = evaluate(ps, pr, version)
    return (e.verdict, e.drop_reason, e.direction)


def run(ps: PolicySet, pr: Probe, version: str = "1.20") -> Expectation:
    return evaluate(ps, pr, version)


Outcome = tuple[str | None, ...]

ALLOWED: Outcome = ("allowed", None, None)
DENIED_IN: Outcome = ("dropped", "POLICY_DENIED", "ingress")
DENIED_EG: Outcome = ("dropped", "POLICY_DENIED", "egress")
DENY_IN: Outcome = ("dropped", "POLICY_DENY", "ingress")
DENY_EG: Outcome = ("dropped", "POLICY_DENY", "egress")
L7_IN: Outcome = ("l7-denied", None, "ingress")
L7_EG: Outcome = ("l7-denied", None, "egress")
REFUSED: Outcome = ("dns-refused", None, "egress")
