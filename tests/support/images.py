"""The workloads image for Docker tests, built under a machine-wide file lock so parallel
test workers never run two base-image debootstraps or two builds of one tag at once."""

from __future__ import annotations

import fcntl
import subprocess
import tempfile
from pathlib import Path

from tests.support.requirements import unavailable
from workloads.base_image import BaseImageError
from workloads.image import DEFAULT_TAG, ImageError, build_image

LOCK_FILE = Path(tempfile.gettempdir()) / "zt-conformance-workloads-image.lock"


def workloads_image(tag: str = DEFAULT_TAG) -> str:
    """Build (a layer-cache hit when nothing changed) and return the tag. A machine that
    cannot build it skips the test locally and fails it in CI."""
    with LOCK_FILE.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return build_image(tag)
        except (ImageError, BaseImageError, subprocess.TimeoutExpired, OSError) as exc:
            unavailable(f"cannot build {tag}: {exc}")
            raise  # unreachable: unavailable() skips or fails
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
