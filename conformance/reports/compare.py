"""Run-to-run comparison: cells that flipped (pass <-> fail), appeared or vanished, other
outcome changes (to or from skipped), and time-to-enforce regressions per scenario.
A flip in either direction is a change of behaviour worth a look: exit 1."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from conformance.reports.model import FAILING, PASSING, RunReport

# A scenario's time-to-enforce regressed when it grew by both this factor and this much
# (small absolute changes are noise on a shared CI runner).
REGRESSION_RATIO = 1.5
REGRESSION_MIN_S = 1.0


@dataclass(frozen=True)
class Change:
    scenario: str
    cell: str
    before: str | None  # outcome in the old run; None: not there
    after: str | None


@dataclass(frozen=True)
class Regression:
    scenario: str
    before_s: float
    after_s: float


@dataclass
class Comparison:
    old: str
    new: str
    flipped: list[Change] = field(default_factory=list)
    appeared: list[Change] = field(default_factory=list)
    vanished: list[Change] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)  # to or from skipped/unknown
    regressions: list[Regression] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.flipped else 0

    def to_json(self) -> dict[str, Any]:
        return {"old": self.old, "new": self.new,
                **{k: [asdict(x) for x in getattr(self, k)]
                   for k in ("flipped", "appeared", "vanished", "changed", "regressions")}}


def _side(outcome: str) -> str:
    return "pass" if outcome in PASSING else "fail" if outcome in FAILING else "other"


def compare(old: RunReport, new: RunReport, ratio: float = REGRESSION_RATIO,
            min_s: float = REGRESSION_MIN_S) -> Comparison:
    result = Comparison(str(old.root), str(new.root))
    before = {c.key: c.outcome for c in old.cells()}
    after = {c.key: c.outcome for c in new.cells()}
    for key in sorted(before.keys() | after.keys()):
        b, a = before.get(key), after.get(key)
        change = Change(key[0], key[1], b, a)
        if b is None:
            result.appeared.append(change)
        elif a is None:
            result.vanished.append(change)
        elif b != a:
            sides = {_side(b), _side(a)}
            (result.flipped if sides == {"pass", "fail"} else result.changed).append(change)
    old_t = {s.name: s.realize_s for s in old.scenarios}
    for s in new.scenarios:
        was, now = old_t.get(s.name), s.realize_s
        if was is not None and now is not None and now > was * ratio and now - was >= min_s:
            result.regressions.append(Regression(s.name, was, now))
    return result


def render_text(c: Comparison) -> str:
    out = [f"comparing {c.old} -> {c.new}"]
    for title, items in (("flipped", c.flipped), ("appeared", c.appeared),
                         ("vanished", c.vanished), ("changed (skip)", c.changed)):
        out.append(f"{len(items)} {title}")
        out.extend(f"  {ch.scenario}: {ch.cell}: {ch.before or '-'} -> {ch.after or '-'}"
                   for ch in items)
    out.append(f"{len(c.regressions)} time-to-enforce regression(s) (x{REGRESSION_RATIO:g} "
               f"and +{REGRESSION_MIN_S:g} s)")
    out.extend(f"  {r.scenario}: {r.before_s:.2f} s -> {r.after_s:.2f} s" for r in c.regressions)
    return "\n".join(out) + "\n"
