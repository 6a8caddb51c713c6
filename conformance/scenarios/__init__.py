"""The conformance scenarios: one module per capability, each a policy, probes and the
written expectations (a truth table; one pytest test per cell)."""
