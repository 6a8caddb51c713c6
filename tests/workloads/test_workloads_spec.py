"""Probe specification parsing (pure): what is accepted, and the reason when not."""

from __future__ import annotations

from typing import Any

import pytest

from workloads.prober.spec import (
    DnsProbe,
    GrpcProbe,
    HttpProbe,
    SpecError,
    TcpProbe,
    parse,
    split_host_port,
)


def test_http_url_is_split_into_the_request_line_parts() -> None:
    spec = parse({"id": "a", "kind": "http", "url": "http://svc.ns:8080/p/q?x=1&y=2",
                  "method": "post", "body": "{}"}, 5.0)
    assert isinstance(spec, HttpProbe)
    assert (spec.host, spec.port, spec.target, spec.authority, spec.method) == (
        "svc.ns", 8080, "/p/q?x=1&y=2", "svc.ns:8080", "POST")
    assert spec.body == b"{}" and spec.timeout == 5.0
    https = parse({"id": "b", "kind": "http", "url": "https://api.stripe.test"}, 5.0)
    assert isinstance(https, HttpProbe) and (https.port, https.target) == (443, "/")


def test_kinds_and_defaults() -> None:
    grpc = parse({"id": 1, "kind": "grpc", "target": "[::1]:9090",
                  "method": "/api.AccountService/GetAccount", "timeout": 2}, 5.0)
    assert isinstance(grpc, GrpcProbe) and (grpc.host, grpc.port, grpc.timeout) == ("::1", 9090,
                                                                                   2.0)
    dns = parse({"id": 2, "kind": "dns", "name": "x.test", "server": "10.96.0.10"}, 5.0)
    assert isinstance(dns, DnsProbe) and dns.server == ("10.96.0.10", 53) and dns.qtype == "A"
    tcp = parse({"id": 3, "kind": "tcp", "host": "h", "port": 1}, 3.0)
    assert isinstance(tcp, TcpProbe) and tcp.timeout == 3.0


@pytest.mark.parametrize(("raw", "reason"), [
    ([], "expected a probe object"),
    ({"id": True, "kind": "tcp"}, "field 'id'"),
    ({"id": "x"}, "unknown probe kind None"),
    ({"id": "x", "kind": "http"}, "field 'url'"),
    ({"id": "x", "kind": "http", "url": "http://h/", "method": "GE T"}, "field 'method'"),
    ({"id": "x", "kind": "http", "url": "http://h/", "headers": {"a": 1}}, "field 'headers'"),
    ({"id": "x", "kind": "http", "url": "http://h/", "body": {"a": 1}}, "field 'body'"),
    ({"id": "x", "kind": "http", "url": "http://h:99999/"}, "field 'url'"),
    ({"id": "x", "kind": "http", "url": "http://h/", "verify_tls": "yes"}, "'verify_tls'"),
    ({"id": "x", "kind": "grpc", "target": "h", "method": "/a.B/C"}, "field 'target'"),
    ({"id": "x", "kind": "grpc", "target": "h:1", "method": "/a.B/C", "request": []},
     "field 'request'"),
    ({"id": "x", "kind": "dns", "name": "n", "transport": "quic"}, "field 'transport'"),
    ({"id": "x", "kind": "tcp", "host": "h", "port": "80"}, "field 'port'"),
    ({"id": "x", "kind": "tcp", "host": "h", "port": 1, "timeout": 0}, "field 'timeout'"),
    ({"id": "x", "kind": "tcp", "host": "h", "port": 1, "timeout": 1e9}, "field 'timeout'"),
    ({"id": "x", "kind": "tcp", "host": "h", "port": 1, "url": "u"}, "unknown field(s) 'url'"),
    # Malformed input of the wrong JSON type or shape is a reason, never an exception.
    ({"id": "x", "kind": []}, "unknown probe kind []"),
    ({"id": "x", "kind": {"a": 1}}, "unknown probe kind"),
    ({"id": "x", "kind": "http", "url": "http://[::1/"}, "field 'url'"),
    ({"id": "x", "kind": "http", "url": "http://h/a b"}, "field 'url'"),
    # Nothing may split the request on the wire (header injection).
    ({"id": "x", "kind": "http", "url": "http://h/", "headers": {"a\r\nb": "c"}},
     "not a valid header name"),
    ({"id": "x", "kind": "http", "url": "http://h/", "headers": {"a": "c\r\nX-Evil: 1"}},
     "value of 'a'"),
    ({"id": "x\r\nX-Evil: 1", "kind": "tcp", "host": "h", "port": 1}, "field 'id'"),
    ({"id": "x", "kind": "grpc", "target": "h:1", "method": "/a.B/C", "metadata": {"k": "\u00e9"}},
     "field 'metadata'"),
    ({"id": "x", "kind": "tcp", "host": "a\u0000b", "port": 1}, "field 'host'"),
])
def test_bad_probes_name_the_field(raw: Any, reason: str) -> None:
    with pytest.raises(SpecError, match=None) as err:
        parse(raw, 5.0)
    assert reason in str(err.value)


@pytest.mark.parametrize(("value", "expected"), [
    ("h:1", ("h", 1)), ("[fd00::1]:53", ("fd00::1", 53)), ("10.0.0.1", ("10.0.0.1", 53)),
    ("fd00::1", ("fd00::1", 53)), ("[fd00::1]", ("fd00::1", 53)),
])
def test_split_host_port(value: str, expected: tuple[str, int]) -> None:
    assert split_host_port(value, "server", default_port=53) == expected
