"""What every operation needs: the command runner, tool paths, output, and time."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from clusters.runner import CommandResult, CommandRunner, SubprocessRunner, check

# Per-command ceilings; the readiness stages have their own deadlines (clusters/waits.py).
QUICK_TIMEOUT_S = 60.0
KIND_CREATE_TIMEOUT_S = 600.0
KIND_DELETE_TIMEOUT_S = 180.0
IMAGE_PULL_TIMEOUT_S = 900.0
IMAGE_BUILD_TIMEOUT_S = 1200.0
IMAGE_LOAD_TIMEOUT_S = 900.0
HELM_TIMEOUT_S = 600.0


def _print(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _default_tool(name: str) -> str:
    from clusters.tools import docker_cli, ensure_tool

    return docker_cli() if name == "docker" else ensure_tool(name)


@dataclass
class Env:
    runner: CommandRunner = field(default_factory=SubprocessRunner)
    tool: Callable[[str], str] = _default_tool
    say: Callable[[str], None] = _print
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    # Set by the Docker preflight: images must reach kind as single-platform archives.
    containerd_image_store: bool = False
    _tools: dict[str, str] = field(default_factory=dict)

    def bin(self, name: str) -> str:
        """Path of a tool, resolved once per run (PATH or pinned download)."""
        if name not in self._tools:
            self._tools[name] = self.tool(name)
        return self._tools[name]

    def run(
        self,
        argv: list[str],
        timeout: float = QUICK_TIMEOUT_S,
        kubeconfig: str | None = None,
        stdin: str | None = None,
    ) -> CommandResult:
        env = None
        if kubeconfig is not None:
            env = {**os.environ, "KUBECONFIG": kubeconfig}
        return self.runner.run(argv, timeout=timeout, env=env, stdin=stdin)

    def must(
        self, argv: list[str], what: str, timeout: float = QUICK_TIMEOUT_S,
        kubeconfig: str | None = None,
    ) -> CommandResult:
        return check(self.run(argv, timeout, kubeconfig), what)


@dataclass(frozen=True)
class Kube:
    """Which cluster kubectl/helm talk to."""

    kubeconfig: str | None
    context: str | None

    def kubectl(self, env: Env, *args: str) -> list[str]:
        argv = [env.bin("kubectl")]
        if self.kubeconfig:
            argv += ["--kubeconfig", self.kubeconfig]
        if self.context:
            argv += ["--context", self.context]
        return [*argv, *args]

    def helm(self, env: Env, *args: str) -> list[str]:
        argv = [env.bin("helm"), *args]
        if self.kubeconfig:
            argv += ["--kubeconfig", self.kubeconfig]
        if self.context:
            argv += ["--kube-context", self.context]
        return argv
