"""The disruption watch on a live cluster (kind, existing, or the emulated one through the
same client): `prober watch` in one client pod per worker while the upgrade runs, the
agents' restart windows read from the API, judged by watch.summarize.

1. Workloads in a namespace of their own (Options.namespace; one payment-processor per
   worker, spread like account-service), watch.yaml's policies applied and realized on
   every endpoint (harness policy_wait).
2. In each client, `prober watch` through a streaming exec: the paths of watch.yaml at
   its rate to an account-service pod on another node (so two agents matter), and the
   long-lived streams, opened before the upgrade.
3. The upgrade command runs; meanwhile the agent pods (kube-system, k8s-app=cilium) and
   the cilium-envoy pods (k8s-app=cilium-envoy, whose restart cuts proxied connections;
   named `envoy@<node>` in what was restarting) are polled: a node whose pod is not Ready
   or is terminating (deletionTimestamp) is restarting from the last poll that saw it
   Ready, until a pod of the node is Ready and not terminating (the pod Ready condition:
   kubernetes pkg/api/v1/pod IsPodReady; the DaemonSet's rolling update replaces a node's
   pod after the old one is gone: pkg/controller/daemon update.go rollingUpdate). The
   rollout is over when every node's agent is Ready with the DaemonSet template's image
   (what `kubectl rollout status` reads from the DaemonSet's status counters:
   kubectl/pkg/polymorphichelpers/rollout_status.go) and no Envoy pod is restarting.
4. After a tail, `stop` on each exec's stdin (the exec protocol's channel 0; no reliance
   on stdin's close, which only the v5 protocol has), the rest of the output is read,
   samples and stream events become watch.Sample/Stream, the windows watch.Window.
The watch policies and namespace are removed when the watch passes; on failure the
cluster is left as it is, and the next watch deletes the leftover namespace first.

Times: samples carry the pod's wall clock, windows this process's; on kind and the
emulated cluster that is one host's clock. A window's edges are known to one poll
interval.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from conformance.harness.cluster import ACCOUNT_SERVICE, PAYMENT_PROCESSOR, ClusterError, PodInfo
from conformance.harness.kube import KubeCluster
from conformance.harness.kube_api import ApiError, ExecStream
from conformance.harness.kube_objects import pod_ready
from conformance.harness.planning import prober_request
from conformance.harness.policy_wait import apply_and_wait, delete_and_wait
from conformance.harness.spec import Request, http
from conformance.upgrade.watch import (
    Budget,
    Sample,
    Stream,
    WatchPath,
    WatchReport,
    WatchSpec,
    Window,
    summarize,
)

WATCH_ARGV = ["prober", "watch"]
STOP_LINE = "stop\n"


@dataclass(frozen=True)
class Options:
    # its own namespace (watch.yaml's policies are re-namespaced): on an existing cluster
    # `payments` may be somebody's
    namespace: str = "zt-upgrade-watch"
    clients: int = 2  # payment-processor replicas: one per worker of `clusters up`'s kind
    probe_timeout_s: float = 1.0
    stream_interval_s: float = 1.0
    stream_timeout_s: float = 3.0
    lead_s: float = 2.0  # samples before the upgrade starts
    tail_s: float = 3.0  # and after the last agent is Ready again
    poll_s: float = 0.25  # agent pods polled this often
    open_timeout_s: float = 30.0  # every stream opened (or failed) within this
    # the whole `clusters upgrade` (image preload, pre-flight, helm, waits) and the rollout
    # within this; live.py kills the command there rather than leave it running unwatched
    rollout_timeout_s: float = 1800.0
    finish_timeout_s: float = 30.0  # a stopped watch prints its summary within this
    read_s: float = 0.05  # longest wait for one exec's output per turn


@dataclass
class Client:
    pod: PodInfo
    server: PodInfo
    exec: ExecStream
    buffer: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)

    def pump(self, timeout: float) -> None:
        self._take(self.exec.read(timeout))

    def _take(self, text: str) -> None:
        self.buffer += text
        *lines, self.buffer = self.buffer.split("\n")
        for line in lines:
            if line.strip():
                try:
                    self.events.append(json.loads(line))
                except ValueError:
                    self.events.append({"type": "garbage", "line": line[:200]})

    def streams_settled(self, names: list[str]) -> bool:
        seen = {e.get("stream") for e in self.events if e.get("type") == "stream"}
        return all(n in seen for n in names)


@dataclass
class AgentWindows:
    """Restart windows per node, from successive polls of the agent pods: from the last
    poll that saw the node's agent Ready to the first that sees it Ready again, so the
    window holds the whole restart (it may be one poll interval longer at each end)."""

    open: dict[str, float] = field(default_factory=dict)
    closed: list[Window] = field(default_factory=list)
    nodes: set[str] = field(default_factory=set)
    last_up: dict[str, float] = field(default_factory=dict)

    def observe(self, pods: list[dict[str, Any]], sent: float, now: float) -> None:
        """`pods` as listed by a request sent at `sent` and answered at `now`: the state
        held at some instant in between, so a node seen Ready was Ready at `sent` at the
        latest and one seen back is back by `now`."""
        up: dict[str, bool] = {}
        for p in pods:
            node = str((p.get("spec") or {}).get("nodeName") or "")
            if not node:
                # created by the DaemonSet controller with a node affinity, bound by the
                # scheduler a moment later (kubernetes pkg/controller/daemon
                # daemon_controller.go syncNodes, ReplaceDaemonSetPodNodeNameNodeAffinity):
                # until then it is nobody's agent, and its node counts as down anyway
                continue
            ok = pod_ready(p) and not p["metadata"].get("deletionTimestamp")
            up[node] = up.get(node, False) or ok
        self.nodes |= set(up)
        for node in sorted(self.nodes):
            if not up.get(node, False):
                self.open.setdefault(node, self.last_up.get(node, sent))
                continue
            if node in self.open:
                self.closed.append(Window(node, self.open.pop(node), now))
            self.last_up[node] = sent

    def done(self, pods: list[dict[str, Any]], image: str | None) -> bool:
        """Every node's agent Ready, none terminating, all on the template's image."""
        if self.open or image is None:
            return False
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        return bool(live) and all(pod_ready(p) and _image(p) == image for p in live)

    def windows(self, t0: float, now: float, prefix: str = "") -> list[Window]:
        out = [Window(prefix + w.node, w.start - t0, w.end - t0) for w in self.closed]
        out += [Window(prefix + n, s - t0, now - t0) for n, s in self.open.items()]
        return sorted(out, key=lambda w: (w.start, w.node))


def _image(pod: dict[str, Any]) -> str | None:
    containers = (pod.get("spec") or {}).get("containers") or []
    return next((str(c.get("image")) for c in containers if c.get("name") == "cilium-agent"),
                None)


def watch_request(path: WatchPath) -> Request:
    """The suite's request for a watch.yaml path (prober_request makes its JSON)."""
    p = path.probe
    if p.dns is not None:
        return Request("dns", "kube-dns", p.port, dns_name=p.dns.name)
    if p.http is not None:
        return http(p.http.method, p.http.path, port=p.port)
    if p.grpc is not None:
        return Request("grpc", ACCOUNT_SERVICE, p.port,
                       grpc_method=p.grpc.method)
    return Request("tcp", ACCOUNT_SERVICE, p.port)


