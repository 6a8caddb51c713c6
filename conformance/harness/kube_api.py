"""The thin layer between KubeCluster and the API server, so everything above it is testable.

`KubeApi` is three calls: a JSON REST request, a raw text GET (the pod proxy serving
Prometheus text) and an exec with stdin. `ClientKubeApi` implements them with the
kubernetes Python client; the self-tests implement them with recorded responses in the
API server's real formats (tests/harness/data/kube/).
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from dataclasses import dataclass
from typing import Any, Protocol

from conformance.harness.cluster import ClusterError

EXEC_STATUS_CHANNEL = 3
V5_CHANNEL = "v5.channel.k8s.io"  # adds the close frame [255, channel] (Kubernetes 1.30)
EXEC_UPDATE_S = 1.0  # longest single wait for websocket frames while polling an exec


class ApiError(ClusterError):
    """The API server answered with an error status (0: it could not be reached)."""

    def __init__(self, status: int, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason


@dataclass(frozen=True)
class ExecResult:
    stdout: str
    stderr: str
    exit_code: int  # 0 on success; -1 when the exec failed without an exit code
    message: str = ""  # the API server's status message when it failed


class KubeApi(Protocol):
    def request(self, method: str, path: str, *, body: Any = None,
                query: dict[str, str] | None = None, content_type: str | None = None,
                timeout: float) -> Any:
        """One REST call; the decoded JSON answer. Raises ApiError."""
        ...

    def request_text(self, path: str, *, timeout: float) -> str:
        """GET a non-JSON resource (e.g. a pod proxy path). Raises ApiError."""
        ...

    def exec(self, namespace: str, pod: str, container: str | None, argv: list[str],
             stdin: str | None, *, timeout: float) -> ExecResult:
        """Run argv in the container; stdin (if given) is written, then closed where the
        connection negotiated the v5 exec protocol."""
        ...


class ExecStream(Protocol):
    """A running exec read while it runs (ClientExecStream; KubeApi.exec_stream, where the
    client has it)."""

    def send(self, text: str) -> None: ...

    def read(self, timeout: float) -> str: ...

    def is_open(self) -> bool: ...

    def finish(self, timeout: float) -> ExecResult: ...

    def close(self) -> None: ...


def status_error(status: int, body: Any, fallback: str) -> ApiError:
    """An ApiError from an API server `Status` body (JSON text or dict)."""
    data = body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            data = json.loads(body)
        except ValueError:
            data = {"message": body.strip() or fallback}
    if not isinstance(data, dict):
        data = {}
    return ApiError(status, str(data.get("message") or fallback), str(data.get("reason") or ""))


_HANDSHAKE = re.compile(r"Handshake status (\d+)")


def handshake_error(err: Any) -> ApiError:
    """The ApiError of a refused WebSocket upgrade. The kubernetes client wraps the
    websocket library's bad-status error as ApiException(status=0, reason=text), the text
    being `Handshake status <code> <reason> -+-+- <headers> -+-+- <body>`
    (stream/ws_client.py websocket_call, websocket/_handshake.py): recover the code and
    the server's Status body from it."""
    reason = str(getattr(err, "reason", "") or "")
    found = _HANDSHAKE.search(reason)
    if getattr(err, "status", 0) or not found:
        return status_error(int(getattr(err, "status", 0) or 0), getattr(err, "body", None),
                            reason)
    body = reason.rsplit("-+-+-", 1)[-1].strip() if "-+-+-" in reason else ""
    if body.startswith(("b'", 'b"')):
        body = body[2:-1]
    return status_error(int(found.group(1)), body or reason, reason)


def negotiated(ws: Any) -> str:
    """The subprotocol the server chose, as the kubernetes client's WSClient records it
    (`stream/ws_client.py`: `subprotocol` from the handshake's response headers)."""
    return str(getattr(ws, "subprotocol", None) or "")


def collect(ws: Any) -> ExecResult:
    """What an ended exec left in its channels: stdout, stderr and the exit status."""
    stdout = ws.read_stdout() or ""
    stderr = ws.read_stderr() or ""
    code, message = parse_exec_status(ws.read_channel(EXEC_STATUS_CHANNEL) or "")
    return ExecResult(stdout=stdout, stderr=stderr, exit_code=code, message=message)


