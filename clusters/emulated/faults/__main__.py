"""`python -m clusters.emulated.faults sets`: the fault names the nox sessions iterate over,
as JSON, derived from the declarations (noxfile.py runs in nox's own interpreter, where the
project is not importable, so it asks the session's):

- `coverage`: breaking and condition faults at the cluster client's boundary
  (hooks.CLIENT_BOUNDARY);
- `stuck`: faults under which no change ever takes effect (run with a short policy timeout);
- `passing`: condition faults (the suite must pass under them);
- `refused`: broken installs, stopped before any test.
"""

from __future__ import annotations

import json
import sys

from clusters.emulated.faults import BENIGN, CONDITION, FAULTS, REFUSED, UPGRADE
from clusters.emulated.faults.hooks import at_client_boundary


def fault_sets() -> dict[str, list[str]]:
    faults = list(FAULTS.values())
    return {
        "coverage": [f.name for f in faults if f.effect not in (BENIGN, REFUSED, UPGRADE)
                     and at_client_boundary(f.hooks)],
        "stuck": [f.name for f in faults if f.hooks.never_realizes],
        "passing": [f.name for f in faults if f.effect == CONDITION],
        "refused": [f.name for f in faults if f.effect == REFUSED],
    }


def main(argv: list[str]) -> int:
    if argv != ["sets"]:
        print("usage: python -m clusters.emulated.faults sets", file=sys.stderr)
        return 2
    print(json.dumps(fault_sets()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
