"""`python -m conformance.upgrade --from A --to B [--cluster simulated|kind|existing]`: the
upgrade run (what `nox -s upgrade` runs). Exit 0 passed, 1 failed (the cluster is left as
it is, the rollback command printed), 2 bad input, 3 internal error, 130 interrupted."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from conformance.cli import _Parser  # usage errors exit 2, like every CLI of the suite
from conformance.upgrade.report import summary, write
from conformance.upgrade.static import CheckInputError
from conformance.vocabulary.catalogue import load_catalogue

EXIT_PASSED, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
DEFAULT_REPORT_DIR = "artifacts/upgrade"


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m conformance.upgrade",
                description="Validate a Cilium upgrade: static check, baseline, upgrade under "
                            "a disruption watch, cells after, report.")
    p.add_argument("--from", dest="from_version", required=True, metavar="X.Y.Z",
                   help="a release: " + load_catalogue().describe_versions())
    p.add_argument("--to", dest="to_version", required=True, metavar="X.Y.Z",
                   help="a release: " + load_catalogue().describe_versions())
    p.add_argument("--cluster", choices=("simulated", "kind", "existing"), default="kind")
    p.add_argument("--fault", help="simulated only: an emulator fault (e.g. upgrade-fail-open)")
    p.add_argument("--report", default=DEFAULT_REPORT_DIR, metavar="DIR",
                   help=f"where upgrade-report.json and the summary go ({DEFAULT_REPORT_DIR})")
    p.add_argument("--max-gap", type=float, default=None, metavar="S",
                   help="budget: longest loss of allowed L7/L4 connections (default 2 s)")
    p.add_argument("--allow-conn-reset", action="store_true",
                   help="budget: established connections may be reset")
    p.add_argument("--kubeconfig")
    p.add_argument("--context")
    p.add_argument("--allow-existing-cluster", action="store_true")
    p.add_argument("--plan-only", action="store_true",
                   help="kind/existing: print the commands and waits, run nothing")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _main(args)
    except CheckInputError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug, not bad input: one paragraph, no traceback
        sys.stderr.write(f"error: internal error in the upgrade run: {type(exc).__name__}: "
                         f"{exc}. Please report it with the command line.\n")
        return EXIT_INTERNAL


def _main(args: argparse.Namespace) -> int:
    from conformance.upgrade.watch import MAX_GAP_S, Budget

    if args.max_gap is not None and not 0 <= args.max_gap <= 3600:
        raise CheckInputError(f"--max-gap {args.max_gap:g}: expected 0-3600 seconds")
    budget = Budget(streams_survive=not args.allow_conn_reset,
                    max_gap_s=MAX_GAP_S if args.max_gap is None else args.max_gap)
    if args.cluster != "simulated":
        if args.fault:
            raise CheckInputError("--fault is for --cluster simulated only")
        from conformance.upgrade.live import run_live

        return int(run_live(args, budget))
    from conformance.upgrade.simulated import check_inputs, run_simulated

    check_inputs(args.from_version, args.to_version, args.fault)  # before anything is written
    out = Path(args.report)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "emulator.log").open("w", encoding="utf-8") as log:
        report = run_simulated(args.from_version, args.to_version, args.fault, budget, log=log)
    data, _ = write(report, out)
    sys.stdout.write(summary(report))
    sys.stdout.write(f"report: {data}\n")
    return EXIT_PASSED if report.passed else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
