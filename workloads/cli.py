"""Command-line conventions shared by prober and account-service: a usage error is one
line on stderr and exit status 2, never the usage text or a traceback."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import NoReturn

EXIT_USAGE = 2


class OneLineParser(argparse.ArgumentParser):
    """argparse with usage errors as one stderr line (sub-commands inherit the class)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message}\n")


def int_in(low: int, high: int, what: str) -> Callable[[str], int]:
    """An argparse type: a decimal integer in [low, high], named `what` in the error."""

    def parse(text: str) -> int:
        digits = text[1:] if text.startswith("-") else text
        if not digits.isdigit() or len(digits) > len(str(high)) or not low <= int(text) <= high:
            raise argparse.ArgumentTypeError(f"{text[:20]!r} is not {what} ({low}-{high})")
        return int(text)

    return parse


def seconds_in(high: float) -> Callable[[str], float]:
    """An argparse type: seconds in (0, high]; NaN and infinities are refused."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not 0 < value <= high:  # NaN fails this comparison too
            raise argparse.ArgumentTypeError(f"{text[:20]!r} is not seconds in (0, {high:g}]")
        return value

    return parse
