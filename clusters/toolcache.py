"""The user-cache copy of a pinned tool: installed only after its artifact's SHA-256 matched,
and hashed again on every reuse.

Layout, per tool and version: the executable, the verified release archive it came from (for
tools published as .tar.gz; for plain binaries the executable is the artifact), and
`verified.sha256` recording the digest the artifact was checked against."""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from clusters.download import CHUNK, Fetcher
from clusters.errors import ToolError
from clusters.pins import ToolPin, artifact_name, expected_sha256, platform_names, urls

RECORD = "verified.sha256"


@dataclass(frozen=True)
class Layout:
    dir: Path
    binary: Path
    artifact: Path  # the binary itself for plain-binary releases
    artifact_name: str  # as published (and as the checksum file names it)
    member: str | None


def layout(pin: ToolPin, cache: Path) -> Layout:
    url, _, member = urls(pin)
    d = cache / "tools" / pin.name / pin.version
    binary = d / pin.name
    return Layout(d, binary, d / artifact_name(url) if member else binary, artifact_name(url),
                  member)


def pinned_sha256(pin: ToolPin) -> str | None:
    os_name, arch = platform_names()
    return pin.sha256.get(f"{os_name}-{arch}")


def _sha256_stream(read: Callable[[int], bytes]) -> str:
    digest = hashlib.sha256()
    while chunk := read(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    with path.open("rb") as f:
        return _sha256_stream(f.read)


def _member_file(tar: tarfile.TarFile, member: str, name: str) -> IO[bytes]:
    try:
        source = tar.extractfile(member)
    except KeyError:
        source = None
    if source is None:
        raise ToolError(f"{name}: the release archive has no file {member!r}")
    return source


def cached_problem(pin: ToolPin, lay: Layout) -> str | None:
    """Why the cached copy must not be used, or None. Runs on every reuse: the artifact
    against the pin (else the digest recorded at install), and for archives the executable
    against the member of that verified archive."""
    if not os.access(lay.binary, os.X_OK):
        return "not executable"
    try:
        recorded = expected_sha256((lay.dir / RECORD).read_text(encoding="utf-8"),
                                   lay.artifact_name)
    except (OSError, ValueError):
        return f"no readable {RECORD}"
    want = pinned_sha256(pin) or recorded
    if want != recorded:
        return f"it was verified against {recorded}, the pin is now {want}"
    try:
        got = file_sha256(lay.artifact)
        if got != want:
            return f"{lay.artifact.name} has SHA-256 {got}, expected {want}"
        if lay.member is not None:
            with tarfile.open(lay.artifact, "r:gz") as tar:
                inner = _sha256_stream(_member_file(tar, lay.member, pin.name).read)
            if inner != file_sha256(lay.binary):
                return f"{lay.binary.name} differs from {lay.member} in the verified archive"
    except (OSError, tarfile.TarError, ToolError) as exc:
        return f"cannot read it ({exc})"
    return None


def install(pin: ToolPin, cache: Path, fetcher: Fetcher, say: Callable[[str], None]) -> Path:
    """Download into a private staging dir, verify, extract, then move into place whole."""
    url, checksum_url, _ = urls(pin)
    lay = layout(pin, cache)
    want = pinned_sha256(pin)
    if want is None:
        os_name, arch = platform_names()
        say(f"warning: {pin.name} v{pin.version}: no SHA-256 pinned for {os_name}-{arch} in "
            f"clusters/pins.yaml, so the download is checked only against the publisher's "
            f"checksum file {checksum_url}, served from the same place as the binary "
            "(`python -m clusters pins refresh` records the pins)")
        want = expected_sha256(fetcher.text(checksum_url), lay.artifact_name)
    lay.dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=lay.dir.parent, prefix=f".{pin.version}-"))
    try:
        artifact = staging / lay.artifact.name
        with artifact.open("wb") as out:
            got = fetcher.to_file(url, out, f"{pin.name} {pin.version}")
        if got != want:
            raise ToolError(
                f"{pin.name} v{pin.version}: SHA-256 mismatch for {url} (expected {want}, "
                f"downloaded {got}); nothing was installed. Install it by hand:"
                f"\n  {manual_install(pin)}")
        if lay.member is not None:
            with tarfile.open(artifact, "r:gz") as tar, (staging / pin.name).open("wb") as out:
                shutil.copyfileobj(_member_file(tar, lay.member, pin.name), out, CHUNK)
        (staging / pin.name).chmod(0o755)  # only after the checksum matched
        (staging / RECORD).write_text(f"{want}  {lay.artifact_name}\n", encoding="utf-8")
        shutil.rmtree(lay.dir, ignore_errors=True)  # a copy that failed its check
        try:
            os.replace(staging, lay.dir)
        except OSError:
            if cached_problem(pin, lay) is not None:  # not another process's good install
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return lay.binary


def manual_install(pin: ToolPin) -> str:
    url, checksum, member = urls(pin)
    dest = f"~/.local/bin/{pin.name}"
    fetch = (f"curl -fsSL {url} | tar -xzO {member} > {dest}" if member
             else f"curl -fsSLo {dest} {url}")
    want = pinned_sha256(pin)
    check = f"SHA-256 {want}" if want else f"checksum: {checksum}"
    return f"{fetch} && chmod +x {dest}   ({check})"
