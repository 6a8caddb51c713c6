"""The emulated cluster for harness tests, reached through the one real client.

`emulated` (module-scoped) starts an emulator process (`clusters.emulated.process`) the
first time a test of the module asks for a fault, keeps it for the module's other tests,
and stops every one at the end. Each `cluster()` call is a new `KubeCluster` connected to
it, as each pytest worker connects on a real run. Tests that need an empty cluster (no
namespaces or policies of earlier tests) ask for `fresh=True`.

Import the fixture into the test module: `from tests.support.emulated import Emulators,
emulated`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from clusters.emulated.process import EmulatorProcess
from conformance.harness.kube import KubeCluster


class Emulators:
    """Emulator processes by fault, and the clients connected to them."""

    def __init__(self) -> None:
        self._running: dict[str | None, EmulatorProcess] = {}
        self._clients: list[KubeCluster] = []

    def cluster(self, fault: str | None = None, *, fresh: bool = False) -> KubeCluster:
        """A new client of the emulator injecting `fault` (a new emulator when `fresh`)."""
        if fresh and fault in self._running:
            self._running.pop(fault).stop()
        if fault not in self._running:
            self._running[fault] = EmulatorProcess(fault=fault)
        em = self._running[fault]
        client = KubeCluster.connect(em.kubeconfig, em.context)
        self._clients.append(client)
        return client

    def stop(self) -> None:
        for client in self._clients:
            client.close()
        for em in self._running.values():
            em.stop()
        self._clients.clear()
        self._running.clear()


@pytest.fixture(scope="module")
def emulated() -> Iterator[Emulators]:
    emulators = Emulators()
    try:
        yield emulators
    finally:
        emulators.stop()


DAEMONSET_PATH = "/apis/apps/v1/namespaces/kube-system/daemonsets/cilium"


def helm_like_upgrade(cluster: KubeCluster, version: str) -> Callable[[], int]:
    """The agents' part of `helm upgrade`, as an upgrade command: a server-side apply of
    the cilium DaemonSet's template with the new image (the emulator then rolls its
    agents, clusters/emulated/daemonset.py). Returns exit code 0."""
    def run() -> int:
        cluster.api.request(
            "PATCH", DAEMONSET_PATH, body={
                "apiVersion": "apps/v1", "kind": "DaemonSet",
                "metadata": {"name": "cilium", "namespace": "kube-system"},
                "spec": {"template": {"spec": {"containers": [
                    {"name": "cilium-agent", "image": f"quay.io/cilium/cilium:v{version}"}]}}}},
            query={"fieldManager": "helm", "force": "true"},
            content_type="application/apply-patch+yaml", timeout=10)
        return 0
    return run
