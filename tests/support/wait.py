"""Poll a condition until a deadline instead of sleeping for a guessed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
POLL_INTERVAL_S = 0.05


def wait_for(condition: Callable[[], T | None], timeout: float, what: str) -> T:
    """Return the first truthy value of condition(); AssertionError naming `what` after timeout."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
        except Exception as exc:  # not ready yet, e.g. connection refused
            last_error = exc
        else:
            if value:
                return value
        time.sleep(POLL_INTERVAL_S)  # poll
    detail = f" (last error: {last_error!r})" if last_error else ""
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}{detail}")
