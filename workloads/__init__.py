"""Probe workloads: the account-service target, the prober client, and their image."""
