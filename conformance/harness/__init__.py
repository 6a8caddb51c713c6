"""Cluster access, probe running, policy waits, Hubble and metrics."""
