"""Environment checks: skip locally when Docker or root is missing, FAIL when CI=true.

CI must run the Docker and network-namespace tests; a silent skip there would count
untested code as covered.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

DOCKER_CHECK_TIMEOUT_S = 20.0


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> None:
    """Skip (locally) or fail (CI=true) the calling test."""
    if in_ci():
        pytest.fail(f"required in CI (CI=true) but unavailable: {reason}", pytrace=False)
    pytest.skip(reason)


def docker_problem() -> str | None:
    if shutil.which("docker") is None:
        return "docker CLI not on PATH"
    try:
        result = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"],
                                capture_output=True, text=True, timeout=DOCKER_CHECK_TIMEOUT_S,
                                check=False)
    except subprocess.TimeoutExpired:
        return "docker engine did not answer `docker info`"
    if result.returncode != 0:
        return f"docker engine not reachable: {result.stderr.strip()[:200]}"
    return None


def require_docker() -> None:
    if (problem := docker_problem()) is not None:
        unavailable(problem)


def netns_problem() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "iptables"):
        if shutil.which(tool) is None:
            return f"{tool} not on PATH"
    return None


def require_netns() -> None:
    if (problem := netns_problem()) is not None:
        unavailable(problem)
