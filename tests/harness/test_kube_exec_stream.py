"""KubeCluster.exec_stream with the real kubernetes client against the emulated API server:
`prober watch` streams its lines while it runs, `stop` on stdin ends it over the v5 and the
v4 exec protocol alike (v4 has no stdin close), and a bad spec is the command's exit 2."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from conformance.harness.kube import KubeCluster
from conformance.harness.kube_api import V5_CHANNEL, negotiated
from tests.support.emulated import Emulators, emulated  # noqa: F401 - fixture

LINES_TIMEOUT_S = 20.0
FINISH_TIMEOUT_S = 20.0


def lines_until(stream: Any, count: int) -> list[dict[str, Any]]:
    """At least `count` stdout lines, read while the command runs (bounded)."""
    text, deadline = "", time.monotonic() + LINES_TIMEOUT_S
    while text.count("\n") < count and time.monotonic() < deadline:
        text += stream.read(0.1)
    assert text.count("\n") >= count, f"only {text!r} within {LINES_TIMEOUT_S:g}s"
    return [json.loads(x) for x in text.splitlines()]


@pytest.mark.parametrize(("fault", "protocol"), [(None, V5_CHANNEL),
                                                 ("exec-v4", "v4.channel.k8s.io")])
def test_lines_arrive_while_it_runs_and_stop_ends_it(emulated: Emulators,  # noqa: F811
                                                     fault: str | None, protocol: str) -> None:
    cluster: KubeCluster = emulated.cluster(fault)
    pods = cluster.deploy_workloads("zt-stream")
    client = next(p for p in pods if p.labels["app"] == "payment-processor")
    server = next(p for p in pods if p.labels["app"] == "account-service")
    stream = cluster.exec_stream(client, ["prober", "watch"])
    try:
        assert negotiated(stream._ws) == protocol  # type: ignore[attr-defined]
        stream.send(json.dumps({"rate_per_s": 5, "max_duration_s": 60, "paths": [
            {"name": "up", "probe": {"kind": "tcp", "host": server.ip, "port": 8080}}]}) + "\n")
        first = lines_until(stream, 3)
        assert stream.is_open(), "the watch runs until told to stop"
        assert {(e["path"], e["outcome"]) for e in first} == {("up", "ok")}
        stream.send("stop\n")
        result = stream.finish(FINISH_TIMEOUT_S)
    finally:
        stream.close()
    assert result.exit_code == 0, result
    last = json.loads(result.stdout.splitlines()[-1])
    assert last["type"] == "summary" and last["reason"] == "stop"


def test_a_bad_spec_is_exit_2_with_one_line(emulated: Emulators) -> None:  # noqa: F811
    cluster = emulated.cluster()
    pods = cluster.deploy_workloads("zt-stream-bad")
    client = next(p for p in pods if p.labels["app"] == "payment-processor")
    stream = cluster.exec_stream(client, ["prober", "watch"])
    try:
        stream.send('{"rate_per_s": 0, "paths": []}\n')
        result = stream.finish(FINISH_TIMEOUT_S)
    finally:
        stream.close()
    assert result.exit_code == 2 and result.stdout == ""
    assert "rate_per_s" in result.stderr and result.stderr.count("\n") == 1
