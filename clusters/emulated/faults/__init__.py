"""Faults the emulated cluster can inject: the registry.

Each fault is declared once (`base.Fault`), in the module of its family: its effect, its
`hooks` (hooks.py: what the emulator does differently, asked at named hook points, never
by name) and, for the fault matrix (tests/scenarios/test_faults.py), the cells it must
and may fail as capability tags (conformance/harness/capabilities.py) and what the
failing messages say. A new fault is one declaration in a family module (or a new module
listed in `FAMILIES`); README "Adding a fault" walks through one.
"""

from __future__ import annotations

from types import ModuleType

from clusters.emulated.faults import (
    boundary,
    enforcement,
    evidence,
    hubble_forwarded,
    install,
    timing,
    upgrade,
)
from clusters.emulated.faults.base import (
    BENIGN,
    BREAKING,
    CONDITION,
    EFFECTS,
    REFUSED,
    UPGRADE,
    BadFault,
    Fault,
)
from clusters.emulated.faults.hooks import NEVER_S, NO_FAULT, Hooks
from clusters.emulated.faults.timing import (
    HUBBLE_LATE_S,
    JITTER_MAX_S,
    PROXY_LAG_S,
    REVISION_RACE_S,
    SLOW_REALIZATION_S,
)

# The registration: every module here contributes its FAULTS.
FAMILIES: tuple[ModuleType, ...] = (enforcement, evidence, hubble_forwarded, boundary, timing,
                                    install, upgrade)


def register(families: tuple[ModuleType, ...]) -> dict[str, Fault]:
    out: dict[str, Fault] = {}
    for family in families:
        for fault in family.FAULTS:
            if fault.name in out:
                raise BadFault(f"fault {fault.name} is declared twice ({family.__name__})")
            out[fault.name] = fault
    return out


FAULTS: dict[str, Fault] = register(FAMILIES)


class UnknownFault(ValueError):
    pass


def check(name: str | None) -> str | None:
    """`name` when it is a known fault (or None); UnknownFault naming the valid ones."""
    if name is not None and name not in FAULTS:
        raise UnknownFault(f"unknown fault {name!r}; valid faults: {', '.join(FAULTS)}")
    return name


def hooks(name: str | None) -> Hooks:
    """What the emulator does differently under fault `name` (NO_FAULT for None)."""
    return NO_FAULT if check(name) is None else FAULTS[str(name)].hooks


def of_effect(effect: str) -> list[str]:
    return [f.name for f in FAULTS.values() if f.effect == effect]


__all__ = ["BENIGN", "BREAKING", "CONDITION", "EFFECTS", "FAULTS", "HUBBLE_LATE_S",
           "JITTER_MAX_S", "NEVER_S", "PROXY_LAG_S", "REFUSED", "REVISION_RACE_S",
           "SLOW_REALIZATION_S", "UPGRADE", "Fault", "Hooks", "UnknownFault", "check",
           "hooks", "of_effect"]
