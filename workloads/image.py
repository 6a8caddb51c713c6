"""Build the workloads image `zt-conformance/workloads:dev` on this machine, online or not.

    python -m workloads.image [--tag T] [--base IMAGE] [--index]

Steps: pick a base (the given one; else python:3.11-slim-bookworm if present or pullable;
else the Debian-built `zt-conformance/base:bookworm` from workloads.base_image), download
the pinned runtime wheels on the host into workloads/wheelhouse (the host's pip reaches
PyPI even where a container's cannot), then `docker build -f workloads/Dockerfile`
installing only from that wheelhouse. Used by clusters/ before `kind load`.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from workloads import base_image

DEFAULT_TAG = "zt-conformance/workloads:dev"
ONLINE_BASE = "python:3.11-slim-bookworm"
REPO_ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO_ROOT / "workloads" / "Dockerfile"
REQUIREMENTS = REPO_ROOT / "workloads" / "requirements.txt"
WHEELHOUSE = REPO_ROOT / "workloads" / "wheelhouse"
LABEL = "org.zt-conformance.component=workloads"  # set in the Dockerfile
PULL_TIMEOUT_S = 120.0
PIP_TIMEOUT_S = 600.0
BUILD_TIMEOUT_S = 900.0
# Both bases are Debian bookworm (glibc 2.36) with CPython 3.11.
WHEEL_PYTHON = "3.11"
WHEEL_GLIBC_MINOR = 36  # glibc 2.36


class ImageError(RuntimeError):
    """A build step failed; the message names it."""


def _quiet(cmd: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout,
                          check=False)


def choose_base(base: str | None = None) -> str:
    """The base image to build on, making the offline one when no registry answers."""
    if base:
        return base
    if base_image.image_exists(ONLINE_BASE):
        return ONLINE_BASE
    try:
        if _quiet(["docker", "pull", ONLINE_BASE], PULL_TIMEOUT_S).returncode == 0:
            return ONLINE_BASE
    except subprocess.TimeoutExpired:
        pass  # a registry that hangs is as absent as one that refuses
    base_image.build()
    return base_image.DEFAULT_TAG


def fill_wheelhouse(dest: Path = WHEELHOUSE) -> None:
    """Download the image's runtime wheels for Linux/CPython 3.11 with the host's pip."""
    arch = platform.machine()
    cmd = [
        sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(dest),
        "--only-binary=:all:", "--implementation", "cp", "--python-version", WHEEL_PYTHON,
        "-r", str(REQUIREMENTS),
    ]
    # pip does not widen one --platform to older manylinux tags; list them all.
    for minor in range(WHEEL_GLIBC_MINOR, 16, -1):
        cmd += ["--platform", f"manylinux_2_{minor}_{arch}"]
    cmd += ["--platform", f"manylinux2014_{arch}"]
    result = _quiet(cmd, PIP_TIMEOUT_S)
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-5:])
        raise ImageError(f"pip download of {REQUIREMENTS.name} into {dest} failed:\n{tail}")


def build_image(tag: str = DEFAULT_TAG, base: str | None = None,
                wheels_only: bool = True) -> str:
    """Build the image and return its tag; raises ImageError with the failing step."""
    started = int(time.time())
    chosen = choose_base(base)
    if wheels_only:
        fill_wheelhouse()
    cmd = ["docker", "build", "-f", str(DOCKERFILE), "--build-arg", f"BASE={chosen}",
           "--build-arg", f"WHEELS_ONLY={int(wheels_only)}", "-t", tag, str(REPO_ROOT)]
    result = _quiet(cmd, BUILD_TIMEOUT_S)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-8:])
        raise ImageError(f"docker build of {tag} on base {chosen} failed:\n{tail}")
    # Earlier builds leave their build stage and the image this tag replaced dangling.
    # Drop those (ours by label, and older than this build, so a build running in
    # parallel keeps its stages).
    _quiet(["docker", "image", "prune", "--force", "--filter", f"label={LABEL}",
            "--filter", f"until={started}"], BUILD_TIMEOUT_S)
    return tag


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workloads.image", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tag", default=DEFAULT_TAG)
    parser.add_argument("--base", help="base image (default: see above)")
    parser.add_argument("--index", action="store_true",
                        help="let the build's pip use PyPI instead of the host wheelhouse")
    args = parser.parse_args(argv)
    try:
        tag = build_image(args.tag, args.base, wheels_only=not args.index)
    except (ImageError, base_image.BaseImageError, subprocess.TimeoutExpired, OSError) as exc:
        print(f"workloads image: {exc}", file=sys.stderr)
        return 1
    print(tag)
    return 0


if __name__ == "__main__":
    sys.exit(main())
