"""Supported Cilium releases and version resolution for provisioning.

The data is the project's one Cilium catalogue (conformance/vocabulary/cilium.yaml, read by
conformance.vocabulary.catalogue); this module only adds resolution with provisioning's
error type. `load_catalogue(path)` reads another catalogue file, explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from clusters.errors import InputError
from conformance.vocabulary import catalogue as vocabulary

# One release of the catalogue: version, images, mutual_auth_values, values, line.
CiliumRelease = vocabulary.Release


@dataclass(frozen=True)
class Catalogue:
    default: str
    chart_name: str
    chart_repo: str
    releases: dict[str, CiliumRelease]

    def resolve(self, wanted: str | None, flag: str = "--cilium-version") -> CiliumRelease:
        """Exact "1.19.6", a line "1.19" (its newest pinned patch) or "v1.19.6"; None =
        default."""
        key = (wanted or self.default).strip().removeprefix("v")
        if key in self.releases:
            return self.releases[key]
        lines = sorted((v for v in self.releases if self.releases[v].line == key),
                       key=version_key)
        if lines:
            return self.releases[lines[-1]]
        valid = ", ".join(sorted(self.releases, key=version_key, reverse=True))
        raise InputError(
            f"unsupported Cilium version {wanted!r} ({flag}); valid: {valid} "
            f"(or the line, e.g. 1.19); default {self.default}"
        )


def version_key(text: str) -> tuple[int, ...]:
    return vocabulary.release_key(text)


def load_catalogue(path: Path | None = None) -> Catalogue:
    try:
        data = vocabulary.load_catalogue(path)
    except vocabulary.CatalogueError as exc:
        raise InputError(str(exc)) from None
    return Catalogue(default=data.default, chart_name=data.chart_name,
                     chart_repo=data.chart_repo, releases=dict(data.releases))