def prober_spec(spec: WatchSpec, server: PodInfo, opts: Options, max_s: float
                ) -> dict[str, Any]:
    """The `prober watch` spec line for a client whose paths go to `server`."""
    paths = []
    for path in spec.paths:
        r = watch_request(path)
        host = r.dns_name or server.ip  # a DNS path asks for its name
        paths.append({"name": path.name, "probe": prober_request(r, host, opts.probe_timeout_s)})
    streams = []
    for st in spec.streams:
        grpc = st.probe.grpc
        streams.append({"name": st.name, "kind": "grpc" if grpc else "tcp", "host": server.ip,
                        "port": st.probe.port, "interval_s": opts.stream_interval_s,
                        "timeout_s": opts.stream_timeout_s,
                        **({"method": f"/{grpc.service}/{grpc.method}"} if grpc else {})})
    return {"rate_per_s": spec.rate_per_s, "max_duration_s": max_s,
            "timeout_s": opts.probe_timeout_s, "paths": paths, "streams": streams}


def workload_docs(cluster: KubeCluster, clients: int) -> list[dict[str, Any]]:
    """The suite's workloads, with one payment-processor per worker: `clients` replicas
    spread one per node (topologySpreadConstraints maxSkew 1 on kubernetes.io/hostname,
    as account-service's manifest does)."""
    out = []
    for doc in cluster.workload_manifests():
        if doc.get("kind") == "Deployment" and doc["metadata"]["name"] == PAYMENT_PROCESSOR:
            tmpl = doc["spec"]["template"]
            spread = [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                       "whenUnsatisfiable": "DoNotSchedule",
                       "labelSelector": {"matchLabels": {"app": PAYMENT_PROCESSOR}}}]
            doc = {**doc, "spec": {**doc["spec"], "replicas": clients, "template": {
                **tmpl, "spec": {**tmpl["spec"], "topologySpreadConstraints": spread}}}}
        out.append(doc)
    return out


