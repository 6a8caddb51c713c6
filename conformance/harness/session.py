"""Opening the cluster a run talks to, and the checks before any test runs.

`preflight` runs once in the pytest controller: for kind it provisions or reuses the
cluster (`clusters.api.up`), for an existing cluster it connects and reads the facts, for
the simulated one it validates the fault name. Whatever is wrong becomes one
PreflightError paragraph. Workers then `open_cluster` with the kubeconfig/context the
controller handed over.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.harness.cluster import (
    FEATURE_HUBBLE_METRICS,
    FEATURE_HUBBLE_RELAY,
    Cluster,
    ClusterError,
    ClusterFacts,
)

# (kubeconfig, context) the controller provisioned or was given; workers get it via xdist.
KUBE_KEY = pytest.StashKey[tuple[str | None, str | None]]()

# Without these the suite cannot collect its evidence at all: an error, not a skip.
REQUIRED_FEATURES = (FEATURE_HUBBLE_RELAY, FEATURE_HUBBLE_METRICS)


class PreflightError(RuntimeError):
    """Why the run cannot start; one paragraph naming the flag, context or feature."""


def open_cluster(kind: str, *, fault: str | None = None, kubeconfig: str | None = None,
                 context: str | None = None) -> Cluster:
    """The cluster client for a worker: the same KubeCluster for every kind (the emulated
    cluster is a real API server on 127.0.0.1; its faults live in the emulator)."""
    if fault and kind != "simulated":
        raise PreflightError(
            f"--fault {fault!r} only applies to --cluster=simulated (got --cluster={kind}).")
    from conformance.harness.kube import KubeCluster

    try:
        return KubeCluster.connect(kubeconfig, context)
    except ClusterError as exc:
        where = f"context {context!r}" if context else "the current context"
        cfg = f" of {kubeconfig}" if kubeconfig else ""
        raise PreflightError(f"cannot reach the cluster ({where}{cfg}): {exc}") from None


_EMULATORS: list[Any] = []


def start_emulator(fault: str | None, cilium_version: str | None) -> tuple[str, str]:
    """Start the emulated cluster for this run; (kubeconfig, context). stop_emulators()
    ends it (the controller's unconfigure; the emulator also stops when we are gone)."""
    from clusters.api import EmulatorStartError, UnknownFault
    from clusters.api import start_emulator as start

    try:
        emulator = start(fault, cilium_version)
    except UnknownFault as exc:
        raise PreflightError(f"--fault {fault!r}: {exc}") from None
    except EmulatorStartError as exc:
        raise PreflightError(f"--cluster=simulated: {exc}") from None
    _EMULATORS.append(emulator)
    return emulator.kubeconfig, emulator.context


def stop_emulators() -> None:
    while _EMULATORS:
        _EMULATORS.pop().stop()


def _emulated_version(version: str | None) -> str | None:
    """The emulator runs a full release (its CRD data is per release); a line such as
    1.19 picks that line's release."""
    if not version:
        return None
    from conformance.vocabulary.catalogue import load_catalogue

    return load_catalogue().release_for(version) or version


def check_facts(facts: ClusterFacts) -> None:
    from conformance.model.version import VersionError, parse_version

    try:
        parse_version(facts.cilium_version)
    except VersionError as exc:
        raise PreflightError(f"the cluster runs Cilium {facts.cilium_version}, which the "
                             f"policy model cannot predict for: {exc}") from None
    missing = [f for f in REQUIRED_FEATURES if f not in facts.features]
    if missing:
        raise PreflightError(
            f"the cluster (Cilium {facts.cilium_version}) lacks {', '.join(missing)}, which "
            "the suite needs for its Hubble flow and metric evidence: enable Hubble Relay "
            "and Hubble metrics with namespace context labels (`python -m clusters up` "
            "does), or run with --cluster=simulated.")


def guard_existing(kubeconfig: str | None, context: str | None,
                   allow_existing_cluster: bool) -> None:
    """The suite creates and deletes namespaces and policies: refuse a context that is not a
    kind cluster unless the user said --allow-existing-cluster (the same guard as clusters)."""
    from clusters.api import ClustersError, check_context

    name = context
    if name is None:
        from kubernetes import config as kube_config

        try:
            _, active = kube_config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
                config_file=kubeconfig)
        except Exception as exc:  # the client raises ConfigException, OSError, YAML errors
            cfg = kubeconfig or "the default kubeconfig"
            raise PreflightError(f"cannot read the current context of {cfg} "
                                 f"(--kubeconfig): {exc}") from None
        name = str(active.get("name", "")) if isinstance(active, dict) else ""
    try:
        check_context(name, allow_existing_cluster, kubeconfig)
    except ClustersError as exc:
        raise PreflightError(f"--cluster=existing: {exc}") from None


def preflight(kind: str, *, fault: str | None, kubeconfig: str | None, context: str | None,
              cilium_version: str | None, keep_cluster: bool,
              allow_existing_cluster: bool = False) -> tuple[str | None, str | None]:
    """(kubeconfig, context) for the workers; raises PreflightError."""
    if kind == "existing" and not fault:
        guard_existing(kubeconfig, context, allow_existing_cluster)
    if kind == "kind":
        if fault:
            raise PreflightError("--fault only applies to --cluster=simulated.")
        from clusters.api import ClustersError, UpOptions, up

        try:
            result = up(UpOptions(cilium_version=cilium_version, keep_on_failure=keep_cluster,
                                  kubeconfig=kubeconfig, context=context))
        except ClustersError as exc:  # already one clear paragraph
            raise PreflightError(f"provisioning the kind cluster failed: {exc}") from None
        kubeconfig, context = result.kubeconfig, result.context
        kind = "existing"
    if kind == "simulated":
        kubeconfig, context = start_emulator(fault, _emulated_version(cilium_version))
    try:
        cluster = open_cluster(kind, fault=fault, kubeconfig=kubeconfig, context=context)
        try:
            try:
                facts = cluster.facts()
            except ClusterError as exc:
                raise PreflightError(f"the cluster answered but: {exc}") from None
            check_facts(facts)
        finally:
            cluster.close()
    except BaseException:
        stop_emulators()  # nothing half-done left behind
        raise
    return kubeconfig, context
