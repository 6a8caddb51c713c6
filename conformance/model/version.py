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


def l7_wildcard_in_default_allow(version: tuple[int, int]) -> bool:
    """From 1.18 an endpoint whose policies leave default deny off in a direction gets an
    allow-all L7 rule next to every L7 rule list there, so those lists restrict nothing.

    Upstream: `pkg/policy/l4.go` (`ensureWildcard`, PR 38841, fixing issue 38676), pinned by
    `l4_filter_test.go` TestHTTPWildcardInDefaultAllow / TestDNSWildcardInDefaultAllow /
    TestDefaultAllowL7Rules. Whether the change reached a 1.17 patch release is not clear from
    upstream; the model does not run 1.17, so every modelled version has it.
    """
    return version >= (1, 18)


def server_names_pattern(version: tuple[int, int]) -> str:
    """The CRD's pattern for a `toPorts[].serverNames` entry (maxLength 255, minItems 1,
    a set, in every modelled version): 1.18/1.19 allow `*` only as a leading `*.` or `**.`
    (commit a9be42f462), 1.20 anywhere (commit 0435283d4d); see
    clusters/emulated/crds/README.md."""
    if version >= (1, 20):
        return r"^([-a-zA-Z0-9_*]+[.]?)+$"
    return r"^(\*?\*\.)?([-a-zA-Z0-9_]+\.?)+$"
