"""Feature names a cluster may report (clusters/detect.py reads them from the cluster; the
harness and scenarios require them); a scenario skips with a reason when one is missing."""

from __future__ import annotations

FEATURE_L7_PROXY = "l7-proxy"
FEATURE_HUBBLE_RELAY = "hubble-relay"
FEATURE_HUBBLE_METRICS = "hubble-metrics"
FEATURE_MUTUAL_AUTH = "mutual-auth"
FEATURE_KPR = "kube-proxy-replacement"
FEATURE_FQDN_TARGETS = "fqdn-targets"  # hermetic "internet" targets + CoreDNS entries exist
