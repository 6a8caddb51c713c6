"""`python -m conformance explain|lint` (see conformance/cli.py)."""

import sys

try:
    from conformance.cli import main
except KeyboardInterrupt:  # Ctrl-C while still importing: same one line and code as main()
    sys.stderr.write("interrupted\n")
    raise SystemExit(130) from None

raise SystemExit(main())
