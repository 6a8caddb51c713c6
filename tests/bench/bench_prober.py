"""Prober throughput and memory, against the exec-one-curl-per-probe approach.

    python tests/bench/bench_prober.py [--probes 1000] [--rss-probes 5000] [--strict]

Same machine, same run, same local account-service: N sequential `curl` processes versus
one `prober run` process with a batch of N HTTP probes (process start-up included for
both), then the peak RSS of one prober process running a batch of --rss-probes probes.
Targets: >= 20x the curl rate (wall-clock per probe), < 150 MB peak RSS. Prints PASS/FAIL
per target; --strict turns a FAIL into exit status 1. Run by `nox -s bench`; not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.support.account_service import account_service  # noqa: E402

TARGET_RATIO = 20.0
TARGET_RSS_MB = 150.0
CURL_TIMEOUT_S = 10.0
PROBER_TIMEOUT_S = 600.0


def _probes(port: int, count: int) -> list[dict[str, Any]]:
    return [{"id": f"b{i}", "kind": "http", "timeout": 10,
             "url": f"http://127.0.0.1:{port}/api/v1/accounts/{i}"} for i in range(count)]


def bench_curl(curl: str, url: str, count: int) -> float:
    """Seconds for `count` sequential curl processes; every one must get a 200."""
    start = time.perf_counter()
    for _ in range(count):
        out = subprocess.run([curl, "-s", "-o", "/dev/null", "-w", "%{http_code}",
                              "--max-time", str(CURL_TIMEOUT_S), url],
                             capture_output=True, text=True, check=False)
        if out.stdout != "200":
            raise SystemExit(f"curl got {out.stdout!r} from {url}: {out.stderr}")
    return time.perf_counter() - start


def run_prober_batch(probes: list[dict[str, Any]], concurrency: int,
                     work: Path) -> tuple[float, float, list[dict[str, Any]]]:
    """(wall seconds, peak RSS in MB, results) of one `prober run` process."""
    batch, out = work / "batch.json", work / "results.json"
    batch.write_text(json.dumps(probes))
    cmd = [sys.executable, "-m", "workloads.prober", "run", "--concurrency", str(concurrency)]
    start = time.perf_counter()
    with batch.open("rb") as stdin, out.open("wb") as stdout:
        proc = subprocess.Popen(cmd, stdin=stdin, stdout=stdout, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)  # rusage of this child alone
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"prober exited {proc.returncode}")
    results: list[dict[str, Any]] = json.loads(out.read_text())
    bad = [r for r in results if r["outcome"] != "ok"]
    if bad:
        raise SystemExit(f"{len(bad)} probes not ok, first: {bad[0]}")
    return elapsed, usage.ru_maxrss / 1024.0, results  # ru_maxrss is KiB on Linux


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--probes", type=int, default=1000)
    parser.add_argument("--rss-probes", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=5, help="prober batches (median is used)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    curl = shutil.which("curl")
    if curl is None:
        print("bench_prober: curl not on PATH; the comparison needs it", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="zt-bench-") as tmp:
        work = Path(tmp)
        with account_service(work) as svc:
            url = f"http://127.0.0.1:{svc.http_port}/api/v1/accounts/1"
            bench_curl(curl, url, 20)  # warm caches for both sides
            curl_s = bench_curl(curl, url, args.probes)
            # Median of several batches: one short run is at the mercy of the scheduler.
            runs = sorted(run_prober_batch(_probes(svc.http_port, args.probes),
                                           args.concurrency, work)[0]
                          for _ in range(args.repeat))
            prober_s = runs[len(runs) // 2]
            big_s, rss_mb, _ = run_prober_batch(_probes(svc.http_port, args.rss_probes),
                                                args.concurrency, work)
    curl_rate, prober_rate = args.probes / curl_s, args.probes / prober_s
    ratio = curl_s / prober_s
    ratio_ok, rss_ok = ratio >= TARGET_RATIO, rss_mb < TARGET_RSS_MB
    print(f"curl   : {args.probes} sequential processes in {curl_s:.2f} s = "
          f"{curl_rate:.0f} probes/s ({curl_s / args.probes * 1000:.2f} ms/probe)")
    print(f"prober : {args.probes} probes in one batch (concurrency {args.concurrency}, median "
          f"of {args.repeat} runs, process start included) in "
          f"{prober_s:.3f} s = {prober_rate:.0f} probes/s "
          f"({prober_s / args.probes * 1000:.3f} ms/probe)")
    print(f"ratio  : {ratio:.1f}x fewer seconds per probe (target >= {TARGET_RATIO:g}x) "
          f"{'PASS' if ratio_ok else 'FAIL'}")
    print(f"memory : {args.rss_probes}-probe batch in {big_s:.2f} s, peak RSS {rss_mb:.1f} MB "
          f"(target < {TARGET_RSS_MB:g} MB) {'PASS' if rss_ok else 'FAIL'}")
    return 1 if args.strict and not (ratio_ok and rss_ok) else 0


if __name__ == "__main__":
    sys.exit(main())