def parse_exec_status(text: str) -> tuple[int, str]:
    """(exit code, message) from the exec status channel's `Status` JSON."""
    if not text.strip():
        return -1, "the exec ended without a status (connection lost?)"
    try:
        status = json.loads(text)
    except ValueError:
        return -1, text.strip()
    if status.get("status") == "Success":
        return 0, ""
    message = str(status.get("message", "exec failed"))
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            try:
                return int(cause.get("message")), message
            except (TypeError, ValueError):
                break
    return -1, message


class ClientExecStream:
    """A running exec whose stdout is read while it runs (the kubernetes client's WSClient:
    `update` takes the frames that arrived, `read_channel` empties a channel's buffer)."""

    STDOUT_CHANNEL = 1

    def __init__(self, ws: Any, own: Any, where: str, argv: list[str]) -> None:
        self._ws, self._own, self.where, self.argv = ws, own, where, argv

    def send(self, text: str) -> None:
        """Write to the command's stdin; ApiError when the connection is gone."""
        from websocket import WebSocketException

        try:
            self._ws.write_stdin(text)
        except (OSError, WebSocketException) as err:
            raise ApiError(0, f"exec {' '.join(self.argv)!r} in {self.where}: stdin: "
                           f"{type(err).__name__}: {err}") from err

    def read(self, timeout: float) -> str:
        """The stdout that arrived, waiting at most `timeout` for the first of it."""
        from websocket import WebSocketException

        with contextlib.suppress(OSError, WebSocketException):  # hung up: is_open is False
            self._ws.update(timeout=timeout)
        return str(self._ws.read_channel(self.STDOUT_CHANNEL) or "")

    def is_open(self) -> bool:
        return bool(self._ws.is_open())

    def finish(self, timeout: float) -> ExecResult:
        """Wait (bounded) for the command to end; its remaining output and status."""
        deadline = time.monotonic() + timeout
        out = ""
        while self.is_open() and time.monotonic() < deadline:
            out += self.read(min(EXEC_UPDATE_S, max(0.0, deadline - time.monotonic())))
        if self.is_open():
            raise ApiError(0, f"exec {' '.join(self.argv)!r} in {self.where} did not finish "
                           f"within {timeout:g}s")
        rest = collect(self._ws)
        return ExecResult(out + rest.stdout, rest.stderr, rest.exit_code, rest.message)

    def close(self) -> None:
        try:
            self._ws.close()
        finally:
            self._own.close()


