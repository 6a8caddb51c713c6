"""Cluster DNS as the suite, the model and the emulated cluster name it: CoreDNS runs in
kube-system with label `k8s-app: kube-dns` behind the kube-dns Service, on port 53."""

from __future__ import annotations

DNS_PORT = 53
KUBE_DNS_NAMESPACE = "kube-system"
KUBE_DNS_SERVICE = "kube-dns"
KUBE_DNS_LABELS = {"k8s-app": "kube-dns"}
