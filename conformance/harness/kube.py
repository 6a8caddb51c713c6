"""KubeCluster: the Cluster interface on a live Kubernetes cluster running Cilium.

Everything goes through `KubeApi` (kube_api.py), three calls wide, so this module's
logic - paths, server-side apply, readiness polling, exec argv, parsing, error
paragraphs - runs in the self-tests against recorded API responses.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import yaml

from conformance.harness.cluster import (
    FEATURE_FQDN_TARGETS,
    AgentPolicy,
    ClusterError,
    ClusterFacts,
    EndpointRevision,
    MetricsScrape,
    NamespaceInfo,
    PodInfo,
    PolicyRejected,
)
from conformance.harness.kube_api import ApiError, ExecResult, ExecStream, KubeApi
from conformance.harness.kube_cilium import (
    AGENT_CONTAINER,
    AGENT_NAMESPACE,
    AGENT_SELECTOR,
    ENDPOINT_LIST_ARGV,
    ENVOY_APP,
    POLICY_GET_ARGV,
    ROLLOUT_SELECTOR,
    parse_endpoints,
    parse_policy,
)
from conformance.harness.kube_objects import (
    FIELD_MANAGER,
    object_path,
    pod_info,
    pod_ready,
    readiness_problems,
    workload_replicas,
)
from conformance.harness.kube_portforward import PortForwardApi
from conformance.harness.kube_relay import RelayFollower
from conformance.vocabulary.dns import KUBE_DNS_NAMESPACE, KUBE_DNS_SERVICE

REQUEST_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 10.0
AGENT_EXEC_TIMEOUT_S = 30.0
PROBE_EXEC_BASE_S = 60.0  # plus the longest probe timeout per PROBER_CONCURRENCY probes
PROBER_CONCURRENCY = 64
WORKLOADS_READY_TIMEOUT_S = 300.0
NAMESPACE_GONE_TIMEOUT_S = 180.0
POLL_S = 1.0
PARALLEL_AGENTS = 8
METRICS_PORTS = (9965, 9962)  # Hubble metrics, agent metrics
MARKER_CONFIGMAP = ("kube-system", "zt-conformance")
TARGETS_KEY = "external-targets"
KUBE_DNS = (KUBE_DNS_NAMESPACE, KUBE_DNS_SERVICE)
MANIFESTS_DIR = Path(__file__).resolve().parents[2] / "manifests" / "workloads"
PROBER_ARGV = ["prober", "run"]

T = TypeVar("T")
R = TypeVar("R")
Detect = Callable[[str | None, str | None], Any]


def _sleep(seconds: float) -> None:
    time.sleep(seconds)  # poll


class KubeCluster:
    def __init__(self, api: KubeApi, kubeconfig: str | None = None, context: str | None = None,
                 *, manifests_dir: Path = MANIFESTS_DIR, detect: Detect | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = _sleep) -> None:
        self.api = api
        self.kubeconfig = kubeconfig
        self.context = context
        self.manifests_dir = manifests_dir
        self._detect = detect
        self._clock = clock
        self._sleep = sleep
        self._facts: ClusterFacts | None = None
        self._detected_objects: dict[str, dict[str, Any] | None] = {}  # path -> as read
        self._followers: list[RelayFollower] = []

    # ---- connecting -------------------------------------------------------------------

    @classmethod
    def connect(cls, kubeconfig: str | None, context: str | None) -> KubeCluster:
        """A KubeCluster for the context; ClusterError (one paragraph) when unreachable."""
        from kubernetes import config
        from kubernetes.config.config_exception import ConfigException

        where = _where(kubeconfig, context)
        try:
            api_client = config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, context=context)
        except (ConfigException, OSError, ValueError, TypeError, KeyError) as err:
            why = str(err).rstrip(".")
            raise ClusterError(f"Cannot load {where}: {why}. Pass --kubeconfig/--context for "
                               "an existing cluster, or use --cluster=kind to create one."
                               ) from err
        from conformance.harness.kube_api import ClientKubeApi

        cluster = cls(ClientKubeApi(api_client), kubeconfig, context)
        cluster.check_reachable()
        return cluster

    def check_reachable(self) -> str:
        """The server's gitVersion; ClusterError naming the context when it does not answer."""
        try:
            version = self.api.request("GET", "/version", timeout=CONNECT_TIMEOUT_S)
        except ApiError as err:
            raise ClusterError(
                f"The Kubernetes API server of {_where(self.kubeconfig, self.context)} did not "
                f"answer: {err.message}. Is the cluster running (`kind get clusters`, "
                "`kubectl get nodes`)? Pass the right --kubeconfig/--context, or use "
                "--cluster=kind to create one.") from err
        return str(version.get("gitVersion", "unknown"))

    # ---- facts --------------------------------------------------------------------------

    def facts(self) -> ClusterFacts:
        if self._facts is None:
            detected = self._run_detect()
            targets = self._external_targets()
            features = set(detected.features)
            if targets:
                features.add(FEATURE_FQDN_TARGETS)
            self._facts = ClusterFacts(cilium_version=str(detected.cilium_version),
                                       features=frozenset(features),
                                       dns_server=self._dns_server(),
                                       external_targets=targets)
        return self._facts

    def _run_detect(self) -> Any:
        from clusters.api import ClustersError, detect_api

        try:
            if self._detect is not None:
                return self._detect(self.kubeconfig, self.context)

            return detect_api(self._get_if_exists)
        except ClustersError as err:
            raise ClusterError(f"Cannot tell which Cilium runs on "
                               f"{_where(self.kubeconfig, self.context)}: {err}") from err

    def _get_if_exists(self, what: str, namespace: str, resource: str, name: str
                       ) -> dict[str, Any] | None:
        """What clusters.detect reads, through the API rather than kubectl."""
        prefix = "/apis/apps/v1" if resource in ("daemonset", "deployment") else "/api/v1"
        path = f"{prefix}/namespaces/{namespace}/{resource}s/{name}"
        try:
            found: dict[str, Any] | None = self._get(path)
        except ApiError as err:
            if err.status != 404:
                raise ClusterError(f"{what}: {err.message}") from err
            found = None
        self._detected_objects[path] = found  # _external_targets reads the marker from here
        return found

    def _dns_server(self) -> str:
        ns, name = KUBE_DNS
        try:
            svc = self._get(f"/api/v1/namespaces/{ns}/services/{name}")
        except ApiError as err:
            raise ClusterError(f"Service {ns}/{name} (the cluster DNS) is missing or unreadable:"
                               f" {err.message}") from err
        ip = svc.get("spec", {}).get("clusterIP")
        ports = svc.get("spec", {}).get("ports") or []
        port = next((p.get("port") for p in ports if p.get("protocol", "TCP") == "UDP"), 53)
        if not ip or ip == "None":
            raise ClusterError(f"Service {ns}/{name} has no clusterIP")
        return f"{ip}:{port}"

    def _external_targets(self) -> dict[str, str]:
        ns, name = MARKER_CONFIGMAP
        path = f"/api/v1/namespaces/{ns}/configmaps/{name}"
        if path in self._detected_objects:  # detection read it a moment ago
            cm = self._detected_objects[path] or {}
        else:
            try:
                cm = self._get(path)
            except ApiError as err:
                if err.status == 404:
                    return {}
                raise ClusterError(f"ConfigMap {ns}/{name} is unreadable: {err.message}"
                                   ) from err
        text = (cm.get("data") or {}).get(TARGETS_KEY)
        if not text:
            return {}
        try:
            targets = json.loads(text)
        except ValueError as err:
            raise ClusterError(f"ConfigMap {ns}/{name} key {TARGETS_KEY!r} is not JSON ({err}); "
                               "expected an object of FQDN to IP") from err
        if not isinstance(targets, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in targets.items()):
            raise ClusterError(f"ConfigMap {ns}/{name} key {TARGETS_KEY!r}: expected an object "
                               "of FQDN to IP strings")
        return dict(targets)

    # ---- workloads ----------------------------------------------------------------------

    def workload_manifests(self) -> list[dict[str, Any]]:
        files = sorted(self.manifests_dir.glob("*.yaml"))
        docs: list[dict[str, Any]] = []
        for file in files:
            try:
                loaded = list(yaml.safe_load_all(file.read_text()))
            except (OSError, yaml.YAMLError) as err:
                raise ClusterError(f"workload manifest {file}: {err}") from err
            docs += [d for d in loaded if isinstance(d, dict)]
        if not docs:
            raise ClusterError(f"no workload manifests (*.yaml) in {self.manifests_dir}")
        return docs

    def deploy_workloads(self, namespace: str, labels: Mapping[str, str] | None = None,
                         docs: list[dict[str, Any]] | None = None,
                         key: str = "app") -> list[PodInfo]:
        docs = self.workload_manifests() if docs is None else docs
        ns_labels = {**(labels or {}), "app.kubernetes.io/part-of": "zt-conformance"}
        self._apply_object({"apiVersion": "v1", "kind": "Namespace",
                            "metadata": {"name": namespace, "labels": ns_labels}})
        for doc in docs:
            placed = {**doc, "metadata": {**doc.get("metadata", {}), "namespace": namespace}}
            self._apply_object(placed)
        return self.wait_workloads(namespace, workload_replicas(docs, key), key)

    def wait_workloads(self, namespace: str, replicas: dict[str, int],
                       key: str = "app") -> list[PodInfo]:
        """Poll until every app (value of label `key`) has its replicas Running and Ready,
        with IP and node."""
        if not replicas:  # a namespace without workloads (own policies name it)
            return []
        deadline = self._clock() + WORKLOADS_READY_TIMEOUT_S
        while True:
            pods = self._pods(namespace, f"{key} in ({','.join(sorted(replicas))})")
            problems = readiness_problems(pods, replicas, key)
            if not problems:
                ready = [pod_info(p) for p in pods if pod_ready(p)]
                return sorted(ready, key=lambda p: (p.labels.get(key, ""), p.name))
            if self._clock() > deadline:
                raise ClusterError(f"workloads in namespace {namespace} not Ready after "
                                   f"{WORKLOADS_READY_TIMEOUT_S:g}s: {'; '.join(problems)}")
            self._sleep(POLL_S)

    def delete_namespace(self, namespace: str) -> None:
        path = f"/api/v1/namespaces/{namespace}"
        try:
            self.api.request("DELETE", path, timeout=REQUEST_TIMEOUT_S)
        except ApiError as err:
            if err.status == 404:
                return
            raise ClusterError(f"deleting namespace {namespace}: {err.message}") from err
        deadline = self._clock() + NAMESPACE_GONE_TIMEOUT_S
        while True:
            try:
                self._get(path)
            except ApiError as err:
                if err.status == 404:
                    return
                raise ClusterError(f"waiting for namespace {namespace} to go: {err.message}"
                                   ) from err
            if self._clock() > deadline:
                raise ClusterError(f"namespace {namespace} still terminating after "
                                   f"{NAMESPACE_GONE_TIMEOUT_S:g}s")
            self._sleep(POLL_S)

    def list_namespaces(self, label_selector: str) -> list[NamespaceInfo]:
        try:
            listing = self._get("/api/v1/namespaces", {"labelSelector": label_selector})
        except ApiError as err:
            raise ClusterError(f"listing namespaces ({label_selector}): {err.message}"
                               ) from err
        out = []
        for item in listing.get("items") or []:
            meta = item.get("metadata") or {} if isinstance(item, dict) else {}
            if not meta.get("name"):
                continue
            out.append(NamespaceInfo(name=str(meta["name"]),
                                     labels=dict(meta.get("labels") or {}),
                                     created=_epoch(meta.get("creationTimestamp"))))
        return out

    def pods_ready(self, namespace: str) -> dict[str, bool]:
        pods = self._pods(namespace, None)
        return {p["metadata"]["name"]: pod_ready(p) for p in pods
                if not p["metadata"].get("deletionTimestamp")}

    # ---- policies -----------------------------------------------------------------------

    def apply(self, docs: list[dict[str, Any]]) -> list[str]:
        uids = []
        for doc in docs:
            try:
                answer = self._apply_object(doc)
            except ApiError as err:
                raise PolicyRejected(_rejection(doc, err)) from err
            uid = (answer.get("metadata") or {}).get("uid")
            if not isinstance(uid, str) or not uid:
                raise ClusterError(f"the API server accepted {_name(doc)} but its answer has "
                                   "no metadata.uid, which the policy wait needs")
            uids.append(uid)
        return uids

    def delete(self, docs: list[dict[str, Any]]) -> list[str]:
        """The uid is read before the DELETE: its answer is the object for some kinds and
        a `Status` for others (apiserver `registry/generic/registry/store.go` Delete)."""
        uids = []
        for doc in docs:
            try:
                path = object_path(doc)
            except ValueError as err:
                raise PolicyRejected(str(err)) from err
            try:
                uid = (self._get(path).get("metadata") or {}).get("uid")
                self.api.request("DELETE", path, timeout=REQUEST_TIMEOUT_S)
            except ApiError as err:
                if err.status == 404:
                    continue
                raise ClusterError(f"deleting {_name(doc)}: {err.message}") from err
            if isinstance(uid, str) and uid:
                uids.append(uid)
        return uids

    def _apply_object(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply: creates or updates, so re-running a scenario is harmless.
        The answer is the object as stored (with metadata.uid)."""
        try:
            path = object_path(doc)
        except ValueError as err:
            raise PolicyRejected(str(err)) from err
        answer = self.api.request("PATCH", path, body=doc,
                                  query={"fieldManager": FIELD_MANAGER, "force": "true"},
                                  content_type="application/apply-patch+yaml",
                                  timeout=REQUEST_TIMEOUT_S)
        return answer if isinstance(answer, dict) else {}

    # ---- agents ---------------------------------------------------------------------------

    def agent_pods(self) -> list[dict[str, Any]]:
        pods = [p for p in self._pods(AGENT_NAMESPACE, AGENT_SELECTOR)
                if p.get("status", {}).get("phase") == "Running"
                and not p["metadata"].get("deletionTimestamp")]
        if not pods:
            raise ClusterError(f"no running Cilium agent pods ({AGENT_SELECTOR}) in namespace "
                               f"{AGENT_NAMESPACE}: is Cilium installed and healthy?")
        return pods

    def _agent_exec(self, pod: dict[str, Any], argv: list[str]) -> str:
        name = pod["metadata"]["name"]
        result = self.api.exec(AGENT_NAMESPACE, name, AGENT_CONTAINER, argv, None,
                               timeout=AGENT_EXEC_TIMEOUT_S)
        if result.exit_code != 0:
            raise ClusterError(f"`{' '.join(argv)}` in {AGENT_NAMESPACE}/{name} "
                               f"({AGENT_CONTAINER}) failed: {_failure(result)}")
        return result.stdout

    def rollout_pods(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(agent pods, cilium-envoy pods), Ready or not, from one list request: `helm
        upgrade` rolls both DaemonSets, and proxied connections are cut while a node's
        Envoy restarts."""
        agents: list[dict[str, Any]] = []
        envoys: list[dict[str, Any]] = []
        for p in self._pods(AGENT_NAMESPACE, ROLLOUT_SELECTOR):
            app = (p["metadata"].get("labels") or {}).get("k8s-app")
            (envoys if app == ENVOY_APP else agents).append(p)
        return agents, envoys

    def agent_template_image(self) -> str | None:
        """The cilium DaemonSet's `cilium-agent` image: what its pods are rolled to (the
        chart names the DaemonSet `cilium`: templates/cilium-agent/daemonset.yaml)."""
        try:
            ds = self._get(f"/apis/apps/v1/namespaces/{AGENT_NAMESPACE}/daemonsets/cilium")
        except ApiError as err:
            raise ClusterError(f"reading DaemonSet {AGENT_NAMESPACE}/cilium: {err.message}"
                               ) from err
        containers = ds.get("spec", {}).get("template", {}).get("spec", {}).get("containers")
        return next((str(c.get("image")) for c in containers or []
                     if c.get("name") == AGENT_CONTAINER), None)

    def agent_policies(self) -> list[AgentPolicy]:
        def one(pod: dict[str, Any]) -> AgentPolicy:
            node = _node(pod)
            return parse_policy(node, self._agent_exec(pod, POLICY_GET_ARGV))

        return _parallel(one, self.agent_pods())

    def endpoint_revisions(self) -> list[EndpointRevision]:
        def one(pod: dict[str, Any]) -> list[EndpointRevision]:
            return parse_endpoints(_node(pod), self._agent_exec(pod, ENDPOINT_LIST_ARGV))

        return [ep for batch in _parallel(one, self.agent_pods()) for ep in batch]

    def scrape_metrics(self) -> list[MetricsScrape]:
        jobs = [(pod, port) for pod in self.agent_pods() for port in METRICS_PORTS]

        def one(job: tuple[dict[str, Any], int]) -> MetricsScrape:
            pod, port = job
            name = pod["metadata"]["name"]
            path = f"/api/v1/namespaces/{AGENT_NAMESPACE}/pods/{name}:{port}/proxy/metrics"
            try:
                text = self.api.request_text(path, timeout=REQUEST_TIMEOUT_S)
            except ApiError as err:
                hint = "hubble.metrics.enabled" if port == 9965 else "prometheus.enabled=true"
                raise ClusterError(f"scraping {AGENT_NAMESPACE}/{name} port {port} failed: "
                                   f"{err.message} (is {hint} set?)") from err
            return MetricsScrape(node=_node(pod), port=port, text=text)

        return _parallel(one, jobs)

    # ---- probes and flows -------------------------------------------------------------------

    @staticmethod
    def prober_argv(payload: str) -> list[str]:
        """`prober run` fed exactly the batch's bytes by `head -c`.

        Closing an exec's stdin needs the v5 channel protocol on both ends, and which one
        is used is known only after the WebSocket handshake
        (`apimachinery/pkg/util/httpstream/wsstream/conn.go` picks from the client's
        offer; proxies and older servers answer v4). The argv travels in the URL, before
        that: so the prober's input is byte-counted and never waits for an EOF that may not
        come."""
        size = len(payload.encode())
        return ["sh", "-c", f"head -c {size} | {' '.join(PROBER_ARGV)}"]

    def run_probes(self, pod: PodInfo, probes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        payload = json.dumps(probes)
        longest = max((float(p.get("timeout", 5.0)) for p in probes if isinstance(p, dict)),
                      default=5.0)
        rounds = -(-len(probes) // PROBER_CONCURRENCY)
        timeout = PROBE_EXEC_BASE_S + longest * max(rounds, 1)
        try:
            result = self.api.exec(pod.namespace, pod.name, None, self.prober_argv(payload),
                                   payload, timeout=timeout)
        except ApiError as err:
            raise ClusterError(f"exec of `prober run` in {pod.namespace}/{pod.name} failed: "
                               f"{err.message}") from err
        if result.exit_code != 0:
            raise ClusterError(f"`prober run` in {pod.namespace}/{pod.name} failed: "
                               f"{_failure(result)}")
        try:
            results = json.loads(result.stdout)
        except ValueError as err:
            raise ClusterError(f"`prober run` in {pod.namespace}/{pod.name} printed no JSON "
                               f"({err}); stderr: {result.stderr.strip()[:500]!r}") from err
        if not isinstance(results, list) or len(results) != len(probes):
            got = len(results) if isinstance(results, list) else type(results).__name__
            raise ClusterError(f"`prober run` in {pod.namespace}/{pod.name} returned {got} "
                               f"results for {len(probes)} probes")
        return results

    def exec_stream(self, pod: PodInfo, argv: list[str]) -> ExecStream:
        """Start argv in the pod with stdin open; its stdout is read while it runs."""
        opener = getattr(self.api, "exec_stream", None)
        if not callable(opener):
            raise ClusterError("this API client cannot stream an exec's output")
        try:
            return cast(ExecStream, opener(pod.namespace, pod.name, None, argv))
        except ApiError as err:
            raise ClusterError(f"exec of `{' '.join(argv)}` in {pod.namespace}/{pod.name} "
                               f"failed: {err.message}") from err

    def app_log(self, pod: PodInfo) -> list[str]:
        path = f"/api/v1/namespaces/{pod.namespace}/pods/{pod.name}/log"
        try:
            text = self.api.request_text(path, timeout=REQUEST_TIMEOUT_S)
        except ApiError as err:
            raise ClusterError(f"reading the log of {pod.namespace}/{pod.name}: "
                               f"{err.message}") from err
        return text.splitlines()

    def follow_flows(self, namespaces: list[str]) -> RelayFollower:
        """Hubble Relay's GetFlows from Python, through a port-forward to the relay pod
        (no hubble or kubectl binary; server-side namespace filters per worker)."""
        if not callable(getattr(self.api, "port_forward", None)):
            raise ClusterError("following Hubble flows needs a port-forward to Hubble Relay, "
                               "which this API client cannot open")
        from conformance.harness.kube_portforward import open_relay_follower

        follower = open_relay_follower(cast(PortForwardApi, self.api), namespaces,
                                       datetime.now(UTC))
        self._followers.append(follower)
        return follower

    def close(self) -> None:
        for follower in self._followers:
            follower.close()
        self._followers.clear()
        close = getattr(self.api, "close", None)
        if callable(close):
            close()

    # ---- helpers ------------------------------------------------------------------------------

    def _get(self, path: str, query: dict[str, str] | None = None) -> dict[str, Any]:
        answer = self.api.request("GET", path, query=query, timeout=REQUEST_TIMEOUT_S)
        return answer if isinstance(answer, dict) else {}

    def _pods(self, namespace: str, selector: str | None) -> list[dict[str, Any]]:
        query = {"labelSelector": selector} if selector else None
        try:
            listing = self._get(f"/api/v1/namespaces/{namespace}/pods", query)
        except ApiError as err:
            raise ClusterError(f"listing pods in {namespace}: {err.message}") from err
        return [p for p in listing.get("items") or [] if isinstance(p, dict)]


def _epoch(stamp: Any) -> float:
    """RFC 3339 `metadata.creationTimestamp` (always UTC, `Z`) as epoch seconds; 0 when
    absent or unreadable (then the object counts as old)."""
    try:
        return datetime.strptime(str(stamp), "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=UTC).timestamp()
    except ValueError:
        return 0.0


def _where(kubeconfig: str | None, context: str | None) -> str:
    return (f"context {context or '(current)'} of kubeconfig "
            f"{kubeconfig or '$KUBECONFIG or ~/.kube/config'}")


def _name(doc: dict[str, Any]) -> str:
    meta = doc.get("metadata") or {}
    ns = f"{meta.get('namespace')}/" if meta.get("namespace") else ""
    return f"{doc.get('kind', 'object')} {ns}{meta.get('name', '?')}"


def _rejection(doc: dict[str, Any], err: ApiError) -> str:
    hint = ""
    if err.status == 404 and str(doc.get("apiVersion", "")).startswith("cilium.io/"):
        hint = (" (the CRD is not installed: is Cilium running, and has its operator "
                "created ciliumnetworkpolicies.cilium.io?)")
    return f"the API server rejected {_name(doc)}: {err.message}{hint}"


def _failure(result: ExecResult) -> str:
    detail = result.stderr.strip() or result.message or "no output"
    code = f"exit code {result.exit_code}" if result.exit_code >= 0 else "no exit code"
    return f"{code}: {detail[:2000]}"


def _node(pod: dict[str, Any]) -> str:
    return str(pod.get("spec", {}).get("nodeName") or pod["metadata"]["name"])


def _parallel(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    work = list(items)
    if len(work) <= 1:
        return [fn(item) for item in work]
    with ThreadPoolExecutor(max_workers=min(PARALLEL_AGENTS, len(work))) as pool:
        return list(pool.map(fn, work))

