"""HubbleFollower with real subprocesses standing in for kubectl and hubble.

The fake kubectl really forwards nothing but listens on a loopback port, prints the same
`Forwarding from ...` / `Handling connection for ...` lines kubectl prints, and the fake
hubble really connects to the `--server` it is given before printing recorded jsonpb
lines - so the follower's readiness and connection detection run for real.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conformance.harness.cluster import ClusterError
from conformance.harness.kube_hubble import HubbleFollower, observe_argv, port_forward_argv

LINES_TIMEOUT_S = 10.0
FLOW = {"flow": {"time": "2026-11-26T07:40:01.123456789Z", "verdict": "DROPPED",
                 "IP": {"source": "10.244.1.30", "destination": "10.244.1.23",
                        "ipVersion": "IPv4"},
                 "l4": {"TCP": {"source_port": 41872, "destination_port": 9090,
                                "flags": {"SYN": True}}},
                 "Type": "L3_L4", "node_name": "zt-worker", "traffic_direction": "INGRESS",
                 "drop_reason_desc": "POLICY_DENIED"},
        "node_name": "zt-worker", "time": "2026-11-26T07:40:01.123456789Z"}

KUBECTL = """\
import socket, sys, time
log = open(sys.argv[0] + ".argv", "w"); log.write("\\n".join(sys.argv[1:])); log.close()
if "{mode}" == "missing":
    print('error: services "hubble-relay" not found', file=sys.stderr, flush=True)
    sys.exit(1)
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen()
port = srv.getsockname()[1]
print(f"Forwarding from 127.0.0.1:{{port}} -> 4245", flush=True)
print(f"Forwarding from [::1]:{{port}} -> 4245", flush=True)
while True:
    conn, _ = srv.accept()
    print(f"Handling connection for {{port}}", flush=True)
"""
HUBBLE = """\
import socket, sys, time
log = open(sys.argv[0] + ".argv", "w"); log.write("\\n".join(sys.argv[1:])); log.close()
if "{mode}" == "broken":
    print("failed to connect to 'localhost': connection error", file=sys.stderr, flush=True)
    sys.exit(1)
host, port = sys.argv[sys.argv.index("--server") + 1].split(":")
conn = socket.create_connection((host, int(port)))
print({line!r}, flush=True)
print('{{"node_status":{{"state_change":"NODE_CONNECTED","node_names":["zt-worker"]}}}}',
      flush=True)
while True:
    time.sleep(1)  # poll
"""


def tool(path: Path, body: str) -> str:
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def tools(tmp_path: Path, kubectl_mode: str = "ok", hubble_mode: str = "ok") -> tuple[str, str]:
    return (tool(tmp_path / "kubectl", KUBECTL.format(mode=kubectl_mode)),
            tool(tmp_path / "hubble", HUBBLE.format(mode=hubble_mode, line=json.dumps(FLOW))))


def test_argv_shapes() -> None:
    assert port_forward_argv("kubectl", "/k", "kind-zt") == [
        "kubectl", "--kubeconfig", "/k", "--context", "kind-zt", "-n", "kube-system",
        "port-forward", "service/hubble-relay", "--address", "127.0.0.1", ":80"]
    argv = observe_argv("hubble", 4321, ["zt-gw0", "zt-gw0-b"],
                        datetime(2026, 11, 26, 7, 40, 1, 999, tzinfo=UTC))
    assert argv == ["hubble", "observe", "--server", "127.0.0.1:4321", "--follow", "-o",
                    "jsonpb", "--since", "2026-11-26T07:40:01Z", "--namespace", "zt-gw0",
                    "--namespace", "zt-gw0-b"]


def test_follower_connects_collects_raw_lines_and_stops_everything(tmp_path: Path) -> None:
    kubectl, hubble = tools(tmp_path)
    follower = HubbleFollower(kubectl, hubble, "/tmp/kc", "kind-zt", ["zt-gw0"])
    try:
        procs = list(follower._procs)
        deadline = time.monotonic() + LINES_TIMEOUT_S
        while len(lines := follower.lines()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # poll
        assert json.loads(lines[0]) == FLOW
        assert "node_status" in lines[1]
        hubble_argv = (tmp_path / "hubble.argv").read_text().splitlines()
        assert hubble_argv[:2] == ["observe", "--server"]
        assert hubble_argv[hubble_argv.index("--namespace") + 1] == "zt-gw0"
        kubectl_argv = (tmp_path / "kubectl.argv").read_text().splitlines()
        assert "service/hubble-relay" in kubectl_argv and "kind-zt" in kubectl_argv
    finally:
        follower.close()
    assert all(p.poll() is not None for p in procs)
    assert follower.lines() == lines  # what was received survives close()


def test_missing_relay_is_a_clear_error_quoting_kubectl(tmp_path: Path) -> None:
    kubectl, hubble = tools(tmp_path, kubectl_mode="missing")
    with pytest.raises(ClusterError) as err:
        HubbleFollower(kubectl, hubble, None, None, ["zt-gw0"])
    assert "hubble.relay.enabled" in str(err.value)
    assert 'services "hubble-relay" not found' in str(err.value)


def test_hubble_that_cannot_connect_is_an_error_and_leaves_nothing_running(
        tmp_path: Path) -> None:
    kubectl, hubble = tools(tmp_path, hubble_mode="broken")
    with pytest.raises(ClusterError, match="connection error"):
        HubbleFollower(kubectl, hubble, None, None, ["zt-gw0"])
    pids = [p for p in os.listdir("/proc") if p.isdigit()]
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        assert str(tmp_path).encode() not in cmdline, "a fake tool is still running"


def test_unstartable_tool_is_a_cluster_error(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="cannot start"):
        HubbleFollower(str(tmp_path / "no-kubectl"), "hubble", None, None, ["zt-gw0"])