def pairs(pods: list[PodInfo]) -> list[tuple[PodInfo, PodInfo]]:
    """(client, server) per client node: a server on another node where there is one."""
    clients = {p.node: p for p in pods if p.labels.get("app") == PAYMENT_PROCESSOR}
    servers = [p for p in pods if p.labels.get("app") == ACCOUNT_SERVICE]
    if not clients or not servers:
        raise ClusterError(f"the watch needs {PAYMENT_PROCESSOR} and {ACCOUNT_SERVICE} "
                           "pods in its namespace")
    return [(c, next((s for s in servers if s.node != node), servers[0]))
            for node, c in sorted(clients.items())]


def live_watch(cluster: KubeCluster, upgrade: Callable[[], int], spec: WatchSpec,
               budget: Budget, opts: Options | None = None,
               log: Callable[[str], object] = lambda _s: None) -> WatchReport:
    """Run `upgrade` under the watch; the judged report. The upgrade's exit code is the
    caller's to judge (it wraps `upgrade`); a non-zero one ends the watch after the tail
    instead of waiting for a rollout that may never finish."""
    opts = opts or Options()
    # A failed watch leaves its namespace for inspection; the next run starts clean (the
    # same objects re-applied would be no-op applies that move no agent's revision, and the
    # policy wait would then wait in vain: conformance/harness/planning.py)
    cluster.delete_namespace(opts.namespace)
    pods = cluster.deploy_workloads(opts.namespace, docs=workload_docs(cluster, opts.clients))
    policies = [{**d, "metadata": {**d["metadata"], "namespace": opts.namespace}}
                for d in spec.policies]
    apply_and_wait(cluster, policies)
    max_s = opts.open_timeout_s + opts.lead_s + opts.rollout_timeout_s + opts.tail_s \
        + opts.finish_timeout_s
    clients: list[Client] = []
    problems: list[str] = []
    agents = AgentWindows()
    envoys = AgentWindows()  # the cilium-envoy DaemonSet, rolled by the same helm upgrade
    try:
        for client, server in pairs(pods):
            ex = cluster.exec_stream(client, WATCH_ARGV)
            clients.append(Client(client, server, ex))
            ex.send(json.dumps(prober_spec(spec, server, opts, max_s)) + "\n")
            log(f"watching from {client.name} on {client.node} to {server.name} on "
                f"{server.node}")
        names = [s.name for s in spec.streams]
        _pump_until(clients, lambda: all(c.streams_settled(names) for c in clients),
                    opts.open_timeout_s, opts, problems, "the streams to open")
        _pump_until(clients, lambda: False, opts.lead_s, opts, problems, "")
        problems += _not_watching(clients)
        sent = time.time()
        agent_pods, envoy_pods = cluster.rollout_pods()  # all Ready, before
        answered = time.time()
        agents.observe(agent_pods, sent, answered)
        envoys.observe(envoy_pods, sent, answered)
        t0 = time.time()
        if not problems:  # never upgrade unobserved
            _run_upgrade(cluster, clients, upgrade, (agents, envoys), opts, problems, log)
        else:
            problems.append("the upgrade was not started: the watch was not running")
        now = time.time()
        for c in clients:
            _stop(c, opts, problems)
    finally:
        for c in clients:
            c.exec.close()
    report = _judge(clients, agents.windows(t0, now) + envoys.windows(t0, now, "envoy@"),
                    spec, budget, t0)
    report.failures = problems + report.failures
    if not report.failures:
        delete_and_wait(cluster, policies)
        cluster.delete_namespace(opts.namespace)
    return report


