"""`python -m conformance explain|lint` (see conformance/cli.py)."""

from conformance.cli import main

raise SystemExit(main())
