"""Cluster profiles: YAML data under clusters/profiles/, one file per profile.

A profile may `extends:` another; mappings merge, lists and scalars replace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clusters.coredns import check_fqdn, check_upstream
from clusters.errors import InputError
from clusters.paths import package_dir
from clusters.yamldata import deep_merge, load_yaml_mapping
from conformance.model.options import AgentOptions, OptionsError, options_from_helm

DEFAULT_PROFILE = "default"
_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$")


@dataclass(frozen=True)
class ExternalTargets:
    image: str
    command: tuple[str, ...]
    fqdns: tuple[str, ...]


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    cluster_name: str
    control_planes: int
    workers: int
    mutual_auth: bool
    coredns_upstream: tuple[str, ...]
    coredns_ttl: int
    targets: ExternalTargets
    helm_values: dict[str, Any]
    mutual_auth_helm_values: dict[str, Any]
    raw: dict[str, Any]  # the merged document, hashed into the config hash

    @property
    def agent_options(self) -> AgentOptions:
        """The agent options its Helm values give (policy enforcement mode, DNS reject
        code, L7 proxy) plus mutual auth: what the policy model assumes for this cluster."""
        return options_from_helm(self.helm_values, mutual_auth=self.mutual_auth)


def profiles_dir() -> Path:
    return package_dir() / "profiles"


def available_profiles(directory: Path | None = None) -> list[str]:
    return sorted(p.stem for p in (directory or profiles_dir()).glob("*.yaml"))


def _raw(name: str, directory: Path, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    valid = available_profiles(directory)
    if name not in valid:
        raise InputError(f"unknown profile {name!r}; valid profiles: {', '.join(valid)}")
    if name in seen:
        raise InputError(f"profile {name!r}: `extends` loops ({' -> '.join((*seen, name))})")
    doc = load_yaml_mapping(directory / f"{name}.yaml")
    parent = doc.pop("extends", None)
    if parent is None:
        return doc
    return deep_merge(_raw(str(parent), directory, (*seen, name)), doc)


def _field(doc: dict[str, Any], path: str, kind: type, source: str) -> Any:
    node: Any = doc
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            raise InputError(f"profile {source}: missing field `{path}`")
        node = node[key]
    if kind is int and isinstance(node, bool):
        raise InputError(f"profile {source}: field `{path}` must be {kind.__name__}")
    if not isinstance(node, kind):
        raise InputError(f"profile {source}: field `{path}` must be {kind.__name__}")
    return node


def load_profile(name: str = DEFAULT_PROFILE, directory: Path | None = None) -> Profile:
    directory = directory or profiles_dir()
    doc = _raw(name, directory)
    src = str(directory / f"{name}.yaml")
    cluster_name = _field(doc, "cluster_name", str, src)
    if not _NAME_RE.match(cluster_name):
        raise InputError(
            f"profile {src}: field `cluster_name` {cluster_name!r} must be lowercase letters, "
            "digits and dashes (it becomes container and context names)"
        )
    workers = _field(doc, "nodes.workers", int, src)
    control_planes = _field(doc, "nodes.control_planes", int, src)
    if control_planes < 1 or workers < 0:
        raise InputError(f"profile {src}: needs at least 1 control plane and 0+ workers")
    targets = _field(doc, "external_targets", dict, src)
    # Checked here, before anything is created, not when CoreDNS is configured mid-`up`.
    upstream = tuple(str(u) for u in _field(doc, "coredns.upstream", list, src))
    fqdns = tuple(str(f).lower() for f in _field(targets, "fqdns", list, src))
    ttl = _field(doc, "coredns.ttl", int, src)
    try:
        check_upstream(upstream)
        for fqdn in fqdns:
            check_fqdn(fqdn, "field `external_targets.fqdns`:")
    except InputError as exc:
        raise InputError(f"profile {src}: {exc}") from None
    if ttl < 1:
        raise InputError(f"profile {src}: field `coredns.ttl` must be at least 1 (seconds)")
    try:
        options_from_helm(_field(doc, "helm_values", dict, src))
    except OptionsError as exc:
        raise InputError(f"profile {src}: field `helm_values`: {exc}") from None
    return Profile(
        name=name,
        description=str(doc.get("description", "")),
        cluster_name=cluster_name,
        control_planes=control_planes,
        workers=workers,
        mutual_auth=_field(doc, "mutual_auth", bool, src),
        coredns_upstream=upstream,
        coredns_ttl=ttl,
        targets=ExternalTargets(
            image=_field(targets, "image", str, src),
            command=tuple(str(c) for c in _field(targets, "command", list, src)),
            fqdns=fqdns,
        ),
        helm_values=_field(doc, "helm_values", dict, src),
        mutual_auth_helm_values=dict(doc.get("mutual_auth_helm_values") or {}),
        raw=doc,
    )
