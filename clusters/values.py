"""Helm values for one profile + Cilium release: the only place values are assembled.

Order: profile base values -> mutual-auth block (profile, then the release's own, because the
chart default of `authentication.enabled` changed in 1.19) -> the release's `values` overlay
-> image handling for every preloaded image -> `upgradeCompatibility` on upgrades.
"""

from __future__ import annotations

import copy
from typing import Any

from clusters.profiles import Profile
from clusters.versions import CiliumRelease
from clusters.yamldata import deep_merge, set_path

SPIRE_PREFIX = "authentication.mutual.spire."
API_SERVER_PORT = 6443


def preloaded_images(profile: Profile, release: CiliumRelease) -> dict[str, str]:
    """Image value path -> reference, for the components this profile runs."""
    return {
        path: ref
        for path, ref in release.images.items()
        if profile.mutual_auth or not path.startswith(SPIRE_PREFIX)
    }


def render_values(
    profile: Profile, release: CiliumRelease, upgrade_from: str | None = None
) -> dict[str, Any]:
    values = copy.deepcopy(profile.helm_values)
    # kube-proxy-free: agents reach the API server by the control-plane container's name.
    values["k8sServiceHost"] = f"{profile.cluster_name}-control-plane"
    values.setdefault("k8sServicePort", API_SERVER_PORT)
    if profile.mutual_auth:
        values = deep_merge(values, profile.mutual_auth_helm_values)
        values = deep_merge(values, dict(release.mutual_auth_values))
    else:
        set_path(values, "authentication.enabled", False)
        set_path(values, "authentication.mutual.spire.enabled", False)
    values = deep_merge(values, dict(release.values))
    for path in preloaded_images(profile, release):
        # A digest reference may not match an image loaded with `kind load` (kind issue 4028).
        set_path(values, f"{path}.useDigest", False)
        set_path(values, f"{path}.pullPolicy", "IfNotPresent")
    if upgrade_from is not None:
        values["upgradeCompatibility"] = ".".join(upgrade_from.split(".")[:2])
    return values
