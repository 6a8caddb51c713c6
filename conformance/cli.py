"""`python -m conformance explain|lint`: the policy model from the command line.

Exit codes: 0 fine; 1 lint found errors; 2 bad input (files, YAML, policies, probes, flags),
reported as one clear paragraph naming file, document and field, never a traceback;
3 an internal error (a bug), also reported without a traceback; 130 interrupted (Ctrl-C),
one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from conformance.generate import cli as generate_cli
from conformance.generate.cli import BadInput
from conformance.model import (
    DEFAULT_VERSION,
    Expectation,
    PolicyError,
    Probe,
    ProbeError,
    VersionError,
    evaluate,
    load_policies,
)
from conformance.model.lint import RULES, LintResult, lint_paths
from conformance.model.loader import read_capped
from conformance.model.options import DNS_REJECT_CODES, ENFORCEMENT_MODES, AgentOptions
from conformance.model.probe import Entity
from conformance.model.selectors import ENTITY_MEMBERSHIP
from conformance.model.version import parse_version
from conformance.reports import cli as report_cli
from conformance.reports.model import ReportError
from conformance.upgrade import cli as upgrade_cli
from conformance.upgrade.static import CheckInputError
from conformance.vocabulary.catalogue import load_catalogue

EXIT_FINDINGS = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C


# Probes are one short JSON line each: a million of them fit in far less.
MAX_PROBES_BYTES = 256 << 20


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m conformance",
                     description="Offline model of Cilium network policy: explain and lint.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    ex = sub.add_parser("explain", help="predict the verdict of each probe, and why")
    ex.add_argument("--policies", nargs="+", required=True, metavar="PATH",
                    help="policy YAML files or directories (multi-document)")
    ex.add_argument("--probes", required=True, metavar="FILE.jsonl",
                    help="one probe JSON object per line ('-' for stdin)")
    ex.add_argument("--cilium-version", default=DEFAULT_VERSION, metavar="X.Y",
                    help=load_catalogue().line_help())
    ex.add_argument("--format", choices=("json", "table"), default="json")
    ex.add_argument("--no-mutual-auth", action="store_true",
                    help="the cluster runs without mutual authentication (SPIRE): rules with "
                         "authentication.mode required drop their traffic")
    _add_agent_options(ex)
    li = sub.add_parser("lint", help="report policy mistakes; exit 1 when errors are found")
    li.add_argument("paths", nargs="*", metavar="PATH")
    li.add_argument("--cilium-version", default=DEFAULT_VERSION, metavar="X.Y",
                    help=load_catalogue().line_help())
    li.add_argument("--format", choices=("text", "json"), default="text")
    li.add_argument("--list-rules", action="store_true", help="print the lint rules and exit")
    _add_agent_options(li)
    upgrade_cli.add_parser(sub)
    report_cli.add_parser(sub)
    generate_cli.add_parser(sub)
    return parser


def _add_agent_options(p: argparse.ArgumentParser) -> None:
    """Agent options that change verdicts (conformance/model/options.py)."""
    p.add_argument("--policy-enforcement-mode", choices=ENFORCEMENT_MODES, default="default",
                   help="the agent's policy-enforcement-mode (Helm policyEnforcementMode)")
    p.add_argument("--dns-reject-response-code", choices=DNS_REJECT_CODES, default="refused",
                   help="what the DNS proxy answers a denied query (Helm "
                        "dnsProxy.dnsRejectResponseCode)")
    p.add_argument("--no-l7-proxy", action="store_true",
                   help="the agent runs without the L7 proxy (Helm l7Proxy: false): policies "
                        "with L7 rules are refused")


def _agent_options(args: argparse.Namespace) -> AgentOptions:
    return AgentOptions(enforcement=args.policy_enforcement_mode,
                        dns_reject=args.dns_reject_response_code,
                        l7_proxy=not args.no_l7_proxy,
                        mutual_auth=not getattr(args, "no_mutual_auth", False))


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None) -> int:
    try:
        return _main(argv, stdout or sys.stdout)
    except KeyboardInterrupt:  # Ctrl-C: one line, the shell's code for SIGINT
        sys.stderr.write("interrupted\n")
        return EXIT_INTERRUPTED


def _main(argv: Sequence[str] | None, out: TextIO) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "upgrade-check":
            return upgrade_cli.run(args, out, read_probes)
        if args.command == "report":
            return report_cli.run(args, out)
        _check_version(args.cilium_version)
        if args.command == "explain":
            return _explain(args, out)
        if args.command == "generate":
            return generate_cli.run(args, out)
        return _lint(args, out)
    except (PolicyError, VersionError, BadInput, CheckInputError, ReportError) as exc:
        sys.stderr.write(_paragraph(exc))
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # `... | head`: the reader left; nothing more to say
        sys.stderr.close()
        return 0
    except Exception as exc:  # a bug, not bad input: still one paragraph, no traceback
        sys.stderr.write(f"error: internal error in `{args.command}`: {type(exc).__name__}: "
                         f"{exc}. Please report it with the command line and inputs.\n")
        return EXIT_INTERNAL


def _check_version(text: str) -> None:
    try:
        parse_version(text)
    except VersionError as exc:
        raise BadInput(f"--cilium-version: {exc}") from None


def _paragraph(exc: Exception) -> str:
    lines = str(exc).splitlines() or [type(exc).__name__]
    head = "error: " + lines[0]
    return "\n".join([head, *("  " + line for line in lines[1:])]) + "\n"


# --- explain ----------------------------------------------------------------------------

def _explain(args: argparse.Namespace, out: TextIO) -> int:
    policies = load_policies(args.policies)
    probes = read_probes(args.probes)
    options = _agent_options(args)
    results = [evaluate(policies, p, args.cilium_version, options=options) for p in probes]
    assumed = {"cilium-version": args.cilium_version, **options.to_json()}
    if args.format == "json":
        for r in results:
            row = r.to_json()
            out.write(json.dumps({"id": row.pop("id"), **row, "assumed": assumed}) + "\n")
    else:
        out.write(render_table(results))
        out.write("assumed: " + ", ".join(f"{k}={str(v).lower()}" for k, v in assumed.items())
                  + "\n")
    return 0


def read_probes(path: str) -> list[Probe]:
    name = "<stdin>" if path == "-" else path
    try:
        if path == "-":
            raw = sys.stdin.buffer.read(MAX_PROBES_BYTES + 1)
            if len(raw) > MAX_PROBES_BYTES:
                raise ValueError(f"larger than {MAX_PROBES_BYTES >> 20} MiB")
        else:
            raw = read_capped(Path(path), MAX_PROBES_BYTES)
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BadInput(f"--probes {name}: cannot read: {exc}") from None
    probes: list[Probe] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            probe = Probe.from_dict(_json_line(line))
        except json.JSONDecodeError as exc:
            raise BadInput(f"{name}: line {number}: not valid JSON: {exc.msg} "
                           f"(column {exc.colno})") from None
        except (ProbeError, _JsonLimit) as exc:
            raise BadInput(f"{name}: line {number}: {exc}") from None
        for where, peer in (("source", probe.source), ("destination", probe.destination)):
            if isinstance(peer, Entity) and peer.entity not in ENTITY_MEMBERSHIP:
                known = ", ".join(sorted(ENTITY_MEMBERSHIP))
                raise BadInput(f"{name}: line {number}: probe {probe.id}.{where}.entity: "
                               f"unknown entity {peer.entity!r} (one of: {known})")
        if probe.id in seen:
            raise BadInput(f"{name}: line {number}: probe id {probe.id!r} is used twice")
        seen.add(probe.id)
        probes.append(probe)
    if not probes:
        raise BadInput(f"{name}: no probes (expected one JSON object per line)")
    return probes


class _JsonLimit(ValueError):
    """JSON that parses in principle but not here: NaN/Infinity, endless numbers, deep nesting."""


def _no_constant(name: str) -> object:
    raise _JsonLimit(f"{name} is not a JSON number (RFC 8259 has no NaN or Infinity)")


# A `\ud800`-`\udfff` escape: JSON lets it stand alone, but then it is not text (no
# request or DNS name can carry it, and RE2 cannot even be asked about it).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _json_line(line: str) -> Any:
    try:
        value = json.loads(line, parse_constant=_no_constant)
        if _SURROGATE_ESCAPE.search(line):
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        return value
    except UnicodeEncodeError:
        raise _JsonLimit("a string holds a lone UTF-16 surrogate escape (\\ud800-\\udfff), "
                         "which is not text") from None
    except RecursionError:
        raise _JsonLimit("nested too deeply to read (a probe is a flat object)") from None
    except ValueError as exc:
        if isinstance(exc, json.JSONDecodeError | _JsonLimit):
            raise
        # int() refuses numbers of more than sys.get_int_max_str_digits() digits
        raise _JsonLimit(f"a number is too long to read (more than "
                         f"{sys.get_int_max_str_digits()} digits)") from None


def render_table(results: Sequence[Expectation]) -> str:
    headers = ("ID", "VERDICT", "REASON", "DIRECTION", "CLIENT", "HUBBLE")
    rows = [(r.probe_id, r.verdict, r.drop_reason or "-", r.direction or "-", r.client,
             f"{r.hubble.verdict}/{r.hubble.type}") for r in results]
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    lines = []
    for row, result in zip([headers, *rows], [None, *results], strict=True):
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if result is not None:
            lines.extend(textwrap.wrap(result.explanation, width=100, initial_indent="    ",
                                       subsequent_indent="    "))
    counts = Counter(r.verdict for r in results)
    lines.append(f"{len(results)} probe(s): " + ", ".join(
        f"{n} {verdict}" for verdict, n in sorted(counts.items())))
    return "\n".join(lines) + "\n"


# --- lint -------------------------------------------------------------------------------

def _lint(args: argparse.Namespace, out: TextIO) -> int:
    if args.list_rules:
        for name, (severity, text) in RULES.items():
            out.write(f"{name:26} {severity:8} {text}\n")
        return 0
    if not args.paths:
        raise BadInput("lint: give at least one policy file or directory")
    result = lint_paths(args.paths, args.cilium_version, _agent_options(args))
    if result.fatal:
        raise PolicyError(list(result.fatal))
    _print_lint(result, args.format, out)
    return EXIT_FINDINGS if result.errors else 0


def _print_lint(result: LintResult, fmt: str, out: TextIO) -> None:
    if fmt == "json":
        for f in result.findings:
            out.write(json.dumps(f.to_json()) + "\n")
        return
    for f in result.findings:
        out.write(f"{f}\n")
    warnings = len(result.findings) - result.errors
    out.write(f"{result.errors} error(s), {warnings} warning(s)\n")
