"""Apply or delete policies and wait until every agent has realized them (never sleep).

The method (REFERENCE "Waiting for a policy to take effect"): read each agent's policy
revision, change one policy, poll until every agent's revision moved past what we read
(repeated per policy, so the last revision covers them all), then poll the endpoint
list until every endpoint with an identity on that node has realized at least that
revision (with L7 rules, its proxy policy revision too). Other workers' changes only
raise revisions, so "at least" stays correct under concurrency.
`cilium-dbg policy wait` is not used: it hangs under concurrent changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from conformance.harness.cluster import ClusterError, EndpointRevision

POLICY_TIMEOUT_S = 120.0  # default deadline for one change to be realized everywhere
POLL_INTERVAL_S = 0.2


class PolicyTimeout(ClusterError):
    """A policy change was not realized before the deadline; names the lagging places."""


class PolicyAPI(Protocol):
    """The part of the Cluster interface a policy change needs."""

    def apply(self, docs: list[dict[str, Any]]) -> None: ...

    def delete(self, docs: list[dict[str, Any]]) -> None: ...

    def policy_revisions(self) -> dict[str, int]: ...

    def endpoint_revisions(self) -> list[EndpointRevision]: ...


@dataclass(frozen=True)
class Realization:
    seconds: float  # time-to-enforce: from the API call to realized on every endpoint
    revisions: dict[str, int]  # node -> revision that had to be realized


@dataclass
class Clock:
    """Injected so self-tests can drive time; real runs use the monotonic clock."""

    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


def apply_and_wait(cluster: PolicyAPI, docs: list[dict[str, Any]], *, l7: bool,
                   timeout: float = POLICY_TIMEOUT_S, clock: Clock | None = None) -> Realization:
    return _change_and_wait(cluster, docs, cluster.apply, l7=l7, timeout=timeout,
                            clock=clock or Clock(), verb="apply")


def delete_and_wait(cluster: PolicyAPI, docs: list[dict[str, Any]], *,
                    timeout: float = POLICY_TIMEOUT_S,
                    clock: Clock | None = None) -> Realization:
    """Delete and wait until every endpoint realized the removal (restoring the cluster)."""
    # Removing an L7 rule also changes proxy state, so wait for the proxy revision too.
    return _change_and_wait(cluster, docs, cluster.delete, l7=True, timeout=timeout,
                            clock=clock or Clock(), verb="delete")


def delete_and_confirm(cluster: PolicyAPI, docs: list[dict[str, Any]], *,
                       timeout: float = POLICY_TIMEOUT_S,
                       clock: Clock | None = None) -> Realization:
    """Delete and wait only until every agent imported the removal (its revision moved).

    Between scenarios this is enough: the next apply waits for endpoints to realize a
    revision above this one, which includes the removal, so one realization wait
    covers both changes.
    """
    clock = clock or Clock()
    start = clock.now()
    targets = _one_by_one(cluster, docs, cluster.delete, start + timeout, clock, "delete")
    return Realization(seconds=clock.now() - start, revisions=targets)


def _names(docs: list[dict[str, Any]], verb: str) -> str:
    names = []
    for doc in docs:
        meta = doc.get("metadata", {}) if isinstance(doc, dict) else {}
        names.append(f"{doc.get('kind', '?')}/{meta.get('name', '?')}")
    return f"{verb} {', '.join(names) or 'nothing'}"


Change = Callable[[list[dict[str, Any]]], None]


def _change_and_wait(cluster: PolicyAPI, docs: list[dict[str, Any]], change: Change, *,
                     l7: bool, timeout: float, clock: Clock, verb: str) -> Realization:
    start = clock.now()
    deadline = start + timeout
    targets = _one_by_one(cluster, docs, change, deadline, clock, verb)
    _wait_endpoints_realized(cluster, targets, l7, deadline, clock, _names(docs, verb))
    return Realization(seconds=clock.now() - start, revisions=targets)


def _one_by_one(cluster: PolicyAPI, docs: list[dict[str, Any]], change: Change,
                deadline: float, clock: Clock, verb: str) -> dict[str, int]:
    """Change one document at a time and wait until every agent imported it.

    A revision that moved says only that *some* change was imported: the agent may import
    several documents in one revision or one after the other, in any order across kinds.
    Waiting after each document makes the final revision cover all of them."""
    targets: dict[str, int] = {}
    for doc in docs:
        before = cluster.policy_revisions()
        change([doc])
        targets = _wait_revisions_moved(cluster, before, deadline, clock, _names([doc], verb))
    return targets


def _wait_revisions_moved(cluster: PolicyAPI, before: dict[str, int], deadline: float,
                          clock: Clock, what: str) -> dict[str, int]:
    while True:
        now = cluster.policy_revisions()
        lagging = sorted(n for n, rev in before.items() if now.get(n, -1) <= rev)
        if not lagging:
            return now
        if clock.now() >= deadline:
            detail = ", ".join(f"{n} still at {now.get(n, 'no revision')}" for n in lagging)
            raise PolicyTimeout(
                f"{what}: the policy revision of the agent(s) on {detail} did not move past "
                f"{', '.join(f'{n}={before[n]}' for n in lagging)} before the deadline; "
                "the agent did not import the change (check the agent logs and the "
                "policy's status)."
            )
        clock.sleep(POLL_INTERVAL_S)  # poll


def _unrealized(endpoints: list[EndpointRevision], targets: dict[str, int],
                l7: bool) -> list[EndpointRevision]:
    late = []
    for ep in endpoints:
        if not ep.has_identity or ep.node not in targets:
            continue
        target = targets[ep.node]
        # Endpoints that never had a proxy revision (no L7 proxy) have nothing to wait for.
        proxy_late = l7 and 0 < ep.proxy_policy_revision < target
        if ep.policy_revision < target or proxy_late:
            late.append(ep)
    return late


def _wait_endpoints_realized(cluster: PolicyAPI, targets: dict[str, int], l7: bool,
                             deadline: float, clock: Clock, what: str) -> None:
    while True:
        late = _unrealized(cluster.endpoint_revisions(), targets, l7)
        if not late:
            return
        if clock.now() >= deadline:
            detail = "; ".join(
                f"endpoint {ep.endpoint_id} on {ep.node}: policy-revision "
                f"{ep.policy_revision}, proxy-policy-revision {ep.proxy_policy_revision}, "
                f"needed {targets[ep.node]}"
                for ep in late[:5]
            )
            raise PolicyTimeout(
                f"{what}: {len(late)} endpoint(s) did not realize the new policy revision "
                f"before the deadline ({detail})."
            )
        clock.sleep(POLL_INTERVAL_S)  # poll
