"""Check a policy document against the field shapes in schema.yaml.

The API server rejects these documents outright, so the model does too: each problem is
reported with its field path (`spec.ingress[0].toPorts[0].ports[0].port`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

import yaml

ENTITIES = ("all", "world", "cluster", "host", "init", "ingress", "unmanaged", "remote-node",
            "health", "none", "kube-apiserver")

_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_FQDN_NAME = re.compile(r"([-a-zA-Z0-9_]+[.]?)+")
_FQDN_PATTERN = re.compile(r"([-a-zA-Z0-9_*]+[.]?)+")
_PORT_NAME = re.compile(r"([a-zA-Z0-9]-?)*[a-zA-Z](-?[a-zA-Z0-9])*")

Issue = tuple[str, str]  # (field path, message)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, dict):
        return "a map"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return "a string"


def _string(value: Any) -> str | None:
    return None if isinstance(value, str) else f"expected a string, got {_kind(value)}"


def _pattern(rx: re.Pattern[str], what: str, max_len: int) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            return f"expected {what} (a string), got {_kind(value)}; quote it"
        if len(value) > max_len:
            return f"{what} {value!r} is longer than {max_len} characters"
        if not rx.fullmatch(value):
            return f"{value!r} is not a valid {what}"
        return None
    return check


def _int(value: Any) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool)
    return None if ok else f"expected an integer, got {_kind(value)}"


def _bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"expected true or false, got {_kind(value)}"


def _cidr(value: Any) -> str | None:
    if not isinstance(value, str) or "/" not in value:
        return f"expected a CIDR like 10.0.0.0/8, got {value!r}"
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return f"{value!r} is not a valid CIDR"
    return None


def _port_string(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"the CRD types port as a string: write \"{value}\" (quoted), not {value}"
    if not isinstance(value, str):
        return f"expected a port number or name as a string, got {_kind(value)}"
    if value.isdigit():
        return None if int(value) <= 65535 else f"port {value} is above 65535"
    return None if _PORT_NAME.fullmatch(value) else f"{value!r} is not a port number or name"


def _port_number(value: Any) -> str | None:
    if _int(value) is not None or not 0 <= value <= 65535:
        return f"expected an integer 0-65535, got {value!r}"
    return None


def _int_or_string(value: Any) -> str | None:
    if isinstance(value, str):
        return None if _PORT_NAME.fullmatch(value) else f"{value!r} is not a port name"
    if _int(value) is None and 1 <= value <= 65535:
        return None
    return f"expected a port number 1-65535 or a port name, got {value!r}"


def _header_string(value: Any) -> str | None:
    if isinstance(value, dict) and len(value) == 1:
        name, val = next(iter(value.items()))
        return (f"a header must be a string, but this item is a YAML map; write it as "
                f"\"{name}: {val}\" (quoted)")
    return _string(value)


SCALARS: dict[str, Callable[[Any], str | None]] = {
    "any": lambda value: None,
    "str": _string,
    "int": _int,
    "bool": _bool,
    "cidr": _cidr,
    "entity": lambda v: None if v in ENTITIES else (
        f"{v!r} is not an entity (one of: {', '.join(ENTITIES)})"),
    "label_value": _pattern(_LABEL_VALUE, "label value", 63),
    "dns_label": _pattern(_DNS_LABEL, "namespace name", 63),
    "dns_subdomain": _pattern(_DNS_SUBDOMAIN, "object name", 253),
    "fqdn_name": _pattern(_FQDN_NAME, "DNS name", 255),
    "fqdn_pattern": _pattern(_FQDN_PATTERN, "DNS pattern", 255),
    "port_string": _port_string,
    "port_number": _port_number,
    "int_or_string": _int_or_string,
    "header_string": _header_string,
}


@cache
def _types() -> dict[str, Any]:
    text = resources.files("conformance.model").joinpath("schema.yaml").read_text()
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def validate(value: Any, type_name: str, path: str) -> list[Issue]:
    """All the problems of `value` against schema type `type_name`; [] when it is accepted."""
    issues: list[Issue] = []
    _check(value, type_name, path, issues)
    return issues


def _check(value: Any, spec: Any, path: str, issues: list[Issue]) -> None:
    if isinstance(spec, str):
        if spec in SCALARS:
            if (msg := SCALARS[spec](value)) is not None:
                issues.append((path, msg))
            return
        _check_object(value, _types()[spec], path, issues)
    elif "enum" in spec:
        if value not in spec["enum"]:
            choices = ", ".join(str(c) for c in spec["enum"])
            issues.append((path, f"{value!r} is not one of: {choices}"))
    elif "list" in spec:
        if value is None:
            return  # `field:` with nothing after it is null, which the API server drops
        if not isinstance(value, list):
            issues.append((path, f"expected a list, got {_kind(value)}"))
            return
        if "max" in spec and len(value) > spec["max"]:
            issues.append((path, f"at most {spec['max']} items are allowed by the CRD"))
        for i, item in enumerate(value):
            _check(item, spec["list"], f"{path}[{i}]", issues)
    elif "map" in spec:
        if value is None:
            return
        if not isinstance(value, dict):
            issues.append((path, f"expected a map, got {_kind(value)}"))
            return
        for k, v in value.items():
            _check(v, spec["map"], f"{path}.{k}", issues)


def _check_object(value: Any, spec: dict[str, Any], path: str, issues: list[Issue]) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        issues.append((path, f"expected a map, got {_kind(value)}"))
        return
    fields: dict[str, Any] = spec["fields"]
    prefix = f"{path}." if path else ""
    for key, item in value.items():
        if key not in fields:
            hint = spec.get("hints", {}).get(key)
            known = ", ".join(sorted(fields))
            issues.append((f"{prefix}{key}", hint or f"unknown field (known here: {known})"))
            continue
        _check(item, fields[key], f"{prefix}{key}", issues)
    for key in spec.get("required", []):
        if key not in value:
            issues.append((f"{prefix}{key}", "required field is missing"))
    for group in spec.get("one_of", []):
        present = [k for k in group if k in value]
        if len(present) != 1:
            issues.append((path or "<document>",
                           f"exactly one of {', '.join(group)} is required, found "
                           f"{', '.join(present) or 'none'}"))
    for group in spec.get("any_of", []):
        if not any(k in value for k in group):
            issues.append((path or "<document>", f"needs at least one of {', '.join(group)}"))
