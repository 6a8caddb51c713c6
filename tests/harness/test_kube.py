"""KubeCluster against recorded API server answers (tests/harness/data/kube/).

The fake stands where the kubernetes client would: it serves recorded JSON/text per
(method, path), recorded exec results per argv, and records every call so the tests can
check the exact requests KubeCluster makes (paths, server-side apply, exec argv, stdin).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conformance.harness.cluster import (
    FEATURE_FQDN_TARGETS,
    FEATURE_L7_PROXY,
    AgentPolicy,
    ClusterError,
    EndpointRevision,
    PodInfo,
    PolicyRejected,
)
from conformance.harness.kube import KubeCluster
from conformance.harness.kube_api import ApiError, ExecResult, parse_exec_status, status_error

DATA = Path(__file__).parent / "data" / "kube"
AGENT_EXEC = ("kube-system", "cilium-agent")


def data(name: str) -> Any:
    text = (DATA / name).read_text()
    return json.loads(text) if name.endswith(".json") else text


def api_error(name: str) -> ApiError:
    body = (DATA / name).read_text()
    return status_error(json.loads(body)["code"], body, "fallback")


Answer = Any | ApiError | Callable[[], Any]


@dataclass
class Call:
    method: str
    path: str
    body: Any = None
    query: dict[str, str] | None = None
    content_type: str | None = None


@dataclass
class FakeKubeApi:
    """Recorded answers keyed by (METHOD, path); exec answers keyed by argv tuple."""

    answers: dict[tuple[str, str], list[Answer]] = field(default_factory=dict)
    execs: dict[tuple[str, ...], ExecResult | ApiError] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    exec_calls: list[tuple[str, str, str | None, list[str], str | None]] = field(
        default_factory=list)

    def on(self, method: str, path: str, *answers: Answer) -> None:
        self.answers[(method, path)] = list(answers)

    def _answer(self, method: str, path: str) -> Any:
        queue = self.answers.get((method, path))
        if not queue:
            raise AssertionError(f"unexpected request {method} {path}")
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, ApiError):
            raise answer
        return answer() if callable(answer) else answer

    def request(self, method: str, path: str, *, body: Any = None,
                query: dict[str, str] | None = None, content_type: str | None = None,
                timeout: float) -> Any:
        assert timeout > 0
        self.calls.append(Call(method, path, body, query, content_type))
        key = f"{path}?{query['labelSelector']}" if query and "labelSelector" in query else path
        return self._answer(method, key)

    def request_text(self, path: str, *, timeout: float) -> str:
        self.calls.append(Call("GET", path))
        return str(self._answer("GET", path))

    def exec(self, namespace: str, pod: str, container: str | None, argv: list[str],
             stdin: str | None, *, timeout: float) -> ExecResult:
        assert timeout > 0
        self.exec_calls.append((namespace, pod, container, list(argv), stdin))
        answer = self.execs[tuple(argv)]
        if isinstance(answer, ApiError):
            raise answer
        return answer


class Detected:
    cilium_version = "1.20.0"
    features = frozenset({FEATURE_L7_PROXY})


def cluster(api: FakeKubeApi, **kwargs: Any) -> KubeCluster:
    return KubeCluster(api, "/tmp/kubeconfig", "kind-zt", detect=lambda kc, ctx: Detected(),
                       sleep=lambda s: None, **kwargs)


def with_agents(api: FakeKubeApi) -> FakeKubeApi:
    api.on("GET", "/api/v1/namespaces/kube-system/pods?k8s-app=cilium", data("pods-cilium.json"))
    return api


# ---- connecting and facts -----------------------------------------------------------------


def test_reachable_cluster_reports_its_version() -> None:
    api = FakeKubeApi()
    api.on("GET", "/version", data("version.json"))
    assert cluster(api).check_reachable() == "v1.33.1"


def test_unreachable_cluster_is_one_paragraph_naming_the_context() -> None:
    api = FakeKubeApi()
    api.on("GET", "/version", ApiError(0, "MaxRetryError: connection refused"))
    with pytest.raises(ClusterError) as err:
        cluster(api).check_reachable()
    text = str(err.value)
    assert "kind-zt" in text and "/tmp/kubeconfig" in text and "connection refused" in text
    assert "\n" not in text


def test_connect_with_a_missing_kubeconfig_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="Cannot load context nope"):
        KubeCluster.connect(str(tmp_path / "missing.yaml"), "nope")


def test_connect_to_a_dead_server_names_the_context(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: dead\n"
        "clusters:\n- name: dead\n  cluster:\n    server: https://127.0.0.1:1\n"
        "contexts:\n- name: dead\n  context:\n    cluster: dead\n    user: u\n"
        "users:\n- name: u\n  user:\n    token: t\n")
    with pytest.raises(ClusterError) as err:
        KubeCluster.connect(str(kubeconfig), "dead")
    assert "context dead" in str(err.value) and "did not answer" in str(err.value)


def test_facts_join_detection_dns_service_and_external_targets() -> None:
    api = FakeKubeApi()
    api.on("GET", "/api/v1/namespaces/kube-system/services/kube-dns",
           data("service-kube-dns.json"))
    api.on("GET", "/api/v1/namespaces/kube-system/configmaps/zt-conformance",
           data("configmap-zt-conformance.json"))
    facts = cluster(api).facts()
    assert facts.cilium_version == "1.20.0"
    assert facts.features == {FEATURE_L7_PROXY, FEATURE_FQDN_TARGETS}
    assert facts.dns_server == "10.96.0.10:53"
    assert facts.external_targets == {"api.stripe.com": "172.18.0.10",
                                      "api.pastebin.com": "172.18.0.11"}


def test_facts_without_the_marker_configmap_have_no_fqdn_targets() -> None:
    api = FakeKubeApi()
    api.on("GET", "/api/v1/namespaces/kube-system/services/kube-dns",
           data("service-kube-dns.json"))
    api.on("GET", "/api/v1/namespaces/kube-system/configmaps/zt-conformance",
           api_error("status-not-found.json"))
    facts = cluster(api).facts()
    assert facts.external_targets == {} and FEATURE_FQDN_TARGETS not in facts.features


def test_bad_targets_json_names_the_configmap_key() -> None:
    api = FakeKubeApi()
    api.on("GET", "/api/v1/namespaces/kube-system/services/kube-dns",
           data("service-kube-dns.json"))
    cm = data("configmap-zt-conformance.json")
    cm["data"]["external-targets"] = "{not json"
    api.on("GET", "/api/v1/namespaces/kube-system/configmaps/zt-conformance", cm)
    with pytest.raises(ClusterError, match="zt-conformance key 'external-targets'"):
        cluster(api).facts()


# ---- workloads ----------------------------------------------------------------------------

MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: account-service, labels: {app: account-service}}
spec:
  replicas: 2
  selector: {matchLabels: {app: account-service}}
  template:
    metadata: {labels: {app: account-service}}
    spec: {containers: [{name: account-service, image: zt-conformance/workloads:dev}]}
---
apiVersion: v1
kind: Service
metadata: {name: account-service}
spec: {selector: {app: account-service}, ports: [{name: http, port: 8080}]}
"""
CLIENTS = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: payment-processor}
spec:
  selector: {matchLabels: {app: payment-processor}}
  template:
    metadata: {labels: {app: payment-processor}}
    spec: {containers: [{name: payment-processor, image: zt-conformance/workloads:dev}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: audit-logger}
spec:
  selector: {matchLabels: {app: audit-logger}}
  template:
    metadata: {labels: {app: audit-logger}}
    spec: {containers: [{name: audit-logger, image: zt-conformance/workloads:dev}]}
"""
SELECTOR = "app in (account-service,audit-logger,payment-processor)"


def manifests(tmp_path: Path) -> Path:
    (tmp_path / "account-service.yaml").write_text(MANIFEST)
    (tmp_path / "clients.yaml").write_text(CLIENTS)
    return tmp_path


def workload_api(*pod_lists: Any) -> FakeKubeApi:
    api = FakeKubeApi()
    api.on("PATCH", "/api/v1/namespaces/zt-gw0", {})
    for path in ("/apis/apps/v1/namespaces/zt-gw0/deployments/account-service",
                 "/api/v1/namespaces/zt-gw0/services/account-service",
                 "/apis/apps/v1/namespaces/zt-gw0/deployments/payment-processor",
                 "/apis/apps/v1/namespaces/zt-gw0/deployments/audit-logger"):
        api.on("PATCH", path, {})
    api.on("GET", f"/api/v1/namespaces/zt-gw0/pods?{SELECTOR}", *pod_lists)
    return api


def test_deploy_applies_manifests_in_the_namespace_and_waits_until_ready(
        tmp_path: Path) -> None:
    api = workload_api(data("pods-workloads-pending.json"), data("pods-workloads-ready.json"))
    pods = cluster(api, manifests_dir=manifests(tmp_path)).deploy_workloads("zt-gw0")
    patches = [c for c in api.calls if c.method == "PATCH"]
    assert patches[0].path == "/api/v1/namespaces/zt-gw0"
    for call in patches:
        assert call.content_type == "application/apply-patch+yaml"
        assert call.query == {"fieldManager": "zt-conformance", "force": "true"}
    assert all(c.body["metadata"]["namespace"] == "zt-gw0" for c in patches[1:])
    assert sum(c.method == "GET" for c in api.calls) == 2  # polled until Ready
    assert [p.labels["app"] for p in pods] == ["account-service", "account-service",
                                               "audit-logger", "payment-processor"]
    assert pods[0] == PodInfo(name="account-service-6f7d9c8b5-m4k8z", namespace="zt-gw0",
                              labels={"app": "account-service",
                                      "pod-template-hash": "6f7d9c8b5"},
                              ip="10.244.2.17", node="zt-worker2")


def test_workloads_never_ready_name_the_waiting_reason(tmp_path: Path) -> None:
    api = workload_api(data("pods-workloads-pending.json"))
    ticks = iter(range(0, 10_000, 100))
    kube = cluster(api, manifests_dir=manifests(tmp_path), clock=lambda: float(next(ticks)))
    with pytest.raises(ClusterError) as err:
        kube.deploy_workloads("zt-gw0")
    assert "audit-logger: 0/1 Ready" in str(err.value)
    assert "ErrImageNeverPull" in str(err.value)


def test_missing_manifests_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="no workload manifests"):
        cluster(FakeKubeApi(), manifests_dir=tmp_path).deploy_workloads("zt-gw0")


def test_pods_ready_skips_terminating_pods() -> None:
    api = FakeKubeApi()
    api.on("GET", "/api/v1/namespaces/zt-gw0/pods", data("pods-workloads-pending.json"))
    ready = cluster(api).pods_ready("zt-gw0")
    assert ready["audit-logger-5c9b7d6f4-kq2lm"] is False
    assert ready["account-service-6f7d9c8b5-x2x9q"] is True
    assert "account-service-6f7d9c8b5-old11" not in ready


def test_delete_namespace_waits_until_it_is_gone() -> None:
    api = FakeKubeApi()
    api.on("DELETE", "/api/v1/namespaces/zt-gw0", {"kind": "Namespace"})
    api.on("GET", "/api/v1/namespaces/zt-gw0", {"status": {"phase": "Terminating"}},
           api_error("status-namespace-not-found.json"))
    cluster(api).delete_namespace("zt-gw0")
    assert [c.method for c in api.calls] == ["DELETE", "GET", "GET"]


# ---- policies --------------------------------------------------------------------------------

CNP = {"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
       "metadata": {"name": "transfer-header", "namespace": "zt-gw0"}, "spec": {}}
CCNP = {"apiVersion": "cilium.io/v2", "kind": "CiliumClusterwideNetworkPolicy",
        "metadata": {"name": "baseline"}, "spec": {}}
NP = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
      "metadata": {"name": "gap", "namespace": "zt-gw0"}, "spec": {}}
CNP_PATH = "/apis/cilium.io/v2/namespaces/zt-gw0/ciliumnetworkpolicies/transfer-header"


def stored(uid: str) -> dict[str, Any]:
    return {"metadata": {"uid": uid, "resourceVersion": "4711"}}


def test_apply_uses_the_right_path_per_kind_and_returns_the_uids() -> None:
    api = FakeKubeApi()
    api.on("PATCH", CNP_PATH, stored("u-cnp"))
    api.on("PATCH", "/apis/cilium.io/v2/ciliumclusterwidenetworkpolicies/baseline",
           stored("u-ccnp"))
    api.on("PATCH", "/apis/networking.k8s.io/v1/namespaces/zt-gw0/networkpolicies/gap",
           stored("u-np"))
    assert cluster(api).apply([CNP, CCNP, NP]) == ["u-cnp", "u-ccnp", "u-np"]
    assert [c.body for c in api.calls] == [CNP, CCNP, NP]


def test_an_apply_answer_without_uid_is_an_error() -> None:
    api = FakeKubeApi()
    api.on("PATCH", CNP_PATH, {})
    with pytest.raises(ClusterError, match=r"no metadata\.uid"):
        cluster(api).apply([CNP])


def test_rejected_policy_carries_the_server_message() -> None:
    api = FakeKubeApi()
    api.on("PATCH", CNP_PATH, api_error("status-cnp-invalid.json"))
    with pytest.raises(PolicyRejected) as err:
        cluster(api).apply([CNP])
    assert "CiliumNetworkPolicy zt-gw0/transfer-header" in str(err.value)
    assert "headers[0] in body must be of type string" in str(err.value)


def test_missing_cilium_crd_says_so() -> None:
    api = FakeKubeApi()
    api.on("PATCH", CNP_PATH, api_error("status-not-found.json"))
    with pytest.raises(PolicyRejected, match="CRD is not installed"):
        cluster(api).apply([CNP])


@pytest.mark.parametrize("doc, words", [
    ({**CNP, "metadata": {"name": "x"}}, "metadata.namespace is required"),
    ({**CNP, "kind": "CiliumNetworkPolicyy"}, "is not one the harness applies"),
    ({**CCNP, "metadata": {}}, "metadata.name is required"),
])
def test_malformed_policy_is_rejected_before_any_request(doc: dict[str, Any],
                                                         words: str) -> None:
    api = FakeKubeApi()
    with pytest.raises(PolicyRejected, match=words):
        cluster(api).apply([doc])
    assert api.calls == []


def test_delete_reads_the_uid_first_and_ignores_objects_already_gone() -> None:
    api = FakeKubeApi()
    api.on("GET", CNP_PATH, api_error("status-not-found.json"))
    ccnp = "/apis/cilium.io/v2/ciliumclusterwidenetworkpolicies/baseline"
    api.on("GET", ccnp, stored("u-ccnp"))
    api.on("DELETE", ccnp, {"kind": "Status", "status": "Success"})
    assert cluster(api).delete([CNP, CCNP]) == ["u-ccnp"]
    assert [(c.method, c.path) for c in api.calls] == [
        ("GET", CNP_PATH), ("GET", ccnp), ("DELETE", ccnp)]


# ---- agents -----------------------------------------------------------------------------------


POLICY_GET = ("cilium-dbg", "policy", "get", "-o", "json")
UID = "5f0e2c1a-7b8d-4c3e-9a1f-2d6b8e4c7a90"


@pytest.mark.parametrize("version", ["1.19", "1.20"])
def test_agent_policies_read_revision_and_uids_from_one_answer(version: str) -> None:
    # 1.19 prints api.Rule (`labels`), 1.20 types.PolicyEntry (`Labels`, no JSON tags).
    api = with_agents(FakeKubeApi())
    api.execs[POLICY_GET] = ExecResult(
        stdout=(DATA / f"policy-get-{version}.json").read_text(), stderr="", exit_code=0)
    got = cluster(api).agent_policies()
    assert sorted(got, key=lambda a: a.node) == [
        AgentPolicy("zt-worker", 57, frozenset({UID})),
        AgentPolicy("zt-worker2", 57, frozenset({UID}))]
    assert sorted(c[1] for c in api.exec_calls) == ["cilium-8xk2p", "cilium-q7m4d"]
    assert {(c[0], c[2]) for c in api.exec_calls} == {AGENT_EXEC}


def test_an_empty_repository_has_no_uids() -> None:
    api = with_agents(FakeKubeApi())
    api.execs[POLICY_GET] = ExecResult(stdout='{"policy": "null", "revision": 3}',
                                       stderr="", exit_code=0)
    assert {a.uids for a in cluster(api).agent_policies()} == {frozenset()}


def test_endpoint_revisions_read_realized_and_proxy_revisions() -> None:
    api = with_agents(FakeKubeApi())
    api.execs[("cilium-dbg", "endpoint", "list", "-o", "json")] = ExecResult(
        stdout=(DATA / "endpoint-list.json").read_text(), stderr="", exit_code=0)
    eps = cluster(api).endpoint_revisions()
    assert len(eps) == 6
    assert EndpointRevision(node="zt-worker", endpoint_id=412, has_identity=True,
                            policy_revision=57, proxy_policy_revision=57,
                            labels=("k8s:app=account-service",
                                    "k8s:io.kubernetes.pod.namespace=zt-gw0")) in eps
    assert EndpointRevision(node="zt-worker2", endpoint_id=1880, has_identity=True,
                            policy_revision=57, proxy_policy_revision=56,
                            labels=("reserved:host",)) in eps
    assert EndpointRevision(node="zt-worker", endpoint_id=2931, has_identity=False,
                            policy_revision=0, proxy_policy_revision=0) in eps


def test_agent_exec_failure_names_pod_container_and_stderr() -> None:
    api = with_agents(FakeKubeApi())
    code, message = parse_exec_status((DATA / "exec-status-no-container.json").read_text())
    api.execs[POLICY_GET] = ExecResult(stdout="", stderr="", exit_code=code, message=message)
    with pytest.raises(ClusterError) as err:
        cluster(api).agent_policies()
    assert "cilium-agent" in str(err.value) and "container not found" in str(err.value)


@pytest.mark.parametrize("stdout", ["Error: cannot reach agent", '{"revision": "7"}',
                                    '{"policy": "[]"}',
                                    '{"policy": "{\\"a\\": 1}", "revision": 1}'])
def test_garbage_policy_output_is_an_error(stdout: str) -> None:
    api = with_agents(FakeKubeApi())
    api.execs[POLICY_GET] = ExecResult(stdout=stdout, stderr="", exit_code=0)
    with pytest.raises(ClusterError, match=r"cilium-dbg policy get -o json"):
        cluster(api).agent_policies()


def test_no_running_agents_means_no_cilium() -> None:
    api = FakeKubeApi()
    api.on("GET", "/api/v1/namespaces/kube-system/pods?k8s-app=cilium",
           {"kind": "PodList", "items": []})
    with pytest.raises(ClusterError, match="no running Cilium agent pods"):
        cluster(api).endpoint_revisions()


def test_metrics_scraped_through_the_pod_proxy_on_both_ports() -> None:
    api = with_agents(FakeKubeApi())
    for pod in ("cilium-8xk2p", "cilium-q7m4d"):
        base = f"/api/v1/namespaces/kube-system/pods/{pod}"
        api.on("GET", f"{base}:9965/proxy/metrics", data("metrics-9965.txt"))
        api.on("GET", f"{base}:9962/proxy/metrics", data("metrics-9962.txt"))
    scrapes = cluster(api).scrape_metrics()
    assert sorted((s.node, s.port) for s in scrapes) == [
        ("zt-worker", 9962), ("zt-worker", 9965), ("zt-worker2", 9962), ("zt-worker2", 9965)]
    assert all("hubble_drop_total" in s.text for s in scrapes if s.port == 9965)


def test_metrics_port_closed_hints_at_the_helm_value() -> None:
    api = with_agents(FakeKubeApi())
    for pod in ("cilium-8xk2p", "cilium-q7m4d"):
        base = f"/api/v1/namespaces/kube-system/pods/{pod}"
        api.on("GET", f"{base}:9965/proxy/metrics", data("metrics-9965.txt"))
        api.on("GET", f"{base}:9962/proxy/metrics",
               ApiError(503, "error trying to reach service: dial tcp 172.18.0.3:9962: "
                             "connect: connection refused"))
    with pytest.raises(ClusterError, match=r"prometheus\.enabled=true"):
        cluster(api).scrape_metrics()


# ---- probes -----------------------------------------------------------------------------------

CLIENT = PodInfo(name="payment-processor-7b8c9d5f6-p9t2w", namespace="zt-gw0",
                 labels={"app": "payment-processor"}, ip="10.244.1.30", node="zt-worker")
PROBES = [{"id": "get-list", "kind": "http", "url": "http://10.244.1.23:8080/api/v1/accounts",
           "timeout": 3},
          {"id": "delete", "kind": "http", "method": "DELETE",
           "url": "http://10.244.2.17:8080/api/v1/accounts/1", "timeout": 3}]


def probe_api(version: str, answer: ExecResult | ApiError, argv: tuple[str, ...]) -> FakeKubeApi:
    api = FakeKubeApi()
    api.on("GET", "/version", data(version))
    api.execs[argv] = answer
    return api


BYTE_COUNTED = ("sh", "-c", f"head -c {len(json.dumps(PROBES).encode())} | prober run")


def test_one_exec_of_prober_run_per_batch_with_the_batch_on_stdin() -> None:
    ok = ExecResult(stdout=(DATA / "prober-results.json").read_text(), stderr="", exit_code=0)
    api = probe_api("version.json", ok, BYTE_COUNTED)
    results = cluster(api).run_probes(CLIENT, PROBES)
    assert [r["outcome"] for r in results] == ["ok", "http-error"]
    assert len(api.exec_calls) == 1
    namespace, pod, container, argv, stdin = api.exec_calls[0]
    assert (namespace, pod, container, argv) == ("zt-gw0", CLIENT.name, None,
                                                 list(BYTE_COUNTED))
    assert stdin is not None and json.loads(stdin) == PROBES


def test_servers_before_1_30_get_the_same_byte_counted_stdin() -> None:
    ok = ExecResult(stdout=(DATA / "prober-results.json").read_text(), stderr="", exit_code=0)
    api = probe_api("version-1.29.json", ok, BYTE_COUNTED)
    assert len(cluster(api).run_probes(CLIENT, PROBES)) == 2


def test_prober_failure_is_a_cluster_error_with_its_stderr() -> None:
    code, message = parse_exec_status((DATA / "exec-status-exit2.json").read_text())
    assert code == 2
    failed = ExecResult(stdout="", stderr="prober: stdin is not a JSON array: line 1 column 1",
                        exit_code=code, message=message)
    api = probe_api("version.json", failed, BYTE_COUNTED)
    with pytest.raises(ClusterError) as err:
        cluster(api).run_probes(CLIENT, PROBES)
    assert "exit code 2" in str(err.value) and "not a JSON array" in str(err.value)
    assert CLIENT.name in str(err.value)


def test_prober_answer_of_the_wrong_length_is_an_error() -> None:
    short = ExecResult(stdout="[]", stderr="", exit_code=0)
    api = probe_api("version.json", short, BYTE_COUNTED)
    with pytest.raises(ClusterError, match="returned 0 results for 2 probes"):
        cluster(api).run_probes(CLIENT, PROBES)


def test_exec_transport_failure_is_a_cluster_error() -> None:
    api = probe_api("version.json", ApiError(0, "Handshake status 403 Forbidden"),
                    BYTE_COUNTED)
    with pytest.raises(ClusterError, match="403 Forbidden"):
        cluster(api).run_probes(CLIENT, PROBES)


# ---- status parsing ----------------------------------------------------------------------------


def test_exec_status_parsing() -> None:
    assert parse_exec_status((DATA / "exec-status-success.json").read_text()) == (0, "")
    code, message = parse_exec_status((DATA / "exec-status-exit2.json").read_text())
    assert code == 2 and "exit code 2" in message
    assert parse_exec_status("")[0] == -1


def test_status_error_reads_message_and_reason() -> None:
    err = api_error("status-cnp-invalid.json")
    assert (err.status, err.reason) == (422, "Invalid")
    assert err.message.startswith('CiliumNetworkPolicy.cilium.io "transfer-header" is invalid')
    assert status_error(500, b"plain text failure", "x").message == "plain text failure"


def test_project_workload_manifests_have_the_agreed_apps_and_paths() -> None:
    """The default manifests dir (manifests/workloads, helper A's) as KubeCluster reads it."""
    from conformance.harness.kube_objects import object_path, workload_replicas

    docs = cluster(FakeKubeApi()).workload_manifests()
    assert workload_replicas(docs) == {"account-service": 2, "payment-processor": 1,
                                       "audit-logger": 1}
    placed = [object_path({**d, "metadata": {**d["metadata"], "namespace": "zt-gw0"}})
              for d in docs]
    assert "/api/v1/namespaces/zt-gw0/services/account-service" in placed
    assert all("namespace" not in d["metadata"] for d in docs)


def test_app_log_reads_the_pod_log_as_lines() -> None:
    api = FakeKubeApi()
    pod = PodInfo("account-service-1", "ztc-gw0", {"app": "account-service"}, "10.0.0.1", "n")
    path = "/api/v1/namespaces/ztc-gw0/pods/account-service-1/log"
    api.on("GET", path, '{"event": "request", "probe_id": "a"}\n{"event": "request"}\n')
    assert cluster(api).app_log(pod) == ['{"event": "request", "probe_id": "a"}',
                                         '{"event": "request"}']
    api.on("GET", path, ApiError(404, 'pods "account-service-1" not found'))
    with pytest.raises(ClusterError, match=r"ztc-gw0/account-service-1.*not found"):
        cluster(api).app_log(pod)
