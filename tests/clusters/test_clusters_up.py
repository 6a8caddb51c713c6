"""The exact command sequence of up (fresh, reuse, changed), down and upgrade, per Cilium
version, against a recording runner and a fake Docker/kind/cluster world."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from clusters_fakes import World, make_env, ok

from clusters.blueprint import Setup, make_setup
from clusters.errors import CommandFailed, Interrupted, NotReadyError, RefusedError
from clusters.provision import down, up_kind
from clusters.steps import plan_text
from clusters.tools import platform_names
from clusters.upgrade import kind_upgrade_steps, upgrade_kind

REPO = str(Path(__file__).resolve().parents[2])
NAME = "zt-conformance"
CTX = "kind-zt-conformance"
FQDNS = ["api.stripe.com", "api.braintreegateway.com", "api.github.com", "api.pastebin.com",
         "api.internal.stripe.com"]
# The spec: what each release preloads (chart defaults; operator is the -generic build).
IMAGES = {
    "1.20.0": [
        "docker.io/library/busybox:1.38.0",
        "ghcr.io/spiffe/spire-agent:1.15.2",
        "ghcr.io/spiffe/spire-server:1.15.2",
        "quay.io/cilium/cilium-envoy:v1.37.5-1782911245-7cffc778c923f68a77954a53b1a98d6b5353f004",
        "quay.io/cilium/cilium:v1.20.0",
        "quay.io/cilium/hubble-relay:v1.20.0",
        "quay.io/cilium/operator-generic:v1.20.0",
    ],
    "1.19.6": [
        "docker.io/library/busybox:1.37.0",
        "ghcr.io/spiffe/spire-agent:1.9.6",
        "ghcr.io/spiffe/spire-server:1.9.6",
        "quay.io/cilium/cilium-envoy:v1.36.9-1782267392-edeb3f2af56c37c407efa1f63f0b32f595399bbc",
        "quay.io/cilium/cilium:v1.19.6",
        "quay.io/cilium/hubble-relay:v1.19.6",
        "quay.io/cilium/operator-generic:v1.19.6",
    ],
    "1.18.12": [
        "docker.io/library/busybox:1.37.0",
        "ghcr.io/spiffe/spire-agent:1.12.4",
        "ghcr.io/spiffe/spire-server:1.12.4",
        "quay.io/cilium/cilium-envoy:v1.36.9-1782267392-edeb3f2af56c37c407efa1f63f0b32f595399bbc",
        "quay.io/cilium/cilium:v1.18.12",
        "quay.io/cilium/hubble-relay:v1.18.12",
        "quay.io/cilium/operator-generic:v1.18.12",
    ],
}


def kubectl(tmp: Path, *args: str) -> tuple[str, ...]:
    return ("kubectl", "--kubeconfig", f"{tmp}/kubeconfig", "--context", CTX, *args)


def ext(fqdn: str) -> str:
    return f"{NAME}-ext-{fqdn.replace('.', '-')}"


def waits(tmp: Path) -> list[tuple[str, ...]]:
    return [
        kubectl(tmp, "-n", "kube-system", "get", "daemonset", "cilium", "-o", "json"),
        kubectl(tmp, "get", "nodes", "-o", "json"),
        kubectl(tmp, "-n", "kube-system", "get", "deployment", "cilium-operator", "-o", "json"),
        kubectl(tmp, "get", "crd", "ciliumnetworkpolicies.cilium.io", "-o", "json"),
        kubectl(tmp, "get", "crd", "ciliumclusterwidenetworkpolicies.cilium.io", "-o", "json"),
        kubectl(tmp, "-n", "kube-system", "get", "daemonset", "cilium-envoy", "-o", "json"),
        kubectl(tmp, "-n", "kube-system", "get", "deployment", "hubble-relay", "-o", "json"),
        kubectl(tmp, "-n", "kube-system", "get", "endpointslices",
                "-l", "kubernetes.io/service-name=hubble-relay", "-o", "json"),
        kubectl(tmp, "-n", "cilium-spire", "exec", "spire-server-0", "-c", "spire-server", "--",
                "/opt/spire/bin/spire-server", "healthcheck"),
        kubectl(tmp, "-n", "cilium-spire", "get", "daemonset", "spire-agent", "-o", "json"),
    ]


def helm(tmp: Path, version: str, install: bool) -> tuple[str, ...]:
    verb = ("upgrade", "--install") if install else ("upgrade",)
    return ("helm", *verb, "cilium", "cilium", "--repo", "https://helm.cilium.io",
            "--version", version, "--namespace", "kube-system",
            "--values", f"{tmp}/values-cilium-{version}.yaml",
            "--kubeconfig", f"{tmp}/kubeconfig", "--kube-context", CTX)


def preflight(version: str, kube: tuple[str, ...], files: Path,
              api: tuple[str, str] | None = (f"{NAME}-control-plane", "6443"),
              helm_kube: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """upgrade.rst's pre-flight check: render, create, wait for the DaemonSet (image pulled
    on every node) and the Deployment (cnp-validator), delete."""
    f = f"{files}/cilium-preflight-{version}.yaml"
    sets = ["preflight.enabled=true", "agent=false", "operator.enabled=false",
            "preflight.image.useDigest=false", "preflight.envoy.image.useDigest=false",
            *([f"k8sServiceHost={api[0]}", f"k8sServicePort={api[1]}"] if api else [])]
    return [
        ("helm", "template", "cilium", "cilium", "--repo", "https://helm.cilium.io",
         "--version", version, "--namespace", "kube-system",
         *[a for kv in sets for a in ("--set", kv)], *helm_kube),
        (*kube, "create", "-f", f),
        (*kube, "-n", "kube-system", "get", "daemonset", "cilium-pre-flight-check", "-o", "json"),
        (*kube, "-n", "kube-system", "get", "deployment", "cilium-pre-flight-check",
         "-o", "json"),
        (*kube, "delete", "-f", f, "--ignore-not-found"),
    ]


def preload(version: str, present: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    calls: list[tuple[str, ...]] = []
    for image in IMAGES[version]:
        calls.append(("docker", "image", "inspect", image))
        if image not in present:
            calls.append(("docker", "pull", image))
    return [*calls, ("kind", "load", "docker-image", "--name", NAME, *IMAGES[version])]


def fresh_create(tmp: Path, version: str) -> list[tuple[str, ...]]:
    targets: list[tuple[str, ...]] = []
    for fqdn in FQDNS:
        targets += [
            ("docker", "rm", "-f", ext(fqdn)),
            ("docker", "run", "-d", "--name", ext(fqdn), "--network", "kind",
             "--network-alias", fqdn, "--label", f"zt-conformance.cluster={NAME}",
             "--label", f"zt-conformance.fqdn={fqdn}", "--restart", "unless-stopped",
             "zt-conformance/workloads:dev", "account-service", "--role", "external",
             "--tls-name", fqdn),
        ]
    inspects = [("docker", "inspect", "--format", "{{json .NetworkSettings.Networks}}", ext(f))
                for f in FQDNS]
    return [
        ("kind", "create", "cluster", "--name", NAME, "--config", f"{tmp}/kind-config.yaml",
         "--kubeconfig", f"{tmp}/kubeconfig"),
        *preload(version),
        ("docker", "build", "-f", f"{REPO}/workloads/Dockerfile",
         "-t", "zt-conformance/workloads:dev", REPO),
        ("docker", "image", "inspect", "--format", "{{.Id}}", "zt-conformance/workloads:dev"),
        ("kind", "load", "docker-image", "--name", NAME, "zt-conformance/workloads:dev"),
        *targets,
        *inspects,
        helm(tmp, version, install=True),
        *waits(tmp),
        kubectl(tmp, "apply", "-f", f"{tmp}/coredns-configmap.yaml"),
        kubectl(tmp, "-n", "kube-system", "rollout", "restart", "deployment/coredns"),
        kubectl(tmp, "-n", "kube-system", "get", "deployment", "coredns", "-o", "json"),
        kubectl(tmp, "apply", "-f", f"{tmp}/zt-conformance-configmap.yaml"),
    ]


PREFLIGHT = [("docker", "info", "--format", "{{.ServerVersion}} {{json .DriverStatus}}"),
             ("kind", "get", "clusters")]


def setup_for(tmp: Path, version: str | None = None) -> Setup:
    return make_setup("default", version, files_dir=tmp)


@pytest.mark.parametrize("version", ["1.20.0", "1.19.6", "1.18.12"])
def test_up_fresh_runs_exactly_this_plan(tmp_path: Path, version: str) -> None:
    world = World()
    env, tools, _, said = make_env(world)
    got = up_kind(setup_for(tmp_path, version), env, recreate=False, keep_on_failure=False)
    assert tools.calls == PREFLIGHT + fresh_create(tmp_path, version)
    assert (got.context, got.cilium_version, got.reused) == (CTX, version, False)
    assert got.kubeconfig == f"{tmp_path}/kubeconfig"
    # One progress line per step and per readiness stage.
    assert sum(line.startswith("up: [") for line in said) == 8
    assert sum(line.startswith("  ok ") for line in said) == 9
    marker = world.marker or {}
    assert marker["cilium-version"] == version
    assert marker["config-hash"] == setup_for(tmp_path, version).config_hash()
    targets = yaml.safe_load(marker["external-targets"])
    assert sorted(targets) == sorted(FQDNS) and len(set(targets.values())) == len(FQDNS)
    corefile = yaml.safe_load((tmp_path / "coredns-configmap.yaml").read_text())["data"][
        "Corefile"]
    for fqdn, ip in targets.items():
        assert f"{ip} {fqdn}\n" in corefile


def test_default_version_is_1_20_0(tmp_path: Path) -> None:
    env, tools, _, _ = make_env(World())
    assert up_kind(setup_for(tmp_path), env, False, False).cilium_version == "1.20.0"
    assert helm(tmp_path, "1.20.0", install=True) in tools.calls


def test_images_already_on_the_host_are_not_pulled_again(tmp_path: Path) -> None:
    world = World(images=set(IMAGES["1.20.0"]))
    env, tools, _, _ = make_env(world)
    up_kind(setup_for(tmp_path), env, False, False)
    assert not [c for c in tools.calls if c[:2] == ("docker", "pull")]


def made_cluster(tmp: Path, version: str = "1.20.0") -> tuple[World, Setup]:
    world = World()
    env, _, _, _ = make_env(world)
    setup = setup_for(tmp, version)
    up_kind(setup, env, False, False)
    return world, setup


@pytest.mark.parametrize("version", ["1.20.0", "1.19.6", "1.18.12"])
def test_up_reuses_a_healthy_cluster_with_the_same_config(tmp_path: Path, version: str) -> None:
    world, setup = made_cluster(tmp_path, version)
    env, tools, _, said = make_env(world)
    got = up_kind(setup, env, recreate=False, keep_on_failure=False)
    assert got.reused is True and got.cilium_version == version
    assert tools.calls == [
        *PREFLIGHT,
        ("kind", "export", "kubeconfig", "--name", NAME, "--kubeconfig", f"{tmp_path}/kubeconfig"),
        kubectl(tmp_path, "-n", "kube-system", "get", "configmap", "zt-conformance", "-o", "json",
                "--ignore-not-found"),
        *waits(tmp_path),
        kubectl(tmp_path, "-n", "kube-system", "get", "deployment", "coredns", "-o", "json"),
        *[("docker", "inspect", "--format", "{{json .NetworkSettings.Networks}}", ext(f))
          for f in sorted(FQDNS)],
        ("docker", "build", "-f", f"{REPO}/workloads/Dockerfile",
         "-t", "zt-conformance/workloads:dev", REPO),
        ("docker", "image", "inspect", "--format", "{{.Id}}", "zt-conformance/workloads:dev"),
    ]
    assert any("reusing healthy kind cluster" in line for line in said)


def test_reuse_loads_a_rebuilt_workloads_image(tmp_path: Path) -> None:
    world, setup = made_cluster(tmp_path)
    world.workloads_id = "sha256:2222"
    env, tools, _, _ = make_env(world)
    up_kind(setup, env, False, False)
    assert tools.calls[-2:] == [
        ("kind", "load", "docker-image", "--name", NAME, "zt-conformance/workloads:dev"),
        kubectl(tmp_path, "-n", "kube-system", "patch", "configmap", "zt-conformance",
                "--type", "merge", "-p", '{"data": {"workloads-image-id": "sha256:2222"}}'),
    ]


@pytest.mark.parametrize(("made", "wanted"), [("1.20.0", "1.19.6"), ("1.19.6", "1.18.12"),
                                             ("1.18.12", "1.20.0")])
def test_up_with_another_config_stops_and_changes_nothing(
    tmp_path: Path, made: str, wanted: str
) -> None:
    world, _ = made_cluster(tmp_path, made)
    env, tools, _, _ = make_env(world)
    with pytest.raises(RefusedError, match=r"different configuration.*--recreate"):
        up_kind(setup_for(tmp_path, wanted), env, recreate=False, keep_on_failure=False)
    assert [c[:2] for c in tools.calls] == [("docker", "info"), ("kind", "get"),
                                            ("kind", "export"), ("kubectl", "--kubeconfig")]
    assert NAME in world.clusters and world.marker is not None


def test_up_with_another_config_and_recreate_replaces_the_cluster(tmp_path: Path) -> None:
    world, _ = made_cluster(tmp_path, "1.20.0")
    env, tools, _, _ = make_env(world)
    got = up_kind(setup_for(tmp_path, "1.19.6"), env, recreate=True, keep_on_failure=False)
    owned = [f"id-{ext(f)}" for f in sorted(FQDNS)]
    assert tools.calls == [
        *PREFLIGHT,
        ("kind", "delete", "cluster", "--name", NAME),
        ("docker", "ps", "-aq", "--filter", f"label=zt-conformance.cluster={NAME}"),
        ("docker", "rm", "-f", *owned),
        *fresh_create(tmp_path, "1.19.6"),
    ]
    assert got.cilium_version == "1.19.6" and not got.reused


def test_existing_cluster_without_marker_is_refused(tmp_path: Path) -> None:
    world = World(clusters={NAME})
    env, tools, _, _ = make_env(world)
    with pytest.raises(RefusedError, match="carries no ConfigMap"):
        up_kind(setup_for(tmp_path), env, False, False)
    assert not [c for c in tools.calls if c[:2] in (("kind", "delete"), ("kind", "create"))]


def test_same_config_but_unhealthy_is_refused_with_the_reason(tmp_path: Path) -> None:
    world, setup = made_cluster(tmp_path)
    world.not_ready.add("hubble-relay")
    world.containers.pop(ext("api.github.com"))
    env, _, _, _ = make_env(world)
    with pytest.raises(RefusedError) as err:
        up_kind(setup, env, False, False)
    text = str(err.value)
    assert "not healthy" in text and "Hubble Relay serving" in text
    assert f"external target {ext('api.github.com')} is missing" in text


@pytest.mark.parametrize("version", ["1.20.0", "1.19.6", "1.18.12"])
def test_down_deletes_cluster_and_every_container(tmp_path: Path, version: str) -> None:
    world, setup = made_cluster(tmp_path, version)
    env, tools, _, _ = make_env(world)
    down(setup, env)
    assert tools.calls == [
        ("docker", "info", "--format", "{{.ServerVersion}} {{json .DriverStatus}}"),
        ("kind", "delete", "cluster", "--name", NAME),
        ("docker", "ps", "-aq", "--filter", f"label=zt-conformance.cluster={NAME}"),
        ("docker", "rm", "-f", *[f"id-{ext(f)}" for f in sorted(FQDNS)]),
    ]
    assert world.clusters == set() and world.containers == {}
    assert not (tmp_path / "kubeconfig").exists()


@pytest.mark.parametrize(("old", "new"), [("1.19.6", "1.20.0"), ("1.18.12", "1.19.6")])
def test_upgrade_runs_preflight_then_helm_upgrade_with_the_same_values_then_waits(
    tmp_path: Path, old: str, new: str
) -> None:
    world, _ = made_cluster(tmp_path, old)
    targets_before = (world.marker or {})["external-targets"]
    env, tools, _, _ = make_env(world)
    got = upgrade_kind(setup_for(tmp_path, new), env)
    assert tools.calls == [
        *PREFLIGHT,
        ("kind", "export", "kubeconfig", "--name", NAME, "--kubeconfig", f"{tmp_path}/kubeconfig"),
        kubectl(tmp_path, "-n", "kube-system", "get", "configmap", "zt-conformance", "-o", "json",
                "--ignore-not-found"),
        *preload(new, present=tuple(IMAGES[old])),  # shared images are not pulled twice
        *preflight(new, kubectl(tmp_path), tmp_path),
        helm(tmp_path, new, install=False),
        *waits(tmp_path),
        kubectl(tmp_path, "apply", "-f", f"{tmp_path}/zt-conformance-configmap.yaml"),
    ]
    values = yaml.safe_load((tmp_path / f"values-cilium-{new}.yaml").read_text())
    assert values["upgradeCompatibility"] == ".".join(old.split(".")[:2])
    marker = world.marker or {}
    assert (marker["cilium-version"], marker["upgraded-from"]) == (new, old)
    assert marker["external-targets"] == targets_before
    assert got.cilium_version == new
    # After the upgrade, `up` with the new version reuses the cluster.
    env2, _, _, _ = make_env(world)
    assert up_kind(setup_for(tmp_path, new), env2, False, False).reused is True


def test_helm_failure_shows_its_stderr_and_cleans_up(tmp_path: Path) -> None:
    world = World(fail_on={"--install": "Error: INSTALLATION FAILED: context deadline exceeded"})
    env, tools, _, _ = make_env(world)
    with pytest.raises(CommandFailed) as err:
        up_kind(setup_for(tmp_path), env, False, False)
    text = str(err.value)
    assert "install Cilium 1.20.0 (Helm) failed (exit 1)" in text
    assert "Error: INSTALLATION FAILED: context deadline exceeded" in text
    assert "Cleaned up" in text
    assert ("kind", "delete", "cluster", "--name", NAME) in tools.calls
    assert world.clusters == set() and world.containers == {}
    assert not (tmp_path / "kubeconfig").exists()


def test_keep_on_failure_leaves_the_cluster(tmp_path: Path) -> None:
    world = World(fail_on={"--install": "Error: boom"})
    env, tools, _, _ = make_env(world)
    with pytest.raises(CommandFailed, match="Kept for inspection"):
        up_kind(setup_for(tmp_path), env, False, keep_on_failure=True)
    assert NAME in world.clusters and len(world.containers) == len(FQDNS)
    assert (tmp_path / "kubeconfig").exists()
    assert not [c for c in tools.calls if c[:2] == ("kind", "delete")]


def test_ctrl_c_in_the_middle_cleans_up(tmp_path: Path) -> None:
    world = World(interrupt_on="build")
    env, _, _, _ = make_env(world)
    with pytest.raises(Interrupted, match=r"interrupted\. Cleaned up"):
        up_kind(setup_for(tmp_path), env, False, False)
    assert world.clusters == set()


def test_kind_create_failure_cleans_up(tmp_path: Path) -> None:
    world = World(fail_on={"create": "ERROR: failed to create cluster: node(s) already exist"})
    env, tools, _, _ = make_env(world)
    with pytest.raises(CommandFailed, match="node\\(s\\) already exist"):
        up_kind(setup_for(tmp_path), env, False, False)
    assert tools.calls[-2:] == [
        ("kind", "delete", "cluster", "--name", NAME),
        ("docker", "ps", "-aq", "--filter", f"label=zt-conformance.cluster={NAME}"),
    ]


def test_docker_down_is_one_clear_message_and_nothing_else_runs(tmp_path: Path) -> None:
    world = World(docker_up=False)
    env, tools, _, _ = make_env(world)
    with pytest.raises(CommandFailed) as err:
        up_kind(setup_for(tmp_path), env, False, False)
    assert "Docker daemon is not reachable" in str(err.value)
    assert "Cannot connect to the Docker daemon" in str(err.value)
    assert len(tools.calls) == 1


def test_wait_timeout_reports_what_is_not_ready_and_cleans_up(tmp_path: Path) -> None:
    world = World(not_ready={"cilium-envoy"})
    env, tools, clock, said = make_env(world)
    with pytest.raises(NotReadyError) as err:
        up_kind(setup_for(tmp_path), env, False, False)
    text = str(err.value)
    assert "Cilium Envoy: not ready within 180s (daemonset/cilium-envoy: 0/3 available" in text
    assert "pods:" in text and "cilium-abc 0/1" in text
    assert "last events:" in text and "BackOff" in text
    assert "cilium status:" in text
    assert ("cilium", "status", "--context", CTX) in tools.calls
    assert "Cleaned up" in text and world.clusters == set()
    # Polled every 2 s until the deadline, never longer.
    assert clock.sleeps and set(clock.sleeps) == {2.0} and len(clock.sleeps) == 90
    assert any(line.startswith("  FAIL  Cilium Envoy") for line in said)


def test_failed_upgrade_leaves_the_cluster_and_says_how_to_roll_back(tmp_path: Path) -> None:
    world, _ = made_cluster(tmp_path, "1.19.6")
    world.fail_on = {"upgrade": "Error: UPGRADE FAILED: timed out"}
    env, tools, _, _ = make_env(world)
    with pytest.raises(CommandFailed) as err:
        upgrade_kind(setup_for(tmp_path, "1.20.0"), env)
    assert "UPGRADE FAILED" in str(err.value) and "helm rollback cilium" in str(err.value)
    assert NAME in world.clusters and (world.marker or {})["cilium-version"] == "1.19.6"
    assert not [c for c in tools.calls if c[:2] == ("kind", "delete")]


def test_a_jump_over_a_minor_is_refused_before_anything_changes(tmp_path: Path) -> None:
    world, _ = made_cluster(tmp_path, "1.18.12")
    env, tools, _, _ = make_env(world)
    with pytest.raises(RefusedError, match=r"skips a minor.*one minor at a time"):
        upgrade_kind(setup_for(tmp_path, "1.20.0"), env)
    assert not [c for c in tools.calls if c[0] in ("helm", "docker") and "info" not in c]
    assert (world.marker or {})["cilium-version"] == "1.18.12"


def test_a_policy_the_new_release_refuses_stops_the_upgrade_at_the_preflight(
    tmp_path: Path,
) -> None:
    world, _ = made_cluster(tmp_path, "1.19.6")
    world.not_ready = {"cilium-pre-flight-check"}
    env, tools, _, _ = make_env(world)
    with pytest.raises(NotReadyError) as err:
        upgrade_kind(setup_for(tmp_path, "1.20.0"), env)
    assert "pre-flight" in str(err.value) and "-c cnp-validator" in str(err.value)
    assert "helm rollback cilium" in str(err.value)
    assert not [c for c in tools.calls if c[:2] == ("helm", "upgrade")]
    assert (world.marker or {})["cilium-version"] == "1.19.6"


@pytest.mark.parametrize(("old", "new"), [("1.19.6", "1.20.0"), ("1.18.12", "1.19.6")])
def test_upgrade_plan_lists_the_preflight_and_its_waits(tmp_path: Path, old: str,
                                                        new: str) -> None:
    env, _, _, _ = make_env(World())
    s = replace(setup_for(tmp_path, new), upgrade_from=old)
    text = plan_text(s, env, [], kind_upgrade_steps(s))
    lines = text.splitlines()
    template = next(i for i, x in enumerate(lines) if " template " in x)
    helm_upgrade = next(i for i, x in enumerate(lines) if "helm upgrade cilium" in x)
    assert template < helm_upgrade
    assert lines[template].endswith(f"> {tmp_path}/cilium-preflight-{new}.yaml")
    assert any("wait (poll, deadline 300s): pre-flight policy validation" in x for x in lines)
    assert f"# [3/5] upgrade Cilium {old} -> {new} (Helm)" in lines
    assert "# [2/5] pre-flight check: pre-pull the new image, validate policies" in lines


def test_existing_cluster_whose_api_does_not_answer_is_refused(tmp_path: Path) -> None:
    world, setup = made_cluster(tmp_path)
    world.fail_on = {"configmap": "The connection to the server 127.0.0.1:40000 was refused"}
    env, tools, _, _ = make_env(world)
    with pytest.raises(RefusedError, match="API server does not answer") as err:
        up_kind(setup, env, False, False)
    assert "connection to the server" in str(err.value)
    assert not [c for c in tools.calls if c[:2] in (("kind", "delete"), ("kind", "create"))]


def test_containerd_image_store_loads_single_platform_archives(tmp_path: Path) -> None:
    """Docker's containerd image store: `kind load docker-image` fails on multi-platform or
    attested images (kind issue 3795), so images go through a one-platform archive."""
    world = World(containerd_store=True)
    env, tools, _, _ = make_env(world)
    up_kind(setup_for(tmp_path), env, False, False)
    archive = f"{tmp_path}/images.tar"
    platform = f"linux/{platform_names()[1]}"
    loads = [c for c in tools.calls if c[:2] == ("kind", "load") or c[:2] == ("docker", "save")]
    assert loads == [
        ("docker", "save", "--platform", platform, "-o", archive, *IMAGES["1.20.0"]),
        ("kind", "load", "image-archive", "--name", NAME, archive),
        ("docker", "save", "--platform", platform, "-o", archive, "zt-conformance/workloads:dev"),
        ("kind", "load", "image-archive", "--name", NAME, archive),
    ]
    assert not (tmp_path / "images.tar").exists()
    # The classic store keeps the direct load.
    env2, tools2, _, _ = make_env(World())
    up_kind(setup_for(tmp_path / "classic"), env2, False, False)
    assert not [c for c in tools2.calls if c[:2] == ("docker", "save")]


def test_garbage_marker_answer_is_a_clear_refusal_not_a_traceback(tmp_path: Path) -> None:
    world, setup = made_cluster(tmp_path)
    env, tools, _, _ = make_env(world)
    tools._configmap = lambda ns, name: ok("<html>proxy error</html>")  # type: ignore[method-assign]
    with pytest.raises(RefusedError, match=r"not a ConfigMap.*proxy error"):
        up_kind(setup, env, False, False)
    assert NAME in world.clusters
