"""The README's Cilium release table, generated from the catalogue and checked against it.

    python -m conformance.vocabulary readme           # rewrite the table in README.md
    python -m conformance.vocabulary readme --check   # exit 1 when README.md disagrees

The table sits between two marker lines; everything outside them is left as it is.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from conformance.vocabulary.catalogue import Catalogue, CatalogueError, load_catalogue

README = Path(__file__).resolve().parents[2] / "README.md"
BEGIN = ("<!-- cilium-catalogue:begin — generated from conformance/vocabulary/cilium.yaml by "
         "`python -m conformance.vocabulary readme`; do not edit by hand -->")
END = "<!-- cilium-catalogue:end -->"
SHOWN_IMAGES = (("image", "agent"), ("envoy.image", "Envoy"),
                ("authentication.mutual.spire.install.server.image", "SPIRE server"))


class ReadmeError(ValueError):
    """README.md has no (or a broken) generated block; the message names the markers."""


def render_table(catalogue: Catalogue) -> str:
    """The block between the markers: releases, then the per-version features."""
    head = ["release", "default", *(label for _, label in SHOWN_IMAGES)]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for version in reversed(catalogue.versions()):
        release = catalogue.releases[version]
        images = [f"`{release.images.get(key, '-').rsplit('/', 1)[-1]}`"
                  for key, _ in SHOWN_IMAGES]
        default = "yes" if version == catalogue.default else ""
        rows.append("| " + " | ".join([version, default, *images]) + " |")
    rows += ["", "| feature | from | what | upstream |", "|---|---|---|---|"]
    for name, feature in sorted(catalogue.features.items(),
                                key=lambda item: (item[1].since, item[0])):
        since = f"{feature.since[0]}.{feature.since[1]}"
        rows.append(f"| `{name}` | {since} | {_cell(feature.summary)} | "
                    f"{_cell(feature.source)} |")
    return "\n".join([BEGIN, "", *rows, "", END])


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def rewritten(readme: str, catalogue: Catalogue) -> str:
    """`readme` with its generated block replaced by the catalogue's table."""
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < start:
        raise ReadmeError(f"README.md has no generated Cilium table: add the lines {BEGIN!r} "
                          f"and {END!r} where it belongs, then run python -m "
                          "conformance.vocabulary readme")
    return readme[:start] + render_table(catalogue) + readme[end + len(END):]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.vocabulary")
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("readme", help="rewrite (or --check) README.md's Cilium table")
    cmd.add_argument("--check", action="store_true", help="exit 1 when README.md disagrees")
    cmd.add_argument("--readme", type=Path, default=README, help="default: the repo's README")
    cmd.add_argument("--catalogue", type=Path, default=None,
                     help="default: conformance/vocabulary/cilium.yaml")
    args = parser.parse_args(argv)
    try:
        text = args.readme.read_text(encoding="utf-8")
        new = rewritten(text, load_catalogue(args.catalogue))
    except (OSError, CatalogueError, ReadmeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if new != text:
            print(f"{args.readme}: the Cilium table disagrees with the catalogue; run "
                  "python -m conformance.vocabulary readme", file=sys.stderr)
            return 1
        return 0
    if new != text:
        args.readme.write_text(new, encoding="utf-8")
    return 0
