"""Safety guard for existing clusters: never touch a context that is not a kind cluster
unless the user says so explicitly."""

from __future__ import annotations

from clusters.errors import RefusedError

KIND_CONTEXT_PREFIX = "kind-"


def check_context(context: str, allow_existing_cluster: bool) -> None:
    if context.startswith(KIND_CONTEXT_PREFIX) or allow_existing_cluster:
        return
    raise RefusedError(
        f"refusing to use kube context {context!r}: its name does not start with "
        f"{KIND_CONTEXT_PREFIX!r}, so it may be a shared or production cluster. Nothing was "
        "done. Pass --allow-existing-cluster if you mean it (the suite then creates and "
        "deletes its own namespaces and policies there, and never provisions anything)."
    )
