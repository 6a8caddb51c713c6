"""What the model predicts for one probe: verdict, evidence to expect, and why."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Verdict = Literal["allowed", "dropped", "l7-denied", "dns-refused"]
DropReason = Literal["POLICY_DENIED", "POLICY_DENY", "AUTH_REQUIRED"]
Direction = Literal["ingress", "egress"]
# What the client sees; the prober's `outcome` vocabulary plus the 403 detail.
# "reset": the proxy refused a TLS SNI and reset the connection during the handshake.
ClientSignal = Literal["ok", "timeout", "http-403", "grpc-permission-denied", "dns-refused",
                       "dns-nxdomain", "reset"]

ACCESS_DENIED_BODY = "Access denied\r\n"


@dataclass(frozen=True)
class HubbleEvidence:
    """The flow Hubble must show: `verdict`, `Type`, and `drop_reason_desc` (None for L7)."""

    verdict: Literal["FORWARDED", "DROPPED"]
    type: Literal["L3_L4", "L7"]
    drop_reason_desc: DropReason | None = None
    traffic_direction: Literal["INGRESS", "EGRESS"] | None = None


@dataclass(frozen=True)
class Expectation:
    probe_id: str
    verdict: Verdict
    drop_reason: DropReason | None  # only for `dropped`
    direction: Direction | None  # the side that decided a denial; None when allowed
    client: ClientSignal
    hubble: HubbleEvidence
    explanation: str  # names the policy and rule, or "no rule matched: default deny"

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["id"] = out.pop("probe_id")
        return out
