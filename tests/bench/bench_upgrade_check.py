"""Benchmark of `upgrade-check` (run by `nox -s bench`; not a pytest module).

Target (issue 14): `python -m conformance upgrade-check` of 200 policies x 10,000 probes
under two versions (1.18.12 -> 1.19.6: CRD schema of every document, the version-aware lint,
every probe explained twice) in under 3 s: the whole command, from reading the YAML and
JSONL files to the JSON report. Probes from --probes only (--no-generate): generation is
timed apart, for information. The policies and probes are bench_model's realistic mix.
CPU time of this process pinned to one core, as bench_model.
"""

from __future__ import annotations

import io
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import yaml
from bench_model import POLICIES, PROBES, SEED, policy, probe

from conformance.cli import main as cli_main
from conformance.generate.cells import probe_json

TARGET_S = 3.0
OLD, NEW = "1.18.12", "1.19.6"


def main() -> int:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    rng = random.Random(SEED)
    callers_of: dict[tuple[str, str], list[str]] = {}
    docs = [policy(i, rng, callers_of) for i in range(POLICIES)]
    probes = [probe(i, rng, callers_of) for i in range(PROBES)]
    with tempfile.TemporaryDirectory() as tmp:
        pol = Path(tmp) / "policies"
        pol.mkdir()
        (pol / "all.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
        lines = Path(tmp) / "probes.jsonl"
        lines.write_text("".join(json.dumps(probe_json(p)) + "\n" for p in probes))
        argv = ["upgrade-check", "--from", OLD, "--to", NEW, "--policies", str(pol),
                "--probes", str(lines), "--format", "json"]
        out = io.StringIO()
        t0 = time.process_time()
        code = cli_main([*argv, "--no-generate"], out)
        elapsed = time.process_time() - t0
        report = json.loads(out.getvalue())
        t1 = time.process_time()
        cli_main(argv, io.StringIO())
        with_generation = time.process_time() - t1
    ok = elapsed < TARGET_S and code in (0, 1)
    print(f"upgrade-check {OLD} -> {NEW}: {POLICIES} policies x {report['probes']} probes "
          f"x 2 versions in {elapsed:.2f} s CPU ({2 * report['probes'] / elapsed:,.0f} "
          f"evaluations/s), {report['summary']['changed_probes']} changed, "
          f"{len(report['findings'])} finding(s), exit {code}; target < {TARGET_S:g} s: "
          f"{'PASS' if ok else 'FAIL'}")
    print(f"  for information: with probes generated from the rules as well: "
          f"{with_generation:.2f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
