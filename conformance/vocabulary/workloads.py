"""The probe workloads every worker namespace gets (label `app=<name>`), their ports, the
labels of the suite's namespaces, and reading named ports from a Deployment spec — shared by
the harness (which deploys them), the model's view of them, and the emulated cluster."""

from __future__ import annotations

from typing import Any

ACCOUNT_SERVICE = "account-service"
PAYMENT_PROCESSOR = "payment-processor"
AUDIT_LOGGER = "audit-logger"
WORKLOAD_APPS = (ACCOUNT_SERVICE, PAYMENT_PROCESSOR, AUDIT_LOGGER)
HTTP_PORT = 8080
GRPC_PORT = 9090
TLS_PORT = 8443  # account-service's TLS listener (HTTP over TLS, self-signed)

# Namespaces the suite creates carry these (the canonical name: payments, partners).
CANONICAL_LABEL = "zt-conformance/namespace"
PART_OF = {"app.kubernetes.io/part-of": "zt-conformance"}


def namespace_labels(canonical: str) -> dict[str, str]:
    """The labels of the suite's namespace for canonical namespace `canonical` that do not
    depend on the run (the run and worker labels are left out: no policy names them)."""
    return {**PART_OF, CANONICAL_LABEL: canonical}


def deployment_ports(spec: dict[str, Any]) -> dict[str, tuple[int, str]]:
    """A Deployment spec's named container ports: name -> (containerPort, protocol)."""
    pod_spec = ((spec.get("template") or {}).get("spec")) or {}
    out: dict[str, tuple[int, str]] = {}
    for container in pod_spec.get("containers") or []:
        for p in container.get("ports") or []:
            if isinstance(p, dict) and p.get("name") and isinstance(p.get("containerPort"), int):
                out[str(p["name"])] = (p["containerPort"], str(p.get("protocol") or "TCP"))
    return out
