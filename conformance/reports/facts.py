"""The facts of a run shown at the top of every report: versions, options, commit, timing."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
GIT_TIMEOUT_S = 5.0
# The suite's own options worth recording (conftest.py ENV); never the kubeconfig's content.
OPTIONS = ("cluster", "cilium_version", "fault", "flow_grace", "probe_timeout",
           "policy_timeout", "disruptive", "ztc_strict", "keep_cluster", "artifacts",
           "context", "numprocesses", "dist")


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def commit() -> str:
    """GITHUB_SHA in Actions, else the checkout's HEAD (with `+dirty` for local edits)."""
    if os.environ.get("GITHUB_SHA"):
        return os.environ["GITHUB_SHA"]
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], check=True,
                              capture_output=True, text=True, timeout=GIT_TIMEOUT_S).stdout
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain",
                                "--untracked-files=no"], check=True, capture_output=True,
                               text=True, timeout=GIT_TIMEOUT_S).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return head.strip() + ("+dirty" if dirty.strip() else "")


def pinned_tools() -> dict[str, str]:
    """The pinned tool releases and kind node image (clusters/pins.yaml): what `clusters up`
    uses unless a recent enough tool is on PATH."""
    try:
        pins = yaml.safe_load((REPO / "clusters" / "pins.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return {}
    tools = {name: str(spec.get("version", "?"))
             for name, spec in (pins.get("tools") or {}).items() if isinstance(spec, dict)}
    if pins.get("kind_node_image"):
        tools["kind node image"] = str(pins["kind_node_image"]).split("@", 1)[0]
    return tools


def options(config: pytest.Config) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in OPTIONS:
        value = config.getoption(name, None)
        if value not in (None, False, ""):
            out[name] = value
    return out


def kubernetes_version(config: pytest.Config) -> str:
    """The API server's gitVersion, asked once at the end (the cluster is still up)."""
    from conformance.harness.session import KUBE_KEY

    kubeconfig, context = config.stash.get(KUBE_KEY, (None, None))
    if kubeconfig is None and context is None:
        return "unknown (no cluster was reached)"
    try:
        from conformance.harness.kube import KubeCluster

        cluster = KubeCluster.connect(kubeconfig, context)
        try:
            return cluster.check_reachable()
        finally:
            cluster.close()
    except Exception as exc:  # any client error: the report still gets written
        return f"unknown ({type(exc).__name__})"


def collect(config: pytest.Config, started: float, finished: float,
            cilium_versions: set[str], exit_status: int) -> dict[str, Any]:
    kind = config.getoption("cluster", None)
    return {
        "cluster": kind,
        # kind clusters come from the default profile (clusters/profiles); simulated is the
        # emulator (clusters/emulated), whose release follows --cilium-version.
        "profile": "default" if kind == "kind" else kind,
        "cilium": ", ".join(sorted(cilium_versions)) or config.getoption("cilium_version",
                                                                         None) or "unknown",
        "kubernetes": kubernetes_version(config),
        "tools": pinned_tools(),
        "commit": commit(),
        "options": options(config),
        "python": platform.python_version(),
        "pytest": pytest.__version__,
        "started": iso(started),
        "finished": iso(finished),
        "duration_s": round(finished - started, 3),
        "exit_status": exit_status,
    }
