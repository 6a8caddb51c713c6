"""The steps of `up` and `upgrade`. Each step can run, or describe the exact commands it runs,
so `render` prints the plan from the very list `up` executes."""

from __future__ import annotations

import json
import shlex
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from clusters.blueprint import HELM_RELEASE, WORKLOADS_IMAGE, Setup, dump_yaml
from clusters.coredns import render_coredns_configmap
from clusters.env import (
    HELM_TIMEOUT_S,
    IMAGE_BUILD_TIMEOUT_S,
    IMAGE_LOAD_TIMEOUT_S,
    IMAGE_PULL_TIMEOUT_S,
    KIND_CREATE_TIMEOUT_S,
    Env,
    Kube,
)
from clusters.targets import KIND_NETWORK, container_name, inspect_argv, run_argv, start_targets
from clusters.tools import platform_names
from clusters.waits import COREDNS_STAGE, KUBE_SYSTEM, Stage, cilium_stages, wait_for


@dataclass
class RunState:
    targets: dict[str, str] = field(default_factory=dict)
    workloads_id: str = ""


def kube_of(s: Setup) -> Kube:
    return Kube(str(s.kubeconfig), s.context)


class Step(ABC):
    title: str

    @abstractmethod
    def plan(self, s: Setup, env: Env) -> list[str]:
        """The exact commands this step runs (what `render` prints)."""

    @abstractmethod
    def run(self, s: Setup, env: Env, st: RunState) -> None: ...


@dataclass
class Cmd(Step):
    title: str
    argv: Callable[[Setup, Env], list[str]]
    timeout: float

    def plan(self, s: Setup, env: Env) -> list[str]:
        return [shlex.join(self.argv(s, env))]

    def run(self, s: Setup, env: Env, st: RunState) -> None:
        env.must(self.argv(s, env), self.title, timeout=self.timeout)


def kind_create_argv(s: Setup, env: Env) -> list[str]:
    return [env.bin("kind"), "create", "cluster", "--name", s.cluster,
            "--config", str(s.kind_config_file), "--kubeconfig", str(s.kubeconfig)]


def kind_load_argv(s: Setup, env: Env, images: list[str]) -> list[str]:
    return [env.bin("kind"), "load", "docker-image", "--name", s.cluster, *images]


def image_archive(s: Setup) -> Path:
    return s.files_dir / "images.tar"


def archive_load_argvs(s: Setup, env: Env, images: list[str]) -> list[list[str]]:
    """With Docker's containerd image store, `docker save` of a multi-platform or attested
    image lists content it does not export and kind's import fails (kind issue 3795): save
    one platform to an archive and load that."""
    archive = str(image_archive(s))
    return [
        [env.bin("docker"), "save", "--platform", f"linux/{platform_names()[1]}", "-o", archive,
         *images],
        [env.bin("kind"), "load", "image-archive", "--name", s.cluster, archive],
    ]


def load_images(s: Setup, env: Env, images: list[str], what: str) -> None:
    """Copy host images into every node, whichever image store the Docker daemon uses."""
    if not env.containerd_image_store:
        env.must(kind_load_argv(s, env, images), what, IMAGE_LOAD_TIMEOUT_S)
        return
    try:
        for argv in archive_load_argvs(s, env, images):
            env.must(argv, what, IMAGE_LOAD_TIMEOUT_S)
    finally:
        image_archive(s).unlink(missing_ok=True)


def load_plan(s: Setup, env: Env, images: list[str]) -> list[str]:
    alternative = " && ".join(shlex.join(a) for a in archive_load_argvs(s, env, images))
    return [shlex.join(kind_load_argv(s, env, images)),
            f"#   (Docker with the containerd image store: {alternative})"]


def helm_argv(s: Setup, env: Env, install: bool) -> list[str]:
    verb = ["upgrade", "--install"] if install else ["upgrade"]
    return kube_of(s).helm(
        env, *verb, HELM_RELEASE, s.catalogue.chart_name, "--repo", s.catalogue.chart_repo,
        "--version", s.release.version, "--namespace", KUBE_SYSTEM,
        "--values", str(s.values_file),
    )


class PreloadImages(Step):
    """Pull once on the host (never again while the image exists), then load into the nodes."""

    title = "preload Cilium/SPIRE images"

    def plan(self, s: Setup, env: Env) -> list[str]:
        docker = env.bin("docker")
        pulls = [
            f"{shlex.join([docker, 'image', 'inspect', i])} >/dev/null || "
            f"{shlex.join([docker, 'pull', i])}"
            for i in s.images()
        ]
        return [*pulls, *load_plan(s, env, s.images())]

    def run(self, s: Setup, env: Env, st: RunState) -> None:
        docker = env.bin("docker")
        for image in s.images():
            if not env.run([docker, "image", "inspect", image]).ok:
                env.must([docker, "pull", image], f"pulling {image}", IMAGE_PULL_TIMEOUT_S)
        load_images(s, env, s.images(), "kind load of the Cilium images")


def build_argv(s: Setup, env: Env) -> list[str]:
    base = ["--build-arg", f"BASE={s.workloads_base}"] if s.workloads_base else []
    return [env.bin("docker"), "build", *base, "-f", str(s.repo / "workloads" / "Dockerfile"),
            "-t", WORKLOADS_IMAGE, str(s.repo)]


def image_id_argv(env: Env) -> list[str]:
    return [env.bin("docker"), "image", "inspect", "--format", "{{.Id}}", WORKLOADS_IMAGE]


