"""The emulated Kubernetes + Cilium control plane (`--cluster=simulated`): an API server on
127.0.0.1 that the suite's real cluster client talks to. See README.md here."""
