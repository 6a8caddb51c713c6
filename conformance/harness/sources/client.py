"""What the prober saw: its outcome, and for allowed requests the proof in the answer
(the app's echo of an HTTP request, the hermetic target's address in a DNS answer)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from conformance.harness import evidence
from conformance.harness.sources.base import Quiet

if TYPE_CHECKING:
    from conformance.harness.attempt import Attempt
    from conformance.harness.batch import ScenarioRun
    from conformance.model.expectation import Expectation


class Client(Quiet):
    """The results are in when the prober execs return: nothing to wait for."""

    name = "client"

    def judge(self, run: ScenarioRun, a: Attempt, exp: Expectation) -> list[evidence.Check]:
        if a.probe is None:
            return []
        kind, allowed = a.cell.request.type, exp.verdict == "allowed"
        return [evidence.check_client(exp, a.result,
                                      echo=kind.echo(a) if allowed else None,
                                      answer_ip=kind.answer_ip(a) if allowed else None)]
