"""`python -m clusters up|down|status|render|upgrade|pins refresh`: exit codes, never
tracebacks."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from clusters.blueprint import make_setup
from clusters.detect import describe
from clusters.download import Fetcher
from clusters.env import Env
from clusters.errors import ClustersError, InputError
from clusters.existing import up_existing, use_existing
from clusters.pins import pins_file
from clusters.pinsrefresh import refresh
from clusters.profiles import DEFAULT_PROFILE, available_profiles
from clusters.provision import down, up_kind
from clusters.report import render, status
from clusters.upgrade import upgrade_existing, upgrade_kind
from conformance.vocabulary.catalogue import load_catalogue

CATALOGUE = load_catalogue()  # conformance/vocabulary/cilium.yaml, for the help texts

EXIT_INTERRUPTED = 130
DESCRIPTION = (
    "Provision (kind + Cilium, Hubble, SPIRE), reuse, upgrade or inspect the conformance lab "
    "cluster, or check an existing one; `pins refresh` records tool checksums. Exit codes: 0 "
    "ok, 2 bad input, 3 refused (safety guard, changed configuration, a published checksum "
    "that differs from its pin), 4 not ready in time, 5 tool missing or not verifiable, 6 a "
    "command failed, 130 interrupted."
)


def _existing_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kubeconfig", help="use an existing cluster via this kubeconfig")
    p.add_argument("--context", help="use an existing cluster via this context")
    p.add_argument("--allow-existing-cluster", action="store_true",
                   help="allow a context whose name does not start with kind-")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m clusters", description=DESCRIPTION)
    sub = ap.add_subparsers(dest="verb", required=True)
    profiles = ", ".join(available_profiles())

    def add(name: str, text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--profile", default=DEFAULT_PROFILE, help=f"one of: {profiles}")
        return p

    p = add("up", "create or reuse the kind cluster (or adopt an existing one)")
    p.add_argument("--cilium-version", help=CATALOGUE.release_help())
    p.add_argument("--recreate", action="store_true",
                   help="delete and re-create a cluster made from another configuration")
    p.add_argument("--keep-on-failure", action="store_true",
                   help="leave a failed cluster in place for inspection")
    p.add_argument("--workloads-base", help="base image for workloads/Dockerfile (BASE arg)")
    _existing_flags(p)
    add("down", "delete the kind cluster and every container `up` started")
    p = add("status", "what exists, versions, health: one screen")
    _existing_flags(p)
    p = add("render", "write kind config, Helm values and the command plan; run nothing")
    p.add_argument("--cilium-version", help=CATALOGUE.release_help())
    p.add_argument("--workloads-base")
    p.add_argument("--out", required=True, help="directory to write into")
    p = add("upgrade", "helm upgrade Cilium with the same values, then wait until ready")
    p.add_argument("--to", required=True, dest="to_version",
                   help="target Cilium release: " + CATALOGUE.release_help())
    _existing_flags(p)
    pins = sub.add_parser("pins", help="tool pins (clusters/pins.yaml)")
    refresh_text = ("record the SHA-256 of every pinned tool's release per OS/arch from the "
                    "publishers' checksum files (needs internet)")
    pins.add_subparsers(dest="pins_verb", metavar="refresh", required=True).add_parser(
        "refresh", help=refresh_text, description=refresh_text).add_argument(
        "--pins", help="the pins file to update (default: clusters/pins.yaml)")
    return ap


# Flags whose empty value would otherwise quietly mean the default (`--out ''` was the current
# directory, `--context ''` the kubeconfig's current context).
VALUE_FLAGS = {"out": "--out", "profile": "--profile", "cilium_version": "--cilium-version",
               "to_version": "--to", "workloads_base": "--workloads-base",
               "kubeconfig": "--kubeconfig", "context": "--context", "pins": "--pins"}


def refuse_empty_values(args: argparse.Namespace) -> None:
    for dest, flag in VALUE_FLAGS.items():
        value = getattr(args, dest, None)
        if value is not None and not value.strip():
            raise InputError(f"{flag}: empty value; give a real one or leave the flag out "
                             "(nothing was done)")


def _existing(args: argparse.Namespace) -> bool:
    return args.kubeconfig is not None or args.context is not None


def dispatch(args: argparse.Namespace, env: Env) -> int:
    refuse_empty_values(args)
    if args.verb == "pins":
        refresh(Path(args.pins) if args.pins else pins_file(), Fetcher(say=env.say), env.say)
        return 0
    if args.verb == "render":
        setup = make_setup(args.profile, args.cilium_version, workloads_base=args.workloads_base)
        for path in render(setup, Env(tool=lambda name: name, say=env.say), Path(args.out)):
            print(path)
        return 0
    if args.verb == "up":
        if _existing(args):
            got = up_existing(env, args.kubeconfig, args.context, args.allow_existing_cluster)
        else:
            setup = make_setup(args.profile, args.cilium_version,
                               workloads_base=args.workloads_base)
            got = up_kind(setup, env, args.recreate, args.keep_on_failure)
        print(f"KUBECONFIG={got.kubeconfig} context={got.context} cilium={got.cilium_version} "
              f"reused={str(got.reused).lower()}")
        return 0
    if args.verb == "down":
        down(make_setup(args.profile), env)
        return 0
    if args.verb == "status":
        if _existing(args):
            _, found = use_existing(env, args.kubeconfig, args.context,
                                    args.allow_existing_cluster)
            print(describe(found))
        else:
            print(status(make_setup(args.profile), env))
        return 0
    setup = make_setup(args.profile, args.to_version, version_flag="--to")
    if _existing(args):
        upgrade_existing(setup, env, args.kubeconfig, args.context, args.allow_existing_cluster)
    else:
        upgrade_kind(setup, env)
    return 0


def main(argv: Sequence[str] | None = None, env: Env | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return dispatch(args, env or Env())
    except ClustersError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # our own files: state dir, rendered values, kubeconfig
        print(f"error: cannot use {exc.filename}: {exc.strerror}", file=sys.stderr)
        return InputError.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
