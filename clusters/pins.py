"""Tool pins (clusters/pins.yaml): release, version probe, download URLs, and the SHA-256 of
each release artifact per OS/arch as its publisher's checksum file gives it."""

from __future__ import annotations

import platform
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clusters.errors import InputError, ToolError
from clusters.paths import package_dir
from clusters.yamldata import load_yaml_mapping

HEX64 = re.compile(r"^[0-9a-f]{64}$")
# The platforms a refresh records; the publishers release all five tools for each.
PLATFORMS = ("linux-amd64", "linux-arm64", "darwin-amd64", "darwin-arm64")


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
    # "<os>-<arch>" -> SHA-256 of the artifact of this version; empty = not recorded.
    sha256: dict[str, str] = field(default_factory=dict, hash=False)


def pins_file() -> Path:
    return package_dir() / "pins.yaml"


def load_pins(path: Path | None = None) -> dict[str, ToolPin]:
    path = path or pins_file()
    doc = load_yaml_mapping(path)
    recorded = doc.get("sha256") or {}
    tools = doc.get("tools")
    if not isinstance(tools, dict):
        raise InputError(f"{path}: no `tools:` mapping")
    pins: dict[str, ToolPin] = {}
    for name, t in tools.items():
        try:
            version = str(t["version"])
            pins[name] = ToolPin(
                name=name, version=version, min_version=str(t["min_version"]),
                version_argv=tuple(str(a) for a in t["version_argv"]),
                version_regex=str(t["version_regex"]), url=str(t["url"]),
                checksum_url=str(t["checksum_url"]), archive_member=t.get("archive_member"),
                sha256=_hashes(path, name, version, recorded),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise InputError(f"{path}: tools.{name}: missing or malformed field ({exc!r})") \
                from None
    return pins


def _hashes(path: Path, name: str, version: str, recorded: Any) -> dict[str, str]:
    by_version = recorded.get(name) if isinstance(recorded, dict) else None
    by_platform = by_version.get(version) if isinstance(by_version, dict) else None
    if by_platform is None:
        return {}
    bad = [k for k, v in by_platform.items() if not HEX64.match(str(v))] if isinstance(
        by_platform, dict) else ["(not a mapping)"]
    if bad:
        raise ToolError(f"{path}: sha256.{name}.{version}: {', '.join(map(str, bad))} is not "
                        "a lower-case SHA-256 hex digest; re-run `python -m clusters pins "
                        "refresh` or fix the file")
    return {str(k): str(v) for k, v in by_platform.items()}


def platform_names() -> tuple[str, str]:
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        machine, machine)
    return platform.system().lower(), arch


def urls(pin: ToolPin, os_name: str | None = None,
         arch: str | None = None) -> tuple[str, str, str | None]:
    """(artifact URL, checksum file URL, archive member) for this or the given platform."""
    if os_name is None or arch is None:
        os_name, arch = platform_names()
    url = pin.url.format(version=pin.version, os=os_name, arch=arch)
    checksum = pin.checksum_url.format(url=url, version=pin.version, os=os_name, arch=arch)
    member = pin.archive_member.format(os=os_name, arch=arch) if pin.archive_member else None
    return url, checksum, member


def artifact_name(url: str) -> str:
    return url.rsplit("/", 1)[-1]


def expected_sha256(text: str, artifact: str) -> str:
    """Parse `<hex>` or `<hex>  <file>` lines (sha256sum format; kubectl's `.sha256` is the
    bare digest); pick the line naming the artifact if any."""
    candidates: list[str] = []
    for line in text.splitlines():
        parts = line.split()
        if not parts or not HEX64.match(parts[0].lower()):
            continue
        if len(parts) == 1 or parts[-1].lstrip("*").split("/")[-1] == artifact:
            candidates.append(parts[0].lower())
    if len(set(candidates)) != 1:
        raise ValueError(f"no unique SHA-256 for {artifact} in the checksum file")
    return candidates[0]
