"""A fault's declaration: its name and effect, its hooks, and what the suite must do."""

from __future__ import annotations

from dataclasses import dataclass

from clusters.emulated.faults.hooks import NO_FAULT, Hooks
from conformance.vocabulary.capabilities import Select

# breaking: enforcement or evidence is wrong, so the suite must fail (exactly the cells
# the fault covers). benign: evidence is late or slow, so the suite must still pass.
# condition: a condition of real clusters the harness must handle (it must pass, and a
# harness that ignores the condition must not). refused: a broken install; the run must
# stop before any test with one paragraph naming what is missing. upgrade: acts only
# during or after a simulated upgrade (rollout.py); the upgrade validation must fail.
BREAKING, BENIGN, CONDITION, UPGRADE = "breaking", "benign", "condition", "upgrade"
REFUSED = "refused"
EFFECTS = (BREAKING, BENIGN, CONDITION, REFUSED, UPGRADE)


class BadFault(ValueError):
    """A declaration the fault matrix could not use."""


@dataclass(frozen=True)
class Fault:
    name: str
    effect: str  # one of EFFECTS
    what: str
    hooks: Hooks = NO_FAULT
    # breaking: every cell these select must fail, naming `says` in its message ...
    fails: tuple[Select, ...] = ()
    # ... and no cell outside `fails` and these may fail
    may_fail: tuple[Select, ...] = ()
    says: str = ""  # breaking: the failing check named; refused: in the run's paragraph
    # breaking: the run fails on what it sees first (no grace waited out), so the fault
    # matrix runs it in one process; otherwise with xdist workers
    quick: bool = False
    # benign: (run.json timing, seconds) the run must show it waited at least
    waits: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if self.effect not in EFFECTS:
            raise BadFault(f"fault {self.name}: effect {self.effect!r} is not one of {EFFECTS}")
        if self.effect == BREAKING and not (self.fails and self.says):
            raise BadFault(f"fault {self.name}: a breaking fault declares the cells it fails "
                           "(`fails`) and what their messages name (`says`)")
        if self.effect == REFUSED and not self.says:
            raise BadFault(f"fault {self.name}: a refused install declares the paragraph's "
                           "words (`says`)")
