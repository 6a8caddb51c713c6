"""The bad-input tally for `python -m clusters`: every odd flag value is one paragraph on
stderr and a documented exit code (2 bad input, 3 refused), never a traceback, and nothing
is run or written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from clusters_fakes import World, kind_kubeconfig, make_env

from clusters.cli import DESCRIPTION, main
from clusters.paths import repo_root

SUBPROCESS_TIMEOUT_S = 60.0
OUT = "{tmp}/out"
REMOTE = "{remote}"  # a kubeconfig whose kind-x context points at a remote API server

CASES = [
    (["render", "--out", ""], 2, "--out: empty value"),
    (["render", "--out", "  "], 2, "--out: empty value"),
    (["render", "--out", "/dev/null"], 2, "exists and is not a directory"),
    (["render", "--out", "/proc/zt-no-such-dir"], 2, "cannot write there"),
    (["render", "--out", "{tmp}/file/below"], 2, "cannot write there"),
    (["render", "--out", OUT, "--cilium-version", ""], 2, "--cilium-version: empty value"),
    (["render", "--out", OUT, "--cilium-version", "abc"], 2, "unsupported Cilium version"),
    (["render", "--out", OUT, "--cilium-version", "1.20.0.1"], 2, "unsupported Cilium version"),
    (["render", "--out", OUT, "--cilium-version", "1.16"], 2, "valid: 1.20.0, 1.19.6"),
    (["render", "--out", OUT, "--profile", ""], 2, "--profile: empty value"),
    (["render", "--out", OUT, "--profile", "../../etc/passwd"], 2, "unknown profile"),
    (["render", "--out", OUT, "--profile", "default.yaml"], 2, "valid profiles: default"),
    (["render", "--out", OUT, "--workloads-base", " "], 2, "--workloads-base: empty value"),
    (["up", "--kubeconfig", ""], 2, "--kubeconfig: empty value"),
    (["up", "--context", ""], 2, "--context: empty value"),
    (["status", "--context", ""], 2, "--context: empty value"),
    (["upgrade", "--to", ""], 2, "--to: empty value"),
    (["upgrade", "--to", "1.x"], 2, "unsupported Cilium version '1.x' (--to)"),
    (["up", "--context", "prod"], 3, "refusing to use kube context 'prod'"),
    (["up", "--context", "kind-x", "--kubeconfig", "{tmp}/none"], 3, "no such file"),
    (["up", "--context", "kind-x", "--kubeconfig", REMOTE], 3, "neither a loopback address"),
    (["upgrade", "--to", "1.19", "--context", "kind-x", "--kubeconfig", REMOTE], 3,
     "https://198.51.100.7:6443"),
]


def _argv(argv: list[str], tmp: Path) -> list[str]:
    (tmp / "file").write_text("")
    remote = kind_kubeconfig(tmp / "remote", "kind-x", server="https://198.51.100.7:6443")
    return [a.replace(REMOTE, remote).replace("{tmp}", str(tmp)) for a in argv]


def one_paragraph(err: str) -> bool:
    return bool(err.strip()) and "\n\n" not in err.strip() and "Traceback" not in err


@pytest.mark.parametrize(("argv", "code", "words"), CASES)
def test_bad_flag_values_are_one_paragraph_and_a_documented_code(
    argv: list[str], code: int, words: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    env, tools, _, _ = make_env(World())
    assert main(_argv(argv, tmp_path), env) == code
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err and one_paragraph(err)
    assert f"{code} " in DESCRIPTION  # documented in --help
    assert tools.calls == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "remote"]  # nothing written


@pytest.mark.parametrize("argv", [[], ["bogus"], ["render"], ["up", "--cilium-version"],
                                  ["render", "--out", "x", "--frobnicate"]])
def test_argparse_errors_exit_2_with_usage(argv: list[str],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ended:
        main(argv, make_env(World())[0])
    assert ended.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and one_paragraph(err)


def test_render_out_empty_writes_nothing_into_the_current_directory(tmp_path: Path) -> None:
    """End to end: the real entry point, no traceback, the working directory untouched."""
    res = subprocess.run([sys.executable, "-m", "clusters", "render", "--out", ""],
                         cwd=tmp_path, capture_output=True, text=True,
                         timeout=SUBPROCESS_TIMEOUT_S,
                         env={"PATH": "/nonexistent", "PYTHONPATH": str(repo_root())})
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("error: --out: empty value") and one_paragraph(res.stderr)
    assert list(tmp_path.iterdir()) == []
