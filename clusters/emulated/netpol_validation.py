"""Built-in validation of networking.k8s.io/v1 NetworkPolicy, the part the suite exercises.

Follows kubernetes pkg/apis/networking/validation/validation.go `ValidateNetworkPolicy`:
metadata (name a DNS-1123 subdomain, namespace required), `ValidateNetworkPolicyPort`,
`ValidateNetworkPolicyPeer` (peer count and ipBlock exclusivity, `ipBlock.cidr` required)
and the policyTypes checks, with apimachinery's `IsValidPortNum` / `IsValidPortName`
wording. Not emulated: label-selector key/value syntax, CIDR syntax and `except` subsets,
and the typed decoding that answers a wrongly typed field with a 400 before validation.
"""

from __future__ import annotations

from typing import Any

from clusters.emulated.crds import fielderr as fe
from clusters.emulated.crds.fielderr import FieldError
from clusters.emulated.crds.k8snames import max_len_error, object_meta_errors

API_VERSION, KIND = "networking.k8s.io/v1", "NetworkPolicy"
PROTOCOLS = ["TCP", "UDP", "SCTP"]
POLICY_TYPES = ["Ingress", "Egress"]
PORT_RANGE_ERROR = "must be between 1 and 65535, inclusive"  # validation.go InclusiveRangeError


def validate_network_policy(doc: dict[str, Any]) -> list[FieldError]:
    errs = object_meta_errors(doc.get("metadata"), namespaced=True)
    spec: dict[str, Any] = doc["spec"] if isinstance(doc.get("spec"), dict) else {}
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(_list(spec.get(direction))):
            where = f"spec.{direction}[{i}]"
            rule = rule if isinstance(rule, dict) else {}
            for j, port in enumerate(_list(rule.get("ports"))):
                errs += _port(port if isinstance(port, dict) else {}, f"{where}.ports[{j}]")
            for j, peer in enumerate(_list(rule.get(peers_key))):
                errs += _peer(peer if isinstance(peer, dict) else {}, f"{where}.{peers_key}[{j}]")
    types = _list(spec.get("policyTypes"))
    if len(types) > len(POLICY_TYPES):
        too_many = "may not specify more than two policyTypes"
        return [*errs, fe.invalid("spec.policyTypes", types, too_many)]
    for i, ptype in enumerate(types):
        if ptype not in POLICY_TYPES:
            errs.append(fe.not_supported(f"spec.policyTypes[{i}]", ptype, POLICY_TYPES))
    return errs


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _port(port: dict[str, Any], where: str) -> list[FieldError]:
    errs = []
    end_path = f"{where}.endPort"
    protocol = port.get("protocol")
    if protocol is not None and protocol not in PROTOCOLS:
        errs.append(fe.not_supported(f"{where}.protocol", protocol, PROTOCOLS))
    value, end = port.get("port"), port.get("endPort")
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= 65535:
            errs.append(fe.invalid(f"{where}.port", value, PORT_RANGE_ERROR))
        if end is not None:
            if end < value:
                errs.append(fe.invalid(end_path, end, "must be greater than or equal to `port`"))
            if not 1 <= end <= 65535:
                errs.append(fe.invalid(end_path, end, PORT_RANGE_ERROR))
    elif value is not None:
        if end is not None:
            detail = "may not be specified when `port` is non-numeric"
            errs.append(fe.invalid(end_path, end, detail))
        errs += [fe.invalid(f"{where}.port", value, m) for m in port_name_errors(str(value))]
    elif end is not None:
        detail = "may not be specified when `port` is not specified"
        errs.append(fe.invalid(end_path, end, detail))
    return errs


def port_name_errors(name: str) -> list[str]:
    """apimachinery validation.go IsValidPortName."""
    errs = [max_len_error(15)] if len(name) > 15 else []
    if not name or any(c not in "-abcdefghijklmnopqrstuvwxyz0123456789" for c in name):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not any("a" <= c <= "z" for c in name):
        errs.append("must contain at least one letter (a-z)")
    if "--" in name:
        errs.append("must not contain consecutive hyphens")
    if name.startswith("-") or name.endswith("-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def _peer(peer: dict[str, Any], where: str) -> list[FieldError]:
    errs = []
    kinds = [k for k in ("podSelector", "namespaceSelector", "ipBlock") if peer.get(k) is not None]
    block = peer.get("ipBlock")
    if isinstance(block, dict) and not block.get("cidr"):
        errs.append(fe.required(f"{where}.ipBlock.cidr"))
    if not kinds:
        errs.append(fe.required(where, "must specify a peer"))
    elif len(kinds) > 1 and "ipBlock" in kinds:
        errs.append(fe.forbidden(where, "may not specify both ipBlock and another peer"))
    return errs
