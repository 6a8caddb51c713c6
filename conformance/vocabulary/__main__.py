"""`python -m conformance.vocabulary readme [--check]`: the README's Cilium table."""

import sys

from conformance.vocabulary.readme import main

sys.exit(main())
