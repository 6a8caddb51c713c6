"""HTTP GETs for tool releases and checksum files: one requests session with retries on
transient errors, connect/read timeouts, a deadline per file, and a progress line for any
download that takes more than a second."""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 30.0  # the longest silence tolerated on an open connection
FILE_DEADLINE_S = 900.0  # a whole file, so a server dripping bytes cannot hold us for ever
RETRIES = 4
BACKOFF_S = 0.5  # urllib3 util/retry.py Retry.get_backoff_time: 0, 1, 2, 4 s between tries
# Transient answers worth another try (rate limit, server and gateway errors).
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
PROGRESS_AFTER_S = 1.0  # quiet for quick downloads; then a line at most this often
CHUNK = 1 << 20
MAX_TEXT_BYTES = 1 << 20  # checksum files are a few lines


class DownloadError(Exception):
    """One sentence naming the URL and what went wrong."""


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class Fetcher:
    connect_timeout_s: float = CONNECT_TIMEOUT_S
    read_timeout_s: float = READ_TIMEOUT_S
    file_deadline_s: float = FILE_DEADLINE_S
    retries: int = RETRIES
    backoff_s: float = BACKOFF_S
    say: Callable[[str], None] = _stderr
    clock: Callable[[], float] = time.monotonic
    _session: requests.Session | None = field(default=None, repr=False)

    def session(self) -> requests.Session:
        if self._session is None:
            # urllib3 util/retry.py Retry: `connect` covers refused/unreachable, `read` a
            # timeout or reset before the response head, `status` the listed codes. A
            # Retry-After header is not obeyed: a server asking for an hour must not stall a
            # run; the backoff is ours. A failure while the body streams is not retried.
            retry = Retry(total=self.retries, connect=self.retries, read=self.retries,
                          status=self.retries, other=0, allowed_methods=frozenset({"GET"}),
                          status_forcelist=RETRY_STATUSES, backoff_factor=self.backoff_s,
                          respect_retry_after_header=False, raise_on_status=True)
            session = requests.Session()
            adapter = HTTPAdapter(max_retries=retry)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            self._session = session
        return self._session

    def _get(self, url: str) -> requests.Response:
        try:
            resp = self.session().get(url, stream=True,
                                      timeout=(self.connect_timeout_s, self.read_timeout_s))
        except requests.RequestException as exc:
            tries = (f" (tried {self.retries + 1} times)"
                     if type(exc) is requests.exceptions.ConnectionError else "")
            raise DownloadError(f"GET {url}: {_why(exc, self)}{tries}") from None
        if resp.status_code != requests.codes.ok:
            resp.close()
            raise DownloadError(f"GET {url}: HTTP {resp.status_code} {resp.reason}")
        return resp

    def text(self, url: str) -> str:
        """A small text file (a published checksum file)."""
        body = bytearray()
        with self._get(url) as resp:
            for chunk in _Chunks(resp, url, self):
                body += chunk
                if len(body) > MAX_TEXT_BYTES:
                    raise DownloadError(f"GET {url}: more than {MAX_TEXT_BYTES} bytes; "
                                        "not a checksum file")
        return body.decode("utf-8", errors="replace")

    def to_file(self, url: str, out: BinaryIO, label: str) -> str:
        """Stream `url` into `out`; returns the SHA-256 hex of what was written."""
        digest = hashlib.sha256()
        with self._get(url) as resp:
            progress = Progress(label, int(resp.headers.get("Content-Length") or 0),
                                self.say, self.clock)
            for chunk in _Chunks(resp, url, self):
                digest.update(chunk)
                out.write(chunk)
                progress.add(len(chunk))
            progress.done()
        return digest.hexdigest()


class _Chunks:
    """resp.iter_content with the per-file deadline and errors as DownloadError."""

    def __init__(self, resp: requests.Response, url: str, fetcher: Fetcher) -> None:
        self.it = resp.iter_content(CHUNK)
        self.url, self.fetcher = url, fetcher
        self.deadline = fetcher.clock() + fetcher.file_deadline_s

    def __iter__(self) -> _Chunks:
        return self

    def __next__(self) -> bytes:
        if self.fetcher.clock() > self.deadline:
            raise DownloadError(f"GET {self.url}: not complete after "
                                f"{self.fetcher.file_deadline_s:.0f}s")
        try:
            return bytes(next(self.it))
        except requests.RequestException as exc:
            raise DownloadError(f"GET {self.url}: {_why(exc, self.fetcher)} while reading "
                                "the body") from None


def _why(exc: requests.RequestException, f: Fetcher) -> str:
    if isinstance(exc, requests.exceptions.RetryError):
        return f"still failing after {f.retries} retries ({_root(exc)})"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return f"no connection within {f.connect_timeout_s:g}s after {f.retries} retries"
    if isinstance(exc, requests.exceptions.ReadTimeout) or "Read timed out" in str(exc):
        return f"no data for {f.read_timeout_s:g}s"
    return _root(exc)


def _root(exc: BaseException) -> str:
    """The reason urllib3 gave (MaxRetryError.reason), in one line."""
    first = exc.args[0] if exc.args else exc
    text = str(getattr(first, "reason", None) or first or type(exc).__name__)
    return text.splitlines()[0] if text else type(exc).__name__


class Progress:
    """`kind 0.33.0: 12.0 of 40.1 MB` once a download has run a second, then each second."""

    def __init__(self, label: str, total: int, say: Callable[[str], None],
                 clock: Callable[[], float]) -> None:
        self.label, self.total, self.say, self.clock = label, total, say, clock
        self.start = self.last = clock()
        self.got = 0
        self.shown = False

    def add(self, n: int) -> None:
        self.got += n
        now = self.clock()
        if now - self.start >= PROGRESS_AFTER_S and now - self.last >= PROGRESS_AFTER_S:
            self.last, self.shown = now, True
            of = f" of {self.total / 1e6:.1f}" if self.total else ""
            self.say(f"downloading {self.label}: {self.got / 1e6:.1f}{of} MB")

    def done(self) -> None:
        if self.shown:
            self.say(f"downloaded {self.label}: {self.got / 1e6:.1f} MB in "
                     f"{self.clock() - self.start:.1f}s")
