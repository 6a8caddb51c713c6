"""Run ids, and sweeping what killed runs left on a shared cluster.

Every namespace and cluster-scoped policy a run creates carries its run id in the name
and in the `zt-conformance/run` label, so two runs on one cluster never touch each
other's objects. A run that was killed leaves its namespaces (with their namespaced
policies) and its cluster-wide policies behind; the next run deletes those once they
are older than the stale age. Anything younger may belong to a live run: never touched.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass

import pytest

from conformance.harness.cluster import Cluster, NamespaceInfo
from conformance.harness.planning import (
    RunOptions,
    Workspace,
    clusterwide_policies,
    namespace_names,
)
from conformance.harness.render import DISRUPTIVE_PREFIX, OWNED_PREFIX, RUN_LABEL, WORKER_LABEL
from conformance.vocabulary.timeouts import STALE_AFTER_S as STALE_AFTER_S

# The label kube.py (deploy_workloads) puts on every namespace the suite creates.
PART_OF_SELECTOR = "app.kubernetes.io/part-of=zt-conformance"
RUN_ID = re.compile(r"[a-z0-9]{1,16}")
RUN_ID_BYTES = 4  # 8 hex digits: namespaces stay short (`ztc-<run>-gw12-partners`)
PARTNERS_SUFFIX = "-partners"


class RunIdError(ValueError):
    """A run id that cannot be put into names and labels."""


def new_run_id() -> str:
    return secrets.token_hex(RUN_ID_BYTES)


RUN_KEY = pytest.StashKey[str]()
WORKER_INPUT_KEY = "ztc_run_id"  # xdist workerinput entry the controller fills


def run_id(config: pytest.Config) -> str:
    """This run's id: made once by the controller and handed to each xdist worker in its
    workerinput (like the kubeconfig), so all workers of a run share it."""
    handed = getattr(config, "workerinput", {}).get(WORKER_INPUT_KEY)
    if handed:
        return check_run_id(str(handed))
    if RUN_KEY not in config.stash:
        config.stash[RUN_KEY] = new_run_id()
    return config.stash[RUN_KEY]


def check_run_id(run: str) -> str:
    if not RUN_ID.fullmatch(run):
        raise RunIdError(f"run id {run!r} must be 1 to 16 lowercase letters or digits")
    return run


@dataclass(frozen=True)
class Leftover:
    namespace: str
    run: str  # "" for a namespace of a run before run ids
    worker: str
    age_s: float


def leftovers(cluster: Cluster, run: str, stale_after: float,
              now: float | None = None) -> list[Leftover]:
    """The suite's namespaces of other runs older than `stale_after` seconds."""
    now = time.time() if now is None else now
    out = []
    for ns in cluster.list_namespaces(PART_OF_SELECTOR):
        owner = ns.labels.get(RUN_LABEL, "")
        age = now - ns.created
        if owner == run or age < stale_after:
            continue  # ours, or possibly a live run's
        worker = ns.labels.get(WORKER_LABEL) or _legacy_worker(ns)
        if worker is None or ns.name not in _names(worker, owner):
            continue  # not a name the suite gives: not ours to delete
        out.append(Leftover(ns.name, owner, worker, age))
    return out


def _names(worker: str, run: str) -> list[str]:
    try:
        return list(namespace_names(worker, run).values())
    except ValueError:
        return []


def _legacy_worker(ns: NamespaceInfo) -> str | None:
    """The worker of a namespace named before run ids (`ztc-<worker>[-partners]`)."""
    if not ns.name.startswith(OWNED_PREFIX) or RUN_LABEL in ns.labels:
        return None
    worker = ns.name[len(OWNED_PREFIX):].removesuffix(PARTNERS_SUFFIX)
    return worker or None


def sweep(cluster: Cluster, run: str, stale_after: float = STALE_AFTER_S,
          now: float | None = None) -> list[Leftover]:
    """Delete stale runs' cluster-wide policies, then their namespaces (which takes their
    namespaced policies with them); what was swept."""
    found = leftovers(cluster, run, stale_after, now)
    if not found:
        return []
    facts = cluster.facts()
    for owner, worker in sorted({(lo.run, lo.worker) for lo in found}):
        ghost = Workspace(cluster=cluster, facts=facts, worker=worker,
                          options=RunOptions(), namespaces=namespace_names(worker, owner),
                          run=owner)
        docs = clusterwide_policies(ghost)
        if not owner:
            # Before run ids the disruptive names were global (`zt-conformance-<name>`):
            # they may be a live run's, so only the per-worker ones go.
            docs = [d for d in docs if not d["metadata"]["name"].startswith(DISRUPTIVE_PREFIX)]
        cluster.delete(docs)
    for lo in found:
        cluster.delete_namespace(lo.namespace)
    return found
