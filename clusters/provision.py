"""up / down / upgrade / status / render: the orchestration over steps, waits and guards."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from clusters.blueprint import MARKER_NAME, MARKER_NAMESPACE, WORKLOADS_IMAGE, Setup, write_files
from clusters.confighash import Decision, decide
from clusters.detect import Detected, describe, detect_with
from clusters.env import KIND_DELETE_TIMEOUT_S, Env, Kube
from clusters.errors import ClustersError, CommandFailed, Interrupted, RefusedError
from clusters.guard import check_context
from clusters.runner import check
from clusters.steps import (
    RunState,
    Step,
    build_workloads,
    create_steps,
    kind_load_argv,
    kube_of,
    marker_targets,
    plan_text,
    upgrade_steps,
)
from clusters.targets import KIND_NETWORK, remove_targets, target_problems
from clusters.waits import COREDNS_STAGE, Stage, cilium_stages, health, wait_for

PLAN_FILE = "plan.sh"


@dataclass(frozen=True)
class UpOutcome:
    kubeconfig: str
    context: str
    cilium_version: str
    reused: bool


def docker_argv(env: Env) -> list[str]:
    return [env.bin("docker"), "info", "--format", "{{.ServerVersion}}"]


def docker_preflight(env: Env) -> None:
    res = env.run(docker_argv(env))
    if not res.ok:
        try:
            check(res, "docker info")
        except CommandFailed as exc:
            raise CommandFailed(
                "the Docker daemon is not reachable (is it running, and may this user use its "
                f"socket?). {exc}"
            ) from None


def kind_get_argv(env: Env) -> list[str]:
    return [env.bin("kind"), "get", "clusters"]


def cluster_exists(env: Env, name: str) -> bool:
    res = env.must(kind_get_argv(env), "listing kind clusters")
    return name in res.stdout.split()


def export_kubeconfig_argv(s: Setup, env: Env) -> list[str]:
    return [env.bin("kind"), "export", "kubeconfig", "--name", s.cluster,
            "--kubeconfig", str(s.kubeconfig)]


def kind_delete_argv(env: Env, name: str) -> list[str]:
    return [env.bin("kind"), "delete", "cluster", "--name", name]


def read_marker(env: Env, kube: Kube) -> dict[str, str] | None:
    argv = kube.kubectl(env, "-n", MARKER_NAMESPACE, "get", "configmap", MARKER_NAME,
                        "-o", "json", "--ignore-not-found")
    res = env.must(argv, "reading ConfigMap kube-system/zt-conformance")
    if not res.stdout.strip():
        return None
    data = json.loads(res.stdout).get("data") or {}
    return {str(k): str(v) for k, v in data.items()}


def delete_everything(env: Env, cluster: str) -> None:
    env.must(kind_delete_argv(env, cluster), f"deleting kind cluster {cluster}",
             KIND_DELETE_TIMEOUT_S)
    removed = remove_targets(env, cluster)
    env.say(f"  deleted kind cluster {cluster} and {removed} target container(s)")


def run_steps(s: Setup, env: Env, steps: list[Step], st: RunState, verb: str,
              on_failure: Callable[[Setup, Env], str]) -> None:
    """Run steps in order; on failure or Ctrl-C run `on_failure` (cleanup, or say what was
    kept) and add its note to the one error message."""
    try:
        for i, step in enumerate(steps, 1):
            env.say(f"{verb}: [{i}/{len(steps)}] {step.title}")
            step.run(s, env, st)
    except (ClustersError, KeyboardInterrupt) as exc:
        note = on_failure(s, env)
        if isinstance(exc, KeyboardInterrupt):
            raise Interrupted(f"{verb} interrupted. {note}") from None
        raise type(exc)(f"{exc}\n{note}") from None


def _cleanup(s: Setup, env: Env) -> str:
    try:
        delete_everything(env, s.cluster)
    except ClustersError as exc:
        return f"Cleanup failed too: {exc}"
    s.kubeconfig.unlink(missing_ok=True)
    return f"Cleaned up: kind cluster {s.cluster} and its target containers were deleted."


def _kept(s: Setup, env: Env) -> str:
    return (f"Kept for inspection (--keep-on-failure): KUBECONFIG={s.kubeconfig}; "
            "remove it with `python -m clusters down`.")


def _upgrade_left(s: Setup, env: Env) -> str:
    return (f"The cluster was left as it is (an upgrade never deletes anything); "
            f"KUBECONFIG={s.kubeconfig}. `helm rollback cilium -n kube-system` returns to "
            f"Cilium {s.upgrade_from}.")


def health_stages(s: Setup) -> list[Stage]:
    return [*cilium_stages(s.profile.mutual_auth), COREDNS_STAGE]


def up_kind(s: Setup, env: Env, recreate: bool, keep_on_failure: bool) -> UpOutcome:
    docker_preflight(env)
    kube = kube_of(s)
    exists = cluster_exists(env, s.cluster)
    marker = None
    if exists and not recreate:
        s.files_dir.mkdir(parents=True, exist_ok=True)
        env.must(export_kubeconfig_argv(s, env), "exporting the kubeconfig")
        try:
            marker = read_marker(env, kube)
        except CommandFailed as exc:
            raise RefusedError(
                f"kind cluster {s.cluster!r} exists but its API server does not answer (its "
                f"node containers may be stopped). Nothing was changed. Pass --recreate to "
                f"delete and re-create it.\n{exc}") from None
    decision = decide(s.cluster, exists, (marker or {}).get("config-hash"), s.config_hash(),
                      recreate)
    if decision is Decision.REUSE:
        return reuse(s, env, marker or {})
    if decision is Decision.RECREATE:
        env.say(f"up: --recreate: deleting kind cluster {s.cluster}")
        delete_everything(env, s.cluster)
    write_files(s)
    run_steps(s, env, create_steps(s), RunState(), "up",
              _kept if keep_on_failure else _cleanup)
    env.say(f"up: ready. export KUBECONFIG={s.kubeconfig}  (context {s.context})")
    return UpOutcome(str(s.kubeconfig), s.context, s.release.version, reused=False)


def reuse(s: Setup, env: Env, marker: dict[str, str]) -> UpOutcome:
    kube = kube_of(s)
    problems = health(env, kube, health_stages(s))
    problems += target_problems(env, marker_targets(marker), s.cluster, KIND_NETWORK)
    if problems:
        raise RefusedError(
            f"kind cluster {s.cluster!r} has this configuration but is not healthy:\n  "
            + "\n  ".join(problems)
            + "\nNothing was changed. Pass --recreate to delete and re-create it."
        )
    image_id = build_workloads(s, env)
    if image_id != marker.get("workloads-image-id"):
        env.must(kind_load_argv(s, env, [WORKLOADS_IMAGE]),
                 "kind load of the rebuilt workloads image")
        patch = json.dumps({"data": {"workloads-image-id": image_id}})
        env.must(kube.kubectl(env, "-n", MARKER_NAMESPACE, "patch", "configmap", MARKER_NAME,
                              "--type", "merge", "-p", patch), "updating ConfigMap zt-conformance")
    env.say(f"up: reusing healthy kind cluster {s.cluster} (Cilium {s.release.version}). "
            f"export KUBECONFIG={s.kubeconfig}")
    return UpOutcome(str(s.kubeconfig), s.context, s.release.version, reused=True)


def resolve_context(env: Env, kubeconfig: str | None, context: str | None) -> str:
    if context:
        return context
    argv = Kube(kubeconfig, None).kubectl(env, "config", "current-context")
    return env.must(argv, "reading the current kube context").stdout.strip()


def use_existing(env: Env, kubeconfig: str | None, context: str | None,
                 allow_existing_cluster: bool) -> tuple[Kube, Detected]:
    """Guard first (nothing is read from a refused context), then detect."""
    ctx = resolve_context(env, kubeconfig, context)
    check_context(ctx, allow_existing_cluster)
    kube = Kube(kubeconfig, ctx)
    found = detect_with(env, kube)
    env.say(f"existing cluster, context {ctx}: {describe(found)}")
    return kube, found


def effective_kubeconfig(kubeconfig: str | None) -> str:
    """The file kubectl would read: the flag, else $KUBECONFIG, else ~/.kube/config."""
    return kubeconfig or os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")


def up_existing(env: Env, kubeconfig: str | None, context: str | None,
                allow_existing_cluster: bool) -> UpOutcome:
    kube, found = use_existing(env, kubeconfig, context, allow_existing_cluster)
    return UpOutcome(effective_kubeconfig(kubeconfig), kube.context or "", found.cilium_version,
                     reused=True)


def down(s: Setup, env: Env) -> None:
    docker_preflight(env)
    env.say(f"down: deleting kind cluster {s.cluster} and its containers")
    delete_everything(env, s.cluster)
    s.kubeconfig.unlink(missing_ok=True)


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
    s.files_dir.mkdir(parents=True, exist_ok=True)
    old_values = s.files_dir / f"values-before-{found.cilium_version}.yaml"
    got = env.must(kube.helm(env, "get", "values", "cilium", "--namespace", "kube-system",
                             "-o", "yaml"), "reading the installed Helm values")
    old_values.write_text(got.stdout)
    minor = ".".join(found.cilium_version.split(".")[:2])
    env.must(kube.helm(env, "upgrade", "cilium", s.catalogue.chart_name, "--repo",
                       s.catalogue.chart_repo, "--version", s.release.version, "--namespace",
                       "kube-system", "--values", str(old_values),
                       "--set", f"upgradeCompatibility={minor}"),
             f"helm upgrade to {s.release.version}")
    for stage in existing_stages(found):
        wait_for(env, kube, stage)
    return UpOutcome(effective_kubeconfig(kubeconfig), kube.context or "", s.release.version,
                     reused=True)


def existing_stages(found: Detected) -> list[Stage]:
    from conformance.harness.cluster import FEATURE_HUBBLE_RELAY, FEATURE_MUTUAL_AUTH

    names = {"Cilium agents", "nodes Ready", "Cilium operator", "Cilium CRDs Established"}
    if found.external_envoy:
        names.add("Cilium Envoy")
    if FEATURE_HUBBLE_RELAY in found.features:
        names.add("Hubble Relay serving")
    mutual = FEATURE_MUTUAL_AUTH in found.features
    return [st for st in cilium_stages(mutual) if st.name in names or st.name.startswith("SPIRE")]


def render(s: Setup, env: Env, out: Path) -> list[Path]:
    """Write what `up` would use and the exact command plan; run nothing."""
    s = replace(s, files_dir=out)
    write_files(s)
    preflight = [docker_argv(env), kind_get_argv(env), export_kubeconfig_argv(s, env),
                 kube_of(s).kubectl(env, "-n", MARKER_NAMESPACE, "get", "configmap",
                                    MARKER_NAME, "-o", "json", "--ignore-not-found")]
    plan = out / PLAN_FILE
    plan.write_text(
        f"# up, profile {s.profile.name}, Cilium {s.release.version}, config-hash "
        f"{s.config_hash()}\n# If the cluster exists with this hash and is healthy it is "
        "reused; with another hash `up` stops unless --recreate.\n"
        + plan_text(s, env, preflight, create_steps(s))
    )
    return [s.kind_config_file, s.values_file, plan]


def status(s: Setup, env: Env) -> str:
    """One screen: does the cluster exist, versions, health of every stage, targets."""
    lines = [f"profile {s.profile.name}: kind cluster {s.cluster}"]
    docker = env.run(docker_argv(env))
    if not docker.ok:
        return "\n".join([*lines, "  Docker daemon: not reachable"])
    lines.append(f"  Docker daemon: {docker.stdout.strip()}")
    if not cluster_exists(env, s.cluster):
        return "\n".join([*lines, "  cluster: absent (python -m clusters up)"])
    s.files_dir.mkdir(parents=True, exist_ok=True)
    env.must(export_kubeconfig_argv(s, env), "exporting the kubeconfig")
    kube = kube_of(s)
    marker = read_marker(env, kube) or {}
    same = marker.get("config-hash") == s.config_hash()
    lines.append(f"  kubeconfig: {s.kubeconfig} (context {s.context})")
    lines.append(f"  Cilium: {marker.get('cilium-version', 'unknown')}; configuration "
                 + ("matches" if same else "differs from") + f" profile {s.profile.name} "
                 f"with Cilium {s.release.version}")
    for stage in health_stages(s):
        ready, detail = stage.check(env, kube)
        lines.append(f"  {'ok ' if ready else 'NOT'} {stage.name}: {detail}")
    targets = marker_targets(marker)
    problems = target_problems(env, targets, s.cluster, KIND_NETWORK)
    lines.append("  targets: " + (", ".join(f"{f}={ip}" for f, ip in sorted(targets.items()))
                                  or "none recorded"))
    lines.extend(f"  NOT {p}" for p in problems)
    return "\n".join(lines)

