"""TCP probe: does a connection complete? Nothing is sent."""

from __future__ import annotations

from typing import Any

from workloads.prober.netio import OK, Conn, open_tcp
from workloads.prober.spec import TcpProbe


async def run(probe: TcpProbe, conn: Conn) -> dict[str, Any]:
    (await open_tcp(probe.host, probe.port, conn)).close()
    return {"outcome": OK}
