"""HTTP/1.1 probe over our own socket (optionally TLS): one request, one connection."""

from __future__ import annotations

import ssl
from typing import Any

from workloads.prober.netio import ERROR, HTTP_ERROR, OK, Channel, Conn, Failure, open_tcp
from workloads.prober.spec import HttpProbe

PROBE_ID_HEADER = "X-Probe-Id"
USER_AGENT = "zt-prober/1"
MAX_BODY_BYTES = 256 * 1024  # kept in the result
MAX_RESPONSE_BYTES = 4 * 1024 * 1024  # read at most


def request_bytes(probe: HttpProbe) -> bytes:
    headers = {"Host": probe.authority, "User-Agent": USER_AGENT,
               PROBE_ID_HEADER: str(probe.id)}
    lower = {k.lower() for k in probe.headers}
    headers = {k: v for k, v in headers.items() if k.lower() not in lower}
    headers.update(probe.headers)
    headers["Connection"] = "close"
    if probe.body or probe.method in ("POST", "PUT", "PATCH"):
        headers["Content-Length"] = str(len(probe.body))
    head = f"{probe.method} {probe.target} HTTP/1.1\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (head + "\r\n").encode("latin-1") + probe.body


class BadResponse(ValueError):
    """The server's bytes are not an HTTP/1.x response."""


def _chunked_body(buf: bytes, pos: int) -> bytes | None:
    out = bytearray()
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        try:
            size = int(buf[pos:eol].split(b";", 1)[0].strip(), 16)
        except ValueError as exc:
            raise BadResponse("bad chunk size") from exc
        if size == 0:
            return bytes(out)
        pos = eol + 2
        if len(buf) < pos + size:
            return None
        out += buf[pos:pos + size]
        pos += size + 2


def parse_response(buf: bytes, eof: bool) -> tuple[int, dict[str, str], bytes] | None:
    """(status, lower-cased headers, body) once buf holds a whole response, else None.

    A small parser of our own: http.client's email-based header parsing costs more than
    the rest of a probe, and thousands of probes per batch are the point.
    """
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if eof:
            raise BadResponse(f"connection closed after {len(buf)} bytes, before a full head")
        return None
    lines = buf[:end].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise BadResponse(f"bad status line {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    status, start = int(parts[1]), end + 4
    if status in (204, 304) or 100 <= status < 200:
        return status, headers, b""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = _chunked_body(buf, start)
        if body is None and eof:
            raise BadResponse("connection closed inside a chunked body")
        return None if body is None else (status, headers, body)
    if (length := headers.get("content-length", "")).isdigit():
        if len(buf) >= start + int(length):
            return status, headers, buf[start:start + int(length)]
        if eof:
            raise BadResponse(f"connection closed {start + int(length) - len(buf)} bytes "
                              "short of Content-Length")
        return None
    return (status, headers, buf[start:]) if eof else None


async def read_response(ch: Channel) -> tuple[int, dict[str, str], bytes]:
    buf = b""
    while True:
        chunk = await ch.recv()
        buf += chunk
        parsed = parse_response(buf, eof=not chunk)
        if parsed is not None:
            return parsed
        if len(buf) > MAX_RESPONSE_BYTES:
            raise BadResponse(f"response larger than {MAX_RESPONSE_BYTES} bytes")


_CONTEXTS: dict[bool, ssl.SSLContext] = {}


def _tls_context(verify: bool) -> ssl.SSLContext:
    """Made on first use: loading the CA store costs more than a whole plain probe."""
    if verify not in _CONTEXTS:
        ctx = ssl.create_default_context()
        if not verify:
            # Targets are self-signed test servers; the probe is about reachability.
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        _CONTEXTS[verify] = ctx
    return _CONTEXTS[verify]


async def run(probe: HttpProbe, conn: Conn) -> dict[str, Any]:
    ch = Channel(await open_tcp(probe.host, probe.port, conn))
    try:
        if probe.scheme == "https":
            conn.phase = "tls"
            await ch.start_tls(_tls_context(probe.verify_tls), probe.host)
        conn.phase = "request"
        await ch.send(request_bytes(probe))
        conn.phase = "response"
        status, headers, body = await read_response(ch)
    except ssl.SSLError as exc:
        raise Failure(ERROR, f"TLS failed: {exc}", {"phase": conn.phase}) from exc
    except BadResponse as exc:
        raise Failure(ERROR, f"not an HTTP response: {exc}", {"phase": conn.phase}) from exc
    finally:
        ch.close()
    result: dict[str, Any] = {
        "outcome": OK if 200 <= status < 300 else HTTP_ERROR,
        "status": status,
        "headers": headers,
        "body": body[:MAX_BODY_BYTES].decode("utf-8", "replace"),
    }
    if len(body) > MAX_BODY_BYTES:
        result["body_truncated"] = True
    return result
