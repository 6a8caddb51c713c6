"""One emulated cluster per run, and nothing left running afterwards: after a normal end,
after Ctrl-C, and after the controller is killed outright."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
START_S = 60.0  # the run reaches its first scenario
GONE_S = 15.0  # the emulator is gone after its controller (parent poll 1 s + stop)
POLL_S = 0.1

pytestmark = pytest.mark.slow


def emulators_of(pid: int) -> list[int]:
    """pids of `python -m clusters.emulated` processes started by `pid`."""
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"clusters.emulated" in argv and str(pid).encode() in argv:
            out.append(int(proc.name))
    return out


def wait_for(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(POLL_S)  # poll


def start_run(tmp: Path, *extra: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ZTC_", "PYTEST_XDIST", "PYTEST_ADDOPTS"))}
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "conformance/scenarios", "--cluster=simulated",
         "-p", "no:cacheprovider", "-q", f"--artifacts={tmp / 'artifacts'}", *extra],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_a_whole_run_uses_one_emulator_and_stops_it(tmp_path: Path) -> None:
    proc = start_run(tmp_path, "-n", "2", "-k", "l7_http or grpc")
    seen: set[int] = set()
    while proc.poll() is None:
        seen.update(emulators_of(proc.pid))
        time.sleep(POLL_S)  # poll
    out = proc.stdout.read() if proc.stdout else ""
    assert proc.returncode == 0, out[-3000:]
    assert len(seen) == 1, f"emulators started by the controller: {seen}"
    assert emulators_of(proc.pid) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_nothing_is_left_running_after_an_interrupted_or_killed_run(
        tmp_path: Path, sig: signal.Signals) -> None:
    proc = start_run(tmp_path, "-n", "0")
    try:
        wait_for(lambda: emulators_of(proc.pid), START_S, "the emulator to start")
        emulator = emulators_of(proc.pid)[0]
        proc.send_signal(sig)
        proc.wait(GONE_S)
        wait_for(lambda: not Path(f"/proc/{emulator}").exists()
                 or b"zombie" in Path(f"/proc/{emulator}/status").read_bytes().lower()
                 or b"State:\tZ" in Path(f"/proc/{emulator}/status").read_bytes(),
                 GONE_S, f"emulator {emulator} to exit after {sig.name}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
