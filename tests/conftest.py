"""Shared fixtures of the self-tests (Docker and network-namespace prerequisites).

Docker- and netns-backed tests skip locally when the engine or root is missing but FAIL
when CI=true (see tests/support/requirements.py).
"""

from __future__ import annotations

import os

import pytest

from tests.support.requirements import require_docker, require_netns

# testcontainers' reaper container would need a registry pull; our fixtures clean up.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")


@pytest.fixture
def docker_engine() -> None:
    """A reachable Docker engine (skip locally, fail under CI=true)."""
    require_docker()


@pytest.fixture
def netns_capable() -> None:
    """Root with ip/iptables for network namespaces (skip locally, fail under CI=true)."""
    require_netns()
