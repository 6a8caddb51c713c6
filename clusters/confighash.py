"""The configuration hash stored on the cluster, and what `up` does with it."""

from __future__ import annotations

import hashlib
import json
from enum import Enum
from typing import Any

from clusters.errors import RefusedError

HASH_SCHEMA = 1


def config_hash(parts: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of everything a cluster is made from."""
    blob = json.dumps({"schema": HASH_SCHEMA, **parts}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


class Decision(Enum):
    CREATE = "create"
    REUSE = "reuse"
    RECREATE = "recreate"


def decide(
    cluster: str, exists: bool, stored_hash: str | None, wanted_hash: str, recreate: bool
) -> Decision:
    if not exists:
        return Decision.CREATE
    if recreate:
        return Decision.RECREATE
    if stored_hash is None:
        raise RefusedError(
            f"kind cluster {cluster!r} exists but carries no ConfigMap kube-system/zt-conformance: "
            "it was not made by `python -m clusters up`, or an earlier `up` did not finish. "
            "Nothing was changed. Pass --recreate to delete and re-create it, or "
            "`python -m clusters down` first."
        )
    if stored_hash != wanted_hash:
        raise RefusedError(
            f"kind cluster {cluster!r} was made from a different configuration "
            f"(stored config-hash {stored_hash[:12]}, wanted {wanted_hash[:12]}: profile, "
            "Cilium version, node image, Helm values or CoreDNS template changed). Nothing "
            "was changed. "
            "Pass --recreate to delete and re-create it."
        )
    return Decision.REUSE
