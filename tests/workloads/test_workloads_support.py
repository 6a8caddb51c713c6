"""The shared test helpers behave as promised: CI=true turns a missing engine into a failure."""

from __future__ import annotations

import socket

import pytest

from tests.support.ports import free_ports
from tests.support.requirements import unavailable
from tests.support.wait import wait_for


def test_missing_prerequisite_skips_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        unavailable("no engine")


def test_missing_prerequisite_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="required in CI"):
        unavailable("no engine")


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = free_ports(5)
    assert len(set(ports)) == 5
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_wait_for_returns_the_value_or_names_what_it_waited_for() -> None:
    calls = iter([None, 0, "ready"])
    assert wait_for(lambda: next(calls), 5, "a value") == "ready"
    with pytest.raises(AssertionError, match="the impossible"):
        wait_for(lambda: None, 0.2, "the impossible")
