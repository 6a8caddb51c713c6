"""Fixtures of the harness tests: `emulated` starts emulated clusters (tests/support)."""

from tests.support.emulated import emulated

__all__ = ["emulated"]
