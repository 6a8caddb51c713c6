"""The bad-input tally for `python -m conformance explain|lint` (issue 12): every hostile or
careless input gets one paragraph on stderr, exit code 2, no traceback, and comes back well
within its timeout. Wrong types are also tried at every level of a policy, in process."""

from __future__ import annotations

import contextlib
import copy
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance.cli import EXIT_BAD_INPUT, EXIT_INTERRUPTED
from conformance.model import PolicyError, PolicySet
from conformance.model.lint import lint_documents
from conformance.model.loader import Document

DATA = Path(__file__).parent / "data"
POLICY = DATA / "article" / "01-account-service-ingress.yaml"
RUN_TIMEOUT_S = 60  # every case answers in well under a second; hangs hit this
READY_TIMEOUT_S = 30  # for the CLI to start reading stdin before Ctrl-C
POLL_S = 0.05
PROBE = {"id": "a", "port": 8080, "source": {"entity": "host"},
         "destination": {"namespace": "payments", "labels": {"app": "account-service"}}}
HEAD = "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: p}\n"


def alias_bomb() -> str:
    refs = ", ".join(["*a{0}"] * 9)
    rows = ["  a0: &a0 [lol, ~]"] + [f"  a{i}: &a{i} [{refs.format(i - 1)}]"
                                     for i in range(1, 10)]
    return HEAD + "spec:\n  endpointSelector: {}\n  ingress: [{}]\n" + "\n".join(rows) + "\n"


def spec(body: str) -> str:
    return HEAD + "spec:\n  endpointSelector: {}\n" + body + "\n"


def http_rule(rule: str) -> str:
    return spec("  ingress:\n  - toPorts:\n    - ports: [{port: '80', protocol: TCP}]\n"
                f"      rules: {{http: [{rule}]}}")


# Policy files: (case id, file content as bytes or text, or None for "the path is missing").
BAD_POLICIES: list[tuple[str, bytes | str | None]] = [
    ("missing-file", None),
    ("empty-file", ""),
    ("comments-only", "# nothing\n---\n"),
    ("non-utf8", b"\xff\xfekind: x\n"),
    ("binary", bytes(range(256)) * 4),
    ("nul-byte", "kind: Cilium\0NetworkPolicy\n"),
    ("yaml-syntax", "kind: [\n"),
    ("tab-indent", "spec:\n\tingress: []\n"),
    ("alias-bomb", alias_bomb()),
    ("anchor-merge", "m: &m {name: p}\nmetadata: {<<: *m}\n"),
    ("deep-flow", "a: " + "[" * 100_000 + "]" * 100_000 + "\n"),
    ("deep-block", "".join("  " * i + f"k{i}:\n" for i in range(200)) + "  " * 200 + "x\n"),
    ("huge-int", spec("  ingress: [{toPorts: [{ports: [{port: '80', endPort: "
                      + "9" * 5000 + "}]}]}]")),
    ("huge-float", spec("  ingress: [{toPorts: [{ports: [{port: '80', endPort: 1e999}]}]}]")),
    ("kind-list", "kind: [1, 2]\n"),
    ("kind-map", "kind: {a: 1}\napiVersion: [1]\n"),
    ("document-list", "- 1\n- 2\n"),
    ("document-scalar", "just a string\n"),
    ("list-items-not-list", "kind: List\napiVersion: v1\nitems: 5\n"),
    ("metadata-list", "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: [1]\n"
                      "spec: {endpointSelector: {}, ingress: [{}]}\n"),
    ("spec-number", HEAD + "spec: 5\n"),
    ("ingress-map", spec("  ingress: {a: 1}")),
    ("toports-string", spec("  ingress: [{toPorts: x}]")),
    ("rules-list", spec("  ingress: [{toPorts: [{ports: [{port: '80'}], rules: []}]}]")),
    ("http-map", http_rule("").replace("{http: []}", "{http: {a: 1}}")),
    ("path-number", http_rule("{path: 5}")),
    ("path-list", http_rule("{path: [1]}")),
    ("path-backreference", http_rule(r"{path: '/(a)\1'}")),
    ("path-repeat-1001", http_rule("{path: '/a{1001}'}")),
    ("method-lookahead", http_rule("{method: '(?=G)GET'}")),
    ("match-name-backtracks", spec("  egress: [{toFQDNs: [{matchName: '" + "a" * 40 + "!'}]}]")),
    ("port-name-20000", spec("  ingress: [{toPorts: [{ports: [{port: '" + "a" * 20_000
                             + "!'}]}]}]")),
    ("selector-number", spec("  ingress: [{fromEndpoints: [5]}]")),
    ("labels-nested", spec("  ingress: [{fromEndpoints: [{matchLabels: {app: {x: 1}}}]}]")),
]

