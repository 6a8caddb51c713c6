"""Check a policy document against the field shapes in schema.yaml.

The API server rejects these documents outright, so the model does too: each problem is
reported with its field path (`spec.ingress[0].toPorts[0].ports[0].port`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import cache, lru_cache
from importlib import resources
from typing import Any

import yaml

from conformance.model.regex import Regex, compile_re2

ENTITIES = ("all", "world", "cluster", "host", "init", "ingress", "unmanaged", "remote-node",
            "health", "none", "kube-apiserver")

# The CRD and Kubernetes validation patterns. The API server checks them with Go's regexp
# (RE2: linear time); compiled here with RE2 too, since with Python's backtracking `re`
# `([-a-zA-Z0-9_]+[.]?)+` doubles its time with every character of a bad name (tens of
# seconds at 30 characters).
_LABEL_VALUE = compile_re2(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_DNS_LABEL = compile_re2(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = compile_re2(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_FQDN_NAME = compile_re2(r"([-a-zA-Z0-9_]+[.]?)+")
_FQDN_PATTERN = compile_re2(r"([-a-zA-Z0-9_*]+[.]?)+")
_PORT_NAME = compile_re2(r"([a-zA-Z0-9]-?)*[a-zA-Z](-?[a-zA-Z0-9])*")

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


def _pattern(rx: Regex, what: str, max_len: int) -> Callable[[Any], str | None]:
    # Policies repeat the same few names and labels: remember each answer (an RE2 call
    # through its Python binding costs microseconds; a dictionary lookup does not).
    @lru_cache(maxsize=4096)
    def valid(value: str) -> bool:
        return rx.fullmatch(value) is not None

    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            return f"expected {what} (a string), got {_kind(value)}; quote it"
        if len(value) > max_len:
            return f"{what} {value!r} is longer than {max_len} characters"
        if not valid(value):
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
    return None if _port_name(value) else f"{value!r} is not a port number or name"


@lru_cache(maxsize=1024)
def _port_name(value: str) -> bool:
    return _PORT_NAME.fullmatch(value) is not None


def _port_number(value: Any) -> str | None:
    if _int(value) is not None or not 0 <= value <= 65535:
        return f"expected an integer 0-65535, got {value!r}"
    return None


def _int_or_string(value: Any) -> str | None:
    if isinstance(value, str):
        return None if _port_name(value) else f"{value!r} is not a port name"
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


# A field path kept as a linked list (parent, segment) and only rendered for a problem.
Path = tuple[Any, str | int] | None
Checker = Callable[[Any, Path, list[tuple[Path, str]]], None]


def render(path: Path) -> str:
    parts: list[str] = []
    while path is not None:
        path, seg = path
        parts.append(f"[{seg}]" if isinstance(seg, int) else f".{seg}")
    return "".join(reversed(parts)).lstrip(".")


def validate(value: Any, type_name: str, path: str) -> list[Issue]:
    """All the problems of `value` against schema type `type_name`; [] when it is accepted."""
    found: list[tuple[Path, str]] = []
    _checker(type_name)(value, (None, path) if path else None, found)
    return [(render(p) or "<document>", msg) for p, msg in found]


_CHECKERS: dict[str, Checker] = {}


def _checker(spec: Any) -> Checker:
    """Compile a type spec into a checking function, once per named type."""
    if isinstance(spec, str):
        if spec in SCALARS:
            return _scalar(SCALARS[spec])
        if spec not in _CHECKERS:
            _CHECKERS[spec] = _object(_types()[spec])
        return _CHECKERS[spec]
    if "enum" in spec:
        return _enum(tuple(spec["enum"]))
    if "list" in spec:
        return _list(_checker_lazy(spec["list"]), spec.get("max"))
    return _map(_checker_lazy(spec["map"]))


def _checker_lazy(spec: Any) -> Checker:
    """Named types may refer to each other: resolve each one once, at its first use."""
    if not (isinstance(spec, str) and spec not in SCALARS):
        return _checker(spec)
    resolved: list[Checker] = []

    def run(value: Any, path: Path, out: list[tuple[Path, str]]) -> None:
        if not resolved:
            resolved.append(_checker(spec))
        resolved[0](value, path, out)
    return run


def _scalar(check: Callable[[Any], str | None]) -> Checker:
    def run(value: Any, path: Path, out: list[tuple[Path, str]]) -> None:
        if (msg := check(value)) is not None:
            out.append((path, msg))
    return run


def _enum(choices: tuple[Any, ...]) -> Checker:
    text = ", ".join(str(c) for c in choices)

    def run(value: Any, path: Path, out: list[tuple[Path, str]]) -> None:
        if value not in choices:
            out.append((path, f"{value!r} is not one of: {text}"))
    return run


def _list(item: Checker, max_items: int | None) -> Checker:
    def run(value: Any, path: Path, out: list[tuple[Path, str]]) -> None:
        if not _is(value, list, "a list", path, out):
            return
        if max_items is not None and len(value) > max_items:
            out.append((path, f"at most {max_items} items are allowed by the CRD"))
        for i, v in enumerate(value):
            item(v, (path, i), out)
    return run


def _is(value: Any, kind: type, what: str, path: Path, out: list[tuple[Path, str]]) -> bool:
    """Nulls never get here: the loader drops null fields, as the API server does."""
    if isinstance(value, kind):
        return True
    out.append((path, f"expected {what}, got {_kind(value)}"))
    return False


def _map(item: Checker) -> Checker:
    def run(value: Any, path: Path, out: list[tuple[Path, str]]) -> None:
        if not _is(value, dict, "a map", path, out):
            return
        for k, v in value.items():
            item(v, (path, str(k)), out)
    return run


def _requirement_values(value: dict[str, Any]) -> str | None:
    """Label selector rule (enforced when Cilium parses the selector)."""
    op, values = value.get("operator"), value.get("values") or []
    if op in ("In", "NotIn") and not values:
        return f"operator {op} needs at least one value"
    if op in ("Exists", "DoesNotExist") and values:
        return f"operator {op} takes no values"
    return None


OBJECT_CHECKS: dict[str, Callable[[dict[str, Any]], str | None]] = {
    "requirement_values": _requirement_values,
}


def _object(spec: dict[str, Any]) -> Checker:
    fields = {k: _checker_lazy(v) for k, v in spec["fields"].items()}
    known = ", ".join(sorted(fields))
    hints: dict[str, str] = spec.get("hints", {})
    required: list[str] = spec.get("required", [])
    one_of: list[list[str]] = spec.get("one_of", [])
    any_of: list[list[str]] = spec.get("any_of", [])
    extra = OBJECT_CHECKS[spec["check"]] if "check" in spec else None

    def run(value: Any, path: Path, out: list[tuple[Path, str]]) -> None:
        if not _is(value, dict, "a map", path, out):
            return
        for key, item in value.items():
            check = fields.get(key)
            if check is None:
                out.append(((path, str(key)),
                            hints.get(key) or f"unknown field (known here: {known})"))
            else:
                check(item, (path, key), out)
        for key in required:
            if key not in value:
                out.append(((path, key), "required field is missing"))
        for group in one_of:
            present = [k for k in group if k in value]
            if len(present) != 1:
                out.append((path, f"exactly one of {', '.join(group)} is required, found "
                                  f"{', '.join(present) or 'none'}"))
        for group in any_of:
            if not any(k in value for k in group):
                out.append((path, f"needs at least one of {', '.join(group)}"))
        if extra is not None and (msg := extra(value)) is not None:
            out.append((path, msg))
    return run
