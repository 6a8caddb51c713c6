"""upgrade --to VERSION, the procedure of Cilium's upgrade guide (Documentation/operations/
upgrade.rst): one minor at a time; the pre-flight check (the new image pre-pulled on every
node by DaemonSet cilium-pre-flight-check, every CNP/CCNP validated against the new release
by its Deployment's `cnp-validator` container, chart templates/cilium-preflight/, gated by
`preflight.validateCNPs`, default true), then `helm upgrade` with `upgradeCompatibility`,
then the same readiness waits. On a cluster we did not make, its own installed values are
kept."""

from __future__ import annotations

import os
import shlex
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from clusters.blueprint import HELM_RELEASE, Setup, write_files
from clusters.env import HELM_TIMEOUT_S, Env, Kube
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
from clusters.steps import RunState, Step, kube_of, marker_targets, upgrade_steps
from clusters.versions import version_key
from clusters.waits import KUBE_SYSTEM, Stage, rollout, wait_for

PREFLIGHT = "cilium-pre-flight-check"  # the chart's DaemonSet and Deployment name
PREFLIGHT_TIMEOUT_S = 300.0
KIND_API_PORT = "6443"
CNP_VALIDATOR_LOGS = ("kubectl logs -n kube-system deployment/cilium-pre-flight-check "
                      "-c cnp-validator")


def check_one_minor(old: str, new: str) -> None:
    """upgrade-warning.rst: upgrade (and roll back) one minor at a time, the only tested
    path; a jump is refused (python -m conformance.upgrade runs a chain)."""
    a, b = version_key(old)[:2], version_key(new)[:2]
    if b < a:
        raise RefusedError(f"Cilium {new} is older than the installed {old}: roll back with "
                           "`helm rollback cilium -n kube-system`, not an upgrade")
    if a[0] != b[0] or b[1] > a[1] + 1:
        raise RefusedError(f"Cilium {old} -> {new} skips a minor; upgrade one minor at a time "
                           f"(`python -m conformance.upgrade --from {old} --to {new}` runs the "
                           "chain, validating each step)")


def preflight_file(s: Setup) -> Path:
    return s.files_dir / f"cilium-preflight-{s.release.version}.yaml"


def preflight_template_argv(s: Setup, env: Env, api: tuple[str, str] | None) -> list[str]:
    """upgrade.rst "Running pre-flight check": the chart rendered with only the pre-flight
    objects; kube-proxy-free clusters name the API server. useDigest=false: the tag we
    preloaded on kind (kind issue 4028), the same image the release's agents use."""
    sets = ["preflight.enabled=true", "agent=false", "operator.enabled=false",
            "preflight.image.useDigest=false", "preflight.envoy.image.useDigest=false"]
    if api:
        sets += [f"k8sServiceHost={api[0]}", f"k8sServicePort={api[1]}"]
    return [env.bin("helm"), "template", HELM_RELEASE, s.catalogue.chart_name, "--repo",
            s.catalogue.chart_repo, "--version", s.release.version, "--namespace", KUBE_SYSTEM,
            *[a for kv in sets for a in ("--set", kv)]]


PREFLIGHT_STAGES = [
    Stage("pre-flight image pulled on every node (DaemonSet cilium-pre-flight-check)",
          rollout("daemonset", KUBE_SYSTEM, PREFLIGHT), PREFLIGHT_TIMEOUT_S),
    Stage("pre-flight policy validation (Deployment cilium-pre-flight-check, cnp-validator)",
          rollout("deployment", KUBE_SYSTEM, PREFLIGHT), PREFLIGHT_TIMEOUT_S),
]


