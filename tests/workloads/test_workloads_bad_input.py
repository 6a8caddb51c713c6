"""The bad-input tally for `prober run` and `account-service`: every hostile or careless
input is one line on stderr with the exit code workloads/README.md documents (or, for one
bad probe in a batch, an `error` result naming the field), never a traceback, never a
hang past the subprocess timeout."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

CLI_TIMEOUT_S = 30.0
EXIT_CANNOT_START = 1  # account-service, documented in workloads/README.md
EXIT_USAGE = 2  # both: bad option or unusable input
PROBER = [sys.executable, "-m", "workloads.prober"]
ACCOUNT_SERVICE = [sys.executable, "-m", "workloads.account_service", "--bind", "127.0.0.1",
                   "--http-port", "0", "--grpc-port", "0"]
DIGITS = "9" * 5000  # past Python's 4300-digit int conversion limit
TCP = {"id": "p", "kind": "tcp", "host": "127.0.0.1", "port": 1}


def _run(cmd: list[str], stdin: bytes = b"[]") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(cmd, input=stdin, capture_output=True, timeout=CLI_TIMEOUT_S,
                          check=False)


def _one_line(proc: subprocess.CompletedProcess[bytes], code: int, prog: str) -> str:
    err = proc.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err, err
    assert proc.returncode == code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{prog}"), err
    assert proc.stdout == b""
    return lines[0]


BATCHES: list[tuple[str, bytes, str]] = [
    ("deep-json", b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ("huge-number", f"[{DIGITS}]".encode(), "more than"),
    ("huge-id", f'[{{"id": {DIGITS}, "kind": "tcp"}}]'.encode(), "more than"),
    ("non-utf8", b'[{"id": "\xff\xfe"}]', "not UTF-8"),
    ("binary", bytes(range(256)) * 8, "not UTF-8"),
    ("not-json", b"[{", "not valid JSON"),
    ("object", b'{"id": 1}', "JSON array"),
    ("empty", b"", "not valid JSON"),
]


@pytest.mark.parametrize(("data", "reason"), [(d, r) for _, d, r in BATCHES],
                         ids=[n for n, _, _ in BATCHES])
def test_unusable_batches_are_one_line_and_exit_2(data: bytes, reason: str) -> None:
    line = _one_line(_run([*PROBER, "run"], data), EXIT_USAGE, "prober: stdin")
    assert reason in line


def test_a_batch_file_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    batch = tmp_path / "batch.json"
    batch.write_bytes(b"[\xff]")
    line = _one_line(_run([*PROBER, "run", "--input", str(batch)]), EXIT_USAGE, "prober:")
    assert str(batch) in line and "not UTF-8" in line


PROBES: list[tuple[str, Any, str]] = [
    ("kind-list", {"id": "p", "kind": [1, 2]}, "field 'kind'"),
    ("kind-object", {"id": "p", "kind": {"x": 1}}, "field 'kind'"),
    ("id-list", {**TCP, "id": [1]}, "field 'id'"),
    ("id-float", {**TCP, "id": 1.5}, "field 'id'"),
    ("id-65-bits", {**TCP, "id": 2**64}, "field 'id'"),
    ("timeout-huge-int", {**TCP, "timeout": 10**400}, "field 'timeout'"),
    ("timeout-zero", {**TCP, "timeout": 0}, "field 'timeout'"),
    ("timeout-nan", {**TCP, "timeout": math.nan}, "field 'timeout'"),
    ("timeout-infinite", {**TCP, "timeout": math.inf}, "field 'timeout'"),
    ("timeout-negative", {**TCP, "timeout": -1}, "field 'timeout'"),
    ("timeout-past-cap", {**TCP, "timeout": 301}, "field 'timeout'"),
    ("timeout-string", {**TCP, "timeout": "5"}, "field 'timeout'"),
    ("timeout-bool", {**TCP, "timeout": True}, "field 'timeout'"),
    ("port-huge-int", {**TCP, "port": 10**400}, "field 'port'"),
    ("port-float", {**TCP, "port": 80.0}, "field 'port'"),
    ("host-surrogate", {**TCP, "host": "\ud800"}, "field 'host'"),
    ("url-surrogate", {"id": "p", "kind": "http", "url": "http://127.0.0.1:1/\ud800"},
     "field 'url'"),
    ("body-surrogate", {"id": "p", "kind": "http", "url": "http://127.0.0.1:1/",
                        "body": "\udcff"}, "field 'body'"),
    ("headers-list", {"id": "p", "kind": "http", "url": "http://127.0.0.1:1/",
                      "headers": [1]}, "field 'headers'"),
    ("url-number", {"id": "p", "kind": "http", "url": 5}, "field 'url'"),
    ("url-huge-port", {"id": "p", "kind": "http", "url": "http://127.0.0.1:99999999999/"},
     "field 'url'"),
    ("grpc-request-list", {"id": "p", "kind": "grpc", "target": "127.0.0.1:1",
                           "method": "/api.AccountService/GetAccount", "request": [1]},
     "field 'request'"),
    ("grpc-request-deep", {"id": "p", "kind": "grpc", "target": "127.0.0.1:1",
                           "method": "/api.AccountService/GetAccount",
                           "request": json.loads('{"a":' * 500 + "1" + "}" * 500)},
     "field 'request'"),
    ("dns-qtype-range", {"id": "p", "kind": "dns", "name": "a.test", "timeout": 0.5,
                         "server": "127.0.0.1:1", "qtype": "TYPE65536"}, "field 'qtype'"),
    ("dns-name-label", {"id": "p", "kind": "dns", "name": "a" * 64 + ".test", "timeout": 0.5,
                        "server": "127.0.0.1:1"}, "field 'name'"),
    ("not-an-object", [1, 2], "expected a probe object"),
]


def test_every_bad_probe_is_an_error_result_naming_its_field() -> None:
    """One batch: a bad probe costs its own result, never the batch or a traceback."""
    probes = [p for _, p, _ in PROBES]
    proc = _run([*PROBER, "run"], json.dumps(probes).encode())  # NaN/Infinity as Python writes
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 0 and "Traceback" not in err, err
    results = json.loads(proc.stdout)
    assert len(results) == len(PROBES)
    for (name, _, field), result in zip(PROBES, results, strict=True):
        assert result["outcome"] == "error", (name, result)
        assert field in result["error"], (name, result)
        assert len(result["error"]) < 300, (name, result)  # a huge value is not echoed whole


@pytest.mark.parametrize("args", [
    ["--concurrency", "0"], ["--concurrency", "-1"], ["--concurrency", "abc"],
    ["--concurrency", "1025"], ["--concurrency", DIGITS],
    ["--timeout", "0"], ["--timeout", "-1"], ["--timeout", "nan"], ["--timeout", "inf"],
    ["--timeout", "301"], ["--timeout", "1e400"], ["--timeout", DIGITS],
    ["--input", "/nonexistent/batch.json"], ["--input", "/"], ["--bogus"],
], ids=lambda a: "=".join(x[:12] for x in a))
def test_bad_prober_options_are_one_line_and_exit_2(args: list[str]) -> None:
    line = _one_line(_run([*PROBER, "run", *args]), EXIT_USAGE, "prober")
    assert args[0] in line
    assert len(line) < 300


@pytest.mark.parametrize("args", [
    ["--http-port", "-1"], ["--http-port", "65536"], ["--http-port", DIGITS],
    ["--grpc-port", "abc"], ["--max-connections", "0"], ["--max-connections", "65537"],
    ["--max-connections", DIGITS], ["--request-timeout", "0"], ["--request-timeout", "-1"],
    ["--request-timeout", "nan"], ["--request-timeout", "inf"], ["--request-timeout", "301"],
    ["--role", "nope"], ["--tls-name", "bad name"], ["--tls-name", "ünï.example"],
    ["--bogus"],
], ids=lambda a: "=".join(x[:12] for x in a))
def test_bad_account_service_options_are_one_line_and_exit_2(args: list[str]) -> None:
    line = _one_line(_run([*ACCOUNT_SERVICE, *args]), EXIT_USAGE, "account-service:")
    assert args[0] in line
    assert len(line) < 300


def test_an_address_it_cannot_bind_is_one_line_and_exit_1() -> None:
    cmd = [sys.executable, "-m", "workloads.account_service", "--bind", "not an address",
           "--http-port", "0", "--grpc-port", "0"]
    line = _one_line(_run(cmd), EXIT_CANNOT_START, "account-service:")
    assert "cannot start" in line
