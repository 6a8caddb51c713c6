"""The one protocol every evidence source follows.

A batch starts every source before its first probe (the mark), then polls them, in
registration order, in one loop with one deadline (the flow grace) until each says what
it waits for has arrived — one that has is not polled again; then stops them (always,
also after an error). Each cell
is judged by asking every source for its checks of each attempt; the caller writes
artifacts by asking each source to write its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from conformance.harness.evidence import Check

if TYPE_CHECKING:
    from conformance.harness.attempt import Attempt
    from conformance.harness.batch import ScenarioRun
    from conformance.harness.spec import Cell
    from conformance.model.expectation import Expectation

Judged = list[tuple["Attempt", list[Check]]]


class EvidenceSource(Protocol):
    name: str  # in messages and artifacts

    def start(self, run: ScenarioRun) -> None:
        """Mark where this batch's evidence begins; before the first probe is sent."""

    def arrived(self, run: ScenarioRun) -> bool:
        """Read again; True once what the batch waits for is there (then it is not
        asked again). A source may use one registered before it."""

    def stop(self, run: ScenarioRun) -> None:
        """The last read and the release of what start opened; also after an error."""

    def judge(self, run: ScenarioRun, a: Attempt, exp: Expectation) -> list[Check]:
        """This source's checks of one attempt ([] when it has nothing to say)."""

    def problem(self) -> str | None:
        """Why this source's evidence may be incomplete, for every failing message."""

    def write(self, run: ScenarioRun, root: Path) -> None:
        """Scenario artifacts into `root`."""

    def write_cell(self, run: ScenarioRun, cell: Cell, judged: Judged, folder: Path) -> None:
        """A cell's artifacts into `folder`."""


class Quiet:
    """Defaults for the hooks a source does not need."""

    def start(self, run: ScenarioRun) -> None:
        return None

    def arrived(self, run: ScenarioRun) -> bool:
        return True

    def stop(self, run: ScenarioRun) -> None:
        return None

    def judge(self, run: ScenarioRun, a: Attempt, exp: Expectation) -> list[Check]:
        return []

    def problem(self) -> str | None:
        return None

    def write(self, run: ScenarioRun, root: Path) -> None:
        return None

    def write_cell(self, run: ScenarioRun, cell: Cell, judged: Judged, folder: Path) -> None:
        return None
