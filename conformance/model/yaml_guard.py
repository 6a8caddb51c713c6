"""Refuse YAML that would make loading a policy file hang or crash, before it is built.

One pass over libyaml's event stream (a state machine: no recursion, linear time) finds:
- anchors and aliases: a few lines of `&a [*b, *b, ...]` expand to billions of nodes when
  the policy is walked (an "alias bomb"). kubectl accepts aliases (sigs.k8s.io/yaml uses
  go-yaml, which caps alias expansion); policies never need them, so the model refuses them
  and names the line;
- nesting deeper than MAX_DEPTH: libyaml's composer recurses per level and crashes the
  interpreter (a segmentation fault) on a few tens of thousands of `[`;
- integers longer than Python converts (sys.get_int_max_str_digits(), 4300 digits).
"""

from __future__ import annotations

import sys
from typing import Any

import yaml

from conformance.model.errors import Problem

# Policies nest about a dozen levels (spec.ingress[].toPorts[].rules.http[].headerMatches[]).
MAX_DEPTH = 64
_OPEN = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSE = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def first_hazard(text: str, file: str, loader: Any) -> Problem | None:
    """The first anchor, alias, too-deep node or too-long integer in `text`, or None.

    A syntax error ends the scan quietly: the loader reports it, at its document.
    """
    document = depth = 0
    digits = sys.get_int_max_str_digits()
    try:
        for event in yaml.parse(text, Loader=loader):
            if isinstance(event, yaml.ScalarEvent):  # most events: done unless suspicious
                if event.anchor is None and (event.style or len(event.value) <= digits):
                    continue
            elif isinstance(event, yaml.DocumentStartEvent):
                document += 1
            elif isinstance(event, _CLOSE):
                depth -= 1
            message = _problem(event, depth)
            if message is not None:
                line = event.start_mark.line + 1 if event.start_mark else 0
                return Problem(file, document, "", f"line {line}: {message}")
            if isinstance(event, _OPEN):
                depth += 1
    except yaml.YAMLError:
        return None
    return None


def _problem(event: yaml.Event, depth: int) -> str | None:
    if isinstance(event, yaml.AliasEvent):
        return (f"YAML alias *{event.anchor}: anchors and aliases are not accepted in "
                "policies (an alias can expand a small file into billions of nodes); "
                "write the value out")
    anchor = getattr(event, "anchor", None)
    if anchor is not None:
        return (f"YAML anchor &{anchor}: anchors and aliases are not accepted in policies "
                "(an alias can expand a small file into billions of nodes); write the "
                "value out")
    if isinstance(event, _OPEN) and depth >= MAX_DEPTH:
        return f"nested more than {MAX_DEPTH} levels deep; no policy field nests like that"
    if isinstance(event, yaml.ScalarEvent) and not event.style and _long_integer(
            event.value):
        return (f"a number with {len(event.value)} characters; integers longer than "
                f"{sys.get_int_max_str_digits()} digits cannot be read (no port or count "
                "is that large)")
    return None


def _long_integer(value: str) -> bool:
    limit = sys.get_int_max_str_digits()
    return 0 < limit < len(value) and value.lstrip("+-").replace("_", "").isdigit()
