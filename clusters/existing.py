"""Existing clusters (--kubeconfig/--context): the kind- guard first, then read-only
detection; never any provisioning."""

from __future__ import annotations

import os
from pathlib import Path

from clusters.detect import Detected, describe, detect_with
from clusters.env import Env, Kube
from clusters.guard import check_context
from clusters.kindops import UpOutcome
from clusters.waits import Stage, cilium_stages
from conformance.vocabulary.features import FEATURE_HUBBLE_RELAY, FEATURE_MUTUAL_AUTH


def resolve_context(env: Env, kubeconfig: str | None, context: str | None) -> str:
    if context:
        return context
    argv = Kube(kubeconfig, None).kubectl(env, "config", "current-context")
    return env.must(argv, "reading the current kube context").stdout.strip()


def use_existing(env: Env, kubeconfig: str | None, context: str | None,
                 allow_existing_cluster: bool) -> tuple[Kube, Detected]:
    """Guard first (nothing is read from a refused context), then detect."""
    ctx = resolve_context(env, kubeconfig, context)
    check_context(ctx, allow_existing_cluster, kubeconfig)
    kube = Kube(kubeconfig, ctx)
    found = detect_with(env, kube)
    env.say(f"existing cluster, context {ctx}: {describe(found)}")
    return kube, found


def effective_kubeconfig(kubeconfig: str | None) -> str:
    """The file kubectl would read: the flag, else $KUBECONFIG, else ~/.kube/config."""
    return kubeconfig or os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")


def up_existing(env: Env, kubeconfig: str | None, context: str | None,
                allow_existing_cluster: bool) -> UpOutcome:
    kube, found = use_existing(env, kubeconfig, context, allow_existing_cluster)
    return UpOutcome(effective_kubeconfig(kubeconfig), kube.context or "", found.cilium_version,
                     reused=True)


def existing_stages(found: Detected) -> list[Stage]:
    names = {"Cilium agents", "nodes Ready", "Cilium operator", "Cilium CRDs Established"}
    if found.external_envoy:
        names.add("Cilium Envoy")
    if FEATURE_HUBBLE_RELAY in found.features:
        names.add("Hubble Relay serving")
    mutual = FEATURE_MUTUAL_AUTH in found.features
    return [st for st in cilium_stages(mutual) if st.name in names or st.name.startswith("SPIRE")]
