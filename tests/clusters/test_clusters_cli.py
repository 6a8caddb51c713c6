"""`python -m clusters`: verbs, exit codes, one clear message, render runs nothing."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from clusters_fakes import World, kind_kubeconfig, make_env

from clusters.blueprint import make_setup
from clusters.chartcheck import check_file
from clusters.cli import main
from clusters.env import Env
from clusters.paths import repo_root
from clusters.provision import up_kind
from clusters.runner import CommandResult

CHARTS = Path(__file__).parent / "data" / "chart-values"


class NoCommands:
    def run(self, argv: object, **_: object) -> CommandResult:
        raise AssertionError(f"render must run nothing, ran {argv}")


@pytest.mark.parametrize("version", ["1.20.0", "1.19.6", "1.18.12"])
def test_render_writes_config_values_and_plan_and_runs_nothing(
    tmp_path: Path, version: str, capsys: pytest.CaptureFixture[str]
) -> None:
    env = Env(runner=NoCommands(), tool=lambda n: pytest.fail(f"resolved tool {n}"))
    rc = main(["render", "--out", str(tmp_path), "--cilium-version", version], env)
    assert rc == 0
    written = capsys.readouterr().out.split()
    assert written == [str(tmp_path / "kind-config.yaml"),
                       str(tmp_path / f"values-cilium-{version}.yaml"),
                       str(tmp_path / "plan.sh")]
    values = yaml.safe_load((tmp_path / f"values-cilium-{version}.yaml").read_text())
    assert check_file(values, CHARTS / version / "values.yaml") == []
    plan = (tmp_path / "plan.sh").read_text()
    assert f"helm upgrade --install cilium cilium --repo https://helm.cilium.io --version " \
           f"{version}" in plan
    assert "kind create cluster --name zt-conformance" in plan
    assert f"docker pull quay.io/cilium/cilium:v{version}" in plan
    assert "docker build -f" in plan and "account-service --role external" in plan
    assert "# wait (poll, deadline 300s): Cilium agents" in plan
    kind = yaml.safe_load((tmp_path / "kind-config.yaml").read_text())
    assert kind["networking"]["kubeProxyMode"] == "none"


def test_render_plan_is_the_up_plan(tmp_path: Path) -> None:
    """Every command `up` ran in the fake world appears in the rendered plan, in order."""
    main(["render", "--out", str(tmp_path)], Env(runner=NoCommands()))
    plan = (tmp_path / "plan.sh").read_text()
    env, tools, _, _ = make_env(World())
    up_kind(make_setup(files_dir=tmp_path), env, False, False)
    position = 0
    for argv in tools.calls:
        if argv[1:3] == ("image", "inspect") or "get" in argv or "exec" in argv:
            continue  # conditional/poll commands: shown as `inspect || pull` and `# wait` lines
        found = plan.find(shlex.join(argv), position)
        assert found >= 0, shlex.join(argv)
        position = found


@pytest.mark.parametrize(("argv", "code", "words"), [
    (["up", "--profile", "huge"], 2, "valid profiles: default, no-auth"),
    (["up", "--cilium-version", "1.16"], 2, "valid: 1.20.0, 1.19.6, 1.18.12"),
    (["render", "--out", "/tmp/x", "--profile", "nope"], 2, "unknown profile"),
    (["up", "--context", "prod"], 3, "refusing to use kube context 'prod'"),
    (["status", "--context", "prod"], 3, "--allow-existing-cluster"),
    (["upgrade", "--to", "1.21.0"], 2, "unsupported Cilium version '1.21.0' (--to)"),
    (["render", "--out", "/proc/zt-no-such-dir"], 2, "--out /proc/zt-no-such-dir: cannot write"),
    (["render", "--out", __file__], 2, "exists and is not a directory"),
])
def test_bad_input_is_one_message_and_an_exit_code(
    argv: list[str], code: int, words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    env, tools, _, _ = make_env(World())
    assert main(argv, env) == code
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err and "Traceback" not in err
    assert tools.calls == []


def test_docker_down_exit_code_and_message(capsys: pytest.CaptureFixture[str]) -> None:
    env, _, _, _ = make_env(World(docker_up=False))
    assert main(["down"], env) == 6
    err = capsys.readouterr().err
    assert "Docker daemon is not reachable" in err and "Is the docker daemon running?" in err


def test_up_then_status_then_down(capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    world = World()
    env, _, _, _ = make_env(world)
    assert main(["up"], env) == 0
    assert "context=kind-zt-conformance cilium=1.20.0 reused=false" in capsys.readouterr().out
    assert main(["up"], make_env(world)[0]) == 0
    assert "reused=true" in capsys.readouterr().out
    assert main(["status"], make_env(world)[0]) == 0
    screen = capsys.readouterr().out
    assert "Cilium: 1.20.0; configuration matches profile default" in screen
    assert "ok  Hubble Relay serving" in screen and "api.stripe.com=192.0.2." in screen
    assert len(screen.splitlines()) < 25
    assert main(["up", "--cilium-version", "1.19"], make_env(world)[0]) == 3
    assert main(["down"], make_env(world)[0]) == 0
    assert main(["status"], make_env(world)[0]) == 0
    assert "cluster: absent" in capsys.readouterr().out


def test_status_of_an_existing_cluster_lists_groups(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KUBECONFIG", kind_kubeconfig(tmp_path / "config", "kind-other"))
    env, _, _, _ = make_env(World(cilium_config={"enable-l7-proxy": "true"}))
    assert main(["status", "--context", "kind-other"], env) == 0
    out = capsys.readouterr().out
    assert "Cilium 1.20.0; features: hubble-relay, l7-proxy" in out
    assert "l7-http" in out and "skips (needs mutual-auth)" in out


def test_module_entry_point_exits_cleanly_on_bad_input() -> None:
    done = subprocess.run([sys.executable, "-m", "clusters", "up", "--profile", "x"],
                          capture_output=True, text=True, cwd=repo_root(), check=False)
    assert done.returncode == 2
    assert "unknown profile 'x'" in done.stderr and "Traceback" not in done.stderr
