"""Shared operations on kind clusters: preflight, existence, the marker ConfigMap, deletion,
and running a list of steps with cleanup on failure or Ctrl-C."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from clusters.blueprint import MARKER_NAME, MARKER_NAMESPACE, Setup
from clusters.env import KIND_DELETE_TIMEOUT_S, Env, Kube
from clusters.errors import ClustersError, CommandFailed, Interrupted
from clusters.runner import check
from clusters.steps import RunState, Step
from clusters.targets import remove_targets
from clusters.waits import COREDNS_STAGE, Stage, cilium_stages


@dataclass(frozen=True)
class UpOutcome:
    kubeconfig: str
    context: str
    cilium_version: str
    reused: bool


CONTAINERD_STORE_MARK = "io.containerd.snapshotter"


def docker_argv(env: Env) -> list[str]:
    return [env.bin("docker"), "info", "--format", "{{.ServerVersion}} {{json .DriverStatus}}"]


def docker_preflight(env: Env) -> str:
    """The daemon's version; notes on `env` whether it keeps images in containerd's store."""
    res = env.run(docker_argv(env))
    if not res.ok:
        try:
            check(res, "docker info")
        except CommandFailed as exc:
            raise CommandFailed(
                "the Docker daemon is not reachable (is it running, and may this user use its "
                f"socket?). {exc}"
            ) from None
    env.containerd_image_store = CONTAINERD_STORE_MARK in res.stdout
    return (res.stdout.split() or ["unknown"])[0]


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
    try:
        doc = json.loads(res.stdout)
        data = doc.get("data") or {}
        return {str(k): str(v) for k, v in data.items()}
    except (ValueError, AttributeError):
        raise CommandFailed("ConfigMap kube-system/zt-conformance: kubectl answered something "
                            f"that is not a ConfigMap: {res.stdout.strip()[:200]!r}") from None


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


def health_stages(s: Setup) -> list[Stage]:
    return [*cilium_stages(s.profile.mutual_auth), COREDNS_STAGE]
