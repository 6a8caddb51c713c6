"""Build the offline base image `zt-conformance/base:bookworm` from Debian packages.

Where no image registry is reachable, `docker build` cannot pull python:3.11-slim-bookworm.
This makes an equivalent root filesystem with debootstrap (minbase + python3), trims what a
container never reads, and `docker import`s it. Idempotent: an existing tag is left alone
unless --force is given.

    python -m workloads.base_image [--tag T] [--mirror URL] [--force]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

DEFAULT_TAG = "zt-conformance/base:bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
SUITE = "bookworm"
# python3-venv brings ensurepip, so the Dockerfile's build stage can make a venv as it
# does on python:3.11-slim; ca-certificates lets pip and TLS probes verify peers.
PACKAGES = ("python3", "python3-venv", "ca-certificates")
DEBOOTSTRAP_TIMEOUT_S = 1200.0
DOCKER_TIMEOUT_S = 600.0
# Paths no container of ours reads; removing them keeps the image small.
TRIM = (
    "usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale",
    "var/lib/apt/lists", "var/cache/apt", "var/cache/debconf/templates.dat-old",
    "var/log",
)
IMPORT_CHANGES = (
    'CMD ["/usr/bin/python3"]',
    "ENV LANG=C.UTF-8",
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
)


class BaseImageError(RuntimeError):
    """A step failed; the message says which and what to do."""


def image_exists(tag: str) -> bool:
    result = subprocess.run(
        ["docker", "image", "inspect", tag], capture_output=True, timeout=DOCKER_TIMEOUT_S,
        check=False,
    )
    return result.returncode == 0


def _require_tools() -> None:
    missing = [tool for tool in ("debootstrap", "docker", "tar") if shutil.which(tool) is None]
    if missing:
        raise BaseImageError(
            f"missing tool(s) on PATH: {', '.join(missing)}. Install them from Debian "
            "(apt-get install debootstrap docker.io) and retry."
        )
    if os.geteuid() != 0:
        raise BaseImageError("debootstrap needs root: run python -m workloads.base_image as root.")


def _run(cmd: Sequence[str], timeout: float, what: str) -> None:
    result = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout,
                            check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-5:])
        raise BaseImageError(f"{what} failed (exit {result.returncode}): {' '.join(cmd)}\n{tail}")


def _unmount_below(root: Path) -> None:
    """debootstrap mounts /proc and /sys in the target; never rmtree through a live mount."""
    prefix = str(root.resolve())
    with open("/proc/mounts", encoding="utf-8") as mounts:
        points = [line.split()[1] for line in mounts if len(line.split()) > 1]
    for point in sorted((p for p in points if p.startswith(prefix + "/")), reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def _trim(root: Path) -> None:
    for rel in TRIM:
        path = root / rel
        if path.is_dir():
            shutil.rmtree(path)
            path.mkdir(parents=True)
        elif path.exists():
            path.unlink()
    for cache in root.glob("usr/lib/python3*/**/__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)


def _import(root: Path, tag: str) -> None:
    cmd = ["docker", "import"]
    for change in IMPORT_CHANGES:
        cmd += ["--change", change]
    cmd += ["-", tag]
    tar = subprocess.Popen(["tar", "-C", str(root), "--numeric-owner", "-c", "."],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        result = subprocess.run(cmd, stdin=tar.stdout, capture_output=True, text=True,
                                timeout=DOCKER_TIMEOUT_S, check=False)
    finally:
        if tar.stdout is not None:
            tar.stdout.close()
        tar_rc = tar.wait(timeout=DOCKER_TIMEOUT_S)
    if tar_rc != 0 or result.returncode != 0:
        raise BaseImageError(f"docker import of {root} as {tag} failed: {result.stderr.strip()}")


def build(tag: str = DEFAULT_TAG, mirror: str = DEFAULT_MIRROR, force: bool = False) -> bool:
    """Build the base image; returns False when the tag already existed and was kept."""
    if not force and image_exists(tag):
        return False
    _require_tools()
    workdir = Path(tempfile.mkdtemp(prefix="zt-base-"))
    root = workdir / "rootfs"
    try:
        _run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}",
              SUITE, str(root), mirror], DEBOOTSTRAP_TIMEOUT_S, "debootstrap")
        _unmount_below(root)
        _trim(root)
        _import(root, tag)
    finally:
        _unmount_below(root)
        shutil.rmtree(workdir, ignore_errors=True)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workloads.base_image", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tag", default=DEFAULT_TAG, help=f"image tag (default {DEFAULT_TAG})")
    parser.add_argument("--mirror", default=DEFAULT_MIRROR,
                        help=f"Debian mirror (default {DEFAULT_MIRROR})")
    parser.add_argument("--force", action="store_true", help="rebuild even if the tag exists")
    args = parser.parse_args(argv)
    try:
        built = build(args.tag, args.mirror, args.force)
    except (BaseImageError, subprocess.TimeoutExpired, OSError) as exc:
        print(f"base image: {exc}", file=sys.stderr)
        return 1
    print(f"{args.tag}: {'built' if built else 'already present, kept'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