class CiliumPreflight(Step):
    """Render, create, wait until every node pulled the image and every policy validated,
    delete. A policy the new release refuses keeps the Deployment 0/1: the wait fails and
    names where the validator's log is."""

    title = "pre-flight check: pre-pull the new image, validate policies"

    def __init__(self, api: tuple[str, str] | None, kube: Kube | None = None) -> None:
        self.api = api
        self.kube = kube

    def _kube(self, s: Setup) -> Kube:
        return self.kube or kube_of(s)

    def plan(self, s: Setup, env: Env) -> list[str]:
        f, kube = str(preflight_file(s)), self._kube(s)
        return [f"{shlex.join(preflight_template_argv(s, env, self.api))} > {f}",
                shlex.join(kube.kubectl(env, "create", "-f", f)),
                *(f"# wait (poll, deadline {st.timeout_s:.0f}s): {st.name}"
                  for st in PREFLIGHT_STAGES),
                shlex.join(kube.kubectl(env, "delete", "-f", f, "--ignore-not-found"))]

    def run(self, s: Setup, env: Env, st: RunState) -> None:
        f, kube = preflight_file(s), self._kube(s)
        rendered = env.must(preflight_template_argv(s, env, self.api),
                            "rendering the pre-flight check", HELM_TIMEOUT_S)
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(rendered.stdout, encoding="utf-8")
        env.must(kube.kubectl(env, "create", "-f", str(f)), "creating the pre-flight check")
        for stage in PREFLIGHT_STAGES:
            try:
                wait_for(env, kube, stage)
            except Exception as exc:
                raise type(exc)(f"{exc}\nA policy the new release refuses keeps the "
                                f"validator unready: `{CNP_VALIDATOR_LOGS}`") from None
        env.must(kube.kubectl(env, "delete", "-f", str(f), "--ignore-not-found"),
                 "deleting the pre-flight check")


def kind_upgrade_steps(s: Setup) -> list[Step]:
    """Preload the images, the pre-flight check, then `helm upgrade`, waits, marker."""
    steps = upgrade_steps(s)
    preflight = CiliumPreflight((f"{s.cluster}-control-plane", KIND_API_PORT))
    return [steps[0], preflight, *steps[1:]]


def _upgrade_left(s: Setup, env: Env) -> str:
    return (f"The cluster was left as it is (an upgrade never deletes anything); "
            f"KUBECONFIG={s.kubeconfig}. `helm rollback cilium -n kube-system` returns to "
            f"Cilium {s.upgrade_from}.")


def upgrade_kind(s_target: Setup, env: Env) -> UpOutcome:
    """The pre-flight check, helm upgrade to another release with the same profile values
    (+upgradeCompatibility), then the same readiness waits."""
    docker_preflight(env)
    if not cluster_exists(env, s_target.cluster):
        raise RefusedError(f"no kind cluster {s_target.cluster!r} to upgrade; run `up` first")
    s_target.files_dir.mkdir(parents=True, exist_ok=True)
    env.must(export_kubeconfig_argv(s_target, env), "exporting the kubeconfig")
    marker = read_marker(env, kube_of(s_target))
    if marker is None or "cilium-version" not in marker:
        raise RefusedError(f"kind cluster {s_target.cluster!r} carries no ConfigMap "
                           "kube-system/zt-conformance; it was not made by `up`")
    check_one_minor(marker["cilium-version"], s_target.release.version)
    s = replace(s_target, upgrade_from=marker["cilium-version"])
    write_files(s)
    st = RunState(marker_targets(marker), marker.get("workloads-image-id", ""))
    run_steps(s, env, kind_upgrade_steps(s), st, "upgrade", _upgrade_left)
    env.say(f"upgrade: Cilium {s.upgrade_from} -> {s.release.version} ready")
    return UpOutcome(str(s.kubeconfig), s.context, s.release.version, reused=True)


def _api_of(values_text: str) -> tuple[str, str] | None:
    """The API server a kube-proxy-free install names (k8sServiceHost/Port), if any."""
    try:
        values: Any = yaml.safe_load(values_text)
    except yaml.YAMLError:
        return None
    if isinstance(values, dict) and values.get("k8sServiceHost"):
        return str(values["k8sServiceHost"]), str(values.get("k8sServicePort") or "443")
    return None


def upgrade_existing(s: Setup, env: Env, kubeconfig: str | None, context: str | None,
                     allow_existing_cluster: bool) -> UpOutcome:
    """On a cluster we did not make: the pre-flight check, then keep its own Helm values
    and add upgradeCompatibility."""
    kube, found = use_existing(env, kubeconfig, context, allow_existing_cluster)
    check_one_minor(found.cilium_version, s.release.version)
    got = env.must(kube.helm(env, "get", "values", "cilium", "--namespace", "kube-system",
                             "-o", "yaml"), "reading the installed Helm values")
    minor = ".".join(found.cilium_version.split(".")[:2])
    CiliumPreflight(_api_of(got.stdout), kube).run(s, env, RunState())
    preflight_file(s).unlink(missing_ok=True)
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
