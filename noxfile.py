"""Nox sessions: `conformance` (the main job), `tests` (self-tests), `lint`, `bench`, `cluster`."""

from __future__ import annotations

import glob
import os

import nox

nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "tests"]

PACKAGES = ["conformance", "clusters", "workloads"]


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
    disruptive = len(args) != len(session.posargs) or \
        os.environ.get("ZTC_DISRUPTIVE", "").lower() in ("1", "true", "yes")
    # One scenario module per worker at a time (loadscope): its policy is applied once,
    # its probes run as one batch, and every cell is its own test id in the JUnit report.
    session.run(
        "pytest", "conformance/scenarios", "-n", "auto", "--dist", "loadscope",
        "--junitxml", "artifacts/junit.xml", *args, env={"ZTC_DISRUPTIVE": ""},
    )
    if disruptive:
        session.run(
            "pytest", "conformance/scenarios", "-n", "0", "--disruptive",
            "-m", "disruptive", "--junitxml", "artifacts/junit-disruptive.xml", *args,
        )


@nox.session
def cluster(session: nox.Session) -> None:
    """`nox -s cluster -- up|down|status|render|upgrade ...` (python -m clusters)."""
    _install(session)
    session.run("python", "-m", "clusters", *(session.posargs or ["status"]))
