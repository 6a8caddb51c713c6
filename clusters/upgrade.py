"""upgrade --to VERSION: helm upgrade with the same values plus upgradeCompatibility, then
the same readiness waits. On a cluster we did not make, its own installed values are kept."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from clusters.blueprint import Setup, write_files
from clusters.env import HELM_TIMEOUT_S, Env
from clusters.errors import RefusedError
from clusters.existing import effective_kubeconfig, existing_stages, use_existing
from clusters.kindops import (
    UpOutcome,
    cluster_exists,
    docker_preflight,
    export_kubeconfig_argv,
    read_marker,
    run_steps,
)
from clusters.steps import RunState, kube_of, marker_targets, upgrade_steps
from clusters.waits import wait_for


def _upgrade_left(s: Setup, env: Env) -> str:
    return (f"The cluster was left as it is (an upgrade never deletes anything); "
            f"KUBECONFIG={s.kubeconfig}. `helm rollback cilium -n kube-system` returns to "
            f"Cilium {s.upgrade_from}.")


def upgrade_kind(s_target: Setup, env: Env) -> UpOutcome:
    """helm upgrade to another release with the same profile values (+upgradeCompatibility),
    then the same readiness waits."""
    docker_preflight(env)
    if not cluster_exists(env, s_target.cluster):
        raise RefusedError(f"no kind cluster {s_target.cluster!r} to upgrade; run `up` first")
    s_target.files_dir.mkdir(parents=True, exist_ok=True)
    env.must(export_kubeconfig_argv(s_target, env), "exporting the kubeconfig")
    marker = read_marker(env, kube_of(s_target))
    if marker is None or "cilium-version" not in marker:
        raise RefusedError(f"kind cluster {s_target.cluster!r} carries no ConfigMap "
                           "kube-system/zt-conformance; it was not made by `up`")
    s = replace(s_target, upgrade_from=marker["cilium-version"])
    write_files(s)
    st = RunState(marker_targets(marker), marker.get("workloads-image-id", ""))
    run_steps(s, env, upgrade_steps(s), st, "upgrade", _upgrade_left)
    env.say(f"upgrade: Cilium {s.upgrade_from} -> {s.release.version} ready")
    return UpOutcome(str(s.kubeconfig), s.context, s.release.version, reused=True)


def upgrade_existing(s: Setup, env: Env, kubeconfig: str | None, context: str | None,
                     allow_existing_cluster: bool) -> UpOutcome:
    """On a cluster we did not make: keep its own Helm values, add upgradeCompatibility."""
    kube, found = use_existing(env, kubeconfig, context, allow_existing_cluster)
    got = env.must(kube.helm(env, "get", "values", "cilium", "--namespace", "kube-system",
                             "-o", "yaml"), "reading the installed Helm values")
    minor = ".".join(found.cilium_version.split(".")[:2])
    # The installed values can hold secrets (e.g. a Hubble TLS key or cluster-mesh
    # credentials): only helm reads them, from a 0700 temp dir, and they go when helm is done.
    private = Path(tempfile.mkdtemp(prefix="zt-conformance-values-"))
    try:
        old_values = private / f"values-before-{found.cilium_version}.yaml"
        fd = os.open(old_values, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(got.stdout)
        env.must(kube.helm(env, "upgrade", "cilium", s.catalogue.chart_name, "--repo",
                           s.catalogue.chart_repo, "--version", s.release.version,
                           "--namespace", "kube-system", "--values", str(old_values),
                           "--set", f"upgradeCompatibility={minor}"),
                 f"helm upgrade to {s.release.version}", HELM_TIMEOUT_S)
    finally:
        shutil.rmtree(private, ignore_errors=True)
    for stage in existing_stages(found):
        wait_for(env, kube, stage)
    return UpOutcome(effective_kubeconfig(kubeconfig), kube.context or "", s.release.version,
                     reused=True)
