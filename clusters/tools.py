"""kind, helm, kubectl, cilium, hubble: the one on PATH when its version fits, else the pinned
release downloaded into the user cache, SHA-256 verified against the published checksum file
before it is made executable, and reused next time."""

from __future__ import annotations

import hashlib
import io
import os
import platform
import re
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from clusters.errors import ToolError
from clusters.paths import cache_dir, package_dir
from clusters.runner import CommandRunner, SubprocessRunner
from clusters.yamldata import load_yaml_mapping

DOWNLOAD_TIMEOUT_S = 120.0
VERSION_TIMEOUT_S = 20.0
CHUNK = 1 << 20
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")

Opener = Callable[[str, float], io.BufferedIOBase]


@dataclass(frozen=True)
class ToolPin:
    name: str
    version: str
    min_version: str
    version_argv: tuple[str, ...]
    version_regex: str
    url: str
    checksum_url: str
    archive_member: str | None = None


def load_pins(path: Path | None = None) -> dict[str, ToolPin]:
    doc = load_yaml_mapping(path or package_dir() / "pins.yaml")
    return {
        name: ToolPin(
            name=name,
            version=str(t["version"]),
            min_version=str(t["min_version"]),
            version_argv=tuple(str(a) for a in t["version_argv"]),
            version_regex=str(t["version_regex"]),
            url=str(t["url"]),
            checksum_url=str(t["checksum_url"]),
            archive_member=t.get("archive_member"),
        )
        for name, t in doc["tools"].items()
    }


def platform_names() -> tuple[str, str]:
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        machine, machine)
    return platform.system().lower(), arch


def _vkey(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def urls(pin: ToolPin) -> tuple[str, str, str | None]:
    os_name, arch = platform_names()
    url = pin.url.format(version=pin.version, os=os_name, arch=arch)
    checksum = pin.checksum_url.format(url=url, version=pin.version, os=os_name, arch=arch)
    member = pin.archive_member.format(os=os_name, arch=arch) if pin.archive_member else None
    return url, checksum, member


def manual_install(pin: ToolPin) -> str:
    url, checksum, member = urls(pin)
    dest = f"~/.local/bin/{pin.name}"
    fetch = (f"curl -fsSL {url} | tar -xzO {member} > {dest}" if member
             else f"curl -fsSLo {dest} {url}")
    return f"{fetch} && chmod +x {dest}   (checksum: {checksum})"


def installed_path(pin: ToolPin, cache: Path) -> Path:
    return cache / "tools" / pin.name / pin.version / pin.name


def path_version(pin: ToolPin, binary: str, runner: CommandRunner) -> str | None:
    res = runner.run([binary, *pin.version_argv], timeout=VERSION_TIMEOUT_S)
    match = re.search(pin.version_regex, res.stdout + res.stderr) if res.ok else None
    return match.group(1) if match else None


def _open(url: str, timeout: float) -> io.BufferedIOBase:
    return urllib.request.urlopen(url, timeout=timeout)  # type: ignore[no-any-return]


def expected_sha256(text: str, artifact: str) -> str:
    """Parse `<hex>` or `<hex>  <file>` lines; pick the line naming the artifact if any."""
    candidates: list[str] = []
    for line in text.splitlines():
        parts = line.split()
        if not parts or not _HEX64.match(parts[0]):
            continue
        if len(parts) == 1 or parts[-1].lstrip("*").split("/")[-1] == artifact:
            candidates.append(parts[0].lower())
    if len(candidates) != 1:
        raise ValueError(f"no unique SHA-256 for {artifact} in the checksum file")
    return candidates[0]


def download(pin: ToolPin, cache: Path, opener: Opener = _open) -> Path:
    url, checksum_url, member = urls(pin)
    target = installed_path(pin, cache)
    target.parent.mkdir(parents=True, exist_ok=True)
    with opener(checksum_url, DOWNLOAD_TIMEOUT_S) as resp:
        want = expected_sha256(resp.read().decode(), url.rsplit("/", 1)[-1])
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".download-")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, opener(url, DOWNLOAD_TIMEOUT_S) as resp:
            while chunk := resp.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != want:
            raise ToolError(
                f"{pin.name} v{pin.version}: SHA-256 mismatch for {url} (published {want}, "
                f"downloaded {digest.hexdigest()}); nothing was installed. Install it by hand:"
                f"\n  {manual_install(pin)}"
            )
        if member is not None:
            _extract(tmp, member, pin.name)
        tmp.chmod(0o755)  # only after the checksum matched
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _extract(archive: Path, member: str, name: str) -> None:
    """Replace the archive file's content with the one member we need."""
    with tarfile.open(archive, "r:gz") as tar:
        try:
            source = tar.extractfile(member)
        except KeyError:
            source = None
        if source is None:
            raise ToolError(f"{name}: the release archive has no file {member!r}")
        data = source.read()
    archive.write_bytes(data)


def docker_cli(which: Callable[[str], str | None] = shutil.which) -> str:
    """Docker is the one prerequisite we do not download."""
    found = which("docker")
    if found is None:
        raise ToolError("the Docker CLI is not on PATH; install Docker Engine or Docker Desktop "
                        "(https://docs.docker.com/engine/install/) and re-run")
    return found


def ensure_tool(
    name: str,
    *,
    pins: dict[str, ToolPin] | None = None,
    cache: Path | None = None,
    runner: CommandRunner | None = None,
    which: Callable[[str], str | None] = shutil.which,
    opener: Opener = _open,
) -> str:
    """Path of a usable `name` binary; ToolError with the manual install line otherwise."""
    pins = pins if pins is not None else load_pins()
    if name not in pins:
        raise ToolError(f"unknown tool {name!r}; known: {', '.join(sorted(pins))}")
    pin = pins[name]
    on_path = which(name)
    reason = "not on PATH"
    if on_path:
        found = path_version(pin, on_path, runner or SubprocessRunner())
        if found is not None and _vkey(found) >= _vkey(pin.min_version):
            return on_path
        reason = (f"{on_path} is version {found}, older than {pin.min_version}" if found
                  else f"{on_path} did not report a version")
    target = installed_path(pin, cache or cache_dir())
    if target.is_file() and os.access(target, os.X_OK):
        return str(target)
    try:
        return str(download(pin, cache or cache_dir(), opener))
    except (urllib.error.URLError, OSError, TimeoutError, ValueError, tarfile.TarError) as exc:
        raise ToolError(
            f"{name}: {reason}, and downloading the pinned v{pin.version} failed ({exc}). "
            f"Install it by hand, then re-run:\n  {manual_install(pin)}"
        ) from None
