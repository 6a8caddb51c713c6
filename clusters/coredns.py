"""CoreDNS Corefile with the hermetic FQDN targets (template in manifests/coredns/)."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from string import Template

import yaml

from clusters.errors import InputError
from clusters.paths import repo_root

TEMPLATE = Path("manifests") / "coredns" / "coredns-configmap.yaml"
HOSTS_INDENT = " " * 12  # inside `hosts {` in the Corefile block scalar
_FQDN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def _ip(text: str, what: str) -> None:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise InputError(f"{what}: {text!r} is not an IP address") from None


def check_fqdn(fqdn: str, what: str) -> None:
    if not _FQDN_RE.match(fqdn):
        raise InputError(f"{what} {fqdn!r} is not a valid DNS name")


def check_upstream(upstream: tuple[str, ...]) -> None:
    for server in upstream:
        _ip(server, "profile field `coredns.upstream`")
    if not upstream:
        raise InputError("profile field `coredns.upstream` is empty; CoreDNS needs a resolver")


def target_zones(targets: dict[str, str]) -> list[str]:
    """The parent zones CoreDNS answers for itself: the last two labels of each target."""
    return sorted({".".join(fqdn.split(".")[-2:]) for fqdn in targets})


def render_coredns_configmap(
    targets: dict[str, str], upstream: tuple[str, ...], ttl: int, template: Path | None = None
) -> str:
    """The ConfigMap YAML: `targets` is fqdn -> IPv4 of its container."""
    for fqdn, ip in targets.items():
        check_fqdn(fqdn, "external target")
        _ip(ip, f"address of external target {fqdn}")
    check_upstream(upstream)
    body = (template or repo_root() / TEMPLATE).read_text()
    hosts = f"\n{HOSTS_INDENT}".join(f"{ip} {fqdn}" for fqdn, ip in sorted(targets.items()))
    zones = " ".join(f"{zone}:53" for zone in target_zones(targets))
    rendered = Template(body).substitute(HOSTS=hosts, TTL=str(ttl), ZONES=zones,
                                         UPSTREAM=" ".join(upstream))
    yaml.safe_load(rendered)  # must still be valid YAML
    return rendered
