"""A scripted command runner and a small fake world (Docker + kind + a Cilium cluster) that
answers the argv `clusters` sends, in the real tools' output formats."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from clusters.env import Env
from clusters.runner import CommandResult

OK = 0


def ok(stdout: str = "") -> CommandResult:
    return CommandResult((), OK, stdout, "")


def fail(stderr: str, rc: int = 1) -> CommandResult:
    return CommandResult((), rc, "", stderr)


def kind_kubeconfig(path: Path, *contexts: str, server: str = "https://127.0.0.1:40001") -> str:
    """A kubeconfig file whose contexts each point at `server` (kind's loopback by default)."""
    doc = {"apiVersion": "v1", "kind": "Config",
           "clusters": [{"name": c, "cluster": {"server": server}} for c in contexts],
           "contexts": [{"name": c, "context": {"cluster": c, "user": "u"}} for c in contexts],
           "users": [{"name": "u", "user": {"token": "x"}}]}
    path.write_text(yaml.safe_dump(doc))
    return str(path)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class World:
    """State the fake tools read and change."""

    clusters: set[str] = field(default_factory=set)
    images: set[str] = field(default_factory=set)
    containers: dict[str, str] = field(default_factory=dict)  # name -> IP
    marker: dict[str, str] | None = None
    docker_up: bool = True
    containerd_store: bool = False  # Docker's containerd image store (default in Docker 29)
    workloads_id: str = "sha256:1111"
    not_ready: set[str] = field(default_factory=set)  # object names that never get ready
    fail_on: dict[str, str] = field(default_factory=dict)  # argv word -> stderr of a failure
    interrupt_on: str | None = None
    cilium_config: dict[str, str] = field(default_factory=dict)
    agent_image: str = "quay.io/cilium/cilium:v1.20.0@sha256:abc"
    current_context: str = "kind-zt-conformance"
    next_ip: int = 10
    # --values files helm upgrade was given: (path, file mode, parent dir mode, content)
    helm_values: list[tuple[str, int, int, str]] = field(default_factory=list)


def _ready(kind: str, name: str, ready: bool) -> dict[str, Any]:
    meta = {"name": name, "generation": 2}
    if kind == "daemonset":
        n = 3 if ready else 0
        status = {"observedGeneration": 2, "desiredNumberScheduled": 3, "numberAvailable": n,
                  "updatedNumberScheduled": 3}
        return {"metadata": meta, "status": status}
    status = {"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1,
              "availableReplicas": 1 if ready else 0}
    return {"metadata": meta, "spec": {"replicas": 1}, "status": status}


class FakeTools:
    """The runner: records every argv, answers from the World."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.calls: list[tuple[str, ...]] = []
        self.envs: list[Mapping[str, str] | None] = []

    def run(
        self, argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None,
        stdin: str | None = None,
    ) -> CommandResult:
        args = tuple(argv)
        self.calls.append(args)
        self.envs.append(env)
        w = self.world
        if w.interrupt_on and w.interrupt_on in args:
            raise KeyboardInterrupt
        if args[0] == "helm" and "--values" in args:  # seen before a scripted failure
            values = Path(args[args.index("--values") + 1])
            w.helm_values.append((str(values), values.stat().st_mode & 0o777,
                                  values.parent.stat().st_mode & 0o777, values.read_text()))
        for word, stderr in w.fail_on.items():
            if word in args:
                return fail(stderr)
        handler: Callable[[tuple[str, ...]], CommandResult] = {
            "docker": self._docker, "kind": self._kind, "helm": self._helm,
            "kubectl": self._kubectl, "cilium": lambda a: ok("Cilium: 1 errors"),
        }[args[0]]
        return handler(args)

    def _docker(self, a: tuple[str, ...]) -> CommandResult:
        w = self.world
        if not w.docker_up:
            return fail("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
                        "Is the docker daemon running?")
        verb = a[1]
        if verb == "info":
            if w.containerd_store:
                return ok('29.1.3 [["driver-type","io.containerd.snapshotter.v1"]]\n')
            return ok('28.2.2 [["Backing Filesystem","extfs"],["Supports d_type","true"]]\n')
        if a[1:3] == ("image", "inspect"):
            if a[3] == "--format":
                return ok(w.workloads_id + "\n")
            return ok("[{}]") if a[3] in w.images else fail(f"No such image: {a[3]}")
        if verb == "save":
            Path(a[a.index("-o") + 1]).write_bytes(b"archive")
            return ok()
        if verb == "pull":
            w.images.add(a[2])
            return ok()
        if verb == "run":
            name = a[a.index("--name") + 1]
            w.containers[name] = f"192.0.2.{w.next_ip}"
            w.next_ip += 1
            return ok("c0ffee\n")
        if verb == "inspect":
            name = a[-1]
            if name not in w.containers:
                return fail(f"Error: No such object: {name}")
            return ok(json.dumps({"kind": {"IPAddress": w.containers[name]}}))
        if verb == "ps":
            return ok("".join(f"id-{n}\n" for n in sorted(w.containers)))
        if verb == "rm":
            for ident in a[3:]:
                w.containers.pop(ident.removeprefix("id-"), None)
            return ok()
        return ok()  # build

    def _kind(self, a: tuple[str, ...]) -> CommandResult:
        w = self.world
        if a[1:3] == ("get", "clusters"):
            return ok("".join(f"{c}\n" for c in sorted(w.clusters)))
        if a[1:3] == ("create", "cluster"):
            w.clusters.add(a[4])
            Path(a[a.index("--kubeconfig") + 1]).write_text("apiVersion: v1\nkind: Config\n")
            return ok()
        if a[1:3] == ("delete", "cluster"):
            w.clusters.discard(a[4])
            w.marker = None
            return ok()
        return ok()  # load, export

    def _helm(self, a: tuple[str, ...]) -> CommandResult:
        if a[1:3] == ("get", "values"):
            return ok("hubble:\n  relay:\n    enabled: true\n")
        return ok("Release \"cilium\" has been upgraded.\n")

    def _kubectl(self, a: tuple[str, ...]) -> CommandResult:
        w = self.world
        rest = list(a[1:])
        while rest and rest[0] in ("--kubeconfig", "--context"):
            rest = rest[2:]
        ns = None
        if rest[:1] == ["-n"]:
            ns, rest = rest[1], rest[2:]
        if rest[:2] == ["config", "current-context"]:
            return ok(w.current_context + "\n")
        if rest[:1] == ["apply"]:
            doc = yaml.safe_load(Path(rest[2]).read_text())
            if doc["metadata"]["name"] == "zt-conformance":
                w.marker = dict(doc["data"])
            return ok()
        if rest[:1] == ["exec"]:
            if "spire-server-0" in w.not_ready:
                return fail("container not ready")
            return ok("Server is healthy.\n")
        if rest[:1] != ["get"]:
            return ok()  # rollout restart, patch
        what = rest[1]
        if what == "configmap":
            return self._configmap(ns, rest[2])
        if what == "nodes":
            ready = "nodes" not in w.not_ready
            items = [{"metadata": {"name": n}, "status": {"conditions": [
                {"type": "Ready", "status": "True" if ready else "False"}]}}
                for n in ("zt-conformance-control-plane", "zt-conformance-worker")]
            return ok(json.dumps({"items": items}))
        if what == "crd":
            return ok(json.dumps({"status": {"conditions": [
                {"type": "Established", "status": "True"}]}}))
        if what == "endpointslices":
            return ok(json.dumps({"items": [{"endpoints": [{"conditions": {"ready": True}}]}]}))
        if what == "pods":
            return ok("NAMESPACE NAME READY\nkube-system cilium-abc 0/1\n")
        if what == "events":
            return ok("kube-system 1s Warning BackOff pod/cilium-abc\n")
        name = rest[2]
        if what == "daemonset" and name == "cilium" and "--ignore-not-found" in rest:
            containers = [{"name": "cilium-agent", "image": w.agent_image}]
            return ok(json.dumps({"spec": {"template": {"spec": {"containers": containers}}}}))
        if what == "deployment" and name == "hubble-relay" and "--ignore-not-found" in rest:
            return ok(json.dumps({"status": {"readyReplicas": 1}}))
        return ok(json.dumps(_ready(what, name, name not in w.not_ready)))

    def _configmap(self, ns: str | None, name: str) -> CommandResult:
        w = self.world
        if name == "zt-conformance":
            return ok(json.dumps({"data": w.marker}) if w.marker is not None else "")
        if name == "cilium-config":
            return ok(json.dumps({"data": w.cilium_config}))
        return ok("")


def make_env(world: World) -> tuple[Env, FakeTools, FakeClock, list[str]]:
    tools = FakeTools(world)
    clock = FakeClock()
    said: list[str] = []
    env = Env(runner=tools, tool=lambda name: name, say=said.append, clock=clock,
              sleep=clock.sleep)
    return env, tools, clock, said
