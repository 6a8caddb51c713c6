"""The one door to external commands: argv list in, rc/stdout/stderr out.

Everything that talks to docker, kind, helm, kubectl or cilium goes through a CommandRunner,
so the self-tests can record the exact argv sequence and script the answers.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from clusters.errors import CommandFailed

STDERR_TAIL_LINES = 15
RC_TIMEOUT = 124
RC_NOT_FOUND = 127


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    rc: int
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.rc == 0


class CommandRunner(Protocol):
    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
    ) -> CommandResult: ...


class SubprocessRunner:
    """Runs commands for real; a missing binary or a timeout is a result, not an exception."""

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
    ) -> CommandResult:
        args = tuple(argv)
        try:
            done = subprocess.run(
                args,
                input=stdin,
                capture_output=True,
                text=True,
                timeout=timeout,
                env=dict(env) if env is not None else None,
                check=False,
            )
        except FileNotFoundError:
            return CommandResult(args, RC_NOT_FOUND, "", f"{args[0]}: command not found")
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
            return CommandResult(args, RC_TIMEOUT, out, f"{err}\ntimed out after {timeout:.0f}s")
        return CommandResult(args, done.returncode, done.stdout, done.stderr)


def tail(text: str, lines: int = STDERR_TAIL_LINES) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join("    " + line for line in kept[-lines:])


def check(result: CommandResult, what: str) -> CommandResult:
    """Return the result if it succeeded; else raise CommandFailed naming the command and
    quoting the tool's own stderr tail."""
    if result.ok:
        return result
    shown = " ".join(result.argv)
    detail = tail(result.stderr) or tail(result.stdout) or "    (no output)"
    raise CommandFailed(f"{what} failed (exit {result.rc}): {shown}\n{detail}")