class ClientKubeApi:
    """KubeApi over the kubernetes Python client (an ApiClient bound to one context)."""

    def __init__(self, api_client: Any) -> None:
        self._api = api_client

    def request(self, method: str, path: str, *, body: Any = None,
                query: dict[str, str] | None = None, content_type: str | None = None,
                timeout: float) -> Any:
        raw = self._call(method, path, body, query, content_type or "application/json",
                         "application/json", timeout)
        return json.loads(raw) if raw.strip() else {}

    def request_text(self, path: str, *, timeout: float) -> str:
        return self._call("GET", path, None, None, None, "text/plain, */*", timeout)

    def _call(self, method: str, path: str, body: Any, query: dict[str, str] | None,
              content_type: str | None, accept: str, timeout: float) -> str:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        headers = {"Accept": accept}
        if content_type and body is not None:
            headers["Content-Type"] = content_type
        try:
            status, data = self._send(method, path, body, list((query or {}).items()),
                                      headers, timeout)
        except ApiException as err:
            raise status_error(int(err.status or 0), err.body, str(err.reason)) from err
        except (HTTPError, OSError) as err:  # urllib3/ssl/socket: the server is unreachable
            raise ApiError(0, f"{type(err).__name__}: {err}") from err
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data or "")
        if not 200 <= status < 300:
            raise status_error(status, text, f"HTTP {status}")
        return text

    def _send(self, method: str, path: str, body: Any, query: list[tuple[str, str]],
              headers: dict[str, str], timeout: float) -> tuple[int, Any]:
        """(status, body bytes)."""
        # The generated client of kubernetes >= 35 (pyproject): serialize, then send.
        verb, url, sent_headers, sent_body, post = self._api.param_serialize(
            method=method, resource_path=path, query_params=query,
            header_params=headers, body=body, auth_settings=["BearerToken"])
        response = self._api.call_api(verb, url, header_params=sent_headers, body=sent_body,
                                      post_params=post, _request_timeout=timeout)
        return int(response.status), response.read()

    def close(self) -> None:
        self._api.close()

    def exec(self, namespace: str, pod: str, container: str | None, argv: list[str],
             stdin: str | None, *, timeout: float) -> ExecResult:
        ws, own = self._open_exec(namespace, pod, container, argv, stdin is not None)
        try:
            try:
                return self._finish(ws, namespace, pod, argv, stdin, timeout)
            finally:
                ws.close()
        finally:
            own.close()

    def exec_stream(self, namespace: str, pod: str, container: str | None,
                    argv: list[str]) -> ClientExecStream:
        """Start argv with stdin open and return at once; its output is read as it comes
        (ClientExecStream)."""
        ws, own = self._open_exec(namespace, pod, container, argv, True)
        return ClientExecStream(ws, own, f"{namespace}/{pod}", argv)

    def _open_exec(self, namespace: str, pod: str, container: str | None, argv: list[str],
                   stdin: bool) -> tuple[Any, Any]:
        """(the exec WebSocket, its own ApiClient to close after it)."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException
        from kubernetes.stream import stream
        from urllib3.exceptions import HTTPError
        from websocket import WebSocketException

        kwargs: dict[str, Any] = {"command": argv, "stdin": stdin, "stdout": True,
                                  "stderr": True, "tty": False, "_preload_content": False}
        if container:
            kwargs["container"] = container
        # stream() swaps the ApiClient's call_api while it connects, which races with other
        # threads using the same ApiClient: each exec gets a client of its own.
        own: Any = client.ApiClient(self._api.configuration)
        try:
            ws = stream(client.CoreV1Api(own).connect_get_namespaced_pod_exec, pod,
                        namespace, **kwargs)
        except ApiException as err:
            own.close()
            raise handshake_error(err) from err
        except (WebSocketException, HTTPError, OSError) as err:
            own.close()
            raise ApiError(0, f"exec into {namespace}/{pod}: {type(err).__name__}: {err}"
                           ) from err
        return ws, own

    @staticmethod
    def _feed(ws: Any, stdin: str) -> None:
        ws.write_stdin(stdin)
        # EOF exists only in the v5 protocol, as negotiated on this connection (the
        # server may answer v4 to a v5 offer; kubernetes clients < 36 offer only v4
        # and lack close_channel). Without it the command must stop reading by
        # itself (KubeCluster.prober_argv byte-counts).
        close_channel = getattr(ws, "close_channel", None)
        if negotiated(ws) == V5_CHANNEL and callable(close_channel):
            close_channel(0)

    @staticmethod
    def _finish(ws: Any, namespace: str, pod: str, argv: list[str], stdin: str | None,
                timeout: float) -> ExecResult:
        """Feed stdin, wait (bounded) for the process to end, collect its output."""
        from websocket import WebSocketException

        if stdin is not None:
            # The command may end (and the server close) before taking all its input: what
            # it printed and its status are still to be read.
            with contextlib.suppress(OSError, WebSocketException):
                ClientKubeApi._feed(ws, stdin)
        deadline = time.monotonic() + timeout
        while ws.is_open():
            left = deadline - time.monotonic()
            if left <= 0:
                raise ApiError(0, f"exec {' '.join(argv)!r} in {namespace}/{pod} did not "
                               f"finish within {timeout:g}s")
            try:
                ws.update(timeout=min(left, EXEC_UPDATE_S))
            except (OSError, WebSocketException):
                # The server hung up (answering its close frame failed, or the connection
                # dropped): what arrived is all there is; no status means a failure.
                break
        return collect(ws)

    def port_forward(self, namespace: str, pod: str, port: int) -> Any:
        """One pods/portforward WebSocket to `port` of the pod: the kubernetes client's
        PortForward (`.socket(port)` is the connected end, `.error(port)` what the server
        reported on the error channel, `.close()`). Raises ApiError when refused."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException
        from kubernetes.stream import portforward

        # portforward() swaps the ApiClient's call_api like stream() does: a client of its
        # own per forward (the WebSocket does not need it once connected).
        own: Any = client.ApiClient(self._api.configuration)
        try:
            return portforward(client.CoreV1Api(own).connect_get_namespaced_pod_portforward,
                               pod, namespace, ports=str(port))
        except ApiException as err:
            # ws_client.portforward_call wraps every connect failure as status 0.
            refused = handshake_error(err)
            raise ApiError(refused.status, f"port-forward to {namespace}/{pod}:{port}: "
                           f"{refused.message}", refused.reason) from err
        finally:
            own.close()
