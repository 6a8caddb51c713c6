"""ICMP in policy: `icmps` fields (family, type by number or name) and ICMP probes.

Upstream compiles an ICMP field into a port item whose port is the ICMP type and whose
protocol is ICMP (IPv4) or ICMPv6 (pkg/policy/api/icmp.go, ICMPField.PortProtocol); the
model does the same, so an ICMP probe is (protocol, type) where other probes have
(protocol, port). The type names are data: icmp_types.yaml.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

ICMP_PROTOCOL = {"IPv4": "ICMP", "IPv6": "ICMPv6"}
ECHO_REQUEST = {"ICMP": 8, "ICMPv6": 128}


@cache
def _names() -> dict[str, dict[str, int]]:
    import yaml  # here, so that probe.py (which uses this module) stays standard-library

    text = resources.files("conformance.model").joinpath("icmp_types.yaml").read_text()
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return {family: dict(names) for family, names in data.items()}


def icmp_type_code(value: Any, family: str) -> int | None:
    """The code of an ICMP type written as 0-255 (or its digits) or a CamelCase name of
    `family`; None when it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= 255 else None
    if isinstance(value, str):
        if value.isdigit():
            return icmp_type_code(int(value), family)
        return _names().get(family, {}).get(value)
    return None
