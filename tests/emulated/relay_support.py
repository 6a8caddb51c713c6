"""An in-memory FlowLog for the emulated relay, fed by the tests."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

RELAY_FLOWS = Path(__file__).parent.parent / "harness" / "data" / "hubble" / "relay-flows.jsonl"


def recorded_lines() -> list[str]:
    """Lines in the exact shape `hubble observe -o jsonpb` prints."""
    return RELAY_FLOWS.read_text().splitlines()


class MemoryFlowLog:
    """FlowLog: the cursor is the number of entries read so far."""

    def __init__(self, lines: list[str] | None = None) -> None:
        self._entries: list[dict[str, Any]] = [json.loads(line) for line in lines or []]
        self._cond = threading.Condition()

    def append(self, *lines: str) -> None:
        with self._cond:
            self._entries.extend(json.loads(line) for line in lines)
            self._cond.notify_all()

    def append_dict(self, entry: dict[str, Any]) -> None:
        with self._cond:
            self._entries.append(entry)
            self._cond.notify_all()

    def read(self, cursor: int, timeout: float) -> tuple[int, list[dict[str, Any]]]:
        with self._cond:
            self._cond.wait_for(lambda: len(self._entries) > cursor, timeout)
            return len(self._entries), self._entries[cursor:]
