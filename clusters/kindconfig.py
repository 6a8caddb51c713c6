"""The kind cluster configuration for a profile."""

from __future__ import annotations

from typing import Any

from clusters.profiles import Profile

KIND_API_VERSION = "kind.x-k8s.io/v1alpha4"


def render_kind_config(profile: Profile, node_image: str) -> dict[str, Any]:
    roles = ["control-plane"] * profile.control_planes + ["worker"] * profile.workers
    return {
        "kind": "Cluster",
        "apiVersion": KIND_API_VERSION,
        "name": profile.cluster_name,
        "networking": {
            # Cilium is the CNI and replaces kube-proxy.
            "disableDefaultCNI": True,
            "kubeProxyMode": "none",
        },
        "nodes": [{"role": role, "image": node_image} for role in roles],
    }
