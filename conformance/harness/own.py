"""Run your own policies' cells: mirrored namespaces, stand-in pods, one batch per shard.

Per run and worker, every namespace the policies or cells name (but kube-system) gets a
mirror `ztc-<run>-<worker>-<name>`; the policies are rendered into them with every
namespace reference rewritten (conformance/harness/render.py; the mapping and the rendered
policies are artifacts). Each distinct pod a cell names becomes a stand-in Deployment of the
workloads image carrying exactly that pod's labels (plus STANDIN_LABEL, which Cilium leaves
out of identities), running `account-service --role standin` on every port the cells use
(gRPC where gRPC cells go). The batch itself is ScenarioRun's: one `prober run` exec per
source pod, one Hubble stream, metric scrapes before and after.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from conformance.generate.cells import describe_peer
from conformance.harness.batch import ScenarioRun
from conformance.harness.cluster import ClusterError, PodInfo
from conformance.harness.own_cells import (
    KUBE_SYSTEM,
    STANDIN_LABEL,
    OwnCell,
    OwnScenario,
    configured,
    standin_key,
)
from conformance.harness.planning import (
    MAX_NAMESPACE_LEN,
    Attempt,
    Plan,
    Workspace,
    prober_request,
)
from conformance.harness.render import RUN_LABEL, WORKER_LABEL
from conformance.harness.spec import PAYMENTS
from conformance.model.probe import Fqdn, Pod
from conformance.vocabulary.dns import KUBE_DNS_LABELS

STANDIN_IMAGE = "zt-conformance/workloads:dev"
STANDIN_PREFIX = "standin-"
READINESS_PERIOD_S = 2
PARALLEL_NAMESPACES = 8  # mirrored namespaces deployed (and deleted) at once


def mirror_names(base: str, canonical: Iterable[str]) -> dict[str, str]:
    """Canonical namespace -> `<base>-<name>` (a hash when that would exceed a DNS
    label); `default` first, as render() puts namespace-less policies in the first."""
    names = sorted(set(canonical) - {KUBE_SYSTEM}, key=lambda n: (n != "default", n))
    out: dict[str, str] = {}
    for name in names:
        real = f"{base}-{name}"
        if len(real) > MAX_NAMESPACE_LEN:
            real = f"{base}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
        if len(real) > MAX_NAMESPACE_LEN:
            raise ClusterError(f"namespace {name!r} cannot be mirrored under {base!r}: "
                               f"longer than {MAX_NAMESPACE_LEN} characters")
        out[name] = real
    return out


def pods_of(cells: Iterable[OwnCell]) -> dict[str, dict[str, tuple[Pod, dict[int, str]]]]:
    """canonical namespace -> stand-in key -> (pod, port -> "http" | "grpc")."""
    out: dict[str, dict[str, tuple[Pod, dict[int, str]]]] = {}
    for c in cells:
        assert c.probe is not None
        for peer, is_dest in ((c.probe.source, False), (c.probe.destination, True)):
            if not isinstance(peer, Pod) or peer.namespace == KUBE_SYSTEM:
                continue
            _pod, ports = out.setdefault(peer.namespace, {}).setdefault(
                standin_key(peer), (peer, {}))
            if is_dest and c.probe.protocol == "TCP" and c.probe.dns is None:
                serves = "grpc" if c.probe.grpc is not None else "http"
                if ports.get(c.probe.port) != "grpc":
                    ports[c.probe.port] = serves
    return out


def standin_deployment(key: str, pod: Pod, ports: dict[int, str]) -> dict[str, Any]:
    """A Deployment whose one pod carries `pod`'s labels and serves `ports`."""
    http = ",".join(str(p) for p, serves in sorted(ports.items()) if serves == "http")
    grpc = ",".join(str(p) for p, serves in sorted(ports.items()) if serves == "grpc")
    command = ["account-service", "--role", "standin"]
    command += ["--http-port", http] if http else []
    command += ["--grpc-port", grpc] if grpc else []
    container: dict[str, Any] = {
        "name": "standin", "image": STANDIN_IMAGE, "imagePullPolicy": "IfNotPresent",
        "command": command,
        "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        "ports": [{"name": f"{serves}-{port}", "containerPort": port, "protocol": "TCP"}
                  for port, serves in sorted(ports.items())],
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"},
                      "limits": {"memory": "128Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
    }
    if ports:  # the kubelet's probe comes from the host, which policy always lets in
        container["readinessProbe"] = {"tcpSocket": {"port": min(ports)},
                                       "periodSeconds": READINESS_PERIOD_S}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": STANDIN_PREFIX + key, "labels": {STANDIN_LABEL: key}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {STANDIN_LABEL: key}},
            "template": {
                "metadata": {"labels": {**pod.labels, STANDIN_LABEL: key}},
                "spec": {
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": 2,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 65532,
                                        "runAsGroup": 65532,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [container],
                },
            },
        },
    }


