"""Following Hubble Relay: `kubectl port-forward` to the relay Service, then
`hubble observe --follow -o jsonpb` against the forwarded port, raw lines collected by a
reader thread.

"Connected" is observable without any traffic: kubectl prints `Handling connection for
<port>` each time a client connects through the forward, so after starting `hubble
observe` we wait for that line. `--since <start>` makes the relay replay anything that
happened between our start and the stream being set up, so nothing sent after
follow_flows() returns can be missed.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import IO, Any

from conformance.harness.cluster import ClusterError

RELAY_NAMESPACE = "kube-system"
RELAY_SERVICE = "hubble-relay"
RELAY_SERVICE_PORT = 80  # the Service port; the relay container listens on 4245
PORT_FORWARD_READY_S = 30.0
OBSERVE_CONNECT_S = 30.0
STOP_S = 5.0
STDERR_DRAIN_S = 1.0  # to collect what a failed process printed before quoting it
POLL_S = 0.05
FORWARDING = re.compile(r"Forwarding from 127\.0\.0\.1:(\d+) -> \d+")
HANDLING = re.compile(r"Handling connection for \d+")

Popen = Callable[..., "subprocess.Popen[str]"]


class _Reader:
    """Collects a text stream line by line on a daemon thread."""

    def __init__(self, stream: IO[str] | None, name: str) -> None:
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, args=(stream,), name=name,
                                        daemon=True)
        self._thread.start()

    def _run(self, stream: IO[str] | None) -> None:
        if stream is None:
            return
        for raw in stream:
            with self._lock:
                self._lines.append(raw.rstrip("\n"))

    def lines(self) -> list[str]:
        with self._lock:
            return list(self._lines)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


def port_forward_argv(kubectl: str, kubeconfig: str | None, context: str | None) -> list[str]:
    argv = [kubectl]
    if kubeconfig:
        argv += ["--kubeconfig", kubeconfig]
    if context:
        argv += ["--context", context]
    return [*argv, "-n", RELAY_NAMESPACE, "port-forward", f"service/{RELAY_SERVICE}",
            "--address", "127.0.0.1", f":{RELAY_SERVICE_PORT}"]


def observe_argv(hubble: str, port: int, namespaces: Sequence[str], since: datetime
                 ) -> list[str]:
    # The forward listens on 127.0.0.1 only; "localhost" may resolve to ::1 first.
    argv = [hubble, "observe", "--server", f"127.0.0.1:{port}", "--follow", "-o", "jsonpb",
            "--since", since.strftime("%Y-%m-%dT%H:%M:%SZ")]
    for namespace in namespaces:
        argv += ["--namespace", namespace]
    return argv


class HubbleFollower:
    """A FlowFollower over a port-forward and a `hubble observe` subprocess."""

    def __init__(self, kubectl: str, hubble: str, kubeconfig: str | None,
                 context: str | None, namespaces: Sequence[str], *,
                 popen: Popen = subprocess.Popen,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._procs: list[subprocess.Popen[str]] = []
        self._popen = popen
        self._pf_out: _Reader | None = None
        self._pf_err: _Reader | None = None
        self._out: _Reader | None = None
        self._err: _Reader | None = None
        try:
            port = self._forward(port_forward_argv(kubectl, kubeconfig, context))
            self._observe(observe_argv(hubble, port, namespaces, now()))
        except BaseException:
            self.close()
            raise

    def _start(self, argv: list[str]) -> subprocess.Popen[str]:
        try:
            proc = self._popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        except OSError as err:
            raise ClusterError(f"cannot start {argv[0]}: {err}") from err
        self._procs.append(proc)
        return proc

    def _forward(self, argv: list[str]) -> int:
        proc = self._start(argv)
        self._pf_out = _Reader(proc.stdout, "port-forward-stdout")
        self._pf_err = _Reader(proc.stderr, "port-forward-stderr")
        deadline = time.monotonic() + PORT_FORWARD_READY_S
        while True:
            for text in self._pf_out.lines():
                if match := FORWARDING.search(text):
                    return int(match.group(1))
            if proc.poll() is not None or time.monotonic() > deadline:
                self._pf_err.join(STDERR_DRAIN_S)
                why = "exited" if proc.poll() is not None else \
                    f"printed no port within {PORT_FORWARD_READY_S:g}s"
                raise ClusterError(
                    f"port-forward to Service {RELAY_NAMESPACE}/{RELAY_SERVICE} port "
                    f"{RELAY_SERVICE_PORT} {why} (is Hubble Relay enabled: "
                    f"hubble.relay.enabled=true?). kubectl said: "
                    f"{' '.join(self._pf_err.lines()) or '(nothing)'}")
            time.sleep(POLL_S)  # poll

    def _observe(self, argv: list[str]) -> None:
        assert self._pf_out is not None
        before = sum(bool(HANDLING.search(t)) for t in self._pf_out.lines())
        proc = self._start(argv)
        self._out = _Reader(proc.stdout, "hubble-observe-stdout")
        self._err = _Reader(proc.stderr, "hubble-observe-stderr")
        deadline = time.monotonic() + OBSERVE_CONNECT_S
        while sum(bool(HANDLING.search(t)) for t in self._pf_out.lines()) <= before:
            if proc.poll() is not None or time.monotonic() > deadline:
                self._err.join(STDERR_DRAIN_S)
                why = "exited" if proc.poll() is not None else \
                    f"did not connect within {OBSERVE_CONNECT_S:g}s"
                raise ClusterError(f"`{' '.join(argv)}` {why}; hubble said: "
                                   f"{' '.join(self._err.lines()) or '(nothing)'}")
            time.sleep(POLL_S)  # poll

    def lines(self) -> list[str]:
        return self._out.lines() if self._out else []

    def stderr(self) -> list[str]:
        return self._err.lines() if self._err else []

    def close(self) -> None:
        for proc in reversed(self._procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(self._procs):
            try:
                proc.wait(STOP_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(STOP_S)
        self._procs.clear()
        for reader in (self._out, self._err, self._pf_out, self._pf_err):
            if reader is not None:
                reader.join(STOP_S)

    def __enter__(self) -> HubbleFollower:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
