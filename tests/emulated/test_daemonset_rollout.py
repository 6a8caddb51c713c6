"""The cilium DaemonSet's new image, applied through the emulated API, rolls the agents as
the API shows a DaemonSet rolling update: per node the old pod terminating and not Ready,
then a new pod (another name, the new image) not Ready, then Ready; two nodes at a time;
at the end the new release is the plane's. An image of an unknown release is refused."""

from __future__ import annotations

from typing import Any

import pytest

from clusters.emulated.controlplane import ControlPlane
from clusters.emulated.objects import ApiStatus

DS = ("daemonsets", "kube-system", "cilium")
RESTART_S = 3.0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def image_doc(version: str) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "cilium", "namespace": "kube-system"},
            "spec": {"template": {"spec": {"containers": [
                {"name": "cilium-agent",
                 "image": f"quay.io/cilium/cilium:v{version}@sha256:{'ab' * 32}"}]}}}}


def agents(plane: ControlPlane) -> dict[str, tuple[str, bool, bool, str]]:
    """node -> (pod name, Ready, terminating, image) as the API lists them."""
    out = {}
    for p in plane.list_objects("pods", "kube-system", "k8s-app=cilium")["items"]:
        ready = any(c["type"] == "Ready" and c["status"] == "True"
                    for c in p["status"]["conditions"])
        out[p["spec"]["nodeName"]] = (p["metadata"]["name"], ready,
                                      "deletionTimestamp" in p["metadata"],
                                      p["spec"]["containers"][0]["image"])
    return out


def test_the_api_shows_the_rolling_update() -> None:
    clock = Clock()
    plane = ControlPlane("1.19.6", clock=clock, agent_restart_s=RESTART_S)
    before = agents(plane)
    plane.apply(DS, image_doc("1.20.0"), None)
    assert plane.rollout is not None
    windows = {w.node: w for w in plane.rollout.windows}
    first, second = "sim-worker", "sim-worker2"
    assert windows[first].start == windows["sim-control-plane"].start == 100.0
    assert windows[second].start >= windows[first].end  # maxUnavailable 2 of 3 nodes

    clock.now = 100.5  # terminating
    now = agents(plane)
    assert now[first][0] == before[first][0] and now[first][1:3] == (False, True)
    assert now[second] == before[second]
    clock.now = 102.0  # replaced, starting
    name, ready, terminating, image = agents(plane)[first]
    assert name != before[first][0] and not ready and not terminating
    assert image.startswith("quay.io/cilium/cilium:v1.20.0@sha256:")
    assert plane.version == "1.19.6"
    clock.now = windows[first].end
    assert agents(plane)[first][1] is True and agents(plane)[second][1:3] == (True, False)
    clock.now = windows[second].end
    final = agents(plane)
    assert all(ready and not term for _, ready, term, _ in final.values())
    assert plane.version == "1.20.0" and plane.rollout_done


def test_an_unknown_release_is_refused() -> None:
    plane = ControlPlane("1.19.6", clock=Clock())
    with pytest.raises(ApiStatus) as refused:
        plane.apply(DS, image_doc("1.99.0"), None)
    assert refused.value.code == 422 and "1.99.0" in refused.value.body["message"]
    assert plane.rollout is None
