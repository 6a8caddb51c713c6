"""Per-node Prometheus counters of the simulated agents, rendered as text exposition.

Port 9965 carries what Hubble derives from the flows it sees (with the namespace context
labels the provisioning configures); port 9962 carries the agent's own datapath and
proxy counters. Counting follows what the real handlers count:
- every flow -> hubble_flows_processed_total{protocol,type,subtype,verdict}
- a DROPPED flow -> hubble_drop_total{reason,protocol}; an L3/L4 one also
  cilium_drop_count_total{reason (text),direction}
- a policy-verdict event or an L7 request -> hubble_policy_verdicts_total
- an L7 HTTP response -> hubble_http_requests_total
- an L7 request through a proxy -> cilium_policy_l7_total{rule,proxy_type}
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from clusters.emulated.flows import (
    DROP_REASONS,
    EVENT_DROP,
    EVENT_L7,
    EVENT_POLICY_VERDICT,
    EVENT_TRACE,
)

HUBBLE_PORT = 9965
AGENT_PORT = 9962
NAMESPACE_LABELS = ("source_namespace", "destination_namespace")

_HELP = {
    "hubble_flows_processed_total": "Total number of flows processed",
    "hubble_drop_total": "Number of drops",
    "hubble_policy_verdicts_total": "Total number of Cilium network policy verdicts",
    "hubble_http_requests_total": "Count of HTTP requests",
    "cilium_drop_count_total": "Total dropped packets, tagged by drop reason and direction",
    "cilium_policy_l7_total": "Number of total proxy requests handled",
    "cilium_forward_count_total": "Total forwarded packets, tagged by direction",
}
_PORT_OF = {name: (AGENT_PORT if name.startswith("cilium_") else HUBBLE_PORT) for name in _HELP}

Labels = tuple[tuple[str, str], ...]


def _protocol(flow: dict[str, Any]) -> str:
    """A flow's `protocol` label: its L7 record's protocol, else its L4 one (cilium
    `pkg/hubble/metrics/api` FlowProtocol), so a record-less L7 flow counts as TCP."""
    l7 = flow.get("l7", {})
    if "http" in l7:
        return "HTTP"
    if "dns" in l7:
        return "DNS"
    l4 = flow.get("l4", {})
    return next(iter(l4), "Unknown")


def _trace_subtype(flow: dict[str, Any]) -> str:
    return "to-endpoint" if flow.get("trace_observation_point") == "TO_ENDPOINT" \
        else "to-stack"


class NodeCounters:
    """The counters of one agent; `frozen` counters never move (metrics-frozen fault)."""

    def __init__(self, node: str, frozen: bool = False) -> None:
        self.node = node
        self.frozen = frozen
        self._values: dict[str, dict[Labels, float]] = defaultdict(dict)
        # A live agent has counted traffic long before a test starts.
        self._add("hubble_flows_processed_total", 1234, protocol="TCP", type="Trace",
                  subtype="to-stack", verdict="FORWARDED", source_namespace="kube-system",
                  destination_namespace="")
        self._add("cilium_forward_count_total", 4321, direction="EGRESS")

    def _add(self, name: str, amount: float = 1, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        bucket = self._values[name]
        bucket[key] = bucket.get(key, 0.0) + amount

    def count_flow(self, flow: dict[str, Any]) -> None:
        if self.frozen:
            return
        ns = {"source_namespace": flow["source"].get("namespace", ""),
              "destination_namespace": flow["destination"].get("namespace", "")}
        event = flow["event_type"]["type"]
        protocol = _protocol(flow)
        verdict = flow["verdict"]
        l7 = flow.get("l7", {})
        if event == EVENT_DROP:
            kind, subtype = "Drop", ""
        elif event == EVENT_L7:
            # An L7 flow without a record (an SNI refusal: flows.l7_record_less_flow) has no
            # subtype; which labels Hubble's handlers give it is not pinned down here
            # (unclear upstream) and no cell reads them.
            kind, subtype = "L7", "HTTP" if "http" in l7 else "DNS" if "dns" in l7 else ""
        elif event == EVENT_POLICY_VERDICT:
            kind, subtype = "PolicyVerdict", ""
        else:
            kind, subtype = "Trace", _trace_subtype(flow)
        self._add("hubble_flows_processed_total", protocol=protocol, type=kind,
                  subtype=subtype, verdict=verdict, **ns)
        direction = str(flow.get("traffic_direction", "")).lower()
        if verdict == "DROPPED":
            self._add("hubble_drop_total", reason=flow.get("drop_reason_desc",
                                                           "DROP_REASON_UNKNOWN"),
                      protocol=protocol, **ns)
            if event == EVENT_DROP:
                text = DROP_REASONS[flow["drop_reason_desc"]][1]
                self._add("cilium_drop_count_total", reason=text,
                          direction=str(flow["traffic_direction"]))
        elif event == EVENT_TRACE:
            self._add("cilium_forward_count_total", direction=str(flow["traffic_direction"]))
        if (event == EVENT_DROP and flow.get("drop_reason_desc") != "AUTH_REQUIRED") or \
                event == EVENT_POLICY_VERDICT:
            action = "dropped" if verdict == "DROPPED" else "forwarded"
            self._add("hubble_policy_verdicts_total", direction=direction,
                      match="none" if verdict == "DROPPED" else "l3-l4", action=action, **ns)
        if event == EVENT_L7 and l7.get("type") == "REQUEST":
            action = "dropped" if verdict == "DROPPED" else "forwarded"
            self._add("hubble_policy_verdicts_total", direction=direction,
                      match=f"l7/{subtype.lower()}", action=action, **ns)
            proxy = "fqdn" if subtype == "DNS" else "envoy"  # a record-less entry is Envoy's
            self._add("cilium_policy_l7_total", rule="received", proxy_type=proxy)
            self._add("cilium_policy_l7_total",
                      rule="denied" if verdict == "DROPPED" else "forwarded", proxy_type=proxy)
        if event == EVENT_L7 and l7.get("type") == "RESPONSE" and "http" in l7:
            http = l7["http"]
            self._add("hubble_http_requests_total", method=http["method"],
                      protocol=http["protocol"], status=str(http["code"]),
                      reporter="server" if direction == "ingress" else "client", **ns)

    def render(self, port: int) -> str:
        """Prometheus text exposition (0.0.4) of the counters served on `port`."""
        out: list[str] = []
        for name in sorted(_HELP):
            if _PORT_OF[name] != port:
                continue
            out.append(f"# HELP {name} {_HELP[name]}")
            out.append(f"# TYPE {name} counter")
            for labels, value in sorted(self._values.get(name, {}).items()):
                text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
                out.append(f"{name}{{{text}}} {_number(value)}")
        return "\n".join(out) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)
