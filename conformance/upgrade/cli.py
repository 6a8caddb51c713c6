"""`python -m conformance upgrade-check`: the static pre-upgrade check from the command line.

Exit codes (conformance/cli.py's): 0 nothing changes, 1 something changes or blocks, 2 bad
input (one paragraph naming the flag or file).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from conformance.model.probe import Probe
from conformance.upgrade.render import render_table
from conformance.upgrade.static import (
    CheckInputError,
    ProbeGroup,
    check,
    generated_probes,
    scenario_groups,
    versions_of,
)
from conformance.vocabulary.catalogue import load_catalogue

SCENARIOS_NOT_GENERATED = ("the scenarios are diffed by their written cells; generated "
                           "probes are for --policies")


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    up = sub.add_parser("upgrade-check", help="what a Cilium upgrade changes for the policies "
                                              "(schema, version-aware lint, model diff)")
    up.add_argument("--from", dest="from_version", required=True, metavar="X.Y.Z",
                    help="a release: " + load_catalogue().describe_versions())
    up.add_argument("--to", dest="to_version", required=True, metavar="X.Y.Z",
                    help="a release: " + load_catalogue().describe_versions())
    up.add_argument("--policies", action="append", metavar="DIR",
                    help="policy files or directories (repeatable); default: the suite's "
                         "scenarios with their cells")
    up.add_argument("--probes", metavar="FILE.jsonl",
                    help="probes (one JSON object per line) explained under both versions "
                         "against --policies")
    up.add_argument("--no-generate", action="store_true",
                    help="with --policies: do not add probes generated from the policies' "
                         "rules (conformance/generate)")
    up.add_argument("--format", choices=("table", "json"), default="table")


def run(args: argparse.Namespace, out: TextIO,
        read_probes: Callable[[str], Sequence[Probe]]) -> int:
    """Raises CheckInputError (and the CLI's BadInput from `read_probes`, conformance/cli.py's
    reader of --probes files, passed in so that this module does not import its caller) on
    bad input."""
    if args.probes and not args.policies:
        raise CheckInputError("--probes needs --policies: the probes are explained against "
                              "the policies given")
    notes = [SCENARIOS_NOT_GENERATED]
    if args.policies:
        paths = tuple(Path(p) for p in args.policies)
        probes = list(read_probes(args.probes)) if args.probes else []
        if not args.no_generate:
            versions_of(args.from_version, args.to_version)  # bad versions: one message
            made, note = generated_probes(paths, args.from_version, args.to_version,
                                          {p.id for p in probes})
            probes += made
            notes = [note]
        groups = [ProbeGroup("", paths, tuple(probes))]
    else:
        groups = scenario_groups()
    report = check(groups, args.from_version, args.to_version)
    report.notes.extend(notes)
    if args.format == "json":
        out.write(json.dumps(report.to_json(), indent=2) + "\n")
    else:
        out.write(render_table(report))
    return report.exit_code