class OwnRun(ScenarioRun):
    """ScenarioRun with stand-ins for the app workloads and the own-policies planner."""

    def _plan(self) -> Plan:
        cells = [c for c in self.scenario.cells if isinstance(c, OwnCell)]
        self._deploy(cells)
        out = Plan()
        version = self.ws.facts.cilium_version
        for n, cell in enumerate(cells):
            exp = self.scenario.expectation_for(cell, version)
            out.expected[cell.id] = exp
            found = self._attempt(cell, f"{self.ws.worker}.{self.scenario.name}.{n}",
                                  exp.verdict == "allowed", exp.explanation)
            if isinstance(found, str):
                out.skipped[cell.id] = found
            else:
                out.attempts[cell.id] = [found]
        return out

    def _deploy(self, cells: list[OwnCell]) -> None:
        """Mirrored namespaces with the stand-ins this shard needs (kept for the worker)."""
        labels = {WORKER_LABEL: self.ws.worker, **({RUN_LABEL: self.ws.run} if self.ws.run
                                                    else {})}
        wanted = pods_of(cells)
        jobs: dict[str, list[dict[str, Any]]] = {}
        for canonical, real in self.ws.namespaces.items():  # also those only policies name
            have = {p.labels.get(STANDIN_LABEL) for p in self.ws.pods.get(real, [])}
            docs = [standin_deployment(k, pod, ports) for k, (pod, ports) in
                    sorted(wanted.get(canonical, {}).items()) if k not in have]
            if docs or real not in self.ws.pods:
                jobs[canonical] = docs

        def deploy(canonical: str) -> list[PodInfo]:
            ns_labels = self._namespace_labels().get(canonical, {})
            return self.ws.cluster.deploy_workloads(
                self.ws.namespaces[canonical], {**ns_labels, **labels}, docs=jobs[canonical],
                key=STANDIN_LABEL)

        # Namespaces side by side: each one's applies and readiness polls overlap.
        with ThreadPoolExecutor(max_workers=PARALLEL_NAMESPACES) as pool:
            for canonical, ready in zip(jobs, pool.map(deploy, jobs), strict=True):
                real = self.ws.namespaces[canonical]
                self.ws.pods[real] = [*self.ws.pods.get(real, []), *ready]

    def _namespace_labels(self) -> dict[str, dict[str, str]]:
        assert isinstance(self.scenario, OwnScenario)
        return self.scenario.namespace_labels

    def _pod(self, pod: Pod) -> PodInfo | None:
        real = self.ws.namespaces.get(pod.namespace)
        key = standin_key(pod)
        return next((p for p in self.ws.pods.get(real or "", [])
                     if p.labels.get(STANDIN_LABEL) == key), None)

    def _attempt(self, cell: OwnCell, aid: str, allowed: bool,
                 exp_text: str) -> Attempt | str:
        """The one attempt of a cell, or why it cannot be sent here."""
        p, facts, timeout = cell.probe, self.ws.facts, self.ws.options.probe_timeout
        assert p is not None
        if not isinstance(p.source, Pod) or p.source.namespace == KUBE_SYSTEM:
            return (f"the source is {describe_peer(p.source)}: probes are sent from pods the "
                    "suite deploys (the model's verdict is in the generated cell)")
        for peer in (p.source, p.destination):
            if isinstance(peer, Pod) and peer.namespace_labels and any(
                    self._namespace_labels().get(peer.namespace, {}).get(k) != v
                    for k, v in peer.namespace_labels.items()):
                return (f"namespace {peer.namespace} cannot carry the labels "
                        f"{peer.namespace_labels} as well as those another cell needs")
        source = self._pod(p.source)
        if source is None:
            raise ClusterError(f"no stand-in for {describe_peer(p.source)}")
        r = cell.request
        if p.protocol == "UDP" and p.dns is None:
            return "UDP other than DNS: the prober sends TCP, HTTP, gRPC and DNS"
        dst = p.destination
        if p.dns is not None:
            if not (isinstance(dst, Pod) and dst.namespace == KUBE_SYSTEM
                    and dst.labels == KUBE_DNS_LABELS):
                return f"a DNS query to {describe_peer(dst)}, which is not kube-dns"
            answer = facts.external_targets.get(p.dns.name)
            if allowed and answer is None:
                return (f"{p.dns.name} is no hermetic target: the allowed query would be "
                        "answered NXDOMAIN upstream, not by the policy")
            return Attempt(cell, aid, source, None, prober_request(r, p.dns.name, timeout),
                           via_service=True, answer_ip=answer)
        if isinstance(dst, Fqdn):
            ip = facts.external_targets.get(dst.fqdn)
            if ip is None and configured().allow_external_fqdn \
                    and not self.ws.options.provisioned:
                # An existing cluster, asked to reach real names: matched by the 5-tuple
                # the prober reports (no known address beforehand).
                return Attempt(cell, aid, source, None, prober_request(r, dst.fqdn + ".", timeout))
            if ip is None:
                return (f"the cluster has no hermetic target for {dst.fqdn} (kind: the "
                        "targets `clusters up` provisions; an existing cluster reaches real "
                        "names only with --allow-external-fqdn)")
            # When the model says the name's lookup is dropped, the client would only see a
            # resolver error: connect to the target's address instead, which (never
            # learned through the DNS proxy) is dropped the same way, visibly.
            lookup_fails = f"DNS lookup of {dst.fqdn} fails" in exp_text
            return Attempt(cell, aid, source, None,
                           prober_request(r, ip if lookup_fails else dst.fqdn + ".", timeout),
                           destination_ip=ip)
        if not isinstance(dst, Pod) or dst.namespace == KUBE_SYSTEM:
            return f"the destination is {describe_peer(dst)}: only stand-in pods are probed"
        target = self._pod(dst)
        if target is None:
            raise ClusterError(f"no stand-in for {describe_peer(dst)}")
        return Attempt(cell, aid, source, target, prober_request(r, target.ip, timeout))

    def app_pods(self) -> list[PodInfo]:
        return [p for pods in self.ws.pods.values() for p in pods if STANDIN_LABEL in p.labels]

    def write_own_artifacts(self, root: Path) -> None:
        write_rewrite(root, self)


