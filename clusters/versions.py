"""Supported Cilium releases (data in cilium-versions.yaml) and version resolution."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clusters.errors import InputError
from clusters.paths import package_dir
from clusters.yamldata import load_yaml_mapping

VERSIONS_FILE = "cilium-versions.yaml"


@dataclass(frozen=True)
class CiliumRelease:
    version: str  # "1.20.0"
    images: dict[str, str]  # Helm value path of the image block -> "repository:tag"
    mutual_auth_values: dict[str, Any]
    values: dict[str, Any]

    @property
    def minor(self) -> str:
        return ".".join(self.version.split(".")[:2])


@dataclass(frozen=True)
class Catalogue:
    default: str
    chart_name: str
    chart_repo: str
    releases: dict[str, CiliumRelease]

    def resolve(self, wanted: str | None, flag: str = "--cilium-version") -> CiliumRelease:
        """Exact "1.19.6", a line "1.19" (its pinned patch) or "v1.19.6"; None = default."""
        key = (wanted or self.default).strip().removeprefix("v")
        if key in self.releases:
            return self.releases[key]
        lines = [v for v in self.releases if self.releases[v].minor == key]
        if len(lines) == 1:
            return self.releases[lines[0]]
        valid = ", ".join(sorted(self.releases, key=version_key, reverse=True))
        raise InputError(
            f"unsupported Cilium version {wanted!r} ({flag}); valid: {valid} "
            f"(or the line, e.g. 1.19); default {self.default}"
        )


def version_key(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


def load_catalogue(path: Path | None = None) -> Catalogue:
    doc = load_yaml_mapping(path or package_dir() / VERSIONS_FILE)
    releases = {
        str(version): CiliumRelease(
            version=str(version),
            images={str(k): str(v) for k, v in entry["images"].items()},
            mutual_auth_values=dict(entry.get("mutual_auth_values") or {}),
            values=dict(entry.get("values") or {}),
        )
        for version, entry in doc["versions"].items()
    }
    return Catalogue(
        default=str(doc["default"]),
        chart_name=str(doc["chart"]["name"]),
        chart_repo=str(doc["chart"]["repo"]),
        releases=releases,
    )
