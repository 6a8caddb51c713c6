"""The Cilium catalogue (cilium.yaml): supported releases, the default, chart facts and the
per-version features, with a small typed loader.

Everything that depends on which Cilium runs reads this one file: the model
(conformance/model/version.py), provisioning (clusters/versions.py), the emulated cluster,
the CLI help texts and the README's release table (`python -m conformance.vocabulary`).
A different file can be passed explicitly (`load_catalogue(path)`), which is how a test sees
an extra release everywhere without touching the committed one.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CATALOGUE_FILE = Path(__file__).with_name("cilium.yaml")
Minor = tuple[int, int]
_RELEASE_RE = re.compile(r"(\d+)\.(\d+)\.(\d+)")
_LINE_RE = re.compile(r"(\d+)\.(\d+)")


class CatalogueError(ValueError):
    """The catalogue file is unreadable or malformed; the message names file and field."""


@dataclass(frozen=True)
class Release:
    version: str  # "1.20.0"
    images: Mapping[str, str]  # Helm value path of the image block -> "repository:tag"
    mutual_auth_values: Mapping[str, Any]
    values: Mapping[str, Any]

    @property
    def minor(self) -> Minor:
        return minor_of(self.version)

    @property
    def line(self) -> str:
        """The line, "1.20" for 1.20.0."""
        major, minor = self.minor
        return f"{major}.{minor}"


@dataclass(frozen=True)
class Feature:
    """A behaviour Cilium has from minor `since` on, and the upstream source it follows."""

    name: str
    since: Minor
    summary: str
    source: str

    def holds(self, minor: Minor) -> bool:
        return minor >= self.since


@dataclass(frozen=True)
class Catalogue:
    path: Path
    default: str  # a key of releases
    chart_name: str
    chart_repo: str
    releases: Mapping[str, Release]  # version -> release, in file order
    features: Mapping[str, Feature]

    def versions(self) -> list[str]:
        """Every release, oldest first."""
        return sorted(self.releases, key=release_key)

    def lines(self) -> tuple[Minor, ...]:
        """The minors with at least one release, oldest first (what the model knows)."""
        return tuple(sorted({r.minor for r in self.releases.values()}))

    @property
    def default_line(self) -> str:
        return self.releases[self.default].line

    def feature(self, name: str) -> Feature:
        if name not in self.features:
            raise CatalogueError(f"{self.path}: no feature {name!r} under `features` "
                                 f"(known: {', '.join(sorted(self.features))})")
        return self.features[name]

    def since(self, name: str) -> str:
        """The minor that has feature `name` first, as text ("1.19")."""
        major, minor = self.feature(name).since
        return f"{major}.{minor}"

    def has(self, name: str, minor: Minor) -> bool:
        """Whether Cilium `minor` has feature `name`."""
        return self.feature(name).holds(minor)

    def release_for(self, text: str | None) -> str | None:
        """The release a version names: itself ("1.19.6", "v1.19.6"), the newest release of
        a line ("1.19"), or the default for None; None when the catalogue has no match."""
        key = (text or self.default).strip().removeprefix("v")
        if key in self.releases:
            return key
        same = [v for v in self.versions() if self.releases[v].line == key]
        return same[-1] if same else None

    def describe_versions(self) -> str:
        """For help texts: "1.20.0 (default), 1.19.6, 1.18.12"."""
        return ", ".join(v + (" (default)" if v == self.default else "")
                         for v in reversed(self.versions()))

    def release_help(self) -> str:
        """Help text of a flag naming a release to provision."""
        return f"{self.describe_versions()}, or a line such as {self.default_line}"

    def line_help(self) -> str:
        """Help text of a flag naming the Cilium the model predicts for."""
        lines = ", ".join(f"{a}.{b}" for a, b in reversed(self.lines()))
        return (f"the Cilium line the model predicts for: {lines} (default "
                f"{self.default_line}); a release such as {self.default} names its line")


def minor_of(version: str) -> Minor:
    """"1.19.6", "v1.19" -> (1, 19); a CatalogueError for anything else."""
    m = re.match(r"v?(\d+)\.(\d+)", version.strip())
    if not m:
        raise CatalogueError(f"{version!r} is not a Cilium version (X.Y or X.Y.Z)")
    return int(m.group(1)), int(m.group(2))


def release_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


@functools.cache
def load_catalogue(path: Path | None = None) -> Catalogue:
    """The catalogue at `path` (default: the committed cilium.yaml), checked."""
    where = path or CATALOGUE_FILE
    try:
        doc = yaml.safe_load(where.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogueError(f"cannot read the Cilium catalogue {where}: "
                             f"{exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise CatalogueError(f"the Cilium catalogue {where} is not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise CatalogueError(f"{where}: expected a mapping at the top level")
    releases = _releases(where, doc.get("releases"))
    default = str(doc.get("default", ""))
    if default not in releases:
        raise CatalogueError(f"{where}: `default` {default!r} is not one of `releases` "
                             f"({', '.join(releases)})")
    chart = doc.get("chart")
    if not isinstance(chart, dict) or not chart.get("name") or not chart.get("repo"):
        raise CatalogueError(f"{where}: `chart` needs `name` and `repo`")
    return Catalogue(path=where, default=default, chart_name=str(chart["name"]),
                     chart_repo=str(chart["repo"]), releases=releases,
                     features=_features(where, doc.get("features")))


def _releases(where: Path, raw: Any) -> dict[str, Release]:
    if not isinstance(raw, dict) or not raw:
        raise CatalogueError(f"{where}: `releases` must map release versions to entries")
    out: dict[str, Release] = {}
    for version, entry in raw.items():
        field = f"releases.{version}"
        if not isinstance(version, str) or not _RELEASE_RE.fullmatch(version):
            raise CatalogueError(f"{where}: {field}: a release is a quoted X.Y.Z string")
        if not isinstance(entry, dict) or not isinstance(entry.get("images"), dict):
            raise CatalogueError(f"{where}: {field}.images: expected a mapping of Helm value "
                                 "paths to image references")
        for key in ("mutual_auth_values", "values"):
            if not isinstance(entry.get(key) or {}, dict):
                raise CatalogueError(f"{where}: {field}.{key}: expected a mapping")
        out[version] = Release(
            version=version,
            images={str(k): str(v) for k, v in entry["images"].items()},
            mutual_auth_values=dict(entry.get("mutual_auth_values") or {}),
            values=dict(entry.get("values") or {}),
        )
    return out


def _features(where: Path, raw: Any) -> dict[str, Feature]:
    if not isinstance(raw, dict):
        raise CatalogueError(f"{where}: `features` must map feature names to entries")
    out: dict[str, Feature] = {}
    for name, entry in raw.items():
        field = f"features.{name}"
        if not isinstance(entry, dict):
            raise CatalogueError(f"{where}: {field}: expected a mapping")
        since = entry.get("since")  # a string: YAML reads 1.20 as the number 1.2
        if not isinstance(since, str) or not _LINE_RE.fullmatch(since):
            raise CatalogueError(f"{where}: {field}.since: expected a quoted minor X.Y, "
                                 f"got {entry.get('since')!r}")
        for key in ("summary", "source"):
            if not str(entry.get(key) or "").strip():
                raise CatalogueError(f"{where}: {field}.{key}: required (name the upstream "
                                     "source the behaviour follows)")
        out[str(name)] = Feature(str(name), minor_of(since), " ".join(
            str(entry["summary"]).split()), " ".join(str(entry["source"]).split()))
    return out
