"""clusters.api, as the suite's conftest calls it."""

from __future__ import annotations

from pathlib import Path

import pytest
from clusters_fakes import World, kind_kubeconfig, make_env

from clusters.api import UpOptions, UpResult, down, up
from clusters.errors import ClustersError, RefusedError


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path


def test_up_creates_then_reuses(cache: Path) -> None:
    world = World()
    first = up(UpOptions(), make_env(world)[0])
    kubeconfig = str(cache / "zt-conformance" / "clusters" / "zt-conformance" / "kubeconfig")
    assert first == UpResult(kubeconfig, "kind-zt-conformance", "1.20.0", reused=False)
    again = up(UpOptions(), make_env(world)[0])
    assert again.reused is True and again.kubeconfig == kubeconfig


def test_up_with_a_version_line_and_another_profile() -> None:
    world = World()
    got = up(UpOptions(profile="no-auth", cilium_version="1.18"), make_env(world)[0])
    assert (got.context, got.cilium_version) == ("kind-zt-conformance-noauth", "1.18.12")
    assert "zt-conformance-noauth" in world.clusters


def test_up_on_an_existing_context_provisions_nothing(tmp_path: Path) -> None:
    world = World(agent_image="quay.io/cilium/cilium:v1.19.6")
    env, tools, _, _ = make_env(world)
    kubeconfig = kind_kubeconfig(tmp_path / "k", "kind-staging")
    got = up(UpOptions(kubeconfig=kubeconfig, context="kind-staging"), env)
    assert got == UpResult(kubeconfig, "kind-staging", "1.19.6", reused=True)
    assert {c[0] for c in tools.calls} == {"kubectl"}
    with pytest.raises(RefusedError):
        up(UpOptions(context="staging"), env)
    got = up(UpOptions(context="staging", allow_existing_cluster=True), env)
    assert got.context == "staging"


def test_api_errors_are_clusters_errors() -> None:
    with pytest.raises(ClustersError, match="unknown profile"):
        up(UpOptions(profile="nope"), make_env(World())[0])


def test_down_removes_what_up_made() -> None:
    world = World()
    up(UpOptions(), make_env(world)[0])
    down("default", make_env(world)[0])
    assert world.clusters == set() and world.containers == {}
