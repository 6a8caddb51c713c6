"""Where things live: the user cache (tools, per-cluster state) and the repository root."""

from __future__ import annotations

import os
from pathlib import Path

APP = "zt-conformance"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / APP


def state_dir(cluster_name: str) -> Path:
    """Per-cluster files we own: kubeconfig, rendered values, Corefile."""
    return cache_dir() / "clusters" / cluster_name


def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


def package_dir() -> Path:
    return Path(__file__).resolve().parent
