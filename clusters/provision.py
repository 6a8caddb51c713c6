"""up and down for the kind lab: create, reuse (same config-hash and healthy), refuse a
changed configuration unless --recreate, and leave nothing behind on failure."""

from __future__ import annotations

import json

from clusters.blueprint import MARKER_NAME, MARKER_NAMESPACE, WORKLOADS_IMAGE, Setup, write_files
from clusters.confighash import Decision, decide
from clusters.env import Env
from clusters.errors import ClustersError, CommandFailed, RefusedError
from clusters.kindops import (
    UpOutcome,
    cluster_exists,
    delete_everything,
    docker_preflight,
    export_kubeconfig_argv,
    health_stages,
    read_marker,
    run_steps,
)
from clusters.steps import (
    RunState,
    build_workloads,
    create_steps,
    kube_of,
    load_images,
    marker_targets,
)
from clusters.targets import KIND_NETWORK, target_problems
from clusters.waits import health


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
        load_images(s, env, [WORKLOADS_IMAGE], "kind load of the rebuilt workloads image")
        patch = json.dumps({"data": {"workloads-image-id": image_id}})
        env.must(kube.kubectl(env, "-n", MARKER_NAMESPACE, "patch", "configmap", MARKER_NAME,
                              "--type", "merge", "-p", patch), "updating ConfigMap zt-conformance")
    env.say(f"up: reusing healthy kind cluster {s.cluster} (Cilium {s.release.version}). "
            f"export KUBECONFIG={s.kubeconfig}")
    return UpOutcome(str(s.kubeconfig), s.context, s.release.version, reused=True)


def down(s: Setup, env: Env) -> None:
    docker_preflight(env)
    env.say(f"down: deleting kind cluster {s.cluster} and its containers")
    delete_everything(env, s.cluster)
    s.kubeconfig.unlink(missing_ok=True)
