"""Rollout readiness as `kubectl rollout status` sees it, from recorded-shape objects."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from clusters.env import Env, Kube
from clusters.runner import CommandResult
from clusters.waits import nodes_ready, rollout


class Answer:
    def __init__(self, doc: dict[str, Any] | None, stderr: str = "") -> None:
        self.doc, self.stderr = doc, stderr

    def run(self, argv: Sequence[str], *, timeout: float,
            env: Mapping[str, str] | None = None, stdin: str | None = None) -> CommandResult:
        if self.doc is None:
            return CommandResult(tuple(argv), 1, "", self.stderr)
        return CommandResult(tuple(argv), 0, json.dumps(self.doc), "")


def check(kind: str, doc: dict[str, Any] | None, stderr: str = "") -> tuple[bool, str]:
    env = Env(runner=Answer(doc, stderr), tool=lambda n: n)
    return rollout(kind, "kube-system", "x")(env, Kube(None, None))


def deploy(gen: int, observed: int, replicas: int, updated: int, available: int,
           total: int) -> dict[str, Any]:
    return {"metadata": {"generation": gen}, "spec": {"replicas": replicas},
            "status": {"observedGeneration": observed, "updatedReplicas": updated,
                       "availableReplicas": available, "replicas": total}}


@pytest.mark.parametrize(("doc", "ready"), [
    (deploy(2, 2, 1, 1, 1, 1), True),
    (deploy(3, 2, 1, 1, 1, 1), False),   # restart not yet observed
    (deploy(2, 2, 1, 1, 1, 2), False),   # an old pod still around
    (deploy(2, 2, 2, 2, 1, 2), False),   # one replica not available
    (deploy(2, 2, 0, 0, 0, 0), False),   # scaled to zero is not "ready"
])
def test_deployment_rollout(doc: dict[str, Any], ready: bool) -> None:
    assert check("deployment", doc)[0] is ready


def test_daemonset_rollout_and_detail() -> None:
    ds = {"metadata": {"generation": 1}, "status": {
        "observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3,
        "numberAvailable": 2}}
    assert check("daemonset", ds) == (False, "daemonset/x: 2/3 available, 3 updated")
    ds["status"]["numberAvailable"] = 3
    assert check("daemonset", ds)[0] is True


def test_missing_object_names_kubectls_reason() -> None:
    ok, detail = check("daemonset", None, 'Error from server (NotFound): daemonsets "x" not found')
    assert not ok and detail.endswith('daemonsets "x" not found')


def test_nodes_ready_lists_the_ones_that_are_not() -> None:
    def node(name: str, ready: str) -> dict[str, Any]:
        return {"metadata": {"name": name},
                "status": {"conditions": [{"type": "Ready", "status": ready}]}}

    doc = {"items": [node("a", "True"), node("b", "False")]}
    env = Env(runner=Answer(doc), tool=lambda n: n)
    assert nodes_ready(env, Kube(None, None)) == (False, "not Ready: b")
    env = Env(runner=Answer({"items": []}), tool=lambda n: n)
    assert nodes_ready(env, Kube(None, None)) == (False, "no nodes registered")
