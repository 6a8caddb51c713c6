"""Probe specifications: parse and validate one JSON object of a `prober run` batch.

A probe that cannot be understood raises SpecError naming the field; the runner turns
that into an `error` result for that probe alone, and the rest of the batch still runs.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

MAX_TIMEOUT_S = 300.0
MAX_ID_CHARS = 1024  # the id travels as the X-Probe-Id header
MAX_ID_INT = 2**63
GRPC_PATH = re.compile(r"/[A-Za-z_][\w.]*/[A-Za-z_]\w*")
HTTP_METHOD = re.compile(r"[A-Z]+")
# RFC 9110 token: what a header (or gRPC metadata) name may be made of.
HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Control characters (CR/LF/NUL...) would split or corrupt the request on the wire.
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
DNS_TRANSPORTS = ("udp", "tcp")

Id = str | int


class SpecError(ValueError):
    """A probe field is missing or wrong; the message names it."""


@dataclass(frozen=True)
class HttpProbe:
    id: Id
    url: str
    scheme: str
    host: str
    port: int
    target: str  # path with query, as sent on the request line
    authority: str  # Host header value
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    verify_tls: bool = False
    timeout: float = 5.0


@dataclass(frozen=True)
class GrpcProbe:
    id: Id
    host: str
    port: int
    method: str  # wire path, e.g. /api.AccountService/GetAccount
    request: dict[str, Any] | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    timeout: float = 5.0


@dataclass(frozen=True)
class DnsProbe:
    id: Id
    name: str
    qtype: str = "A"
    server: tuple[str, int] | None = None  # None: the system resolver's first server
    transport: str = "udp"
    timeout: float = 5.0


@dataclass(frozen=True)
class TcpProbe:
    id: Id
    host: str
    port: int
    timeout: float = 5.0


@dataclass(frozen=True)
class IcmpProbe:
    """An ICMP echo request (workloads/prober/icmp_probe.py)."""

    id: Id
    host: str
    family: str = "ipv4"  # ipv4 | ipv6
    timeout: float = 5.0


@dataclass(frozen=True)
class TlsProbe:
    """A TLS handshake with a chosen SNI, then one GET over it (workloads/prober/tls_probe.py)."""

    id: Id
    host: str
    port: int
    sni: str | None  # None: the ClientHello carries no server_name extension
    path: str = "/healthz"
    timeout: float = 5.0


ProbeSpec = HttpProbe | GrpcProbe | DnsProbe | TcpProbe | IcmpProbe | TlsProbe
ICMP_FAMILIES = ("ipv4", "ipv6")

COMMON = ("id", "kind", "timeout")
FIELDS = {
    "http": ("url", "method", "headers", "body", "verify_tls"),
    "grpc": ("target", "method", "request", "metadata"),
    "dns": ("name", "qtype", "server", "transport"),
    "tcp": ("host", "port"),
    "icmp": ("host", "family"),
    "tls": ("target", "sni", "path"),
}


def probe_id(raw: Any) -> Id | None:
    """The probe's id if it has a usable one (a string of at most MAX_ID_CHARS characters
    or a signed 64-bit integer), else None."""
    if isinstance(raw, dict):
        pid = raw.get("id")
        if isinstance(pid, str) and len(pid) <= MAX_ID_CHARS:
            return pid
        if isinstance(pid, int) and not isinstance(pid, bool) and -MAX_ID_INT <= pid < MAX_ID_INT:
            return pid
    return None


def _short(value: Any) -> str:
    """repr for an error message, cut so a huge value cannot flood the result."""
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**40 else "a huge integer"
    return text if len(text) <= 80 else text[:77] + "..."


def _str(raw: dict[str, Any], key: str, default: str | None = None) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str) or not value:
        raise SpecError(f"field '{key}': expected a non-empty string, got {_short(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate escape (\ud800) in the JSON
        raise SpecError(f"field '{key}': not valid Unicode at character {exc.start}") from exc
    return value


def _str_map(raw: dict[str, Any], key: str) -> dict[str, str]:
    """Header names/values (or gRPC metadata) that can go on the wire as given."""
    value = raw.get(key, {})
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and k and isinstance(v, str) for k, v in value.items()
    ):
        raise SpecError(f"field '{key}': expected an object of string names to string values")
    for name, text in value.items():
        if not HEADER_NAME.fullmatch(name):
            raise SpecError(f"field '{key}': {_short(name)} is not a valid header name")
        if CONTROL.search(text) or not text.isascii():
            raise SpecError(f"field '{key}': value of {_short(name)} must be printable ASCII "
                            "(no CR, LF or other control characters)")
    return dict(value)


def _host(raw: dict[str, Any], key: str) -> str:
    host = _str(raw, key)
    if CONTROL.search(host) or any(c.isspace() for c in host):
        raise SpecError(f"field '{key}': {_short(host)} is not a host name or address")
    return host


def _port(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise SpecError(f"field '{key}': expected a port number 1-65535, got {_short(value)}")
    return value


def split_host_port(value: str, key: str, default_port: int | None = None) -> tuple[str, int]:
    """'host:port', '[v6]:port', or (with a default port) a bare host or IPv4 literal."""
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
        if not sep or (rest and not rest.startswith(":")):
            raise SpecError(f"field '{key}': bad address {_short(value)}")
    elif value.count(":") == 1:
        host, _, port_text = value.partition(":")
    else:
        host, port_text = value, ""
    if not port_text:
        if default_port is None:
            raise SpecError(f"field '{key}': expected host:port, got {_short(value)}")
        return host, default_port
    if not host or not port_text.isdigit():
        raise SpecError(f"field '{key}': expected host:port, got {_short(value)}")
    return host, _port(int(port_text), key)


def _timeout(raw: dict[str, Any], default: float) -> float:
    value = raw.get("timeout", default)
    # Plain comparisons: NaN and infinities fail them, and a huge integer is never turned
    # into a float (which would overflow).
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
        0 < value <= MAX_TIMEOUT_S
    ):
        raise SpecError(f"field 'timeout': expected seconds in (0, {MAX_TIMEOUT_S:g}], "
                        f"got {_short(value)}")
    return float(value)


@functools.lru_cache(maxsize=4096)
def split_url(url: str) -> tuple[str, str, int, str, str]:
    """(scheme, host, port, path with query, Host header); cached, as a batch often
    repeats a few URLs thousands of times."""
    if CONTROL.search(url) or any(c.isspace() for c in url):
        raise SpecError(f"field 'url': spaces and control characters must be percent-encoded "
                        f"in {_short(url)}")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise SpecError(f"field 'url': {exc} in {_short(url)}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SpecError(f"field 'url': expected an http:// or https:// URL, got {_short(url)}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise SpecError(f"field 'url': bad port in {_short(url)}") from exc
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port, target, parts.netloc.rpartition("@")[2]


def _http(pid: Id, raw: dict[str, Any], timeout: float) -> HttpProbe:
    url = _str(raw, "url")
    scheme, host, port, target, authority = split_url(url)
    method = _str(raw, "method", "GET").upper()
    if not HTTP_METHOD.fullmatch(method):
        raise SpecError(f"field 'method': expected an HTTP method, got {_short(method)}")
    body = raw.get("body", "")
    if not isinstance(body, str):
        raise SpecError("field 'body': expected a string")
    body = _str(raw, "body") if body else ""  # the same Unicode check as other strings
    verify = raw.get("verify_tls", False)
    if not isinstance(verify, bool):
        raise SpecError("field 'verify_tls': expected true or false")
    return HttpProbe(id=pid, url=url, scheme=scheme, host=host, port=port,
                     target=target, authority=authority, method=method,
                     headers=_str_map(raw, "headers"), body=body.encode(),
                     verify_tls=verify, timeout=timeout)


def _grpc(pid: Id, raw: dict[str, Any], timeout: float) -> GrpcProbe:
    host, port = split_host_port(_host(raw, "target"), "target")
    method = _str(raw, "method")
    if not GRPC_PATH.fullmatch(method):
        raise SpecError(f"field 'method': expected /package.Service/Method, got {_short(method)}")
    request = raw.get("request")
    if request is not None and not isinstance(request, dict):
        raise SpecError("field 'request': expected an object (the request message as JSON)")
    return GrpcProbe(id=pid, host=host, port=port, method=method, request=request,
                     metadata=_str_map(raw, "metadata"), timeout=timeout)


def _dns(pid: Id, raw: dict[str, Any], timeout: float) -> DnsProbe:
    server = None
    if "server" in raw:
        server = split_host_port(_str(raw, "server"), "server", default_port=53)
        try:
            ipaddress.ip_address(server[0])
        except ValueError as exc:
            raise SpecError(f"field 'server': expected an IP address (ip or ip:port), got "
                            f"{_short(raw['server'])}") from exc
    transport = _str(raw, "transport", "udp").lower()
    if transport not in DNS_TRANSPORTS:
        raise SpecError(f"field 'transport': expected udp or tcp, got {_short(transport)}")
    return DnsProbe(id=pid, name=_str(raw, "name"), qtype=_str(raw, "qtype", "A").upper(),
                    server=server, transport=transport, timeout=timeout)


def _tcp(pid: Id, raw: dict[str, Any], timeout: float) -> TcpProbe:
    return TcpProbe(id=pid, host=_host(raw, "host"), port=_port(raw.get("port"), "port"),
                    timeout=timeout)


def _icmp(pid: Id, raw: dict[str, Any], timeout: float) -> IcmpProbe:
    family = _str(raw, "family", "ipv4").lower()
    if family not in ICMP_FAMILIES:
        raise SpecError(f"field 'family': expected ipv4 or ipv6, got {_short(family)}")
    return IcmpProbe(id=pid, host=_host(raw, "host"), family=family, timeout=timeout)


def _tls(pid: Id, raw: dict[str, Any], timeout: float) -> TlsProbe:
    host, port = split_host_port(_host(raw, "target"), "target")
    sni = raw.get("sni", "")
    if not isinstance(sni, str):
        raise SpecError(f"field 'sni': expected a string (\"\": send none), got {_short(sni)}")
    if sni and (not sni.isascii() or CONTROL.search(sni) or any(c.isspace() for c in sni)
                or len(sni) > 253):
        raise SpecError(f"field 'sni': {_short(sni)} is not an ASCII host name")
    path = _str(raw, "path", "/healthz")
    if not path.startswith("/") or CONTROL.search(path) or any(c.isspace() for c in path):
        raise SpecError(f"field 'path': expected an absolute path without spaces, got "
                        f"{_short(path)}")
    return TlsProbe(id=pid, host=host, port=port, sni=sni or None, path=path, timeout=timeout)


PARSERS: dict[str, Callable[[Id, dict[str, Any], float], ProbeSpec]] = {
    "http": _http, "grpc": _grpc, "dns": _dns, "tcp": _tcp, "icmp": _icmp, "tls": _tls,
}


def parse(raw: Any, default_timeout: float) -> ProbeSpec:
    """Validate one probe object; raises SpecError with a reason naming the field."""
    if not isinstance(raw, dict):
        raise SpecError(f"expected a probe object, got {type(raw).__name__}")
    pid = probe_id(raw)
    if pid is None:
        raise SpecError(f"field 'id': expected a string of at most {MAX_ID_CHARS} characters "
                        f"or a 64-bit integer, got {_short(raw.get('id'))}")
    if isinstance(pid, str) and (CONTROL.search(pid) or not pid.isascii()):
        # The id is sent as the X-Probe-Id header: it must not be able to split the request.
        raise SpecError(f"field 'id': {_short(pid)} must be printable ASCII")
    kind = raw.get("kind")
    if not isinstance(kind, str) or kind not in PARSERS:
        raise SpecError(f"field 'kind': unknown probe kind {_short(kind)} "
                        f"(known: {', '.join(sorted(PARSERS))})")
    unknown = sorted(set(raw) - set(COMMON) - set(FIELDS[kind]))
    if unknown:
        raise SpecError(f"unknown field(s) {', '.join(repr(u) for u in unknown)} for kind "
                        f"{kind} (known: {', '.join((*COMMON, *FIELDS[kind]))})")
    return PARSERS[kind](pid, raw, _timeout(raw, default_timeout))
