"""Cilium target versions the model knows, and the behaviour that differs between them."""

from __future__ import annotations

import re
from functools import lru_cache

DEFAULT_VERSION = "1.20"
SUPPORTED = ((1, 18), (1, 19), (1, 20))
_VERSION_RE = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?(?:[-+][0-9A-Za-z.-]+)?")


class VersionError(ValueError):
    """A Cilium version the model does not know; the message lists the known ones."""


@lru_cache(maxsize=32)
def parse_version(text: str) -> tuple[int, int]:
    """'1.19', '1.19.6' or 'v1.20.0' -> (1, 19); anything else outside 1.18-1.20 is an error."""
    m = _VERSION_RE.fullmatch(text.strip())
    known = ", ".join(f"{a}.{b}" for a, b in SUPPORTED)
    if not m:
        raise VersionError(f"Cilium version {text!r} is not X.Y or X.Y.Z (known: {known})")
    minor = (int(m.group(1)), int(m.group(2)))
    if minor not in SUPPORTED:
        raise VersionError(f"Cilium version {text!r} is not modelled (known: {known})")
    return minor


def multi_label_wildcard(version: tuple[int, int]) -> bool:
    """`**.` matches one or more labels from 1.19; before, `**` acted like `*`."""
    return version >= (1, 19)
