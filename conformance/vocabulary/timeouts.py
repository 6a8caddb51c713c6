"""Default durations of the suite's options (seconds), shared by the options' definitions
(conftest.py) and the harness that applies them (planning.RunOptions, policy_wait)."""

from __future__ import annotations

FLOW_GRACE_S = 15.0  # how long after a batch the harness waits for flows and counters
PROBE_TIMEOUT_S = 4.0  # per probe; an L3/L4 drop shows as this timeout
POLICY_TIMEOUT_S = 120.0  # deadline for one policy change to be realized everywhere
STALE_AFTER_S = 10800.0  # other runs' objects older than this are swept (3 h)
