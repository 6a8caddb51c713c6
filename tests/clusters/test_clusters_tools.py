"""Tool resolution: PATH when the version fits, else the pinned release from a (here: local
loopback) server, SHA-256 verified before it becomes executable, then reused."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from clusters.download import Fetcher
from clusters.errors import ToolError
from clusters.tools import ToolPin, docker_cli, ensure_tool, load_pins, platform_names

OS, ARCH = platform_names()
HANDLER_RELEASE_S = 30.0  # a stalled handler's own limit, should close() never come
KIND_BODY = b"#!/bin/sh\necho 'kind v0.33.0 go1.26 linux/amd64'\n"


class Server:
    """Serves files under root; `script[path]` lists misbehaviours for the next GETs of path:
    an HTTP status to answer with, "stall" (never answer), "stall-body" (a head and a few
    bytes, then nothing). Stalled handlers are released on close."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        self.script: dict[str, list[str]] = {}
        self.release = threading.Event()
        outer = self

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args: object, **kwargs: object) -> None:
                super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

            def do_GET(self) -> None:
                outer.requests.append(self.path)
                todo = outer.script.get(self.path)
                action = todo.pop(0) if todo else None
                if action is None:
                    super().do_GET()
                elif action == "stall":
                    outer.release.wait(HANDLER_RELEASE_S)
                elif action == "stall-body":
                    self.send_response(200)
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    self.wfile.write(b"0123456789")
                    self.wfile.flush()
                    outer.release.wait(HANDLER_RELEASE_S)
                else:
                    self.send_error(int(action))

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def publish(self, rel: str, body: bytes, checksum: str | None = None,
                checksum_suffix: str = ".sha256sum") -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        digest = checksum or hashlib.sha256(body).hexdigest()
        Path(f"{path}{checksum_suffix}").write_text(f"{digest}  {path.name}\n")

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "www")
    yield srv
    srv.close()


def kind_pin(base: str, member: str | None = None, url: str | None = None) -> ToolPin:
    return ToolPin(
        name="kind", version="0.33.0", min_version="0.33.0", version_argv=("version",),
        version_regex=r"kind v(\d+\.\d+\.\d+)",
        url=url or base + "/v{version}/kind-{os}-{arch}", checksum_url="{url}.sha256sum",
        archive_member=member,
    )


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def no_path(_: str) -> None:
    return None


def test_wrong_checksum_is_refused_and_nothing_installed(server: Server, tmp_path: Path) -> None:
    server.publish(f"v0.33.0/kind-{OS}-{ARCH}", KIND_BODY, checksum="0" * 64)
    cache = tmp_path / "cache"
    with pytest.raises(ToolError, match="SHA-256 mismatch") as err:
        ensure_tool("kind", pins={"kind": kind_pin(server.base)}, cache=cache, which=no_path)
    assert "nothing was installed" in str(err.value)
    assert "curl -fsSLo ~/.local/bin/kind" in str(err.value)
    assert files_under(cache) == []


def test_right_checksum_installs_once_and_is_reused(server: Server, tmp_path: Path) -> None:
    server.publish(f"v0.33.0/kind-{OS}-{ARCH}", KIND_BODY)
    cache = tmp_path / "cache"
    pins = {"kind": kind_pin(server.base)}
    first = ensure_tool("kind", pins=pins, cache=cache, which=no_path)
    assert first == str(cache / "tools" / "kind" / "0.33.0" / "kind")
    assert Path(first).read_bytes() == KIND_BODY
    assert os.stat(first).st_mode & stat.S_IXUSR
    assert sorted(files_under(cache)) == [Path(first), Path(first).parent / "verified.sha256"]
    assert len(server.requests) == 2  # checksum file + artifact
    assert ensure_tool("kind", pins=pins, cache=cache, which=no_path) == first
    assert len(server.requests) == 2  # reused, not downloaded again


