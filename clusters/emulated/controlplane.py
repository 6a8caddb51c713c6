"""The emulated cluster's state: Kubernetes objects, pods on three nodes, the Cilium agents,
the data plane, Hubble flows and metrics. One instance serves every xdist worker of a
run (apiserver.py puts it behind HTTP), so what workers share on a real cluster —
revisions, cluster-wide policies, the flow stream, counters — is shared here too.

Time: the monotonic clock drives agent lags; flow times are wall-clock epoch seconds.

Upstream it follows, by behaviour:
- Deployments become pods of `replicas` with the template's labels, spread over the
  workers (`pkg/controller/deployment` -> `replicaset` syncReplicaSet; the manifests'
  topologySpreadConstraints), Running, then Ready after start-up;
- a pod with a readiness probe is Ready only while the kubelet's probe from the node
  succeeds (`pkg/kubelet/prober/worker.go` doProbe -> the Ready condition); the probe is
  the `host` entity to Cilium (`pkg/identity/numericidentity.go` ReservedIdentityHost);
- a deleted namespace is Terminating (deletionTimestamp) until its content is gone, then
  disappears; creating in it is Forbidden (`pkg/controller/namespace/deletion/
  namespaced_resources_deleter.go`; `plugin/pkg/admission/namespace/lifecycle`
  admission.go "because it is being terminated");
- policy objects reach every agent as watch events (`pkg/k8s/watchers` CNP/CCNP/
  NetworkPolicy handlers -> `pkg/policy/cell/policy_importer.go`), see agents.py;
- feature detection reads `cilium-config`, the cilium DaemonSet image and the
  hubble-relay Deployment status, as a chart-installed Cilium has them (chart
  `templates/cilium-configmap.yaml`, `cilium-agent/daemonset.yaml`,
  `hubble-relay/deployment.yaml`).
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from clusters.emulated import faults as fault_registry
from clusters.emulated import validation
from clusters.emulated.agents import Agents, DocKey, Version
from clusters.emulated.cilium_dbg import endpoint_json, policy_answer
from clusters.emulated.daemonset import AgentPods, image_version, template_image
from clusters.emulated.decide import CILIUM_VERSION, Decider
from clusters.emulated.faults.install import CILIUM_DAEMONSET, KUBE_DNS_SERVICE
from clusters.emulated.flows import line, parse_timestamp
from clusters.emulated.metrics import AGENT_PORT, HUBBLE_PORT, NodeCounters
from clusters.emulated.objects import RESOURCES, ApiStatus, Key, ObjectStore, status
from clusters.emulated.rollout import AGENT_RESTART_S, AgentRollout
from clusters.emulated.routes import pod_peer
from clusters.emulated.traffic import Traffic
from clusters.emulated.world import (
    DNS_PORT,
    EXTERNAL_TARGETS,
    KUBE_DNS_IP,
    NODE_IPS,
    NODES,
    WORKER_NODES,
    SimPod,
    World,
)
from conformance.model import evaluate
from conformance.model.probe import Entity, HttpRequest, Probe
from conformance.model.selectors import endpoint_identity
from conformance.vocabulary.workloads import deployment_ports

POLICY_RESOURCES = ("ciliumnetworkpolicies", "ciliumclusterwidenetworkpolicies",
                    "networkpolicies")
IMPORT_LAG_S = (0.02, 0.15)  # per agent and change: the watch event reaching the agent
REGEN_LAG_S = (0.05, 0.3)  # a selected endpoint's regeneration
PROXY_ACK_S = 0.05  # Envoy's NPDS acknowledgement after the regeneration
POD_START_S = 0.3  # from a Deployment's creation to its pods Running and Ready
NAMESPACE_FINALIZE_S = 0.3  # a deleted namespace stays Terminating this long
READINESS_PATH, READINESS_PORT = "/healthz", 8080
AGENT_IMAGE = "quay.io/cilium/cilium:v{version}"
# cilium-config keys the suite's feature detection reads (clusters/detect.py features_from)
CILIUM_CONFIG = {"enable-l7-proxy": "true", "kube-proxy-replacement": "true",
                 "hubble-metrics": "dns drop tcp flow port-distribution icmp httpV2",
                 "hubble-metrics-server": ":9965", "mesh-auth-enabled": "true",
                 "mesh-auth-mutual-enabled": "true", "external-envoy-proxy": "true"}
HOST_ENDPOINT_ID, PENDING_ENDPOINT_ID = 1, 4000


@dataclass
class FlowLog:
    """Flows in the order they become visible (the relay's FlowLog): a flow is visible
    from the time it happened plus the fault's delay, never before it happened."""

    clock: Callable[[], float]  # wall-clock epoch seconds
    pending: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    released: list[dict[str, Any]] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def publish(self, flow: dict[str, Any], visible_at: float) -> None:
        with self.cond:
            self.pending.append((visible_at, flow))
            self.cond.notify_all()

    def _release(self) -> None:
        now = self.clock()
        due = sorted((p for p in self.pending if p[0] <= now), key=lambda p: p[0])
        if due:
            self.pending = [p for p in self.pending if p[0] > now]
            self.released.extend(flow for _, flow in due)

    def read(self, cursor: int, timeout: float) -> tuple[int, list[dict[str, Any]]]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                self._release()
                if len(self.released) > cursor:
                    return len(self.released), self.released[cursor:]
                left = deadline - time.monotonic()
                if left <= 0:
                    return cursor, []
                upcoming = min((p[0] for p in self.pending), default=None)
                wait = left if upcoming is None else min(left, max(upcoming - self.clock(),
                                                                   0.001))
                self.cond.wait(wait)


class ControlPlane:
    def __init__(self, cilium_version: str = CILIUM_VERSION, fault: str | None = None,
                 seed: int = 0, *, clock: Callable[[], float] = time.monotonic,
                 agent_restart_s: float = AGENT_RESTART_S) -> None:
        self.version = cilium_version
        self.agent_restart_s = agent_restart_s
        # A rolling agent upgrade started through the API (the DaemonSet's image changed)
        self.rollout: AgentRollout | None = None
        self.rollout_done = True
        self._agent_pods: AgentPods | None = None
        self.fault = fault_registry.check(fault)
        self.hooks = fault_registry.hooks(fault)  # what the fault changes, by hook point
        validation.kinds(cilium_version)  # UnknownVersion before anything starts
        self.clock = clock
        self._mono0, self._epoch0 = clock(), time.time()
        self.lock = threading.RLock()
        self._rng = random.Random(seed)
        self._jitter_rng = random.Random(seed + 1)
        self.objects = ObjectStore()
        self.world = World.create(seed)
        self.agents = Agents(NODES, clock, import_lag=self._import_lag,
                             regen_lag=self._regen_lag, proxy_lag=self._proxy_lag,
                             lock=self.lock)
        self.counters = {n: NodeCounters(n, frozen=self.hooks.counters_frozen) for n in NODES}
        self.flows = FlowLog(self.wall)
        self.traffic = Traffic(self.world, Decider(fault, cilium_version), self._rng,
                               self.counters, self._publish, probe_delay=self._jitter,
                               wrong_reason=self.hooks.wrong_drop_reason)
        self._pod_ready_at: dict[str, float] = {}
        self._terminating: dict[str, float] = {}
        self._bootstrap()

    # ---- time and lags --------------------------------------------------------------

    def wall(self) -> float:
        return self.wall_at(self.clock())

    def wall_at(self, t: float) -> float:
        """Epoch seconds of the plane's clock reading `t`."""
        return self._epoch0 + (t - self._mono0)

    def _jitter(self) -> float:
        return self._jitter_rng.uniform(0.0, self.hooks.jitter_max_s) \
            if self.hooks.jitter_max_s else 0.0

    def _import_lag(self) -> float:
        return self._rng.uniform(*IMPORT_LAG_S) + self.hooks.import_delay_s + self._jitter()

    def _regen_lag(self) -> float:
        return self._rng.uniform(*REGEN_LAG_S) + self.hooks.regen_delay_s + self._jitter()

    def _proxy_lag(self) -> float:
        return PROXY_ACK_S + self.hooks.proxy_ack_delay_s + self._jitter()

    # ---- bootstrap: what `clusters up` leaves behind -----------------------------------------

    def _bootstrap(self) -> None:
        store = self.objects
        store.apply(("namespaces", "", "kube-system"), {"metadata": {"labels": {
            "kubernetes.io/metadata.name": "kube-system"}}})
        image = AGENT_IMAGE.format(version=self.version)
        if CILIUM_DAEMONSET not in self.hooks.install_missing:
            store.apply(("daemonsets", "kube-system", "cilium"), {"spec": {"template": {
                "spec": {"containers": [{"name": "cilium-agent", "image": image}]}}}})
        store.apply(("configmaps", "kube-system", "cilium-config"), {"data": CILIUM_CONFIG})
        targets = self.hooks.marker_targets or json.dumps(EXTERNAL_TARGETS, sort_keys=True)
        store.apply(("configmaps", "kube-system", "zt-conformance"), {"data": {
            "external-targets": targets}})
        relay = ("deployments", "kube-system", "hubble-relay")
        store.apply(relay, {"spec": {"replicas": 1}})
        store.set_status(relay, {"replicas": 1, "readyReplicas": 1})
        if KUBE_DNS_SERVICE not in self.hooks.install_missing:
            store.apply(("services", "kube-system", "kube-dns"), {"spec": {
                "clusterIP": KUBE_DNS_IP, "ports": [{"name": "dns", "port": DNS_PORT,
                                                     "protocol": "UDP"}]}})
        for i, node in enumerate(NODES):
            name = f"cilium-{'bcdfg'[i]}{node[-1]}x{i}q"
            key = ("pods", "kube-system", name)
            store.apply(key, {"metadata": {"labels": {"k8s-app": "cilium"}}, "spec": {
                "nodeName": node, "hostNetwork": True,
                "containers": [{"name": "cilium-agent", "image": image}]}})
            store.set_status(key, _pod_status(NODE_IPS[node], ready=True))
            self.agents.add_endpoint(HOST_ENDPOINT_ID + i, node, None)
        for pod in self.world.all_pods():
            self._add_pod_object(pod, ready_at=0.0)

    def _log(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def set_version(self, version: str, decider: Decider) -> None:
        """Every agent now runs `version` (the end of a rolling upgrade, rollout.py): its
        CRD schema admits policies, its model decides, its image is on the agent pods."""
        validation.kinds(version)
        with self.lock:
            self.version = version
            self.traffic.decider = decider
            image = AGENT_IMAGE.format(version=version)
            for key, obj in self.objects.objects.items():
                if key[:2] == ("pods", "kube-system"):  # the agent pods, replaced in place
                    obj["spec"]["containers"][0]["image"] = image

    # ---- workloads ---------------------------------------------------------------------

    def _add_pod_object(self, pod: SimPod, ready_at: float) -> None:
        info = pod.info
        key = ("pods", info.namespace, info.name)
        spec: dict[str, Any] = {"nodeName": info.node, "containers": [{"name": pod.app}]}
        self.objects.apply(key, {"metadata": {"labels": dict(info.labels)}, "spec": spec})
        self.objects.set_status(key, _pod_status(info.ip, ready=False))
        self._pod_ready_at[info.name] = ready_at
        ident = endpoint_identity(pod.identity_labels)
        self.agents.add_endpoint(pod.endpoint_id, info.node, ident)
        self._log(f"endpoint {pod.endpoint_id} on {info.node}: {info.namespace}/{info.name} "
                  f"at change {len(self.agents.changes) - 1}")

    def _deployment_applied(self, namespace: str, doc: dict[str, Any]) -> None:
        if namespace == "kube-system":
            return
        spec = doc.get("spec") or {}
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        listen, standin = declared_ports(spec)
        # A stand-in's pods belong to its Deployment whatever labels they carry.
        app = str(doc["metadata"]["name"] if standin else
                  labels.get("app") or doc["metadata"]["name"])
        existing = [p for p in self.world.pods.get(namespace, []) if p.app == app]
        ready_at = self.clock() + POD_START_S
        ports = tuple((n, p, proto) for n, (p, proto) in deployment_ports(spec).items())
        ns_obj = self.objects.objects.get(("namespaces", "", namespace)) or {}
        ns_labels = tuple(sorted(((ns_obj.get("metadata") or {}).get("labels") or {}).items()))
        for i in range(len(existing), int(spec.get("replicas", 1))):
            pod = self.world.add_pod(namespace, app, {**labels, "pod-template-hash":
                                                      "7d9f8c6b5"},
                                     WORKER_NODES[i % len(WORKER_NODES)], listen, standin,
                                     ports, ns_labels)
            self._add_pod_object(pod, ready_at)

    def _service_applied(self, namespace: str, name: str) -> None:
        ip = self.world.add_service(namespace, name)
        key = ("services", namespace, name)
        obj = self.objects.objects[key]
        obj.setdefault("spec", {})["clusterIP"] = ip

    def pod_ready(self, pod: SimPod) -> bool:
        """Running long enough, and (account-service) its kubelet readiness probe from the
        host entity passes the policy the pod's endpoint enforces."""
        if self.clock() < self._pod_ready_at.get(pod.info.name, 0.0):
            return False
        if pod.app != "account-service":
            return True
        probe = Probe(id=f"readiness/{pod.info.name}", source=Entity(entity="host"),
                      destination=pod_peer(pod), port=READINESS_PORT,
                      http=HttpRequest(method="GET", path=READINESS_PATH))
        version = self.agents.version_of(pod.endpoint_id)
        verdict = evaluate(version.policies(), probe, self.version).verdict
        return verdict == "allowed" or self.hooks.readiness_unenforced

    def _refresh_pod(self, key: Key) -> None:
        pod = self._sim_pod(key[1], key[2])
        if pod is not None:
            self.objects.objects[key]["status"] = _pod_status(pod.info.ip, self.pod_ready(pod))

    def _sim_pod(self, namespace: str, name: str) -> SimPod | None:
        return next((p for p in self.world.pods.get(namespace, []) if p.info.name == name),
                    None)

    # ---- the API surface (apiserver.py maps HTTP onto these) ---------------------------

    def get(self, key: Key) -> dict[str, Any]:
        with self.lock:
            self._finalize_namespaces()
            self.tick_rollout()
            if key[0] == "pods" and key in self.objects.objects:
                self._refresh_pod(key)
            return self.objects.get(key)

    def list_objects(self, resource: str, namespace: str | None, selector: str | None
                     ) -> dict[str, Any]:
        with self.lock:
            self._finalize_namespaces()
            self.tick_rollout()
            if resource == "pods":
                for key in [k for k in self.objects.objects if k[0] == "pods"
                            and (namespace is None or k[1] == namespace)]:
                    self._refresh_pod(key)
            items = self.objects.list(resource, namespace, selector)
            api_version, kind, _ = RESOURCES[resource]
            return {"kind": f"{kind}List", "apiVersion": api_version,
                    "metadata": {"resourceVersion": "1"}, "items": items}

    def apply(self, key: Key, doc: dict[str, Any], field_validation: str | None
              ) -> dict[str, Any]:
        """Server-side apply of `doc` at `key`; ApiStatus for what the server refuses."""
        resource, namespace, name = key
        with self.lock:
            self._finalize_namespaces()
            if namespace and ("namespaces", "", namespace) not in self.objects.objects:
                raise status(404, "NotFound", f'namespaces "{namespace}" not found',
                             {"name": namespace, "kind": "namespaces"})
            if namespace in self._terminating:
                raise status(403, "Forbidden", f'{resource} "{name}" is forbidden: unable to '
                             f"create new content in namespace {namespace} because it is "
                             "being terminated")
            stored_doc = self._admit(key, doc, field_validation)
            obj, changed = self.objects.apply(key, stored_doc)
            if changed:
                self._applied(key, obj)
            return obj

    def _admit(self, key: Key, doc: dict[str, Any], directive: str | None) -> dict[str, Any]:
        resource, namespace, name = key
        api_version, kind, _ = RESOURCES[resource]
        full = {**doc, "apiVersion": api_version, "kind": kind,
                "metadata": {**(doc.get("metadata") or {}), "name": name,
                             **({"namespace": namespace} if namespace else {})}}
        if (doc.get("apiVersion"), doc.get("kind")) != (api_version, kind):
            raise status(400, "BadRequest", f"the body of the request was in an unknown "
                         f"format: {doc.get('apiVersion')}/{doc.get('kind')} at {resource}")
        if key == ("daemonsets", "kube-system", "cilium"):
            version = image_version(template_image(full) or "")
            if version is not None and version not in validation.versions():
                raise status(422, "Invalid", f"the emulated cluster runs only Cilium "
                             f"{', '.join(validation.versions())}, not {version}")
        if resource not in POLICY_RESOURCES:
            return full
        try:
            validation.field_validation(directive)
        except ValueError as err:
            raise status(400, "BadRequest", str(err)) from None
        if resource != "networkpolicies":
            unknown = validation.apply_unknown_fields(full, self.version)
            if unknown:
                body = validation.status_apply_failed(full, unknown)
                raise ApiStatus(int(body.get("code", 500)), body)
        causes = validation.validate(full, self.version)
        if self.hooks.policy_refusal:
            causes = [validation.Cause("FieldValueForbidden", "spec", self.hooks.policy_refusal)]
        if causes:
            raise ApiStatus(422, validation.status_invalid(full, causes))
        if resource == "networkpolicies":
            return full
        return validation.decode(full, self.version).object

    def _applied(self, key: Key, obj: dict[str, Any]) -> None:
        resource, namespace, name = key
        if resource == "deployments":
            self._deployment_applied(namespace, obj)
        elif resource == "services":
            self._service_applied(namespace, name)
        elif resource in POLICY_RESOURCES:
            self._policy_changed(key, obj)
        elif key == ("daemonsets", "kube-system", "cilium"):
            self._agents_template_changed(obj)

    # ---- a rolling agent upgrade through the API (daemonset.py, rollout.py) --------------

    def _agents_template_changed(self, obj: dict[str, Any]) -> None:
        """The cilium DaemonSet's pod template changed (what `helm upgrade` does): the
        DaemonSet controller rolls the agents to the template's image."""
        image = template_image(obj) or ""
        version = image_version(image)
        if version is None or version == self.version or not self.rollout_done:
            self._log(f"cilium DaemonSet template changed ({image}): no rollout started")
            return
        self.rollout = AgentRollout(self, version, self.clock(), self.agent_restart_s)
        self.rollout_done = False
        self._agent_pods = AgentPods(self.objects, self.rollout, image,
                                     lambda node, ready: _pod_status(NODE_IPS[node], ready))
        self._log(f"rolling the agents to {version}: " + ", ".join(
            f"{w.node} +{w.start - self.clock():.1f}s..+{w.end - self.clock():.1f}s"
            for w in self.rollout.windows))

    def tick_rollout(self) -> None:
        """Bring the agent pods up to the rollout's progress; at its end every agent runs
        the new release (caller holds the lock)."""
        if self._agent_pods is None or self.rollout is None:
            return
        now = self.clock()
        self._agent_pods.refresh(now)
        if not self.rollout_done and now >= self.rollout.end:
            self.rollout_done = True
            self.rollout.finish()
            self._log(f"every agent runs {self.version}")

    def delete(self, key: Key) -> dict[str, Any]:
        with self.lock:
            self._finalize_namespaces()
            resource, _namespace, name = key
            obj = self.objects.get(key)
            if resource == "namespaces":
                if name not in self._terminating:
                    self.objects.mark_deleting(key)
                    self._terminating[name] = self.clock() + NAMESPACE_FINALIZE_S
                return self.objects.get(key)
            self.objects.delete(key)
            if resource in POLICY_RESOURCES:
                self._policy_changed(key, None, obj["metadata"]["uid"])
            return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                    "details": {"name": name, "kind": resource,
                                "uid": obj["metadata"]["uid"]}}

    def _finalize_namespaces(self) -> None:
        """The namespace controller empties a terminating namespace, then removes it."""
        now = self.clock()
        for name, at in list(self._terminating.items()):
            if at > now:
                continue
            del self._terminating[name]
            for key in [k for k in self.objects.objects if k[1] == name]:
                obj = self.objects.delete(key)
                if key[0] in POLICY_RESOURCES:
                    self._policy_changed(key, None, obj["metadata"]["uid"])
            for pod in self.world.pods.get(name, []):
                self.agents.remove_endpoint(pod.endpoint_id)
                self._pod_ready_at.pop(pod.info.name, None)
            self.world.remove_namespace(name)
            self.objects.delete(("namespaces", "", name))

    # ---- policies reach the agents ------------------------------------------------------

    def _policy_changed(self, key: Key, obj: dict[str, Any] | None, uid: str = "") -> None:
        resource, namespace, name = key
        kind = RESOURCES[resource][1]
        doc_key: DocKey = (kind, namespace, name)
        if self.hooks.foreign_change_s:
            # Someone else's change is imported first; ours waits behind it.
            foreign: DocKey = ("CiliumNetworkPolicy", "kube-public", f"churn-{name}")
            churn = {"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
                     "metadata": {"name": foreign[2], "namespace": foreign[1]},
                     "spec": {"endpointSelector": {"matchLabels": {"churn": name}},
                              "ingress": [{}]}}
            present = foreign in self.agents.latest.docs
            self.agents.change(foreign, None if present else churn, f"churn-{name}")
        extra = self.hooks.foreign_change_s
        if obj is None:
            self.agents.change(doc_key, None, uid, extra)
        else:
            self.agents.change(doc_key, obj, obj["metadata"]["uid"], extra)
        # The emulator's log (emulator.log of the run) records every change for a person.
        print(f"change {len(self.agents.changes) - 1}: {'delete' if obj is None else 'apply'} "
              f"{kind} {namespace}/{name} uid={uid or (obj and obj['metadata']['uid'])}",
              file=sys.stderr, flush=True)

    # ---- agents' answers (cilium-dbg) -------------------------------------------------------

    def agent_node(self, pod_name: str) -> str | None:
        obj = self.objects.find(("pods", "kube-system", pod_name))
        if obj is None or (obj["metadata"].get("labels") or {}).get("k8s-app") != "cilium":
            return None
        node = obj["spec"].get("nodeName")  # unset until the pod is bound (daemonset.py)
        return str(node) if node else None

    def policy_get(self, node: str) -> str:
        with self.lock:
            revision, version = self.agents.repository(node)
            return policy_answer(version, revision, self.version)

    def endpoint_list(self, node: str) -> str:
        with self.lock:
            out = []
            for ep in self.agents.endpoints.values():
                if ep.node != node:
                    continue
                pod = next((p for p in self.world.all_pods()
                            if p.endpoint_id == ep.endpoint_id), None)
                out.append(endpoint_json(
                    ep.endpoint_id, pod, self.agents.realized_revision(ep.endpoint_id),
                    self.agents.proxy_revision(ep.endpoint_id)))
            # An endpoint still being created: no identity yet, never waited for.
            out.append(endpoint_json(PENDING_ENDPOINT_ID + NODES.index(node), None, 0, 0,
                                     pending=True))
            return json.dumps(out, indent=2)

    # ---- the data plane ---------------------------------------------------------------------

    def run_probes(self, namespace: str, pod_name: str, probes: list[Any]
                   ) -> list[dict[str, Any]]:
        with self.lock:
            self.tick_rollout()
            client = self._sim_pod(namespace, pod_name)
            if client is None:
                raise status(404, "NotFound", f'pods "{pod_name}" not found')
            return self.traffic.run(self._version_for, client, self.wall(), probes)

    def _version_for(self, client: SimPod, dest: SimPod | None) -> Version:
        """Egress is decided by the client's endpoint, ingress by the destination's: a
        pair sees the older of the two realized versions (the model decides both
        directions from one policy set; see README, emulated cluster)."""
        mine = self.agents.realized_index(client.endpoint_id)
        if dest is not None and dest.endpoint_id in self.agents.endpoints:
            mine = min(mine, self.agents.realized_index(dest.endpoint_id))
        return self.agents.versions[mine]

    def app_log(self, namespace: str, pod_name: str) -> str:
        """account-service's access log; each read stands for one kubelet readiness period,
        so a pod whose readiness probe the policy lets through gains a GET /healthz line."""
        with self.lock:
            pod = self._sim_pod(namespace, pod_name)
            if pod is None:
                raise status(404, "NotFound", f'pods "{pod_name}" not found')
            log = self.traffic.app_logs.setdefault(pod_name, [])
            if pod.app == "account-service" and self.pod_ready(pod):
                log.append(json.dumps({
                    "event": "request", "protocol": "http", "method": "GET",
                    "path": READINESS_PATH, "status": 200, "probe_id": None,
                    "client": f"{NODE_IPS[pod.info.node]}:{32768 + len(log)}",
                    "served_by": pod_name}, sort_keys=True))
            return "".join(f"{entry}\n" for entry in log)

    def metrics(self, node: str, port: int) -> str | None:
        if port not in (HUBBLE_PORT, AGENT_PORT):
            return None
        with self.lock:
            return self.counters[node].render(port)

    def _publish(self, flow: dict[str, Any]) -> None:
        if flow["verdict"] in self.hooks.hidden_flow_verdicts:
            return
        late = self.hooks.flow_delay_s
        happened = parse_timestamp(flow["time"])
        self.flows.publish(json.loads(line(flow)), happened + late + self._jitter())


def _pod_status(ip: str, ready: bool) -> dict[str, Any]:
    return {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": ip,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"},
                           {"type": "ContainersReady",
                            "status": "True" if ready else "False"}]}


def declared_ports(spec: dict[str, Any]) -> tuple[tuple[tuple[int, str], ...], bool]:
    """The TCP ports a Deployment's containers declare, gRPC (HTTP over TLS) when the
    port's name starts with `grpc` (`tls`), as the workload manifests name them, and
    whether it runs account-service as a stand-in (`--role standin`)."""
    pod_spec = (spec.get("template") or {}).get("spec") or {}
    listen: list[tuple[int, str]] = []
    standin = False
    for c in pod_spec.get("containers") or []:
        command = [str(x) for x in c.get("command") or []]
        standin = standin or "standin" in command
        for p in c.get("ports") or []:
            if isinstance(p.get("containerPort"), int) and p.get("protocol", "TCP") == "TCP":
                name = str(p.get("name", ""))
                kind = next((k for k in ("grpc", "tls") if name.startswith(k)), "http")
                listen.append((p["containerPort"], kind))
    return tuple(listen), standin
