"""The version-aware lint: which notes of notes.yaml a policy document trips for FROM -> TO.

The notes are data (notes.yaml, each citing its upstream source); this module only knows how
to match a note's `match` against a document and how versions turn a match into a severity.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml

from conformance.vocabulary.catalogue import load_catalogue

NOTES_FILE = Path(__file__).with_name("notes.yaml")
Severity = Literal["blocking", "changed", "deprecated"]
SEVERITIES: tuple[Severity, ...] = ("blocking", "changed", "deprecated")
Minor = tuple[int, int]


@dataclass(frozen=True)
class Note:
    id: str
    match: dict[str, Any]
    text: str
    source: str
    deprecated: Minor | None = None
    changed: Minor | None = None
    removed: Minor | None = None
    features: dict[str, str] = field(default_factory=dict)  # stage -> catalogue feature

    def severity(self, old: Minor, new: Minor) -> Severity | None:
        if self.removed and self.removed <= new:
            return "blocking"
        if self.changed and old < self.changed <= new:
            return "changed"
        if self.deprecated and self.deprecated <= new:
            return "deprecated"
        return None


@dataclass(frozen=True)
class NoteFinding:
    note: str
    severity: Severity
    file: str
    document: int
    path: str
    text: str
    source: str

    def to_json(self) -> dict[str, Any]:
        return {"note": self.note, "severity": self.severity, "file": self.file,
                "document": self.document, "path": self.path, "text": self.text,
                "source": self.source}


STAGES = ("deprecated", "changed", "removed")


def _since(note: dict[str, Any], stage: str) -> Minor | None:
    """The minor of a note's stage: its catalogue feature's `since`."""
    name = note.get(stage)
    return None if name is None else load_catalogue().feature(str(name)).since


@lru_cache(maxsize=1)
def notes() -> tuple[Note, ...]:
    raw = yaml.safe_load(NOTES_FILE.read_text(encoding="utf-8"))
    return tuple(Note(id=n["id"], match=dict(n["match"]), text=" ".join(n["text"].split()),
                      source=" ".join(n["source"].split()),
                      deprecated=_since(n, "deprecated"), changed=_since(n, "changed"),
                      removed=_since(n, "removed"),
                      features={s: str(n[s]) for s in STAGES if n.get(s)})
                 for n in raw["notes"])


def findings(doc: Any, file: str, document: int, prefix: str, old: Minor, new: Minor
             ) -> list[NoteFinding]:
    """Every note `doc` trips whose severity is not None for old -> new."""
    out: list[NoteFinding] = []
    if not isinstance(doc, dict):
        return out
    for note in notes():
        severity = note.severity(old, new)
        if severity is None:
            continue
        for path in _matches(note.match, doc):
            out.append(NoteFinding(note.id, severity, file, document, prefix + path, note.text,
                                   note.source))
    return out


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, str, Any, str]]:
    """(path, key, value, parent key) for every mapping entry below `node`."""
    stack: list[tuple[Any, str, str]] = [(node, path, "")]
    while stack:
        value, where, parent = stack.pop()
        if isinstance(value, dict):
            for key, child in value.items():
                sub = f"{where}.{key}" if where else str(key)
                yield sub, str(key), child, parent
                stack.append((child, sub, str(key)))
        elif isinstance(value, list):
            for i, child in enumerate(value):
                stack.append((child, f"{where}[{i}]", parent))


def _matches(match: dict[str, Any], doc: dict[str, Any]) -> list[str]:
    if match.get("no_spec"):
        is_cilium = str(doc.get("kind", "")).startswith("Cilium")
        return ["spec"] if is_cilium and "spec" not in doc and "specs" not in doc else []
    if match.get("default_deny_off_with_l7"):
        return _default_deny_off_with_l7(doc)
    if match.get("cidr_except_wider"):
        return _cidr_except_wider(doc)
    keys = match["key"] if isinstance(match["key"], list) else [match["key"]]
    out = []
    for path, key, value, parent in _walk(doc):
        if key not in keys or ("under" in match and parent != match["under"]):
            continue
        if match.get("nonempty") and not value:
            continue
        if "prefix" in match and not (isinstance(value, str) and
                                      value.startswith(match["prefix"])):
            continue
        out.append(path)
    return sorted(out)


def _specs(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(doc.get("spec"), dict):
        yield "spec", doc["spec"]
    for i, spec in enumerate(doc.get("specs") or []):
        if isinstance(spec, dict):
            yield f"specs[{i}]", spec


def _default_deny_off_with_l7(doc: dict[str, Any]) -> list[str]:
    out = []
    for where, spec in _specs(doc):
        switch = spec.get("enableDefaultDeny")
        if not isinstance(switch, dict):
            continue
        for direction in ("ingress", "egress"):
            if switch.get(direction) is not False:
                continue
            for i, rule in enumerate(spec.get(direction) or []):
                for j, port in enumerate((rule or {}).get("toPorts") or []):
                    rules = (port or {}).get("rules") or {}
                    if isinstance(rules, dict) and (rules.get("http") or rules.get("dns")):
                        out.append(f"{where}.{direction}[{i}].toPorts[{j}].rules")
    return out


def _cidr_except_wider(doc: dict[str, Any]) -> list[str]:
    out = []
    for path, key, value, _parent in _walk(doc):
        if key not in ("fromCIDRSet", "toCIDRSet") or not isinstance(value, list):
            continue
        for i, item in enumerate(value):
            if not isinstance(item, dict) or not isinstance(item.get("cidr"), str):
                continue
            try:
                outer = ipaddress.ip_network(item["cidr"], strict=False)
                for j, text in enumerate(item.get("except") or []):
                    if ipaddress.ip_network(str(text), strict=False).prefixlen < outer.prefixlen:
                        out.append(f"{path}[{i}].except[{j}]")
            except ValueError:
                continue  # a malformed CIDR is the schema check's finding, not this note's
    return sorted(out)