def build_workloads(s: Setup, env: Env) -> str:
    """Build the probe image (layer cache makes a rebuild cheap); its image ID."""
    env.must(build_argv(s, env), "building the workloads image", IMAGE_BUILD_TIMEOUT_S)
    return env.must(image_id_argv(env), "reading the workloads image ID").stdout.strip()


class BuildWorkloads(Step):
    title = "build and load the workloads image"

    def plan(self, s: Setup, env: Env) -> list[str]:
        return [shlex.join(build_argv(s, env)), *load_plan(s, env, [WORKLOADS_IMAGE])]

    def run(self, s: Setup, env: Env, st: RunState) -> None:
        st.workloads_id = build_workloads(s, env)
        load_images(s, env, [WORKLOADS_IMAGE], "kind load of the workloads image")


class StartTargets(Step):
    title = "start hermetic FQDN targets"

    def plan(self, s: Setup, env: Env) -> list[str]:
        t, docker = s.profile.targets, env.bin("docker")
        lines = []
        for fqdn in t.fqdns:
            lines.append(shlex.join([docker, "rm", "-f", container_name(s.cluster, fqdn)])
                         + "  # a leftover, if any")
            lines.append(shlex.join(run_argv(docker, s.cluster, KIND_NETWORK, t.image,
                                             t.command, fqdn)))
        return lines + [shlex.join(inspect_argv(docker, container_name(s.cluster, fqdn)))
                        for fqdn in t.fqdns]

    def run(self, s: Setup, env: Env, st: RunState) -> None:
        t = s.profile.targets
        st.targets = start_targets(env, s.cluster, KIND_NETWORK, t.image, t.command, t.fqdns)
        env.say("        " + ", ".join(f"{f}={ip}" for f, ip in sorted(st.targets.items())))


@dataclass
class Waits(Step):
    title: str
    stages: list[Stage]

    def plan(self, s: Setup, env: Env) -> list[str]:
        return [f"# wait (poll, deadline {st.timeout_s:.0f}s): {st.name}" for st in self.stages]

    def run(self, s: Setup, env: Env, st: RunState) -> None:
        for stage in self.stages:
            wait_for(env, kube_of(s), stage)


def apply_argv(s: Setup, env: Env, path: str) -> list[str]:
    return kube_of(s).kubectl(env, "apply", "-f", path)


def restart_coredns_argv(s: Setup, env: Env) -> list[str]:
    return kube_of(s).kubectl(env, "-n", KUBE_SYSTEM, "rollout", "restart", "deployment/coredns")


class ConfigureCoreDNS(Step):
    title = "point CoreDNS at the targets, roll CoreDNS"

    def plan(self, s: Setup, env: Env) -> list[str]:
        return [
            f"# write {s.coredns_file} (hosts block: each FQDN -> its target container IP)",
            shlex.join(apply_argv(s, env, str(s.coredns_file))),
            shlex.join(restart_coredns_argv(s, env)),
            f"# wait (poll, deadline {COREDNS_STAGE.timeout_s:.0f}s): {COREDNS_STAGE.name}",
        ]

    def run(self, s: Setup, env: Env, st: RunState) -> None:
        p = s.profile
        s.coredns_file.write_text(
            render_coredns_configmap(st.targets, p.coredns_upstream, p.coredns_ttl))
        env.must(apply_argv(s, env, str(s.coredns_file)), "applying the CoreDNS ConfigMap")
        env.must(restart_coredns_argv(s, env), "restarting CoreDNS")
        wait_for(env, kube_of(s), COREDNS_STAGE)


class StoreMarker(Step):
    title = "record the configuration on the cluster"

    def plan(self, s: Setup, env: Env) -> list[str]:
        return [f"# write {s.marker_file} (config-hash {s.config_hash()[:12]}, external-targets)",
                shlex.join(apply_argv(s, env, str(s.marker_file)))]

    def run(self, s: Setup, env: Env, st: RunState) -> None:
        s.marker_file.write_text(dump_yaml(s.marker(st.targets, st.workloads_id)))
        env.must(apply_argv(s, env, str(s.marker_file)), "storing ConfigMap zt-conformance")


def create_steps(s: Setup) -> list[Step]:
    return [
        Cmd("create the kind cluster", kind_create_argv, KIND_CREATE_TIMEOUT_S),
        PreloadImages(),
        BuildWorkloads(),
        StartTargets(),
        Cmd(f"install Cilium {s.release.version} (Helm)",
            lambda s, e: helm_argv(s, e, install=True), HELM_TIMEOUT_S),
        Waits("wait for Cilium, Hubble and SPIRE", cilium_stages(s.profile.mutual_auth)),
        ConfigureCoreDNS(),
        StoreMarker(),
    ]


def upgrade_steps(s: Setup) -> list[Step]:
    return [
        PreloadImages(),
        Cmd(f"upgrade Cilium {s.upgrade_from} -> {s.release.version} (Helm)",
            lambda s, e: helm_argv(s, e, install=False), HELM_TIMEOUT_S),
        Waits("wait for Cilium, Hubble and SPIRE", cilium_stages(s.profile.mutual_auth)),
        StoreMarker(),
    ]


def plan_text(s: Setup, env: Env, preflight: list[list[str]], steps: list[Step]) -> str:
    lines = ["# preflight"] + [shlex.join(a) for a in preflight]
    for i, step in enumerate(steps, 1):
        lines.append(f"# [{i}/{len(steps)}] {step.title}")
        lines.extend(step.plan(s, env))
    return "\n".join(lines) + "\n"


def marker_targets(marker: dict[str, str]) -> dict[str, str]:
    try:
        value = json.loads(marker.get("external-targets", "{}"))
    except json.JSONDecodeError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}
