"""Incremental HTTP/1.1 request parser of account-service.

It accepts what HTTP/1.1 clients and Envoy send (Content-Length or chunked bodies) and
rejects anything else with a status. Every limit is checked as soon as the bytes that
break it arrive: a chunk is refused when its size line is read, not after its data has
been buffered, and decoded bytes leave the buffer, so memory per connection stays below
the head cap plus the body cap whatever a client streams.
"""

from __future__ import annotations

import re

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 1 << 20
# A size line is hex digits plus optional extensions; 4 KiB is far past any real one.
MAX_CHUNK_LINE_BYTES = 4096
CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")

Parsed = tuple[str, str, str, dict[str, str], bytes, int]
Head = tuple[str, str, str, dict[str, str]]


class BadRequest(ValueError):
    """The bytes on the wire are not a request we accept; status is the answer to send."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def parse_head(head: bytes) -> Head:
    """Request line and headers -> (method, target, version, headers in received case)."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(f"bad request line {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest(f"bad header line {line[:80]!r}")
        value = value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return parts[0], parts[1], parts[2], headers


def get_header(headers: dict[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def _too_large(what: str) -> BadRequest:
    return BadRequest(f"{what} larger than {MAX_BODY_BYTES} bytes", 413)


class RequestParser:
    """Feed bytes as they arrive; next() returns each complete request once."""

    def __init__(self) -> None:
        self.buf = bytearray()  # bytes not decoded yet
        self.consumed = 0  # bytes of finished requests and decoded body parts, in total
        self._start()

    def _start(self) -> None:
        self._scanned = 0  # head bytes already searched for the blank line
        self._head: Head | None = None
        self._length: int | None = None  # Content-Length; None while chunked
        self._body = bytearray()  # decoded chunk data so far
        self._trailers = False  # the last chunk was read; waiting for the blank line

    def feed(self, data: bytes) -> None:
        self.buf += data

    @property
    def in_request(self) -> bool:
        """Some bytes of an unfinished request have arrived."""
        return bool(self.buf) or self._head is not None

    @property
    def buffered(self) -> int:
        return len(self.buf) + len(self._body)

    def _take(self, count: int) -> bytes:
        # Deleting from the front of a bytearray is cheap in CPython (no copy of the rest).
        data = bytes(self.buf[:count])
        del self.buf[:count]
        self.consumed += count
        return data

    def next(self) -> Parsed | None:
        """The next complete request, or None until more bytes arrive; BadRequest if not
        acceptable. The last field is the offset in the stream where the request ended."""
        if self._head is None and not self._read_head():
            return None
        assert self._head is not None
        if self._length is None:
            if not self._read_chunks():
                return None
            body = bytes(self._body)
        else:
            if len(self.buf) < self._length:
                return None
            body = self._take(self._length)
        method, target, version, headers = self._head
        self._start()
        return method, target, version, headers, body, self.consumed

    def _read_head(self) -> bool:
        end = self.buf.find(b"\r\n\r\n", max(0, self._scanned - 3))
        if end < 0 or end > MAX_HEADER_BYTES:
            self._scanned = len(self.buf)
            if len(self.buf) > MAX_HEADER_BYTES:
                raise BadRequest(f"request head larger than {MAX_HEADER_BYTES} bytes", 431)
            return False
        self._head = parse_head(self._take(end + 4)[:end])
        headers = self._head[3]
        if "chunked" in (get_header(headers, "transfer-encoding") or "").lower():
            self._length = None
            return True
        length = get_header(headers, "content-length") or "0"
        if not length.isdigit():
            raise BadRequest(f"bad Content-Length {length[:40]!r}")
        if int(length) > MAX_BODY_BYTES:
            raise _too_large("Content-Length")
        self._length = int(length)
        return True

    def _read_chunks(self) -> bool:
        """Decode whole chunks off the buffer; True once the body and its trailers ended."""
        while not self._trailers:
            eol = self.buf.find(b"\r\n")
            if eol < 0 or eol > MAX_CHUNK_LINE_BYTES:
                if len(self.buf) > MAX_CHUNK_LINE_BYTES:
                    raise BadRequest("chunk size line too long")
                return False
            size_text = bytes(self.buf[:eol]).split(b";", 1)[0].strip()
            if not CHUNK_SIZE.fullmatch(size_text):
                raise BadRequest(f"bad chunk size {size_text[:20]!r}")
            size = int(size_text, 16)
            # Refused here, on the size line: the data would otherwise be buffered first.
            if len(self._body) + size > MAX_BODY_BYTES:
                raise _too_large("chunked body")
            if size == 0:
                self._take(eol)  # keep the CRLF: with no trailers it starts the blank line
                self._trailers = True
                break
            if len(self.buf) < eol + 2 + size + 2:
                return False
            if self.buf[eol + 2 + size:eol + 4 + size] != b"\r\n":
                raise BadRequest("chunk data not followed by CRLF")
            self._take(eol + 2)
            self._body += self._take(size)
            self._take(2)
        end = self.buf.find(b"\r\n\r\n")  # trailers (not echoed) end in a blank line
        if end < 0:
            if len(self.buf) > MAX_HEADER_BYTES:
                raise BadRequest(f"trailers larger than {MAX_HEADER_BYTES} bytes", 431)
            return False
        self._take(end + 4)
        return True


def parse_request(buf: bytes | bytearray) -> Parsed | None:
    """One complete request from the front of buf, with the bytes it used; None if partial."""
    parser = RequestParser()
    parser.feed(bytes(buf))
    return parser.next()
