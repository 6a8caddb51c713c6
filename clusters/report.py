"""render (the files and exact command plan of `up`, running nothing) and status (one
screen: what exists, versions, health)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from clusters.blueprint import MARKER_NAME, MARKER_NAMESPACE, Setup, write_files
from clusters.env import Env
from clusters.errors import InputError
from clusters.kindops import (
    cluster_exists,
    docker_argv,
    export_kubeconfig_argv,
    health_stages,
    kind_get_argv,
    read_marker,
)
from clusters.steps import create_steps, kube_of, marker_targets, plan_text
from clusters.targets import KIND_NETWORK, target_problems

PLAN_FILE = "plan.sh"


def render(s: Setup, env: Env, out: Path) -> list[Path]:
    """Write what `up` would use and the exact command plan; run nothing."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a directory")
    s = replace(s, files_dir=out)
    try:
        write_files(s)
    except OSError as exc:
        raise InputError(f"--out {out}: cannot write there ({exc.strerror}: "
                         f"{exc.filename})") from None
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
    lines.append(f"  Docker daemon: {(docker.stdout.split() or ['unknown'])[0]}")
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
