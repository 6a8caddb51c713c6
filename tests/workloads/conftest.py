"""Fixtures for workload tests: a real account-service process per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.account_service import AccountService, account_service


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AccountService]:
    log_dir: Path = tmp_path_factory.mktemp("account-service")
    with account_service(log_dir, env={"POD_NAME": "account-service-test-0"}) as svc:
        yield svc
