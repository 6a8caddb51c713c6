"""The kind guard: a kind- context must also have its API server on this machine (loopback,
or kind's node name on the Docker network); --allow-existing-cluster still overrides."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from clusters_fakes import World, kind_kubeconfig, make_env

from clusters.errors import RefusedError
from clusters.existing import up_existing
from clusters.guard import check_context


@pytest.mark.parametrize("server", [
    "https://127.0.0.1:40001", "https://127.0.0.53:6443", "https://[::1]:40001",
    "https://localhost:6443", "https://[::ffff:127.0.0.1]:40001",
    "https://zt-control-plane:6443", "https://zt-external-load-balancer:6443",
])
def test_local_kind_servers_pass(tmp_path: Path, server: str) -> None:
    check_context("kind-zt", False, kind_kubeconfig(tmp_path / "c", "kind-zt", server=server))


@pytest.mark.parametrize("server", [
    "https://10.0.0.5:6443", "https://api.prod.example.com", "https://[2001:db8::1]:6443",
    "https://0.0.0.0:6443", "https://[::]:6443", "https://other-control-plane:6443",
    "https://zt-control-plane:443", "https://zt-control-plane.evil.example:6443",
    "https://127.0.0.1.nip.io:6443", "", "not a url", "https://[::1:6443",
])
def test_a_kind_name_on_a_remote_server_is_refused(tmp_path: Path, server: str) -> None:
    kubeconfig = kind_kubeconfig(tmp_path / "c", "kind-zt", server=server)
    with pytest.raises(RefusedError, match="neither a loopback address nor kind's") as err:
        check_context("kind-zt", False, kubeconfig)
    assert "Nothing was done" in str(err.value) and "--allow-existing-cluster" in str(err.value)
    check_context("kind-zt", True, kubeconfig)  # the override still works


def test_a_loopback_server_behind_a_proxy_is_refused(tmp_path: Path) -> None:
    path = Path(kind_kubeconfig(tmp_path / "c", "kind-zt"))
    path.write_text(path.read_text().replace(
        "server: https://127.0.0.1:40001", "server: https://127.0.0.1:40001\n"
        "    proxy-url: http://proxy.example:3128"))
    with pytest.raises(RefusedError, match=re.escape("via proxy http://proxy.example:3128")):
        check_context("kind-zt", False, str(path))


def test_kubeconfig_list_first_file_wins(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    remote = kind_kubeconfig(tmp_path / "a", "kind-zt", server="https://203.0.113.9:6443")
    local = kind_kubeconfig(tmp_path / "b", "kind-zt")
    missing = str(tmp_path / "missing")  # missing list entries are ignored, as kubectl does
    monkeypatch.setenv("KUBECONFIG", f"{missing}:{remote}:{local}")
    with pytest.raises(RefusedError, match=re.escape("203.0.113.9")):
        check_context("kind-zt", False, None)
    monkeypatch.setenv("KUBECONFIG", f"{local}:{remote}")
    check_context("kind-zt", False, None)


@pytest.mark.parametrize(("content", "why"), [
    (None, "no such file"),
    ("clusters: [", "while parsing"),
    (b"\xff\xfe", "codec"),
    ("apiVersion: v1\n", "the context is not defined there"),
    ("contexts: [{name: kind-zt, context: {cluster: gone}}]\n", "cluster 'gone' is not defined"),
    ("[1, 2]", "the context is not defined there"),
])
def test_an_unreadable_server_is_a_refusal(tmp_path: Path, content: str | bytes | None,
                                           why: str) -> None:
    path = tmp_path / "c"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(RefusedError, match="cannot read its API server address") as err:
        check_context("kind-zt", False, str(path))
    assert why in str(err.value)


def test_callers_that_pass_no_kubeconfig_keep_the_name_check() -> None:
    check_context("kind-zt", False)  # the suite's call before it passes its kubeconfig
    with pytest.raises(RefusedError, match="does not start with 'kind-'"):
        check_context("prod", False)


def test_existing_remote_kind_context_is_refused_before_any_cluster_call(
        tmp_path: Path) -> None:
    env, tools, _, _ = make_env(World())
    kubeconfig = kind_kubeconfig(tmp_path / "c", "kind-prod", server="https://10.1.2.3:6443")
    with pytest.raises(RefusedError, match=re.escape("'https://10.1.2.3:6443'")):
        up_existing(env, kubeconfig, "kind-prod", allow_existing_cluster=False)
    assert tools.calls == []
