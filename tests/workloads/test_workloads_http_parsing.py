"""The two small HTTP/1.1 parsers (prober responses, account-service requests)."""

from __future__ import annotations

import pytest

from workloads.account_service.http_parse import (
    MAX_HEADER_BYTES,
    BadRequest,
    RequestParser,
    parse_request,
)
from workloads.prober.http_probe import BadResponse, parse_response


def test_response_by_content_length_waits_for_the_whole_body() -> None:
    head = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 15\r\nX-A: 1\r\nX-A: 2\r\n\r\n"
    assert parse_response(head + b"Access", eof=False) is None
    status, headers, body = parse_response(head + b"Access denied\r\n", eof=False) or (0, {}, b"")
    assert (status, body) == (403, b"Access denied\r\n")
    assert headers["x-a"] == "1, 2"


def test_chunked_and_close_delimited_responses() -> None:
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
    assert parse_response(chunked, eof=False) == (200, {"transfer-encoding": "chunked"},
                                                  b"abcde")
    until_close = b"HTTP/1.0 200 OK\r\n\r\nall of it"
    assert parse_response(until_close, eof=False) is None
    assert parse_response(until_close, eof=True) == (200, {}, b"all of it")


@pytest.mark.parametrize("data", [b"SSH-2.0-OpenSSH\r\n\r\n", b"HTTP/1.1 abc\r\n\r\n", b"HTTP/1.1"])
def test_non_http_responses_are_rejected(data: bytes) -> None:
    with pytest.raises(BadResponse):
        parse_response(data, eof=True)


def test_request_parser_handles_pipelined_requests_and_partial_input() -> None:
    first = b"POST /a?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi"
    second = b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n"
    parsed = parse_request(first + second)
    assert parsed is not None
    method, target, version, headers, body, used = parsed
    assert (method, target, version, body, used) == ("POST", "/a?x=1", "HTTP/1.1", b"hi",
                                                     len(first))
    assert headers["Host"] == "h"
    assert parse_request(first[:-1]) is None
    again = parse_request((first + second)[used:])
    assert again is not None and again[1] == "/b"


@pytest.mark.parametrize("data", [b"GET /\r\n\r\n", b"GET / HTTP/1.1\r\nbad header\r\n\r\n",
                                  b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"])
def test_bad_requests_raise(data: bytes) -> None:
    with pytest.raises(BadRequest):
        parse_request(data)


def test_chunked_request_with_trailers_and_bytes_fed_one_at_a_time() -> None:
    wire = (b"POST /t HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\nGET /next HTTP/1.1\r\n\r\n")
    parser = RequestParser()
    results = []
    for byte in wire:  # every split point of the stream
        parser.feed(bytes([byte]))
        while (parsed := parser.next()) is not None:
            results.append(parsed)
    assert [(r[1], r[4]) for r in results] == [("/t", b"abcde"), ("/next", b"")]
    assert not parser.in_request and parser.buffered == 0


@pytest.mark.parametrize(("data", "status"), [
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0x10\r\n", 400),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1_0\r\n", 400),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", 400),
    # Refused on the size line alone: no chunk data has arrived.
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n7fffffff\r\n", 413),
    (b"POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n", 413),
    (b"GET / HTTP/1.1\r\nX: " + b"a" * (MAX_HEADER_BYTES + 1), 431),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1" * 5000, 400),
])
def test_limits_and_bad_chunks_carry_their_status(data: bytes, status: int) -> None:
    with pytest.raises(BadRequest) as err:
        parse_request(data)
    assert err.value.status == status


def test_decoded_chunks_leave_the_buffer() -> None:
    parser = RequestParser()
    parser.feed(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
    for _ in range(100):
        parser.feed(b"1\r\nx\r\n")
    assert parser.next() is None
    assert parser.buffered == 100  # the data, not the 600 bytes of framing
