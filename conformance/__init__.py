"""zt-conformance: end-to-end conformance for Cilium zero-trust network policy."""
