"""`python -m clusters pins refresh` against a loopback server publishing fake release files:
it records the published SHA-256 per OS/arch, keeps the hand-written part of the file, never
overwrites a pin with a different published value, and writes nothing when a file is missing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from test_clusters_tools import Server, no_path, server

from clusters.cli import main
from clusters.env import Env
from clusters.pins import PLATFORMS, load_pins
from clusters.tools import ensure_tool

__all__ = ["server"]

PINS = """# hand-written: kept as it is
tools:
  kind:
    version: "0.33.0"
    min_version: "0.33.0"
    version_argv: [version]
    version_regex: 'kind v(\\d+\\.\\d+\\.\\d+)'
    url: "{base}/v{{version}}/kind-{{os}}-{{arch}}"
    checksum_url: "{{url}}.sha256sum"
  helm:
    version: "4.2.3"
    min_version: "3.14.0"
    version_argv: [version, --short]
    version_regex: 'v(\\d+\\.\\d+\\.\\d+)'
    url: "{base}/helm-v{{version}}-{{os}}-{{arch}}.tar.gz"
    checksum_url: "{{url}}.sha256sum"
    archive_member: "{{os}}-{{arch}}/helm"
"""


def publish_all(server: Server) -> dict[str, dict[str, str]]:
    digests: dict[str, dict[str, str]] = {"kind": {}, "helm": {}}
    for plat in PLATFORMS:
        kind, helm = f"kind {plat}".encode(), f"helm {plat}".encode()
        server.publish(f"v0.33.0/kind-{plat}", kind)
        server.publish(f"helm-v4.2.3-{plat}.tar.gz", helm)
        digests["kind"][plat] = hashlib.sha256(kind).hexdigest()
        digests["helm"][plat] = hashlib.sha256(helm).hexdigest()
    return digests


def pins_file(tmp_path: Path, server: Server) -> Path:
    path = tmp_path / "pins.yaml"
    path.write_text(PINS.format(base=server.base))
    return path


def refresh(path: Path, said: list[str] | None = None) -> int:
    sink = said if said is not None else []
    return main(["pins", "refresh", "--pins", str(path)], Env(say=sink.append))


def test_refresh_records_every_platform_and_keeps_the_hand_written_part(
        server: Server, tmp_path: Path) -> None:
    digests = publish_all(server)
    path = pins_file(tmp_path, server)
    said: list[str] = []
    assert refresh(path, said) == 0
    pins = load_pins(path)
    assert pins["kind"].sha256 == digests["kind"] and pins["helm"].sha256 == digests["helm"]
    assert path.read_text().startswith(PINS.format(base=server.base))
    assert all(r.endswith(".sha256sum") for r in server.requests)  # checksum files only
    assert "wrote the SHA-256 pins of 2 tools" in said[-1]
    written = path.read_text()
    assert refresh(path) == 0 and path.read_text() == written  # idempotent


def test_a_refreshed_pin_is_what_a_download_is_checked_against(
        server: Server, tmp_path: Path) -> None:
    digests = publish_all(server)
    path = pins_file(tmp_path, server)
    assert refresh(path) == 0
    server.requests.clear()
    said: list[str] = []
    got = ensure_tool("kind", pins=load_pins(path), cache=tmp_path / "c", which=no_path,
                      say=said.append)
    assert hashlib.sha256(Path(got).read_bytes()).hexdigest() in digests["kind"].values()
    assert not any(r.endswith(".sha256sum") for r in server.requests) and said == []


def test_a_published_checksum_that_differs_from_its_pin_is_refused(
        server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    publish_all(server)
    path = pins_file(tmp_path, server)
    assert refresh(path) == 0
    before = path.read_text()
    server.publish("v0.33.0/kind-linux-arm64", b"re-tagged release")
    capsys.readouterr()
    assert refresh(path) == 3
    err = capsys.readouterr().err
    assert "kind 0.33.0 linux-arm64: pinned" in err and "Nothing was written" in err
    assert path.read_text() == before


def test_a_missing_checksum_file_writes_nothing(server: Server, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    publish_all(server)
    (server.root / "helm-v4.2.3-darwin-arm64.tar.gz.sha256sum").unlink()
    path = pins_file(tmp_path, server)
    assert refresh(path) == 5
    err = capsys.readouterr().err
    assert "helm darwin-arm64" in err and "HTTP 404" in err and "Nothing was written" in err
    assert path.read_text() == PINS.format(base=server.base)


@pytest.mark.parametrize(("argv", "words"), [
    (["pins", "refresh", "--pins", ""], "--pins: empty value"),
    (["pins", "refresh", "--pins", "/nonexistent/pins.yaml"], "cannot read"),
    (["pins", "refresh", "--pins", "{tmp}/text"], "expected a mapping"),
    (["pins", "refresh", "--pins", "{tmp}/no-tools"], "no `tools:` mapping"),
])
def test_bad_pins_paths_are_one_message(argv: list[str], words: str, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "text").write_text("just some text\n")
    (tmp_path / "no-tools").write_text("tools: [kind]\n")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv, Env()) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err and "\n\n" not in err.strip()
