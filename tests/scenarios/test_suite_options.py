"""The suite's options and the checks before any test runs (real pytest subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 180
USAGE_ERROR = 4  # pytest's exit code for pytest.UsageError


def suite(*args: str, env: dict[str, str] | None = None,
          tmp: Path | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("ZTC_", "PYTEST_XDIST", "PYTEST_ADDOPTS"))}
    clean.update(env or {})
    extra = [f"--artifacts={tmp / 'artifacts'}"] if tmp else []
    return subprocess.run([sys.executable, "-m", "pytest", "conformance/scenarios",
                           "-p", "no:cacheprovider", "-q", *extra, *args],
                          cwd=REPO, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
                          env=clean, check=False)


def one_error(proc: subprocess.CompletedProcess[str]) -> str:
    out = proc.stdout + proc.stderr
    assert proc.returncode == USAGE_ERROR, out
    assert "Traceback" not in out and " passed" not in out and " failed" not in out, out
    return out


def kubeconfig(tmp: Path) -> Path:
    # An API server address on loopback where nothing listens.
    path = tmp / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: kind-dead\n"
        "clusters: [{name: dead, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "contexts: [{name: kind-dead, context: {cluster: dead, user: u}}]\n"
        "users: [{name: u, user: {token: x}}]\n")
    return path


def test_unreachable_cluster_is_one_error_before_any_test(tmp_path: Path) -> None:
    out = one_error(suite("--cluster=existing", f"--kubeconfig={kubeconfig(tmp_path)}"))
    assert "cannot reach the cluster" in out and "127.0.0.1" in out


def test_unknown_context_is_named(tmp_path: Path) -> None:
    out = one_error(suite("--cluster=existing", f"--kubeconfig={kubeconfig(tmp_path)}",
                          "--context=staging"))
    assert "context 'staging'" in out


def test_non_kind_context_is_refused_without_allow_existing_cluster(tmp_path: Path) -> None:
    out = one_error(suite("--cluster=existing", f"--kubeconfig={kubeconfig(tmp_path)}",
                          "--context=prod"))
    assert "refusing to use kube context 'prod'" in out and "--allow-existing-cluster" in out


def test_options_come_from_the_environment_too(tmp_path: Path) -> None:
    out = one_error(suite(env={"ZTC_CLUSTER": "existing",
                               "ZTC_KUBECONFIG": str(kubeconfig(tmp_path))}))
    assert "cannot reach the cluster" in out


def test_fault_needs_the_simulated_cluster(tmp_path: Path) -> None:
    out = one_error(suite("--cluster=existing", f"--kubeconfig={kubeconfig(tmp_path)}",
                          "--fault=l7-off"))
    assert "--fault 'l7-off' only applies to --cluster=simulated" in out


def test_unknown_fault_lists_the_valid_ones() -> None:
    out = one_error(suite("--cluster=simulated", "--fault=l7-of"))
    assert "l7-off" in out and "metrics-frozen" in out


def test_disruptive_is_opt_in_and_runs_last(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    default = suite("--cluster=simulated", f"--junitxml={junit}", tmp=tmp_path)
    assert default.returncode == 0, default.stdout[-3000:]
    names = [c.get("classname", "") for c in ET.parse(junit).iter("testcase")]
    assert names and not any("clusterwide" in n for n in names)

    opted = suite("--cluster=simulated", "--disruptive", f"--junitxml={junit}",
                  "conformance/scenarios/test_clusterwide_default_deny.py",
                  "conformance/scenarios/test_l7_http.py", tmp=tmp_path)
    assert opted.returncode == 0, opted.stdout[-3000:]
    order = [c.get("classname", "").rsplit(".", 1)[-1] for c in ET.parse(junit).iter("testcase")]
    first_disruptive = order.index("test_clusterwide_default_deny")
    assert "test_l7_http" in order
    assert set(order[first_disruptive:]) == {"test_clusterwide_default_deny"}


def test_disruptive_refuses_parallel_workers() -> None:
    out = one_error(suite("--cluster=simulated", "--disruptive", "-n", "2"))
    assert "without -n" in out


def test_self_tests_never_collect_the_suite() -> None:
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                           "-p", "no:cacheprovider", ".", "--ignore=tests", "--ignore=workloads",
                           "--ignore=clusters"],
                          cwd=REPO, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
                          check=False)
    assert "conformance/scenarios" not in proc.stdout, proc.stdout[-2000:]
    assert proc.returncode == 5, proc.stdout[-2000:]  # "no tests collected"


@pytest.mark.parametrize("dist", [[], ["--dist", "load"], ["--dist", "loadgroup"]])
def test_parallel_run_keeps_each_scenario_on_one_worker(dist: list[str],
                                                        tmp_path: Path) -> None:
    # However -n is combined, a scenario runs as one batch on one worker.
    proc = suite("--cluster=simulated", "-n", "2", *dist, tmp=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    workers: dict[str, set[str]] = {}
    for probes in (tmp_path / "artifacts").glob("*/*/probes.json"):
        for attempt in json.loads(probes.read_text())["attempts"]:
            workers.setdefault(probes.parent.parent.name, set()).add(attempt["id"].split(".")[0])
    assert len(workers) >= 10
    assert all(len(ws) == 1 for ws in workers.values()), workers
    assert set().union(*workers.values()) == {"gw0", "gw1"}


@pytest.mark.parametrize(("args", "env", "named"), [
    ((), {"ZTC_FLOW_GRACE": "soon"}, "ZTC_FLOW_GRACE"),
    ((), {"ZTC_CLUSTER": "kinder"}, "ZTC_CLUSTER"),
    (("--probe-timeout=-1",), {}, "--probe-timeout"),
    (("--policy-timeout=0",), {}, "--policy-timeout"),
    # Upper bounds: the prober's own cap, and no run parked for days by a typo.
    (("--probe-timeout=301",), {}, "--probe-timeout"),
    ((), {"ZTC_FLOW_GRACE": "601"}, "ZTC_FLOW_GRACE"),
    (("--policy-timeout=1e9",), {}, "--policy-timeout"),
    (("--stale-after=inf",), {}, "--stale-after"),
])
def test_bad_option_values_are_usage_errors_naming_flag_and_env(
        args: tuple[str, ...], env: dict[str, str], named: str) -> None:
    out = one_error(suite(*args, env={"ZTC_CLUSTER": "simulated", **env}))
    assert named in out and ("seconds > 0" in out or "is not one of" in out)


def test_durations_come_from_the_environment(tmp_path: Path) -> None:
    proc = suite("--cluster=simulated", "-k", "l3l4_gap", tmp=tmp_path,
                 env={"ZTC_PROBE_TIMEOUT": "1.5"})
    assert proc.returncode == 0, proc.stdout[-3000:]
    probes = json.loads(next((tmp_path / "artifacts").glob("l3l4-gap/*/probes.json"))
                        .read_text())
    assert {a["request"]["timeout"] for a in probes["attempts"]} == {1.5}


def test_unwritable_artifacts_directory_is_one_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = one_error(suite("--cluster=simulated", f"--artifacts={blocker / 'dir'}"))
    assert "--artifacts" in out and "cannot write there" in out


@pytest.mark.parametrize("var", ["ZTC_DISRUPTIVE", "ZTC_KEEP_CLUSTER", "ZTC_STRICT"])
def test_unknown_boolean_word_is_a_usage_error_naming_the_variable(var: str) -> None:
    out = one_error(suite("--cluster=simulated", env={var: "maybe"}))
    assert var in out and "'maybe' is not a boolean" in out and "on" in out


def test_on_is_true(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    proc = suite("--cluster=simulated", f"--junitxml={junit}", "-k", "clusterwide",
                 tmp=tmp_path, env={"ZTC_DISRUPTIVE": "On"})
    assert proc.returncode == 0, proc.stdout[-3000:]
    names = [c.get("classname", "") for c in ET.parse(junit).iter("testcase")]
    assert names and all("clusterwide" in n for n in names), "ZTC_DISRUPTIVE=On read as off"


def run_ids(artifacts: Path) -> set[str]:
    return {json.loads(p.read_text())["run"] for p in artifacts.glob("*/run.json")}


def test_workers_share_one_run_id_and_runs_differ(tmp_path: Path) -> None:
    first = suite("--cluster=simulated", "-n", "2", "-k", "l3l4_gap or l7_http", tmp=tmp_path)
    assert first.returncode == 0, first.stdout[-3000:]
    runs = run_ids(tmp_path / "artifacts")
    assert len(runs) == 1
    run = runs.pop()
    for path in (tmp_path / "artifacts").glob("*/run.json"):
        info = json.loads(path.read_text())
        assert info["worker"] in ("gw0", "gw1")
        assert info["namespaces"]["payments"] == f"ztc-{run}-{info['worker']}"
    second = suite("--cluster=simulated", "-k", "l3l4_gap", tmp=tmp_path)
    assert second.returncode == 0, second.stdout[-3000:]
    again = json.loads((tmp_path / "artifacts" / "l3l4-gap" / "run.json").read_text())
    assert again["run"] != run and again["namespaces"]["payments"] == f"ztc-{again['run']}-main"


def test_artifacts_clean_up_spares_folders_the_suite_did_not_write(tmp_path: Path) -> None:
    # `--artifacts ~`: the user's own ~/grpc must survive, and the run must say why the
    # scenario could not keep its evidence there.
    mine = tmp_path / "artifacts" / "grpc" / "thesis.tex"
    mine.parent.mkdir(parents=True)
    mine.write_text("precious")
    proc = suite("--cluster=simulated", "-k", "grpc or l3l4_gap", tmp=tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "refusing to write evidence into" in out, out[-3000:]
    assert mine.read_text() == "precious"
    assert (tmp_path / "artifacts" / "l3l4-gap" / "run.json").exists()


STRICT_CONFTEST = """
from conformance.scenarios.conftest import pytest_runtest_makereport  # noqa: F401


def pytest_addoption(parser):
    parser.addoption("--ztc-strict", dest="ztc_strict", action="store_true")
"""
SKIPPING_CELL = """
import pytest


def test_cell():
    pytest.skip("mutual-auth: the cluster does not provide mutual-auth")
"""


@pytest.mark.parametrize("flags", [["--strict"], ["--ztc-strict"]])
def test_strict_turns_a_skipped_cell_into_a_failure(pytester: pytest.Pytester,
                                                    flags: list[str]) -> None:
    pytester.makeconftest(STRICT_CONFTEST)
    pytester.makepyfile(test_cells=SKIPPING_CELL)
    lenient = pytester.runpytest("-p", "no:cacheprovider")
    lenient.assert_outcomes(skipped=1)
    strict = pytester.runpytest("-p", "no:cacheprovider", *flags)
    strict.assert_outcomes(failed=1)
    strict.stdout.fnmatch_lines(["*--strict: a skipped cell fails the run: mutual-auth*"])
