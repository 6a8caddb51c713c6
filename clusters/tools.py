"""kind, helm, kubectl, cilium, hubble: the one on PATH when its version fits, else the pinned
release downloaded into the user cache, SHA-256 verified (against the pin in pins.yaml, or
with a warning against the publisher's checksum file when no pin is recorded) before it is
made executable, and verified again each time it is reused (clusters/toolcache.py)."""

from __future__ import annotations

import re
import shutil
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

from clusters.download import DownloadError, Fetcher
from clusters.errors import ToolError
from clusters.paths import cache_dir
from clusters.pins import ToolPin, load_pins, platform_names, urls
from clusters.runner import CommandRunner, SubprocessRunner
from clusters.toolcache import cached_problem, install, layout, manual_install

__all__ = ["ToolPin", "docker_cli", "ensure_tool", "load_pins", "platform_names", "urls"]

VERSION_TIMEOUT_S = 20.0


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _vkey(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def path_version(pin: ToolPin, binary: str, runner: CommandRunner) -> str | None:
    res = runner.run([binary, *pin.version_argv], timeout=VERSION_TIMEOUT_S)
    match = re.search(pin.version_regex, res.stdout + res.stderr) if res.ok else None
    return match.group(1) if match else None


def docker_cli(which: Callable[[str], str | None] = shutil.which) -> str:
    """Docker is the one prerequisite we do not download."""
    found = which("docker")
    if found is None:
        raise ToolError("the Docker CLI is not on PATH; install Docker Engine or Docker Desktop "
                        "(https://docs.docker.com/engine/install/) and re-run")
    return found


def ensure_tool(
    name: str,
    *,
    pins: dict[str, ToolPin] | None = None,
    cache: Path | None = None,
    runner: CommandRunner | None = None,
    which: Callable[[str], str | None] = shutil.which,
    fetcher: Fetcher | None = None,
    say: Callable[[str], None] = _stderr,
) -> str:
    """Path of a usable `name` binary; ToolError with the manual install line otherwise."""
    pins = pins if pins is not None else load_pins()
    if name not in pins:
        raise ToolError(f"unknown tool {name!r}; known: {', '.join(sorted(pins))}")
    pin = pins[name]
    on_path = which(name)
    reason = "not on PATH"
    if on_path:
        found = path_version(pin, on_path, runner or SubprocessRunner())
        if found is not None and _vkey(found) >= _vkey(pin.min_version):
            return on_path
        reason = (f"{on_path} is version {found}, older than {pin.min_version}" if found
                  else f"{on_path} did not report a version")
    cache = cache or cache_dir()
    lay = layout(pin, cache)
    if lay.binary.exists():
        problem = cached_problem(pin, lay)
        if problem is None:
            return str(lay.binary)
        say(f"{name} v{pin.version}: the cached copy in {lay.dir} failed its check "
            f"({problem}); downloading it again")
    try:
        return str(install(pin, cache, fetcher or Fetcher(say=say), say))
    except (DownloadError, OSError, ValueError, tarfile.TarError) as exc:
        raise ToolError(
            f"{name}: {reason}, and downloading the pinned v{pin.version} failed ({exc}). "
            f"Install it by hand, then re-run:\n  {manual_install(pin)}"
        ) from None
