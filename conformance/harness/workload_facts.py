"""What policy sees of the suite's workloads besides their labels: container port names and
namespace labels. Read from the workload manifests (the YAML the harness deploys), so the
written expectations, the model and the emulated cluster agree with what runs.

Namespaces the suite creates carry `app.kubernetes.io/part-of: zt-conformance` (kube.py
deploy_workloads) and `zt-conformance/namespace: <canonical name>` (planning.Workspace), so a
scenario policy can select a namespace by a label other than its (per-run) name.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

from conformance.vocabulary.workloads import CANONICAL_LABEL as CANONICAL_LABEL
from conformance.vocabulary.workloads import PART_OF as PART_OF
from conformance.vocabulary.workloads import deployment_ports as deployment_ports
from conformance.vocabulary.workloads import namespace_labels as namespace_labels

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests" / "workloads"


@cache
def _by_app(directory: Path) -> dict[str, dict[str, tuple[int, str]]]:
    out: dict[str, dict[str, tuple[int, str]]] = {}
    for path in sorted(directory.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "Deployment":
                spec = doc.get("spec") or {}
                labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
                app = (labels or {}).get("app") or doc["metadata"]["name"]
                out[str(app)] = deployment_ports(spec)
    return out


def container_ports(app: str, directory: Path = MANIFESTS) -> dict[str, tuple[int, str]]:
    """The named ports an app's pods declare in the workload manifests ({} when none)."""
    return dict(_by_app(directory).get(app, {}))