def test_archive_member_is_extracted_after_verification(server: Server, tmp_path: Path) -> None:
    body = b"#!/bin/sh\necho v4.2.3\n"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo(f"{OS}-{ARCH}/helm")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    server.publish(f"helm-v4.2.3-{OS}-{ARCH}.tar.gz", buf.getvalue())
    pin = ToolPin(name="helm", version="4.2.3", min_version="3.14.0",
                  version_argv=("version", "--short"), version_regex=r"v(\d+\.\d+\.\d+)",
                  url=server.base + "/helm-v{version}-{os}-{arch}.tar.gz",
                  checksum_url="{url}.sha256sum", archive_member="{os}-{arch}/helm")
    got = ensure_tool("helm", pins={"helm": pin}, cache=tmp_path / "c", which=no_path)
    assert Path(got).read_bytes() == body and os.access(got, os.X_OK)


def test_path_binary_with_a_fitting_version_wins(server: Server, tmp_path: Path) -> None:
    script = tmp_path / "bin" / "kind"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\necho 'kind v0.34.1 go1.26 linux/amd64'\n")
    script.chmod(0o755)
    got = ensure_tool("kind", pins={"kind": kind_pin(server.base)}, cache=tmp_path / "c",
                      which=lambda _: str(script))
    assert got == str(script) and server.requests == []


def test_too_old_path_binary_means_the_pinned_download(server: Server, tmp_path: Path) -> None:
    script = tmp_path / "bin" / "kind"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\necho 'kind v0.20.0 go1.20 linux/amd64'\n")
    script.chmod(0o755)
    server.publish(f"v0.33.0/kind-{OS}-{ARCH}", KIND_BODY)
    got = ensure_tool("kind", pins={"kind": kind_pin(server.base)}, cache=tmp_path / "c",
                      which=lambda _: str(script))
    assert got != str(script) and Path(got).read_bytes() == KIND_BODY


def test_offline_with_nothing_usable_is_one_clear_error(tmp_path: Path) -> None:
    srv = Server(tmp_path / "www")
    base = srv.base
    srv.close()  # nothing listens there any more: like being offline
    with pytest.raises(ToolError) as err:  # retried (no backoff here), then one message
        ensure_tool("kind", pins={"kind": kind_pin(base)}, cache=tmp_path / "c", which=no_path,
                    fetcher=Fetcher(backoff_s=0.0))
    text = str(err.value)
    assert text.startswith("kind: not on PATH, and downloading the pinned v0.33.0 failed")
    assert "Install it by hand" in text and f"{base}/v0.33.0/kind-{OS}-{ARCH}" in text
    assert "Connection refused (tried 5 times)" in text
    assert files_under(tmp_path / "c") == []


def test_checksum_file_for_another_artifact_is_refused(server: Server, tmp_path: Path) -> None:
    server.publish(f"v0.33.0/kind-{OS}-{ARCH}", KIND_BODY)
    (server.root / f"v0.33.0/kind-{OS}-{ARCH}.sha256sum").write_text(
        f"{hashlib.sha256(KIND_BODY).hexdigest()}  something-else\n")
    with pytest.raises(ToolError, match="no unique SHA-256"):
        ensure_tool("kind", pins={"kind": kind_pin(server.base)}, cache=tmp_path / "c",
                    which=no_path)


def test_unknown_tool_and_missing_docker() -> None:
    with pytest.raises(ToolError, match="unknown tool 'terraform'; known: cilium, helm, hubble"):
        ensure_tool("terraform")
    with pytest.raises(ToolError, match="Docker CLI is not on PATH"):
        docker_cli(which=no_path)


def test_pins_cover_every_tool_with_published_checksums() -> None:
    pins = load_pins()
    assert sorted(pins) == ["cilium", "helm", "hubble", "kind", "kubectl"]
    for pin in pins.values():
        assert pin.url.startswith("https://") and "{version}" in pin.url
        assert pin.checksum_url.startswith("{url}.sha256")
        assert tuple(int(x) for x in pin.version.split(".")) >= tuple(
            int(x) for x in pin.min_version.split("."))