# Probe files: (case id, content as bytes or text).
BAD_PROBES: list[tuple[str, bytes | str]] = [
    ("deep-json", "[" * 100_000 + "]" * 100_000 + "\n"),
    ("huge-int", '{"id": "a", "port": ' + "9" * 5000 + "}\n"),
    ("nan", json.dumps({**PROBE, "port": "NaN"}).replace('"NaN"', "NaN") + "\n"),
    ("infinity", json.dumps({**PROBE, "port": "x"}).replace('"x"', "Infinity") + "\n"),
    ("minus-infinity", json.dumps({**PROBE, "id": "x"}).replace('"x"', "-Infinity") + "\n"),
    ("non-utf8", b'\xff\xfe{"id": "a"}\n'),
    ("lone-surrogate-path", json.dumps({**PROBE, "http": {"path": "/a\ud800"}}) + "\n"),
    ("lone-surrogate-fqdn", json.dumps({**PROBE, "destination": {"fqdn": "a\udfff.com"}}) + "\n"),
    ("binary", bytes(range(256))),
    ("not-json", "{not json}\n"),
    ("empty", ""),
    ("array-line", "[1, 2]\n"),
    ("string-line", '"probe"\n'),
    *[(f"wrong-type-{name}", json.dumps(row) + "\n") for name, row in [
        ("id-list", {**PROBE, "id": [1]}),
        ("id-bool", {**PROBE, "id": True}),
        ("port-string", {**PROBE, "port": "8080"}),
        ("port-float", {**PROBE, "port": 8080.5}),
        ("port-huge", {**PROBE, "port": 10**30}),
        ("protocol-number", {**PROBE, "protocol": 6}),
        ("source-list", {**PROBE, "source": ["host"]}),
        ("labels-list", {**PROBE, "destination": {"namespace": "x", "labels": ["a"]}}),
        ("label-value-number", {**PROBE, "destination": {"namespace": "x", "labels": {"a": 1}}}),
        ("namespace-number", {**PROBE, "destination": {"namespace": 5}}),
        ("entity-map", {**PROBE, "source": {"entity": {"a": 1}}}),
        ("http-list", {**PROBE, "http": [1]}),
        ("http-method-number", {**PROBE, "http": {"method": 5}}),
        ("http-path-map", {**PROBE, "http": {"path": {"a": 1}}}),
        ("http-headers-list", {**PROBE, "http": {"headers": ["a"]}}),
        ("http-header-value-list", {**PROBE, "http": {"headers": {"a": [1]}}}),
        ("dns-name-number", {**PROBE, "dns": {"name": 5}}),
        ("dns-qtype-list", {**PROBE, "dns": {"name": "a.com", "qtype": [1]}}),
        ("grpc-string", {**PROBE, "grpc": "svc/Method"}),
    ]],
]


def write(path: Path, content: bytes | str) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def run_cli(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "conformance", *args], input=stdin,
                          capture_output=True, timeout=RUN_TIMEOUT_S, check=False)
    return subprocess.CompletedProcess(done.args, done.returncode,
                                       done.stdout.decode("utf-8", "replace"),
                                       done.stderr.decode("utf-8", "replace"))


def assert_one_paragraph(done: subprocess.CompletedProcess[str], code: int) -> None:
    err = done.stderr
    assert done.returncode == code, (done.returncode, err)
    assert "Traceback" not in err and "internal error" not in err, err
    assert err.strip() and "\n\n" not in err.strip(), err  # one paragraph
    lines = err.splitlines()
    # Ours start "error: "; argparse's are its usage block ending in "...: error: ...".
    assert lines[0].startswith("error: ") or (
        lines[0].startswith("usage: ") and ": error: " in lines[-1]), err
    assert done.stdout == "", done.stdout


@pytest.mark.parametrize(("case", "content"), BAD_POLICIES, ids=[c[0] for c in BAD_POLICIES])
@pytest.mark.parametrize("command", ["explain", "lint"])
def test_bad_policy_file(tmp_path: Path, command: str, case: str,
                         content: bytes | str | None) -> None:
    policy = tmp_path / "policy.yaml"
    if content is not None:
        write(policy, content)
    if command == "lint":
        done = run_cli("lint", str(policy))
        if done.returncode == 1:  # lint reports rejections as findings on stdout
            assert "error [" in done.stdout and done.stderr == "", done
            assert "Traceback" not in done.stdout
            return
    else:
        probes = write(tmp_path / "probes.jsonl", json.dumps(PROBE) + "\n")
        done = run_cli("explain", "--policies", str(policy), "--probes", str(probes))
    assert_one_paragraph(done, EXIT_BAD_INPUT)
    assert str(policy) in done.stderr


