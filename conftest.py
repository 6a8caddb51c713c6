"""Options of the conformance suite and the checks that must happen before any test.

Every option can also come from an environment variable (shown in --help). The suite
lives in conformance/scenarios and is only collected when asked for by path
(`pytest conformance/scenarios`, `nox -s conformance`), so `pytest tests` never needs a
cluster. Before any test runs, the controller provisions (kind) or reaches (existing)
the cluster; an unreachable cluster or context is one clear error, not a test failure.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conformance.vocabulary.timeouts import (
    FLOW_GRACE_S,
    POLICY_TIMEOUT_S,
    PROBE_TIMEOUT_S,
    STALE_AFTER_S,
)

REPO = Path(__file__).resolve().parent
SCENARIOS = REPO / "conformance" / "scenarios"
OWN_POLICIES_MODULE = "test_own_policies.py"
CLUSTER_KINDS = ("kind", "existing", "simulated")

# option -> (environment variable, default)
ENV = {
    "cluster": ("ZTC_CLUSTER", "kind"),
    "kubeconfig": ("ZTC_KUBECONFIG", None),
    "context": ("ZTC_CONTEXT", None),
    "cilium_version": ("ZTC_CILIUM_VERSION", None),
    "keep_cluster": ("ZTC_KEEP_CLUSTER", None),
    "artifacts": ("ZTC_ARTIFACTS", "artifacts"),
    "fault": ("ZTC_FAULT", None),
    "flow_grace": ("ZTC_FLOW_GRACE", f"{FLOW_GRACE_S:g}"),
    "probe_timeout": ("ZTC_PROBE_TIMEOUT", f"{PROBE_TIMEOUT_S:g}"),
    "policy_timeout": ("ZTC_POLICY_TIMEOUT", f"{POLICY_TIMEOUT_S:g}"),
    "disruptive": ("ZTC_DISRUPTIVE", None),
    "allow_existing_cluster": ("ZTC_ALLOW_EXISTING_CLUSTER", None),
    "strict": ("ZTC_STRICT", None),
    "stale_after": ("ZTC_STALE_AFTER", f"{STALE_AFTER_S:g}"),
    "policies": ("ZTC_POLICIES", None),
    "probes": ("ZTC_PROBES", None),
    "allow_external_fqdn": ("ZTC_ALLOW_EXTERNAL_FQDN", None),
}
# Upper bounds of the duration options (seconds), so a typo cannot park a run for days.
# The probe timeout is the prober's own cap (workloads/prober/spec.py MAX_TIMEOUT_S).
MAX_SECONDS = {
    "flow_grace": 600.0,
    "probe_timeout": 300.0,
    "policy_timeout": 3600.0,
    "stale_after": 7 * 24 * 3600.0,
}
# Boolean words accepted in the environment (case-insensitive); anything else is an error.
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("", "0", "false", "no", "off")


def _env(name: str) -> Any:
    var, default = ENV[name]
    return os.environ.get(var) or default


def _flag(name: str) -> bool:
    """A boolean option's default from its environment variable; an unknown word is a
    usage error naming the variable, never a silent false."""
    var = ENV[name][0]
    word = os.environ.get(var, "").strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise pytest.UsageError(
        f"env {var}={os.environ[var]!r} is not a boolean: use one of "
        f"{', '.join(TRUE_WORDS)} or {', '.join(w for w in FALSE_WORDS if w)} "
        f"(or leave it unset).")


def _cluster_kind(text: str) -> str:
    """argparse checks `choices` only on the command line; this also checks ZTC_CLUSTER."""
    if text not in CLUSTER_KINDS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not one of {', '.join(CLUSTER_KINDS)} (--cluster or env ZTC_CLUSTER)")
    return text


def _seconds(name: str) -> Callable[[str], float]:
    """An argparse type for a duration option; its env default is checked the same way,
    so a bad value is a usage error naming both spellings, never a traceback."""
    flag, var = "--" + name.replace("_", "-"), ENV[name][0]
    limit = MAX_SECONDS[name]

    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not 0 < value <= limit:  # also refuses nan and inf
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a number of seconds > 0 and <= {limit:g} "
                f"({flag} or env {var})")
        return value

    convert.__name__ = "seconds"
    return convert


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("zt-conformance", "zero-trust conformance suite")
    g.addoption("--cluster", type=_cluster_kind, choices=CLUSTER_KINDS, default=_env("cluster"),
                help="kind: provision or reuse the kind cluster (`clusters up`); existing: "
                     "use --kubeconfig/--context as is; simulated: a local emulated cluster, no "
                     "network "
                     "(env ZTC_CLUSTER, default kind)")
    g.addoption("--kubeconfig", default=_env("kubeconfig"),
                help="kubeconfig file (env ZTC_KUBECONFIG; else the usual KUBECONFIG)")
    g.addoption("--context", default=_env("context"), help="kubeconfig context (env ZTC_CONTEXT)")
    from conformance.vocabulary.catalogue import load_catalogue

    g.addoption("--cilium-version", default=_env("cilium_version"),
                help="Cilium version to provision (kind) and to evaluate the model for: "
                     f"{load_catalogue().release_help()} (env ZTC_CILIUM_VERSION)")
    g.addoption("--keep-cluster", action="store_true", default=_flag("keep_cluster"),
                help="keep the worker namespaces (and a kind cluster whose provisioning "
                     "failed) for inspection (env ZTC_KEEP_CLUSTER=1)")
    g.addoption("--artifacts", default=_env("artifacts"), metavar="DIR",
                help="evidence per test: probes.json, flows.jsonl, metrics (env ZTC_ARTIFACTS, "
                     "default ./artifacts)")
    g.addoption("--fault", default=_env("fault"),
                help="simulated cluster only: inject a named fault (env ZTC_FAULT)")
    g.addoption("--flow-grace", type=_seconds("flow_grace"), default=_env("flow_grace"),
                metavar="S",
                help="seconds to wait after a batch for each probe's Hubble flows and metric "
                     f"deltas (env ZTC_FLOW_GRACE, default {FLOW_GRACE_S:g})")
    g.addoption("--probe-timeout", type=_seconds("probe_timeout"),
                default=_env("probe_timeout"), metavar="S",
                help="per-probe timeout; an L3/L4 drop shows as this timeout "
                     f"(env ZTC_PROBE_TIMEOUT, default {PROBE_TIMEOUT_S:g})")
    g.addoption("--policy-timeout", type=_seconds("policy_timeout"),
                default=_env("policy_timeout"), metavar="S",
                help="deadline for a policy change to be realized on every "
                     f"endpoint (env ZTC_POLICY_TIMEOUT, default {POLICY_TIMEOUT_S:g})")
    g.addoption("--allow-existing-cluster", action="store_true",
                default=_flag("allow_existing_cluster"),
                help="with --cluster=existing: allow a context whose name does not start with "
                     "'kind-' (env ZTC_ALLOW_EXISTING_CLUSTER=1)")
    g.addoption("--disruptive", action="store_true", default=_flag("disruptive"),
                help="also run the truly cluster-wide (disruptive) scenarios, alone and last; "
                     "not with -n (env ZTC_DISRUPTIVE=1)")
    # The suite's strict mode rides on pytest's own --strict (pytest 9: strict config,
    # markers, xfail): with it, or env ZTC_STRICT, a skipped cell fails the run.
    g.addoption("--ztc-strict", dest="ztc_strict", action="store_true",
                default=_flag("strict"),
                help="what --strict does to the suite, without pytest's strict mode: a "
                     "skipped cell (missing feature, version gate, no hermetic target) "
                     "fails the run (env ZTC_STRICT=1)")
    g.addoption("--stale-after", type=_seconds("stale_after"), default=_env("stale_after"),
                metavar="S",
                help="at start, delete namespaces and cluster-wide policies of other runs "
                     "older than this; younger ones belong to a live run and are never "
                     f"touched (env ZTC_STALE_AFTER, default {STALE_AFTER_S:g} = 3 h)")
    g.addoption("--policies", nargs="+", metavar="PATH",
                default=[p for p in (_env("policies") or "").split(os.pathsep) if p] or None,
                help="run your own policies instead of the scenarios: cells generated from "
                     "these files/directories, on stand-in pods (env ZTC_POLICIES, "
                     "os.pathsep-separated)")
    g.addoption("--probes", default=_env("probes"), metavar="FILE",
                help="with --policies: run this `python -m conformance generate` output "
                     "instead of generating (env ZTC_PROBES)")
    g.addoption("--allow-external-fqdn", action="store_true",
                default=_flag("allow_external_fqdn"),
                help="with --policies on an existing cluster: FQDN cells reach real names "
                     "(otherwise skipped with the reason) (env ZTC_ALLOW_EXTERNAL_FQDN=1)")


def suite_requested(config: pytest.Config) -> bool:
    """True when a command-line path points at the conformance suite."""
    for arg in config.args:
        path = Path(str(arg).split("::", 1)[0])
        path = (Path(config.invocation_params.dir) / path).resolve()
        if path == REPO / "conformance" or path == SCENARIOS or SCENARIOS in path.parents:
            return True
    return False


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """With workers, the suite is distributed by scenario module (loadscope): a scenario's
    policy is applied once per worker and its probes run as one batch. Plain `-n`,
    `--dist load` and `--dist loadgroup` become loadscope: load would split a scenario
    over workers, and loadgroup's grouping is lost with pytest 9.2 (xdist 3.8 renames
    node ids in a way pytest no longer honours)."""
    if suite_requested(config) and getattr(config.option, "numprocesses", None) \
            and getattr(config.option, "dist", "no") in ("no", "load", "loadgroup"):
        config.option.dist = "loadscope"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if (collection_path == SCENARIOS or SCENARIOS in collection_path.parents) \
            and not suite_requested(config):
        return True
    # --policies: only the own-policies module runs (the scenarios' policies are not yours)
    if config.getoption("policies", None) and collection_path.parent == SCENARIOS \
            and collection_path.name.startswith("test_") \
            and collection_path.name != OWN_POLICIES_MODULE:
        return True
    return None


def pytest_configure(config: pytest.Config) -> None:
    if not suite_requested(config):
        return
    version = config.getoption("cilium_version")
    if version:
        from conformance.model.version import VersionError, parse_version

        try:
            parse_version(version)
        except VersionError as exc:
            raise pytest.UsageError(f"--cilium-version: {exc}") from None
    from conformance.harness.session import KUBE_KEY

    _own_policies(config)
    if hasattr(config, "workerinput"):
        inp = config.workerinput
        config.stash[KUBE_KEY] = (inp.get("ztc_kubeconfig"), inp.get("ztc_context"))
        return
    _preflight(config)


def _own_policies(config: pytest.Config) -> None:
    """--policies/--probes and the run's Cilium version reach the own-policies module from
    this configuration (own_cells.configure); bad input is one usage error naming file,
    document and field, before the cluster is touched."""
    from conformance.harness import own_cells
    from conformance.harness.spec import collection_version
    from conformance.model import PolicyError

    paths = config.getoption("policies") or []
    probes = config.getoption("probes")
    if probes and not paths:
        raise pytest.UsageError("--probes needs --policies (the policies the cells test)")
    version = collection_version(config)
    own_cells.configure(own_cells.OwnConfig(tuple(paths), probes or None, version,
                                            bool(config.getoption("allow_external_fqdn"))))
    if not paths or hasattr(config, "workerinput"):
        return
    try:
        own_cells.shard_count()
        own_cells.load_cells(list(paths), probes, version)
    except (PolicyError, own_cells.OwnInputError) as exc:
        raise pytest.UsageError(f"--policies: {exc}") from None


def pytest_unconfigure(config: pytest.Config) -> None:
    """The controller stops the emulated cluster it started (also after Ctrl-C)."""
    if suite_requested(config) and not hasattr(config, "workerinput"):
        from conformance.harness.session import stop_emulators

        stop_emulators()


def _preflight(config: pytest.Config) -> None:
    """Everything that can make the whole run pointless, checked once in the controller."""
    from conformance.harness import session

    kind = config.getoption("cluster")
    fault = config.getoption("fault")
    _check_artifacts(config.getoption("artifacts"))
    if config.getoption("disruptive") and (config.getoption("numprocesses", None) or 0):
        raise pytest.UsageError(
            "--disruptive runs cluster-wide policies that every worker would see; run it "
            "without -n (nox -s conformance runs it as a separate serial pass).")
    try:
        config.stash[session.KUBE_KEY] = session.preflight(
            kind, fault=fault, kubeconfig=config.getoption("kubeconfig"),
            context=config.getoption("context"),
            cilium_version=config.getoption("cilium_version"),
            keep_cluster=config.getoption("keep_cluster"),
            allow_existing_cluster=config.getoption("allow_existing_cluster"))
    except session.PreflightError as exc:
        raise pytest.UsageError(str(exc)) from None


def _check_artifacts(directory: str | None) -> None:
    """The evidence directory must be writable before any cluster work starts."""
    if not directory:
        return
    path = Path(directory)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".ztc-write-check-{os.getpid()}"  # unique: runs may share it
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise pytest.UsageError(
            f"--artifacts {directory} (env ZTC_ARTIFACTS): cannot write there: "
            f"{exc.strerror or exc}") from None


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: hand the provisioned cluster's kubeconfig/context to each worker."""
    from conformance.harness.session import KUBE_KEY

    kubeconfig, context = node.config.stash.get(KUBE_KEY, (None, None))
    node.workerinput["ztc_kubeconfig"] = kubeconfig
    node.workerinput["ztc_context"] = context
    _hand_over_run_id(node)


def _hand_over_run_id(node: Any) -> None:
    """xdist: every worker of this run gets the controller's run id."""
    from conformance.harness.runs import WORKER_INPUT_KEY, run_id

    node.workerinput[WORKER_INPUT_KEY] = run_id(node.config)