def _not_watching(clients: list[Client]) -> list[str]:
    """Why the watch cannot observe the upgrade: a watch that ended, a stream that did
    not open."""
    out = []
    for c in clients:
        where = f"{c.pod.namespace}/{c.pod.name} on {c.pod.node}"
        if not c.exec.is_open():
            out.append(f"`prober watch` in {where} ended before the upgrade")
        for e in c.events:
            if e.get("type") == "stream" and e.get("event") == "reset":
                out.append(f"stream {e.get('stream')} from {where} was not established "
                           f"before the upgrade: {e.get('detail')}")
    return out


def _pump_until(clients: list[Client], cond: Callable[[], bool], seconds: float,
                opts: Options, problems: list[str], what: str) -> None:
    deadline = time.monotonic() + seconds
    while not cond() and time.monotonic() < deadline:
        for c in clients:
            c.pump(opts.read_s)
    if what and not cond():
        problems.append(f"{what} took longer than {seconds:g}s")


def _run_upgrade(cluster: KubeCluster, clients: list[Client], upgrade: Callable[[], int],
                 pods_of: tuple[AgentWindows, AgentWindows], opts: Options,
                 problems: list[str], log: Callable[[str], object]) -> int:
    """Run the upgrade in a thread while reading the watch and polling the agents, until
    it ended and the rollout is done (or it failed), plus the tail; its exit code."""
    agents, envoys = pods_of
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(upgrade()), daemon=True,
                              name="upgrade")
    thread.start()
    deadline = time.monotonic() + opts.rollout_timeout_s
    next_poll = settled = 0.0
    while True:
        mono = time.monotonic()
        if mono >= next_poll:
            next_poll = mono + opts.poll_s
            try:
                sent = time.time()
                pods, envoy_pods = cluster.rollout_pods()
                answered = time.time()
                agents.observe(pods, sent, answered)
                envoys.observe(envoy_pods, sent, answered)
                done = not thread.is_alive() and not envoys.open and agents.done(
                    pods, cluster.agent_template_image())
            except ClusterError as err:
                log(f"polling the agents: {err}")
                done = False
            failed = not thread.is_alive() and bool(result) and result[0] != 0
            if (done or failed) and not settled:
                settled = mono
                log("every agent is Ready on the new image" if done else
                    f"the upgrade command exited {result[0]}")
            if settled and mono >= settled + opts.tail_s:
                return result[0] if result else -1
        if mono > deadline:
            problems.append(f"the upgrade and the agents' rollout did not finish within "
                            f"{opts.rollout_timeout_s:g}s")
            return result[0] if result else -1
        for c in clients:
            c.pump(opts.read_s)


def _stop(c: Client, opts: Options, problems: list[str]) -> None:
    where = f"{c.pod.namespace}/{c.pod.name}"
    try:
        if c.exec.is_open():  # else it already ended (max duration, or it failed)
            c.exec.send(STOP_LINE)
        result = c.exec.finish(opts.finish_timeout_s)
    except (ApiError, ClusterError) as err:
        problems.append(f"`prober watch` in {where}: {err}")
        return
    c._take(result.stdout + "\n")
    if result.exit_code != 0:
        problems.append(f"`prober watch` in {where} failed (exit {result.exit_code}): "
                        f"{(result.stderr or result.message).strip()[:500]}")
    elif not any(e.get("type") == "summary" for e in c.events):
        problems.append(f"`prober watch` in {where} ended without its summary line")


def _judge(clients: list[Client], windows: list[Window], spec: WatchSpec, budget: Budget,
           t0: float) -> WatchReport:
    """`windows`: the agents' by node, the Envoy pods' as `envoy@<node>`."""

    def down(t: float) -> tuple[str, ...]:
        return tuple(sorted({w.node for w in windows if w.start <= t < w.end}))

    known = {p.name for p in spec.paths}
    samples: list[Sample] = []
    streams: list[Stream] = []
    for c in clients:
        resets: dict[str, float | None] = {s.name: None for s in spec.streams}
        for e in c.events:
            if e.get("type") == "sample" and e.get("path") in known:
                t = float(e["t"]) - t0
                samples.append(Sample(round(t, 3), c.pod.node, str(e["path"]),
                                      str(e["outcome"]), down(t)))
            elif e.get("type") == "stream" and e.get("event") == "reset" \
                    and e.get("stream") in resets and resets[e["stream"]] is None:
                resets[e["stream"]] = float(e["t"]) - t0
        for name, at in resets.items():
            streams.append(Stream(name, c.pod.node, None if at is None else round(at, 3),
                                  down(at) if at is not None else ()))
    return summarize(spec, samples, streams, windows, budget)