@pytest.mark.parametrize(("case", "content"), BAD_PROBES, ids=[c[0] for c in BAD_PROBES])
@pytest.mark.parametrize("via", ["file", "stdin"])
def test_bad_probes(tmp_path: Path, via: str, case: str, content: bytes | str) -> None:
    raw = content if isinstance(content, bytes) else content.encode()
    if via == "file":
        done = run_cli("explain", "--policies", str(POLICY), "--probes",
                       str(write(tmp_path / "probes.jsonl", raw)))
        name = "probes.jsonl"
    else:
        done = run_cli("explain", "--policies", str(POLICY), "--probes", "-", stdin=raw)
        name = "<stdin>"
    assert_one_paragraph(done, EXIT_BAD_INPUT)
    assert name in done.stderr


@pytest.mark.parametrize("args", [
    ["explain"], ["lint"], ["frobnicate"], ["lint", "--format", "xml", str(POLICY)],
    ["lint", "--cilium-version", "banana", str(POLICY)],
    ["lint", "--cilium-version", "9" * 5000, str(POLICY)],
    ["explain", "--policies", str(POLICY), "--probes", "/nonexistent/probes.jsonl"],
    ["explain", "--policies", str(POLICY), "--probes", str(DATA)],
    ["lint", str(DATA / "nothing-here")],
    ["lint", "/dev/null"],
    ["lint", "/dev/zero"],
    ["explain", "--policies", str(POLICY), "--probes", "/dev/zero"],
], ids=["explain-no-args", "lint-no-paths", "unknown-command", "bad-format", "bad-version",
        "huge-version", "probes-missing", "probes-directory", "policy-missing", "dev-null",
        "policy-dev-zero", "probes-dev-zero"])
def test_bad_arguments(args: list[str]) -> None:
    assert_one_paragraph(run_cli(*args), EXIT_BAD_INPUT)


def test_directory_without_policies(tmp_path: Path) -> None:
    (tmp_path / "empty.yaml").write_text("")
    (tmp_path / "notes.txt").write_text("not yaml")
    done = run_cli("lint", str(tmp_path))
    assert_one_paragraph(done, EXIT_BAD_INPUT)
    assert f"{tmp_path}: no policy documents here" in done.stderr
    (tmp_path / "empty.yaml").unlink()
    done = run_cli("lint", str(tmp_path))
    assert_one_paragraph(done, EXIT_BAD_INPUT)
    assert "directory holds no .yaml/.yml files" in done.stderr


def test_ctrl_c_is_one_line_and_130() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "conformance", "explain", "--policies",
                             str(POLICY), "--probes", "-"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_reading_stdin(proc.pid)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (proc.returncode, err.decode(), out) == (EXIT_INTERRUPTED, "interrupted\n", b"")


def _wait_reading_stdin(pid: int) -> None:
    """Until the CLI blocks reading its stdin pipe (after its imports, so Python's SIGINT
    handler is in place)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    wchan = Path(f"/proc/{pid}/wchan")
    if not wchan.exists():
        pytest.skip("no /proc/<pid>/wchan here to see the CLI waiting on stdin")
    while time.monotonic() < deadline:
        if "pipe" in wchan.read_text():
            return
        time.sleep(POLL_S)
    raise AssertionError(f"the CLI did not start reading stdin within {READY_TIMEOUT_S} s")


# --- wrong types at every level, in process ----------------------------------------------

WRONG_VALUES: list[Any] = [None, 7, -1, 2.5, True, "x", "", [], [1, "a"], {}, {"k": [None]}]


def _paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*path, i))


def _replaced(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return copy.deepcopy(value)
    out = copy.deepcopy(doc)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = copy.deepcopy(value)
    return out


def _article_documents() -> list[dict[str, Any]]:
    return [d for f in sorted((DATA / "article").glob("*.yaml"))
            for d in yaml.safe_load_all(f.read_text()) if d]


@pytest.mark.parametrize("index", range(len(_article_documents())))
def test_wrong_types_at_every_level(index: int) -> None:
    """Each node of each article policy replaced by each wrong value: the model refuses with
    a PolicyError or accepts; lint reports; nothing raises anything else."""
    doc = _article_documents()[index]
    tried = 0
    for path in _paths(doc):
        for value in WRONG_VALUES:
            bad = _replaced(doc, path, value)
            _load_or_refuse(bad)
            lint_documents([Document("t.yaml", 1, "", bad)])
            tried += 1
    assert tried > 100


def _load_or_refuse(doc: Any) -> None:
    with contextlib.suppress(PolicyError):
        PolicySet.from_documents([doc], "t.yaml")


def test_tally_covers_the_listed_kinds_of_bad_input() -> None:
    names = {c[0] for c in BAD_POLICIES} | {c[0] for c in BAD_PROBES}
    for kind in ("deep-json", "deep-flow", "huge-int", "nan", "infinity", "non-utf8",
                 "binary", "alias-bomb", "missing-file", "empty-file", "kind-list"):
        assert kind in names, kind
