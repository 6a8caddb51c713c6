"""The emulated API server's object store: server-side apply, get, list, delete.

Only what the suite's client uses. Each object gets what the real API server gives it
(`apiserver/pkg/registry/rest/meta.go` FillObjectMetaSystemFields): a uid (kept across
updates, `registry/rest/update.go` BeforeUpdate; new after delete and re-create), a
creationTimestamp, and a resourceVersion that moves on every write that changes the
object. A server-side apply whose result equals the stored object writes nothing
(`apiserver/pkg/storage/etcd3/store.go` GuaranteedUpdate: identical bytes, no Put), so
watchers such as the Cilium agents see no event.
"""

from __future__ import annotations

import copy
import itertools
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

# resource plural -> (apiVersion, kind, namespaced)
RESOURCES: dict[str, tuple[str, str, bool]] = {
    "namespaces": ("v1", "Namespace", False),
    "pods": ("v1", "Pod", True),
    "services": ("v1", "Service", True),
    "serviceaccounts": ("v1", "ServiceAccount", True),
    "configmaps": ("v1", "ConfigMap", True),
    "deployments": ("apps/v1", "Deployment", True),
    "daemonsets": ("apps/v1", "DaemonSet", True),
    "networkpolicies": ("networking.k8s.io/v1", "NetworkPolicy", True),
    "ciliumnetworkpolicies": ("cilium.io/v2", "CiliumNetworkPolicy", True),
    "ciliumclusterwidenetworkpolicies": ("cilium.io/v2", "CiliumClusterwideNetworkPolicy",
                                         False),
}
GROUPS = {"v1": "", "apps/v1": "apps", "networking.k8s.io/v1": "networking.k8s.io",
          "cilium.io/v2": "cilium.io"}
SYSTEM_FIELDS = ("uid", "resourceVersion", "creationTimestamp", "generation",
                 "deletionTimestamp", "managedFields")

Key = tuple[str, str, str]  # resource, namespace ("" when cluster-scoped), name


class ApiStatus(Exception):
    """An error answer: the HTTP code and the `Status` body the API server writes."""

    def __init__(self, code: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("message", ""))
        self.code = code
        self.body = body


def status(code: int, reason: str, message: str,
           details: dict[str, Any] | None = None) -> ApiStatus:
    """A `Status` as `apimachinery/pkg/api/errors/errors.go` builds it."""
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                            "status": "Failure", "message": message, "reason": reason,
                            "code": code}
    if details is not None:
        body["details"] = details
    return ApiStatus(code, body)


def not_found(resource: str, name: str) -> ApiStatus:
    """errors.NewNotFound: `<resource>.<group> "<name>" not found`."""
    group = GROUPS.get(RESOURCES.get(resource, ("v1", "", False))[0], "")
    qualified = f"{resource}.{group}" if group else resource
    return status(404, "NotFound", f'{qualified} "{name}" not found',
                  {"name": name, "group": group, "kind": resource})


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- label selectors (apimachinery/pkg/labels/selector.go Parse) ---------------------------

_SET = re.compile(r"^\s*([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ = re.compile(r"^\s*([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)\s*$")
_EXISTS = re.compile(r"^\s*(!?)\s*([\w./-]+)\s*$")


def _split_requirements(text: str) -> list[str]:
    """Split on the commas that are not inside a set's parentheses."""
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current)
    return parts


def selector_matches(text: str, labels: Mapping[str, str]) -> bool:
    """Equality (`=`, `==`, `!=`), set (`in`, `notin`) and existence (`k`, `!k`)
    requirements, ANDed; ApiStatus 400 for one the parser rejects."""
    for part in _split_requirements(text or ""):
        if m := _SET.match(part):
            values = {v.strip() for v in m.group(3).split(",") if v.strip()}
            present = m.group(1) in labels and labels[m.group(1)] in values
            if present != (m.group(2) == "in"):
                return False
        elif m := _EQ.match(part):
            equal = labels.get(m.group(1)) == m.group(3)
            if equal != (m.group(2) != "!="):
                return False
        elif m := _EXISTS.match(part):
            if (m.group(2) in labels) == (m.group(1) == "!"):
                return False
        else:
            raise status(400, "BadRequest",
                         f"unable to parse requirement: invalid label selector: {part!r}")
    return True


class ObjectStore:
    """Objects by key; the owner serialises access (one lock for the control plane)."""

    def __init__(self) -> None:
        self.objects: dict[Key, dict[str, Any]] = {}
        self._versions = itertools.count(1000)

    def get(self, key: Key) -> dict[str, Any]:
        if key not in self.objects:
            raise not_found(key[0], key[2])
        return copy.deepcopy(self.objects[key])

    def find(self, key: Key) -> dict[str, Any] | None:
        return self.objects.get(key)

    def list(self, resource: str, namespace: str | None,
             selector: str | None = None) -> list[dict[str, Any]]:
        out = []
        for (res, ns, _), obj in sorted(self.objects.items()):
            if res != resource or (namespace is not None and ns != namespace):
                continue
            if selector and not selector_matches(selector, obj["metadata"].get("labels") or {}):
                continue
            out.append(copy.deepcopy(obj))
        return out

    def apply(self, key: Key, doc: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Create or update from an applied configuration; (stored object, changed)."""
        resource, namespace, name = key
        api_version, kind, _ = RESOURCES[resource]
        old = self.objects.get(key)
        meta = {k: v for k, v in (doc.get("metadata") or {}).items()
                if k not in SYSTEM_FIELDS}
        meta["name"] = name
        if namespace:
            meta["namespace"] = namespace
        new = {**{k: copy.deepcopy(v) for k, v in doc.items() if k not in ("metadata",
                                                                           "status")},
               "apiVersion": api_version, "kind": kind}
        if old is not None:
            system = {k: old["metadata"][k] for k in SYSTEM_FIELDS if k in old["metadata"]}
            candidate = {**new, "metadata": {**meta, **system}}
            if "status" in old:
                candidate["status"] = old["status"]
            if candidate == old:
                return copy.deepcopy(old), False
            candidate["metadata"]["resourceVersion"] = str(next(self._versions))
            if candidate.get("spec") != old.get("spec"):
                candidate["metadata"]["generation"] = int(old["metadata"].get(
                    "generation", 1)) + 1
            self.objects[key] = candidate
            return copy.deepcopy(candidate), True
        meta.update(uid=str(uuid.uuid4()), resourceVersion=str(next(self._versions)),
                    creationTimestamp=now_rfc3339(), generation=1)
        created = {**new, "metadata": meta}
        self.objects[key] = created
        return copy.deepcopy(created), True

    def set_status(self, key: Key, value: dict[str, Any]) -> None:
        obj = self.objects[key]
        obj["status"] = value
        obj["metadata"]["resourceVersion"] = str(next(self._versions))

    def mark_deleting(self, key: Key) -> None:
        self.objects[key]["metadata"]["deletionTimestamp"] = now_rfc3339()

    def delete(self, key: Key) -> dict[str, Any]:
        if key not in self.objects:
            raise not_found(key[0], key[2])
        return self.objects.pop(key)
