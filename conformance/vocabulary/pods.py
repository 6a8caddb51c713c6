"""A pod as the cluster client lists it and the emulated cluster keeps it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PodInfo:
    name: str
    namespace: str
    labels: dict[str, str]
    ip: str
    node: str