def write_rewrite(root: Path, run: OwnRun) -> None:
    """The rewrite, for a person: canonical -> real namespaces, and each policy's name and
    namespace as written and as applied."""
    import json

    originals = run.scenario.policy_documents()
    policies = [{"kind": o.get("kind"),
                 "written": {"namespace": (o.get("metadata") or {}).get("namespace"),
                             "name": (o.get("metadata") or {}).get("name")},
                 "applied": {"namespace": r["metadata"].get("namespace"),
                             "name": r["metadata"]["name"]}}
                for o, r in zip(originals, run.rendered, strict=False)]
    (root / "rewrite.json").write_text(json.dumps(
        {"namespaces": run.ws.namespaces, "policies": policies}, indent=2))
    cells = [{"policy": c.policy, "rule": c.rule, "id": c.id, "why": c.why,
              "skipped": run.skipped_cells.get(c.id)}
             for c in sorted((c for c in run.scenario.cells if isinstance(c, OwnCell)),
                             key=lambda c: (c.policy, c.id))]
    (root / "cells-by-policy.json").write_text(json.dumps(cells, indent=2))
    assert isinstance(run.scenario, OwnScenario)
    # Rules (or parts) without cells: not modelled, a policy selecting nothing, ...
    (root / "not-generated.txt").write_text("".join(
        line + "\n" for line in run.scenario.not_generated))


def close(ws: Workspace) -> None:
    """Delete the mirrored namespaces, several at once (each waits until it is gone)."""
    with ThreadPoolExecutor(max_workers=PARALLEL_NAMESPACES) as pool:
        list(pool.map(ws.cluster.delete_namespace, list(ws.pods)))
    ws.pods.clear()


def own_workspace(ws: Workspace, canonical: Iterable[str]) -> Workspace:
    """The worker's workspace for own policies: mirrored namespaces, no pods yet."""
    base = ws.namespaces[PAYMENTS]
    return Workspace(cluster=ws.cluster, facts=ws.facts, worker=ws.worker, options=ws.options,
                     namespaces=mirror_names(base, canonical), run=ws.run)
