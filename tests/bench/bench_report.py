"""Benchmark of report.html (run by `nox -s bench`; not a pytest module).

Target (issue 9): writing the report of a run with 2,000 cells (40 scenarios x 50 cells,
every cell with two attempts, six flows and metrics, as varied as a real run's; one in
ten failing) takes under
5 s — reading the artifacts folder included — and the file stays under 10 MB. The truth
tables and the comparison of two such runs are printed for information. Exits 1 when a
target is missed.
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from conformance.reports import compare, html, tables  # noqa: E402
from conformance.reports.model import REPORT, load_run  # noqa: E402
from tests.reports.synthetic import make_run  # noqa: E402

SCENARIOS = 40
CELLS = 50
TARGET_S = 5.0
TARGET_BYTES = 10 * 1024 * 1024


def main() -> int:
    failing = {(i, j) for i in range(SCENARIOS) for j in range(CELLS) if (i * CELLS + j) % 10 == 0}
    with tempfile.TemporaryDirectory(prefix="ztc-bench-report-") as tmp:
        root = make_run(Path(tmp) / "new", SCENARIOS, CELLS, failing=failing)
        old = make_run(Path(tmp) / "old", SCENARIOS, CELLS)
        start = time.perf_counter()
        run = load_run(root)
        loaded = time.perf_counter() - start
        html.write(run, root / REPORT)
        seconds = time.perf_counter() - start
        size = (root / REPORT).stat().st_size
        page = (root / REPORT).read_text()
        inflated = sum(len(cell) for blob in re.findall(r'id="ev-\d+">([^<]+)<', page)
                       for cell in html.unpack(blob)["cells"])
        start = time.perf_counter()
        lines = tables.render(run)
        tables_s = time.perf_counter() - start
        start = time.perf_counter()
        changes = compare.compare(load_run(old), run)
        compare_s = time.perf_counter() - start
    cells = len(run.cells())
    ok_time, ok_size = seconds < TARGET_S, size < TARGET_BYTES
    print(f"report.html for {cells} cells: {seconds:.2f} s (reading {loaded:.2f} s) "
          f"[target < {TARGET_S:g} s] {'PASS' if ok_time else 'FAIL'}")
    print(f"report.html size: {size / 1e6:.2f} MB [target < {TARGET_BYTES / 2**20:g} MiB] "
          f"{'PASS' if ok_size else 'FAIL'}")
    print(f"evidence per cell before compression: {inflated / cells / 1e3:.1f} kB (a real "
          "simulated run's: about 4.3 kB) (information)")
    print(f"truth tables: {len(lines)} lines in {tables_s:.2f} s; comparison of two runs: "
          f"{len(changes.flipped)} flipped in {compare_s:.2f} s (information)")
    return 0 if ok_time and ok_size else 1


if __name__ == "__main__":
    sys.exit(main())
