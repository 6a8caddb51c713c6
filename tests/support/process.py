"""Start a real process for a test, wait until it is ready, always stop it."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.support.wait import POLL_INTERVAL_S

STOP_TIMEOUT_S = 10.0


class Process:
    """A started process whose stdout+stderr go to a log file the test can read."""

    def __init__(self, cmd: Sequence[str], log_path: Path,
                 env: dict[str, str] | None = None) -> None:
        self.cmd = list(cmd)
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(self.cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL,
                                      env={**os.environ, **(env or {})})

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self, ready: Callable[[Process], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise AssertionError(f"{self.cmd[0]} exited with {self.popen.returncode} "
                                     f"before it was ready:\n{self.log()[-2000:]}")
            try:
                if ready(self):
                    return
            except OSError:
                pass  # not listening yet
            time.sleep(POLL_INTERVAL_S)  # poll
        raise AssertionError(f"{self.cmd[0]} not ready within {timeout:g}s:\n{self.log()[-2000:]}")

    def stop(self) -> int:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(STOP_TIMEOUT_S)
        self._log.close()
        return self.popen.returncode


@contextmanager
def running(cmd: Sequence[str], log_path: Path, ready: Callable[[Process], bool],
            timeout: float = 20.0, env: dict[str, str] | None = None) -> Iterator[Process]:
    proc = Process(cmd, log_path, env)
    try:
        proc.wait_ready(ready, timeout)
        yield proc
    finally:
        proc.stop()
