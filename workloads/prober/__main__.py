"""prober: the client workload.

    prober run [--concurrency 64] [--timeout 5] [--input FILE]
        reads a JSON array of probes (stdin by default, at most 64 MiB of UTF-8), writes a
        JSON array of results, same order and ids, on stdout.
    prober watch
        reads a watch spec (one JSON line) on stdin, then probes its paths at a fixed rate
        and holds its streams open, one JSON line per event on stdout, until `stop` on
        stdin or the spec's max duration (workloads/prober/watch.py).
    prober idle
        blocks until SIGTERM or SIGINT (the main process of client pods).

Exit status: 0 the batch ran, whatever the outcomes; 2 bad option or unusable input (not
UTF-8, not JSON, nested too deeply, a number too long, not an array, too large); 130
interrupted; 1 an internal error. Every non-zero exit is one line on stderr and nothing on
stdout.
"""

from __future__ import annotations

import argparse
import json
import resource
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Any

from workloads.cli import EXIT_USAGE, OneLineParser, int_in, seconds_in
from workloads.prober.runner import (
    DEFAULT_CONCURRENCY,
    DEFAULT_TIMEOUT_S,
    MAX_CONCURRENCY,
    run_batch,
)
from workloads.prober.spec import MAX_TIMEOUT_S

EXIT_INTERNAL = 1
EXIT_BAD_INPUT = EXIT_USAGE
EXIT_INTERRUPTED = 130
FD_RESERVE = 64
MAX_INPUT_BYTES = 64 << 20  # ~400,000 probes; the harness sends a few thousand at most


class InputError(ValueError):
    """The batch as a whole is unusable; the message is the one stderr line."""


def read_batch(text: str, source: str) -> list[Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{source} is not valid JSON (line {exc.lineno}, column "
                         f"{exc.colno}): {exc.msg}; expected a JSON array of probe objects"
                         ) from exc
    except RecursionError as exc:
        raise InputError(f"{source}: JSON nested too deeply; expected a JSON array of probe "
                         "objects") from exc
    except ValueError as exc:  # an integer past Python's digit limit (sys.int_info)
        raise InputError(f"{source}: a number has more than {sys.get_int_max_str_digits()} "
                         "digits; expected a JSON array of probe objects") from exc
    if not isinstance(data, list):
        raise InputError(f"{source} must be a JSON array of probe objects, got a JSON "
                         f"{type(data).__name__}")
    return data


def decode_input(data: bytes, source: str) -> str:
    if len(data) > MAX_INPUT_BYTES:
        raise InputError(f"{source} is larger than {MAX_INPUT_BYTES >> 20} MiB; split the batch")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{source} is not UTF-8 (byte {exc.start}); expected a JSON array "
                         "of probe objects") from exc


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="prober", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a JSON batch of probes")
    run.add_argument("--concurrency", type=int_in(1, MAX_CONCURRENCY, "a probe count"),
                     default=DEFAULT_CONCURRENCY,
                     help=f"probes in flight at once (1-{MAX_CONCURRENCY}, "
                          f"default {DEFAULT_CONCURRENCY})")
    run.add_argument("--timeout", type=seconds_in(MAX_TIMEOUT_S), default=DEFAULT_TIMEOUT_S,
                     help=f"seconds per probe when a probe gives none (0-{MAX_TIMEOUT_S:g}, "
                          f"default {DEFAULT_TIMEOUT_S:g})")
    run.add_argument("--input", default="-", help="file with the batch (default: stdin)")
    sub.add_parser("watch", help="probe paths at a rate until `stop` (JSON lines out)")
    sub.add_parser("idle", help="block until SIGTERM")
    return parser


def _idle() -> int:
    stop = threading.Event()

    def _on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    stop.wait()
    return 0


def fd_budget(concurrency: int) -> int:
    """Raise the soft open-files limit to the hard one and return the concurrency that fits
    in it: past the limit, probes would fail with EMFILE, a result about us, not the path."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass  # keep the soft limit we have
    if soft == resource.RLIM_INFINITY:
        return concurrency
    # One socket per probe in flight, plus stdio, the event loop and the resolver threads.
    return max(1, min(concurrency, soft - FD_RESERVE))


def _run(args: argparse.Namespace) -> int:
    if args.input == "-":
        data, source = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1), "stdin"
    else:
        try:
            with open(args.input, "rb") as fh:
                data, source = fh.read(MAX_INPUT_BYTES + 1), args.input
        except OSError as exc:
            raise InputError(f"--input {args.input}: cannot read: {exc.strerror}") from exc
    probes = read_batch(decode_input(data, source), source)
    concurrency = fd_budget(args.concurrency)
    if concurrency < args.concurrency:
        print(f"prober: --concurrency {args.concurrency} lowered to {concurrency} (open-files "
              "limit)", file=sys.stderr)
    results = run_batch(probes, concurrency, args.timeout)
    sys.stdout.write(json.dumps(results) + "\n")
    sys.stdout.flush()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "idle":
        return _idle()
    try:
        if args.command == "watch":
            from workloads.prober import watch

            try:
                return watch.main()
            except watch.WatchSpecError as exc:
                raise InputError(str(exc)) from exc
        return _run(args)
    except InputError as exc:
        print(f"prober: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:  # a cancelled batch has no results to print
        print("prober: interrupted; no results", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug: still one line, so the harness can report it whole
        detail = " ".join(str(exc).split())[:300]
        print(f"prober: internal error: {type(exc).__name__}: {detail}", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
