"""Faults at the cluster's boundary: the API server, the agents' API, the relay, the metrics
ports and the prober's exec answer fail. Every cell whose batch uses the part fails, and
its message names what failed."""

from __future__ import annotations

from clusters.emulated.faults.base import BREAKING, CONDITION, Fault
from clusters.emulated.faults.hooks import Hooks
from conformance.vocabulary import capabilities as cap
from conformance.vocabulary.capabilities import select


def _boundary(name: str, what: str, hooks: Hooks, tag: str, says: str) -> Fault:
    return Fault(name, BREAKING, what, hooks, fails=(select(tag),), says=says, quick=True)


FAULTS = (
    _boundary("exec-dies", "the prober's exec connection drops before its answer",
              Hooks(prober_answer="dies"), cap.EXEC, "prober run"),
    _boundary("agent-down", "every agent's cilium-dbg fails (API socket refused)",
              Hooks(agent_api_down=True), cap.POLICY_WAIT, "Cannot get policy"),
    _boundary("metrics-down", "nothing answers on the agents' metrics ports",
              Hooks(metrics_refuse=True), cap.METRICS_SCRAPE, "scraping kube-system/"),
    _boundary("prober-garbage", "prober run prints something that is not its answer",
              Hooks(prober_answer="garbage"), cap.EXEC, "printed no JSON"),
    _boundary("relay-down", "Hubble Relay refuses connections (port-forward dial refused)",
              Hooks(relay_refuses=True), cap.HUBBLE_RELAY, "hubble-relay"),
    _boundary("exec-forbidden", "RBAC refuses pods/exec in the probe namespaces",
              Hooks(forbidden_subresources=frozenset({"exec"})), cap.EXEC,
              'cannot create resource "pods/exec"'),
    _boundary("log-forbidden", "RBAC refuses pods/log",
              Hooks(forbidden_subresources=frozenset({"log"})), cap.APP_LOG,
              'cannot get resource "pods/log"'),
    _boundary("portforward-forbidden", "RBAC refuses pods/portforward",
              Hooks(forbidden_subresources=frozenset({"portforward"})), cap.HUBBLE_RELAY,
              'cannot create resource "pods/portforward"'),
    _boundary("prober-short", "prober run answers one probe fewer than it was given",
              Hooks(prober_answer="short"), cap.EXEC, "results for"),
    _boundary("no-crds", "the cilium.io CRDs do not exist (404 on every CNP/CCNP)",
              Hooks(crds_missing=True), cap.CILIUM_POLICY, "the CRD is not installed"),
    _boundary("policy-rejected", "the API server refuses every network policy (422 Invalid)",
              Hooks(policy_refusal="Forbidden: refused (emulated fault policy-rejected)"),
              cap.POLICY_APPLY, "the API server rejected"),
    Fault("exec-v4", CONDITION, "the API server answers the v4 exec protocol to a v5 offer "
                                "(no stdin close)", Hooks(exec_v4_only=True)),
)
