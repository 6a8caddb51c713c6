"""Starting and stopping the emulated cluster as a process of its own.

The pytest controller starts one before any worker (so every xdist worker talks to the
same cluster), hands its kubeconfig over like a kind cluster's, and stops it at the end.
The emulator also watches its parent and stops when the parent is gone, so a hard-killed
run leaves nothing listening.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from clusters.emulated.__main__ import CONTEXT, READY

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0
POLL_S = 0.05


class EmulatorError(RuntimeError):
    """The emulator did not start; the message quotes what it printed."""


class EmulatorProcess:
    def __init__(self, *, fault: str | None = None, cilium_version: str | None = None,
                 seed: int = 0, start_timeout: float = START_TIMEOUT_S,
                 agent_restart_s: float | None = None) -> None:
        import os

        self.workdir = Path(tempfile.mkdtemp(prefix="zt-emulated-"))
        self.kubeconfig = str(self.workdir / "kubeconfig")
        self.context = CONTEXT
        self.log = self.workdir / "emulator.log"
        argv = [sys.executable, "-m", "clusters.emulated", "--kubeconfig", self.kubeconfig,
                "--parent-pid", str(os.getpid()), "--seed", str(seed)]
        if fault:
            argv += ["--fault", fault]
        if cilium_version:
            argv += ["--cilium-version", cilium_version]
        if agent_restart_s is not None:
            argv += ["--agent-restart-s", str(agent_restart_s)]
        self._log_file = self.log.open("w")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self._log_file, text=True)
        self.url = ""
        self._ready = threading.Event()
        threading.Thread(target=self._read, name="emulator-stdout", daemon=True).start()
        try:
            self._wait_ready(start_timeout)
        except BaseException:
            self.stop()
            raise

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(READY + " "):
                self.url = line.split()[1]
                self._ready.set()

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self._ready.wait(POLL_S):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                why = (f"exited with code {self.proc.returncode}" if self.proc.poll()
                       is not None else f"did not answer within {timeout:g}s")
                said = self.log.read_text(errors="replace").strip()[-2000:] or "(nothing)"
                raise EmulatorError(f"the emulated cluster {why}; it said: {said}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT_S)
        self._log_file.close()
