"""`prober watch` as a process, against real servers on loopback: samples at the rate with
their outcomes, long-lived streams that survive and one that is reset when its server
dies, `stop` on a stdin that stays open, and unusable specs."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tests.support.account_service import account_service
from tests.support.dnsserver import DnsServer
from tests.support.wait import wait_for
from workloads.prober.watch import classify

EVENT_TIMEOUT_S = 20.0
RATE = 5


class Watcher:
    """`prober watch` with its stdin kept open; stdout lines collected as they come."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "workloads.prober", "watch"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.send(json.dumps(spec))

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def drain(self) -> list[dict[str, Any]]:
        while not self.lines.empty():
            self.seen.append(self.lines.get_nowait())
        return self.seen

    def until(self, what: str, cond: Any) -> list[dict[str, Any]]:
        return wait_for(lambda: [e for e in self.drain() if cond(e)], EVENT_TIMEOUT_S, what)


def test_samples_streams_reset_and_stop(tmp_path: Path) -> None:
    with (account_service(tmp_path) as svc, account_service(tmp_path) as doomed,
          DnsServer(records={"api.stripe.test": ["192.0.2.10"]},
                    refused={"evil.example.test"}) as dns):
        spec = {"rate_per_s": RATE, "max_duration_s": 120, "timeout_s": 1, "paths": [
            {"name": "http-ok", "probe": {"kind": "http",
                                          "url": f"http://127.0.0.1:{svc.http_port}/healthz"}},
            {"name": "http-missing", "probe": {
                "kind": "http", "url": f"http://127.0.0.1:{svc.http_port}/no/such/route"}},
            {"name": "dns-ok", "probe": {"kind": "dns", "name": "api.stripe.test",
                                         "server": dns.address}},
            {"name": "dns-denied", "probe": {"kind": "dns", "name": "evil.example.test",
                                             "server": dns.address}},
        ], "streams": [
            {"name": "tcp-kept", "kind": "tcp", "host": "127.0.0.1", "port": svc.grpc_port,
             "interval_s": 0.2},
            {"name": "grpc-kept", "kind": "grpc", "host": "127.0.0.1",
             "port": svc.grpc_port, "interval_s": 0.2},
            {"name": "tcp-doomed", "kind": "tcp", "host": "127.0.0.1",
             "port": doomed.grpc_port, "interval_s": 0.2},
        ]}
        w = Watcher(spec)
        try:
            w.until("three streams opened", lambda e: e.get("event") == "opened")
            wait_for(lambda: len([e for e in w.drain() if e.get("event") == "opened"]) == 3,
                     EVENT_TIMEOUT_S, "all three streams opened")
            w.until("samples of every path", lambda e: e.get("type") == "sample")
            killed_at = time.time()
            doomed.proc.stop()
            reset = w.until("the doomed stream's reset",
                            lambda e: e.get("event") == "reset")
            w.until("more samples after the reset",
                    lambda e: e.get("type") == "sample" and e["t"] > killed_at + 1)
            assert w.proc.poll() is None, "the watch must run until told to stop"
            w.send("stop")  # stdin stays open: the command alone ends it
            assert w.proc.wait(EVENT_TIMEOUT_S) == 0
        finally:
            if w.proc.poll() is None:
                w.proc.kill()
        events = w.drain()
    assert [r["stream"] for r in reset] == ["tcp-doomed"]
    assert reset[0]["t"] >= killed_at - 0.01
    samples = [e for e in events if e["type"] == "sample"]
    outcomes = {(e["path"], e["outcome"], e["detail"]) for e in samples}
    assert outcomes == {("http-ok", "ok", "ok"), ("http-missing", "error", "http-404"),
                        ("dns-ok", "ok", "ok"), ("dns-denied", "denied", "dns-refused")}
    times = sorted(e["t"] for e in samples if e["path"] == "http-ok")
    span = times[-1] - times[0]
    assert abs(len(times) - 1 - span * RATE) <= 2, "one new probe per 1/rate seconds"
    summary = events[-1]
    assert summary["type"] == "summary" and summary["reason"] == "stop"
    assert summary["samples"]["http-ok"] == {"ok": len(times)}
    assert summary["streams"]["tcp-kept"]["reset"] is None
    assert summary["streams"]["grpc-kept"]["reset"] is None
    assert summary["streams"]["tcp-doomed"]["reset"] == reset[0]["t"]


def test_max_duration_ends_the_watch_without_stop() -> None:
    spec = {"rate_per_s": 10, "max_duration_s": 0.5, "timeout_s": 0.5, "paths": [
        {"name": "refused", "probe": {"kind": "tcp", "host": "127.0.0.1", "port": 1}}]}
    w = Watcher(spec)  # stdin stays open
    try:
        assert w.proc.wait(EVENT_TIMEOUT_S) == 0
        lines = w.until("the summary", lambda e: e.get("type") == "summary") and w.drain()
    finally:
        if w.proc.poll() is None:
            w.proc.kill()
    assert lines[-1]["reason"] == "max-duration"
    assert {e["outcome"] for e in lines[:-1]} == {"error"}  # refused: not a policy denial
    assert 3 <= len(lines) - 1 <= 7


def test_the_end_of_stdin_ends_the_watch() -> None:
    """The runner never closes stdin on purpose: EOF means its exec went away, and a watch
    nobody reads must not keep probing until its max duration."""
    spec = {"rate_per_s": 10, "max_duration_s": 600, "timeout_s": 0.5, "paths": [
        {"name": "refused", "probe": {"kind": "tcp", "host": "127.0.0.1", "port": 1}}]}
    proc = subprocess.run([sys.executable, "-m", "workloads.prober", "watch"],
                          input=json.dumps(spec) + "\n", capture_output=True, text=True,
                          timeout=EVENT_TIMEOUT_S, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1])["reason"] == "stdin-closed"


def test_bad_spec_is_one_line_and_exit_2() -> None:
    proc = subprocess.run([sys.executable, "-m", "workloads.prober", "watch"],
                          input='{"rate_per_s": 0, "paths": []}\n', capture_output=True,
                          text=True, timeout=EVENT_TIMEOUT_S, check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "rate_per_s" in proc.stderr


def test_denied_is_what_enforcement_looks_like() -> None:
    assert classify({"outcome": "timeout"})[0] == "denied"
    assert classify({"outcome": "http-error", "status": 403}) == ("denied", "http-403")
    assert classify({"outcome": "http-error", "status": 503})[0] == "error"
    assert classify({"outcome": "grpc-error", "grpc_code": "PERMISSION_DENIED"})[0] == "denied"
    assert classify({"outcome": "dns-refused"})[0] == "denied"
    assert classify({"outcome": "refused", "error": "x"}) == ("error", "refused: x")
