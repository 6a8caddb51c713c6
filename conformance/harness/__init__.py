"""Cluster access, probe running, policy waits, Hubble, metrics, and the simulated cluster."""
