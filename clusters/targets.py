"""Hermetic "internet" targets: one container of the workloads image (`--role external`) per
FQDN on the kind Docker network. One container per name, so a toFQDNs allow for one name can
never reach another name by sharing its IP.

Started with the docker CLI rather than testcontainers: the targets must outlive `up` (the
suite runs later, in another process), while testcontainers' reaper removes a session's
containers when it ends; and CLI argv goes through the recording runner like every other
call. Self-tests start them on a network of their own (tests/clusters)."""

from __future__ import annotations

import json

from clusters.env import IMAGE_PULL_TIMEOUT_S, Env
from clusters.errors import CommandFailed

CLUSTER_LABEL = "zt-conformance.cluster"
FQDN_LABEL = "zt-conformance.fqdn"
KIND_NETWORK = "kind"


def container_name(cluster: str, fqdn: str) -> str:
    return f"{cluster}-ext-{fqdn.replace('.', '-')}"


def run_argv(
    docker: str, cluster: str, network: str, image: str, command: tuple[str, ...], fqdn: str
) -> list[str]:
    return [
        docker, "run", "-d", "--name", container_name(cluster, fqdn),
        "--network", network, "--network-alias", fqdn,
        "--label", f"{CLUSTER_LABEL}={cluster}", "--label", f"{FQDN_LABEL}={fqdn}",
        "--restart", "unless-stopped", image, *(arg.replace("{fqdn}", fqdn) for arg in command),
    ]


def inspect_argv(docker: str, name: str) -> list[str]:
    return [docker, "inspect", "--format", "{{json .NetworkSettings.Networks}}", name]


def container_ip(env: Env, name: str, network: str) -> str:
    res = env.must(inspect_argv(env.bin("docker"), name), f"docker inspect of {name}")
    try:
        ip = str(json.loads(res.stdout)[network]["IPAddress"])
    except (json.JSONDecodeError, KeyError, TypeError):
        raise CommandFailed(
            f"container {name} is not attached to Docker network {network!r}"
        ) from None
    if not ip:
        raise CommandFailed(f"container {name} has no IP address on Docker network {network!r}")
    return ip


def start_targets(
    env: Env, cluster: str, network: str, image: str, command: tuple[str, ...],
    fqdns: tuple[str, ...],
) -> dict[str, str]:
    """Start (replacing leftovers) one container per FQDN; return fqdn -> IP."""
    docker = env.bin("docker")
    for fqdn in fqdns:
        env.run([docker, "rm", "-f", container_name(cluster, fqdn)])  # a leftover, if any
        env.must(run_argv(docker, cluster, network, image, command, fqdn),
                 f"starting external target {fqdn}", timeout=IMAGE_PULL_TIMEOUT_S)
    return {fqdn: container_ip(env, container_name(cluster, fqdn), network) for fqdn in fqdns}


def list_targets_argv(docker: str, cluster: str) -> list[str]:
    return [docker, "ps", "-aq", "--filter", f"label={CLUSTER_LABEL}={cluster}"]


def remove_targets(env: Env, cluster: str) -> int:
    """Remove every container this tool started for `cluster`; how many were removed."""
    docker = env.bin("docker")
    ids = env.must(list_targets_argv(docker, cluster), "listing target containers").stdout.split()
    if ids:
        env.must([docker, "rm", "-f", *ids], "removing target containers")
    return len(ids)


def target_problems(env: Env, expected: dict[str, str], cluster: str, network: str) -> list[str]:
    """Each target container must run and still have the IP CoreDNS hands out."""
    problems = []
    for fqdn, want_ip in sorted(expected.items()):
        name = container_name(cluster, fqdn)
        try:
            ip = container_ip(env, name, network)
        except CommandFailed:
            problems.append(f"external target {name} is missing")
            continue
        if ip != want_ip:
            problems.append(f"external target {name} moved from {want_ip} to {ip}")
    return problems
