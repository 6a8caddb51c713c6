"""Cilium target versions the model knows, and the behaviour that differs between them.

Both come from the Cilium catalogue (conformance/vocabulary/cilium.yaml): the model knows
every minor that has a release there, defaults to the default release's minor, and asks the
catalogue's `features` (each naming its upstream source) what a minor does. A different
catalogue can be passed explicitly (`catalogue=`); the default is the committed one.
"""

from __future__ import annotations

import re
from functools import lru_cache

from conformance.vocabulary.catalogue import Catalogue, load_catalogue

_VERSION_RE = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?(?:[-+][0-9A-Za-z.-]+)?")

# Feature names of the catalogue the model evaluates.
MULTI_LABEL_WILDCARD = "multi-label-wildcard"
L7_WILDCARD_IN_DEFAULT_ALLOW = "l7-wildcard-in-default-allow"
SERVER_NAMES_STAR_ANYWHERE = "server-names-star-anywhere"


class VersionError(ValueError):
    """A Cilium version the model does not know; the message lists the known ones."""


def supported(catalogue: Catalogue | None = None) -> tuple[tuple[int, int], ...]:
    """The minors the model knows: those with a release in the catalogue."""
    return (catalogue or load_catalogue()).lines()


def default_version(catalogue: Catalogue | None = None) -> str:
    """The default release's line, e.g. "1.20"."""
    return (catalogue or load_catalogue()).default_line


DEFAULT_VERSION = default_version()
SUPPORTED = supported()


def parse_version(text: str, catalogue: Catalogue | None = None) -> tuple[int, int]:
    """'1.19', '1.19.6' or 'v1.20.0' -> (1, 19); a minor without a release in the catalogue
    is an error."""
    return _parse(text, SUPPORTED if catalogue is None else supported(catalogue))


@lru_cache(maxsize=64)  # called once per evaluated probe
def _parse(text: str, lines: tuple[tuple[int, int], ...]) -> tuple[int, int]:
    known = ", ".join(f"{a}.{b}" for a, b in lines)
    m = _VERSION_RE.fullmatch(text.strip())
    if not m:
        raise VersionError(f"Cilium version {text!r} is not X.Y or X.Y.Z (known: {known})")
    minor = (int(m.group(1)), int(m.group(2)))
    if minor not in lines:
        raise VersionError(f"Cilium version {text!r} is not modelled (known: {known})")
    return minor


def multi_label_wildcard(version: tuple[int, int], catalogue: Catalogue | None = None) -> bool:
    """`**.` matches one or more labels (catalogue feature multi-label-wildcard)."""
    return (catalogue or load_catalogue()).has(MULTI_LABEL_WILDCARD, version)


def l7_wildcard_in_default_allow(version: tuple[int, int],
                                 catalogue: Catalogue | None = None) -> bool:
    """An endpoint whose policies leave default deny off in a direction gets an allow-all L7
    rule next to every L7 rule list there, so those lists restrict nothing (catalogue
    feature l7-wildcard-in-default-allow, which names upstream's `pkg/policy/l4.go`
    `ensureWildcard` and the tests pinning it)."""
    return (catalogue or load_catalogue()).has(L7_WILDCARD_IN_DEFAULT_ALLOW, version)


def server_names_pattern(version: tuple[int, int], catalogue: Catalogue | None = None) -> str:
    """The CRD's pattern for a `toPorts[].serverNames` entry (maxLength 255, minItems 1, a
    set, in every modelled version): `*` only as a leading `*.` or `**.` (commit
    a9be42f462) until catalogue feature server-names-star-anywhere (commit 0435283d4d);
    see clusters/emulated/crds/README.md."""
    if (catalogue or load_catalogue()).has(SERVER_NAMES_STAR_ANYWHERE, version):
        return r"^([-a-zA-Z0-9_*]+[.]?)+$"
    return r"^(\*?\*\.)?([-a-zA-Z0-9_]+\.?)+$"
