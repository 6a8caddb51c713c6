"""Shared helpers for the self-tests: free ports, processes with readiness polling,
Docker/root checks that fail under CI=true, network namespaces, and a test DNS server."""
