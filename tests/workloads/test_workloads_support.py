"""The shared test helpers behave as promised: CI=true turns a missing engine into a failure."""

from __future__ import annotations

import socket

import pytest

from tests.support.ports import closed_port
from tests.support.requirements import unavailable
from tests.support.wait import wait_for

IO_TIMEOUT_S = 5.0


def test_missing_prerequisite_skips_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        unavailable("no engine")


def test_missing_prerequisite_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="required in CI"):
        unavailable("no engine")


def test_a_closed_port_refuses_and_cannot_be_taken_while_held() -> None:
    with closed_port() as port:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_S).close()
        with socket.socket() as rival, pytest.raises(OSError, match="in use"):
            # What a parallel server would do (asyncio and grpc set SO_REUSEADDR too).
            rival.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            rival.bind(("127.0.0.1", port))


def test_wait_for_returns_the_value_or_names_what_it_waited_for() -> None:
    calls = iter([None, 0, "ready"])
    assert wait_for(lambda: next(calls), 5, "a value") == "ready"
    with pytest.raises(AssertionError, match="the impossible"):
        wait_for(lambda: None, 0.2, "the impossible")
