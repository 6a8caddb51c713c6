"""Nox sessions: `conformance` (the main job), `tests` (self-tests), `lint`, `bench`, `cluster`,
`upgrade`."""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Mapping, Sequence

import nox

nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "tests"]

PACKAGES = ["conformance", "clusters", "workloads"]
# The suite's boolean words (conftest.py TRUE_WORDS/FALSE_WORDS); others are an error.
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("", "0", "false", "no", "off")


def _install(session: nox.Session) -> None:
    session.install("-e", ".[dev]")


@nox.session
def tests(session: nox.Session) -> None:
    """Self-tests of everything; no cluster needed (Docker and netns tests need root+dockerd)."""
    _install(session)
    session.run("pytest", "-n", "auto", "tests", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff and mypy --strict on the packages."""
    _install(session)
    session.run("ruff", "check", ".")
    session.run("mypy", *PACKAGES)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks; each prints its figures and whether it met its target."""
    _install(session)
    for script in sorted(glob.glob("tests/bench/bench_*.py")):
        session.run("python", script, *session.posargs)


@nox.session
def conformance(session: nox.Session) -> None:
    """Provision (or reuse) a kind cluster and run the conformance suite in parallel.

    `nox -s conformance -- --cluster=simulated` runs the whole pipeline without a cluster.
    With `--disruptive` the truly cluster-wide scenarios run afterwards, alone and serially.
    """
    _install(session)
    args = [a for a in session.posargs if a != "--disruptive"]
    try:
        disruptive = len(args) != len(session.posargs) or env_flag("ZTC_DISRUPTIVE")
    except ValueError as exc:
        session.error(str(exc))
    artifacts = artifacts_dir(args, os.environ)
    # One scenario module per worker at a time (loadscope): its policy is applied once,
    # its probes run as one batch, and every cell is its own test id in the JUnit report.
    session.run(
        "pytest", "conformance/scenarios", "-n", "auto", "--dist", "loadscope",
        "--junitxml", os.path.join(artifacts, "junit.xml"), *args,
        env={"ZTC_DISRUPTIVE": ""},
    )
    if disruptive:
        session.run(
            "pytest", "conformance/scenarios", "-n", "0", "--disruptive", "-m", "disruptive",
            "--junitxml", os.path.join(artifacts, "junit-disruptive.xml"), *args,
            env={"ZTC_REPORT_MERGE": "1"},  # report.html shows both passes' cells
        )


CLIENT_FILES = "conformance/harness/kube*.py,conformance/harness/policy_wait.py"
CLIENT_COVERAGE_MIN = "90"


@nox.session
def coverage(session: nox.Session) -> None:
    """Coverage of the real cluster client (kube*.py, policy_wait.py) from emulated suite
    runs alone (no unit tests), printed per file; fails under 90 %."""
    _install(session)
    tmp = session.create_tmp()
    # The emulated suite runs whose coverage of the client is measured: a clean run, the
    # conditions of real clusters and the faults at the client's boundary, as the fault
    # registry declares them (clusters/emulated/faults/__main__.py).
    sets = json.loads(str(session.run("python", "-m", "clusters.emulated.faults", "sets",
                                      silent=True)))
    session.run("coverage", "erase")
    for fault in (None, *sets["coverage"]):
        session.run(
            "pytest", "conformance/scenarios", "--cluster=simulated", "-n", "auto", "-q",
            "-p", "no:cacheprovider", "--cov=conformance.harness", "--cov-append",
            "--cov-report=", f"--artifacts={os.path.join(tmp, fault or 'clean')}",
            "--flow-grace=4", *([f"--fault={fault}"] if fault else []),
            *(["--policy-timeout=3"] if fault in sets["stuck"] else []),
            success_codes=[0] if fault is None or fault in sets["passing"] else [1])
    # A broken install stops the run in the controller's configure, before pytest-cov
    # would save anything: measured with coverage itself.
    for fault in sets["refused"]:
        session.run(
            "coverage", "run", "--append", "--source=conformance.harness", "-m", "pytest",
            "conformance/scenarios", "--cluster=simulated", "-q", "-p", "no:cacheprovider",
            f"--artifacts={os.path.join(tmp, fault)}", f"--fault={fault}",
            success_codes=[4])
    session.run("coverage", "report", "-m", f"--include={CLIENT_FILES}",
                f"--fail-under={CLIENT_COVERAGE_MIN}")


SOAK_RUNS = 20


@nox.session
def soak(session: nox.Session) -> None:
    """`nox -s soak [-- RUNS FAULT WORKERS]`: the emulated suite again and again (default 20
    runs, --fault=jitter, -n 4); prints each run's result and wall time, fails on a flake."""
    _install(session)
    runs, fault, workers = (session.posargs + [str(SOAK_RUNS), "jitter", "4"][
        len(session.posargs):])[:3]
    tmp = session.create_tmp()
    for i in range(int(runs)):
        session.log(f"soak run {i + 1}/{runs} (--fault={fault}, -n {workers})")
        session.run("pytest", "conformance/scenarios", "--cluster=simulated", "-n", workers,
                    "-q", "-p", "no:cacheprovider", f"--fault={fault}",
                    f"--artifacts={os.path.join(tmp, str(i))}", "--durations=1")


def env_flag(var: str, environ: Mapping[str, str] = os.environ) -> bool:
    word = environ.get(var, "").strip().lower()
    if word not in TRUE_WORDS + FALSE_WORDS:
        raise ValueError(f"env {var}={environ[var]!r} is not a boolean: use one of "
                         f"{', '.join(TRUE_WORDS)} or {', '.join(FALSE_WORDS[1:])}")
    return word in TRUE_WORDS


def artifacts_dir(args: Sequence[str], environ: Mapping[str, str]) -> str:
    """Where the suite writes its evidence, so the JUnit report goes there too: the last
    `--artifacts DIR` / `--artifacts=DIR` of the arguments, else env ZTC_ARTIFACTS, else
    ./artifacts (the suite's own precedence, conftest.py)."""
    found = environ.get("ZTC_ARTIFACTS") or "artifacts"
    for i, arg in enumerate(args):
        if arg == "--artifacts" and i + 1 < len(args):
            found = args[i + 1]
        elif arg.startswith("--artifacts="):
            found = arg.split("=", 1)[1]
    return found


@nox.session
def upgrade(session: nox.Session) -> None:
    """`nox -s upgrade -- --from A --to B [--cluster kind|existing|simulated] ...`: validate
    a Cilium upgrade (python -m conformance.upgrade): the static check, the suite at A, the
    upgrade one minor at a time, the suite at B, upgrade-report.json. `--plan-only` prints
    the commands for kind/existing; `--cluster simulated` runs on the emulated cluster."""
    _install(session)
    session.run("python", "-m", "conformance.upgrade", *session.posargs)


@nox.session
def cluster(session: nox.Session) -> None:
    """`nox -s cluster -- up|down|status|render|upgrade ...` (python -m clusters)."""
    _install(session)
    session.run("python", "-m", "clusters", *(session.posargs or ["status"]))
