"""The cilium DaemonSet's rolling update as the API shows it: what a client polling the
agent pods sees while the emulated agents restart (rollout.py decides the traffic).

What `helm upgrade` starts is the DaemonSet controller's rolling update (kubernetes
pkg/controller/daemon/update.go rollingUpdate): the chart sets only `maxUnavailable: 2`,
so `maxSurge` is 0, and the controller deletes up to `maxUnavailable` old pods, creating a
node's new pod only once the old one is gone (daemon_controller.go podsShouldBeOnNode:
a node whose daemon pod still exists, terminating, is not a node needing a pod, and
without surge nothing more is created). So a node's agent, seen from the API:
1. the old pod gets `metadata.deletionTimestamp` and, its containers stopping, Ready
   False (the kubelet reports the pod not ready while it terminates: pkg/kubelet
   kubelet_pods.go generateAPIPodStatus);
2. the old pod is gone and a new one, with another name and the new image, exists with no
   `spec.nodeName` yet: the controller creates it with a node affinity for its node and the
   scheduler binds it a moment later (daemon_controller.go syncNodes,
   ReplaceDaemonSetPodNodeNameNodeAffinity);
3. the new pod is bound to its node and not Ready (the agent's readiness probe, /healthz
   on 9879, fails until it is up: install/kubernetes/cilium/templates/cilium-agent/
   daemonset.yaml);
4. the new pod is Ready.
The emulator spends the first third of a node's restart window in 1., a fifth in 2. (longer
than a watcher's poll, so a poll sees an unbound pod), the rest in 3.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from clusters.emulated.objects import Key, ObjectStore
from clusters.emulated.rollout import AgentRollout

AGENT_LABELS = {"k8s-app": "cilium"}
TERMINATING_SHARE = 1 / 3  # of a node's restart window, the old pod still terminating
UNBOUND_SHARE = 1 / 5  # then the new pod not yet bound to its node
IMAGE_VERSION = re.compile(r":v(\d+\.\d+\.\d+)(?:@sha256:[0-9a-f]+)?$")
PodStatus = Callable[[str, bool], dict[str, Any]]  # (node, ready) -> pod status


def image_version(image: str) -> str | None:
    """The release of a cilium image reference (`quay.io/cilium/cilium:v1.20.0`, with or
    without the chart's `@sha256:` digest)."""
    found = IMAGE_VERSION.search(image)
    return found.group(1) if found else None


def template_image(daemonset: dict[str, Any]) -> str | None:
    containers = (((daemonset.get("spec") or {}).get("template") or {}).get("spec") or {}
                  ).get("containers") or []
    return next((str(c.get("image")) for c in containers if c.get("name") == "cilium-agent"
                 and c.get("image")), None)


class AgentPods:
    """Rewrites the agent pod objects as `rollout`'s windows pass (caller holds the lock)."""

    def __init__(self, store: ObjectStore, rollout: AgentRollout, image: str,
                 status: PodStatus) -> None:
        self.store, self.rollout, self.image, self.status = store, rollout, image, status
        self.old: dict[str, Key] = {}
        for key, obj in store.objects.items():
            if key[:2] == ("pods", "kube-system") and (
                    obj["metadata"].get("labels") or {}).get("k8s-app") == "cilium":
                self.old[str(obj["spec"]["nodeName"])] = key
        self.new: dict[str, Key] = {}
        self.stage: dict[str, int] = {}

    def refresh(self, now: float) -> None:
        for w in self.rollout.windows:
            if w.node not in self.old:
                continue
            span = w.end - w.start
            want = 0 if now < w.start else 1 if now < w.start + TERMINATING_SHARE * span \
                else 2 if now < w.start + (TERMINATING_SHARE + UNBOUND_SHARE) * span \
                else 3 if now < w.end else 4
            while self.stage.get(w.node, 0) < want:
                self._advance(w.node, self.stage.get(w.node, 0) + 1)
                self.stage[w.node] = self.stage.get(w.node, 0) + 1

    def _pod(self, node: str, *, bound: bool) -> dict[str, Any]:
        affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchFields": [
                {"key": "metadata.name", "operator": "In", "values": [node]}]}]}}}
        return {"metadata": {"labels": dict(AGENT_LABELS)}, "spec": {
            "affinity": affinity, **({"nodeName": node} if bound else {}),
            "hostNetwork": True, "containers": [{"name": "cilium-agent", "image": self.image}]}}

    def _advance(self, node: str, stage: int) -> None:
        old = self.old[node]
        if stage == 1:
            self.store.mark_deleting(old)
            self.store.set_status(old, self.status(node, False))
        elif stage == 2:
            self.store.delete(old)
            version = image_version(self.image) or "new"
            key = ("pods", "kube-system", f"cilium-{version.replace('.', '')}{old[2][-4:]}")
            self.store.apply(key, self._pod(node, bound=False))
            self.store.set_status(key, {"phase": "Pending", "conditions": [
                {"type": "PodScheduled", "status": "False"}]})
            self.new[node] = key
        elif stage == 3:
            self.store.apply(self.new[node], self._pod(node, bound=True))
            self.store.set_status(self.new[node], self.status(node, False))
        elif stage == 4:
            self.store.set_status(self.new[node], self.status(node, True))
