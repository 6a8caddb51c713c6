"""Provisioning for the conformance suite: kind + Helm (Cilium, Hubble, SPIRE), pinned tools,
existing clusters, upgrades. Entry points: `python -m clusters`, `clusters.api`."""
