"""`python -m clusters pins refresh`: record in pins.yaml the SHA-256 of every pinned tool's
release artifact per OS/arch, read from the publishers' checksum files. For a maintainer with
internet, after bumping a version; the result is reviewed and committed like any change."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import yaml

from clusters.download import DownloadError, Fetcher
from clusters.errors import RefusedError, ToolError
from clusters.pins import PLATFORMS, artifact_name, expected_sha256, load_pins, urls

# Everything from this line to the end of pins.yaml is written by the refresh; the
# hand-written part above it (and its comments) is kept as it is.
MARKER = "# --- SHA-256 per tool, version and OS/arch: written by `python -m clusters pins refresh`"
SECTION_NOTE = (
    "# from the publishers' checksum files; do not edit by hand. A tool or platform missing\n"
    "# here is checked against the publisher's checksum file at download time, with a warning.\n"
)


def refresh(path: Path, fetcher: Fetcher, say: Callable[[str], None]) -> None:
    pins = load_pins(path)
    found: dict[str, dict[str, dict[str, str]]] = {}
    failed: list[str] = []
    changed: list[str] = []
    for pin in pins.values():
        got: dict[str, str] = {}
        for plat in PLATFORMS:
            url, checksum_url, _ = urls(pin, *plat.split("-", 1))
            try:
                got[plat] = expected_sha256(fetcher.text(checksum_url), artifact_name(url))
            except (DownloadError, ValueError) as exc:
                failed.append(f"{pin.name} {plat}: {exc}")
                continue
            old = pin.sha256.get(plat)
            if old is not None and old != got[plat]:
                changed.append(f"{pin.name} {pin.version} {plat}: pinned {old}, published "
                               f"{got[plat]}")
        found[pin.name] = {pin.version: got}
        say(f"{pin.name} {pin.version}: {len(got)} of {len(PLATFORMS)} platforms")
    if changed:
        raise RefusedError(
            f"the published checksums differ from {path} for: {'; '.join(changed)}. Nothing "
            "was written: a released file's checksum does not change, so find out why (a "
            "re-tagged release? a tampered mirror?) before editing the pins by hand.")
    if failed:
        raise ToolError(f"could not read every published checksum ({'; '.join(failed)}). "
                        f"Nothing was written to {path}; re-run when the servers answer.")
    _write_section(path, found)
    say(f"wrote the SHA-256 pins of {len(found)} tools to {path}")


def _write_section(path: Path, found: dict[str, dict[str, dict[str, str]]]) -> None:
    text = path.read_text(encoding="utf-8")
    head = text.split(MARKER, 1)[0].rstrip("\n")
    body = yaml.safe_dump({"sha256": found}, sort_keys=True, default_flow_style=False)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(f"{head}\n\n{MARKER}\n{SECTION_NOTE}{body}")
        os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
