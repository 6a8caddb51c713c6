"""TLS probe: a ClientHello with a chosen SNI, the handshake, then one GET over it.

What it tells apart (the client side of Cilium's `serverNames` enforcement): `ok` (the
handshake completed and the server answered), `reset` (RST during the handshake: Envoy's
cilium.network filter refusing the SNI, cilium/proxy cilium/network_filter.cc
onNewConnection closes with AbortReset), `closed` (FIN before the handshake finished),
`timeout` (the connect never completed: an L3/L4 drop).

The server's certificate is not verified: the SNI is a policy input chosen freely (often a
name the server's per-start self-signed certificate does not carry), and what is tested
is whether the connection gets through, not the server's identity.
"""

from __future__ import annotations

import ssl
from typing import Any

from workloads.prober.http_probe import BadResponse, read_response, request_bytes
from workloads.prober.netio import CLOSED, ERROR, HTTP_ERROR, OK, Channel, Conn, Failure, open_tcp
from workloads.prober.spec import HttpProbe, TlsProbe

MAX_BODY_BYTES = 64 * 1024
_CONTEXT: list[ssl.SSLContext] = []


def _context() -> ssl.SSLContext:
    if not _CONTEXT:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        _CONTEXT.append(ctx)
    return _CONTEXT[0]


async def run(probe: TlsProbe, conn: Conn) -> dict[str, Any]:
    ch = Channel(await open_tcp(probe.host, probe.port, conn))
    authority = probe.sni or probe.host
    request = HttpProbe(id=probe.id, url=f"https://{authority}{probe.path}", scheme="https",
                        host=probe.host, port=probe.port, target=probe.path,
                        authority=authority)
    try:
        conn.phase = "tls"
        try:
            await ch.start_tls(_context(), probe.sni or "")  # "": no server_name
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError) as exc:
            raise Failure(CLOSED, f"connection closed during the TLS handshake: {exc}",
                          {"phase": "tls"}) from exc
        except ConnectionResetError as exc:
            if exc.errno is not None:
                raise  # a real RST (ECONNRESET): the runner names it `reset`
            # asyncio's SSL protocol reports a FIN before the handshake ended as a
            # ConnectionResetError without an errno
            raise Failure(CLOSED, "connection closed (FIN) during the TLS handshake",
                          {"phase": "tls"}) from exc
        except ssl.SSLError as exc:
            raise Failure(ERROR, f"TLS handshake failed: {exc}", {"phase": "tls"}) from exc
        conn.phase = "request"
        await ch.send(request_bytes(request))
        conn.phase = "response"
        status, _, body = await read_response(ch)
    except ssl.SSLError as exc:
        raise Failure(ERROR, f"TLS failed after the handshake: {exc}",
                      {"phase": conn.phase}) from exc
    except BadResponse as exc:
        raise Failure(ERROR, f"not an HTTP response: {exc}", {"phase": conn.phase}) from exc
    finally:
        ch.close()
    return {"outcome": OK if 200 <= status < 300 else HTTP_ERROR, "sni": probe.sni or "",
            "status": status, "body": body[:MAX_BODY_BYTES].decode("utf-8", "replace")}
