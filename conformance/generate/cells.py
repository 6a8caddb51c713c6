"""A generated cell: a probe, the rule it comes from, and the model's expectation."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from conformance.model.expectation import Expectation
from conformance.model.policy import PeerRule, PolicyRef
from conformance.model.probe import Entity, Fqdn, Peer, Pod, Probe

CellKind = Literal["positive", "negative", "default-deny"]


@dataclass(frozen=True)
class RuleRef:
    """Where a cell comes from: a policy's rule, and within it a toPorts item and L7 entry."""

    policy: PolicyRef
    path: str  # the rule, e.g. "spec.ingress[0]"; "spec.ingress" for default-deny cells
    direction: str  # "ingress" | "egress"
    deny: bool = False
    ports: str | None = None  # "toPorts[1]"
    l7: str | None = None  # "rules.http[0]" | "rules.dns[2]"

    @property
    def anchor(self) -> str:
        """How the model's explanation names the rule (engine Hit.describe)."""
        return f"{self.policy} {self.path} ("

    def label(self) -> str:
        parts = [self.path, *(p for p in (self.ports, self.l7) if p)]
        return f"{self.policy} {'.'.join(parts)}"

    def to_json(self) -> dict[str, Any]:
        ref = self.policy
        return {"policy": str(ref), "kind": ref.kind, "namespace": ref.namespace,
                "name": ref.name, "file": ref.file, "document": ref.document,
                "path": self.path, "direction": self.direction, "deny": self.deny,
                "ports": self.ports, "l7": self.l7}

    @staticmethod
    def of(rule: PeerRule, ports: str | None = None, l7: str | None = None) -> RuleRef:
        return RuleRef(rule.policy, rule.path, rule.direction, rule.deny, ports, l7)


@dataclass(frozen=True)
class GenCell:
    probe: Probe
    rule: RuleRef
    kind: CellKind
    step: str = ""  # for negatives: what is one step off ("method", "next-port", ...)
    tags: tuple[str, ...] = ()
    expect: Expectation | None = field(default=None, compare=False)

    def key(self) -> str:
        """The probe without its id: two cells sending the same thing are one cell."""
        return json.dumps(probe_json(replace(self.probe, id="")), sort_keys=True)

    def to_json(self) -> dict[str, Any]:
        out = probe_json(self.probe)
        out.update(rule=self.rule.to_json(), cell=self.kind, step=self.step,
                   tags=list(self.tags))
        if self.expect is not None:
            exp = self.expect.to_json()
            exp.pop("id", None)
            out["expect"] = exp
        return out


@dataclass(frozen=True)
class Skipped:
    """A rule (or part of one) that got no cell, and why."""

    file: str
    document: int
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: document {self.document}: {self.path}: {self.reason}"

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "document": self.document, "path": self.path,
                "reason": self.reason}


def peer_json(peer: Peer) -> dict[str, Any]:
    if isinstance(peer, Pod):
        out: dict[str, Any] = {"namespace": peer.namespace,
                               "labels": dict(sorted(peer.labels.items()))}
        if peer.namespace_labels:
            out["namespace_labels"] = dict(sorted(peer.namespace_labels.items()))
        return out
    if isinstance(peer, Fqdn):
        return {"fqdn": peer.fqdn}
    assert isinstance(peer, Entity)
    return {"entity": peer.entity, **({"ip": peer.ip} if peer.ip else {})}


def probe_json(probe: Probe) -> dict[str, Any]:
    """The `explain --probes` line of a probe (conformance/model/probe.py's shape)."""
    out: dict[str, Any] = {"id": probe.id, "source": peer_json(probe.source),
                           "destination": peer_json(probe.destination), "port": probe.port,
                           "protocol": probe.protocol}
    if probe.http is not None:
        h = probe.http
        out["http"] = {"method": h.method, "path": h.path,
                       **({"headers": dict(h.headers)} if h.headers else {}),
                       **({"host": h.host} if h.host else {})}
    if probe.grpc is not None:
        out["grpc"] = {"service": probe.grpc.service, "method": probe.grpc.method}
    if probe.dns is not None:
        out["dns"] = {"name": probe.dns.name, "qtype": probe.dns.qtype}
    if probe.tls is not None:
        out["tls"] = {"sni": probe.tls.sni or ""}
    return out


def describe_peer(peer: Peer) -> str:
    if isinstance(peer, Pod):
        labels = ",".join(f"{k}={v}" for k, v in sorted(peer.labels.items()))
        return f"{peer.namespace}/{{{labels}}}"
    if isinstance(peer, Fqdn):
        return peer.fqdn
    return f"{peer.entity}" + (f"({peer.ip})" if peer.ip else "")


def describe_probe(probe: Probe) -> str:
    """One short line: who asks what of whom."""
    who = describe_peer
    what = f"{probe.protocol} {probe.port}"
    if probe.http is not None:
        hdrs = "".join(f" +{k}: {v}" for k, v in probe.http.headers.items())
        what = f"{probe.http.method} {probe.http.path}{hdrs} :{probe.port}"
    elif probe.grpc is not None:
        what = f"gRPC {probe.grpc.path} :{probe.port}"
    elif probe.dns is not None:
        what = f"DNS {probe.dns.qtype} {probe.dns.name}"
    elif probe.tls is not None:
        what = f"TLS SNI {probe.tls.sni or '(none)'} :{probe.port}"
    return f"{who(probe.source)} -> {who(probe.destination)} {what}"
