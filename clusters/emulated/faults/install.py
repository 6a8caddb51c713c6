"""A broken install: the run is refused before any test, in one paragraph naming what is
missing (the suite's preflight, conformance/harness/session.py)."""

from __future__ import annotations

from clusters.emulated.faults.base import REFUSED, Fault
from clusters.emulated.faults.hooks import Hooks

CILIUM_DAEMONSET = "daemonsets/kube-system/cilium"
KUBE_DNS_SERVICE = "services/kube-system/kube-dns"

FAULTS = (
    Fault("no-cilium", REFUSED, "no DaemonSet kube-system/cilium: Cilium is not installed",
          Hooks(install_missing=frozenset({CILIUM_DAEMONSET})),
          says="DaemonSet kube-system/cilium does not exist"),
    Fault("no-kube-dns", REFUSED, "no Service kube-system/kube-dns",
          Hooks(install_missing=frozenset({KUBE_DNS_SERVICE})),
          says="Service kube-system/kube-dns (the cluster DNS) is missing"),
    Fault("marker-garbage", REFUSED, "the suite's marker ConfigMap holds no JSON targets",
          Hooks(marker_targets="{api.stripe.com: 203.0.113.10"),
          says="ConfigMap kube-system/zt-conformance key 'external-targets' is not JSON"),
)
