"""Reports from made-up artifacts folders: comparison, truth tables, the HTML page's
structure, the command line's bad input, and the progress follower."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.reports import compare, html, progress, summary, tables
from conformance.reports.model import REPORT, RESULTS, ReportError, load_run
from tests.reports.synthetic import make_run


def cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), stdout=out), out.getvalue()


# -- comparison ---------------------------------------------------------------------------

def test_compare_names_flips_both_ways_appeared_vanished_and_skips(tmp_path: Path) -> None:
    old = make_run(tmp_path / "old", 2, 4, failing={(0, 1)}, skipped={(1, 3)})
    new = make_run(tmp_path / "new", 2, 5, failing={(0, 2)}, skipped={(1, 2)})
    # drop one old cell from the new run: it vanished
    results = (new / RESULTS).read_text().splitlines()
    (new / RESULTS).write_text("\n".join(r for r in results if "/p0 " not in r
                                         or '"s1"' not in r) + "\n")
    c = compare.compare(load_run(old), load_run(new))
    pairs = {(ch.scenario, ch.cell.split(" ")[2], ch.before, ch.after) for ch in c.flipped}
    assert pairs == {("s0", "/p1", "failed", "passed"), ("s0", "/p2", "passed", "failed")}
    assert {(ch.scenario, ch.cell.split(" ")[2]) for ch in c.appeared} == {("s0", "/p4"),
                                                                           ("s1", "/p4")}
    assert [(ch.scenario, ch.cell.split(" ")[2]) for ch in c.vanished] == [("s1", "/p0")]
    assert {(ch.cell.split(" ")[2], ch.before, ch.after) for ch in c.changed} == {
        ("/p2", "passed", "skipped"), ("/p3", "skipped", "passed")}
    assert c.exit_code == 1


def test_compare_without_flips_exits_0_and_flags_enforcement_regressions(
        tmp_path: Path) -> None:
    old = make_run(tmp_path / "old", 3, 2, realize_s={0: 2.0, 1: 2.0, 2: 0.2})
    # s0 grows 2.0 -> 3.5 s (x1.75, +1.5 s): regressed; s1 2.0 -> 2.9 (x1.45): noise;
    # s2 0.2 -> 0.9 (x4.5 but +0.7 s): noise.
    new = make_run(tmp_path / "new", 3, 2, realize_s={0: 3.5, 1: 2.9, 2: 0.9})
    code, out = cli("report", "--compare", str(old), str(new), "--format", "json")
    data = json.loads(out)
    assert code == 0
    assert data["flipped"] == [] and data["appeared"] == [] and data["vanished"] == []
    assert data["regressions"] == [{"scenario": "s0", "before_s": 2.0, "after_s": 3.5}]


def test_compare_cli_exits_1_on_a_flip_and_appends_the_step_summary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = make_run(tmp_path / "old", 1, 3)
    new = make_run(tmp_path / "new", 1, 3, failing={(0, 1)})
    step = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
    code, out = cli("report", "--compare", str(old), str(new))
    assert code == 1
    assert "1 flipped" in out and "src1 GET /p1 -> svc:8080 => allowed: passed -> failed" in out
    assert "| flipped | s0 | src1 GET /p1 -> svc:8080 => allowed | passed | failed |" \
        in step.read_text()


# -- bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize("setup, needle", [
    (lambda p: p / "missing", "not a directory"),
    (lambda p: p, "no scenario results"),
    (lambda p: (make_run(p / "r", 1, 1), (p / "r" / RESULTS).write_text('{"scenario": 1}\n'
                                                                       "not json\n"))[0],
     f"{RESULTS}: line 1: not a cell result"),
    (lambda p: (make_run(p / "r", 1, 1), (p / "r" / "s0" / "run.json").write_text("[1"))[0],
     "run.json: not valid JSON"),
])
def test_bad_artifacts_are_one_paragraph_naming_the_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: object, needle: str) -> None:
    folder = setup(tmp_path)  # type: ignore[operator]
    code, _ = cli("report", str(folder))
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and needle in err and "Traceback" not in err
    assert not (Path(folder) / REPORT).exists()  # nothing half-done


def test_compare_and_a_folder_together_is_bad_input(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = make_run(tmp_path / "r", 1, 1)
    code, _ = cli("report", str(run), "--compare", str(run), str(run))
    assert code == 2 and "not both" in capsys.readouterr().err


def test_without_results_jsonl_outcomes_come_from_the_checks(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", 1, 3, failing={(0, 2)})
    (run / RESULTS).unlink()
    loaded = load_run(run)
    assert sorted((c.cell.split(" ")[2], c.outcome) for c in loaded.cells()) == [
        ("/p0", "passed"), ("/p1", "passed"), ("/p2", "failed")]
    failed = next(c for c in loaded.cells() if c.outcome == "failed")
    assert failed.evidence == {"client": "ok", "app": "ok", "hubble": "fail", "metrics": "ok"}


# -- terminal -----------------------------------------------------------------------------

def test_truth_tables_fit_80_columns_failures_first(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", 2, 6, failing={(1, 4)}, skipped={(0, 1)})
    for cell in load_run(run).cells():  # a long request label must wrap, not overflow
        cell.request += " +X-Internal-Service: payment-processor-with-a-long-header-value"
    lines = tables.render(load_run(run), width=80)
    text = tables.plain(lines)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "\x1b[" not in text
    blocks = text.split("\n\n")
    assert blocks[0].startswith("s1 — scenario 1")  # the scenario with a failure first
    marks = [line.split()[0] for line in blocks[0].splitlines()[4:]
             if line.startswith("  ") and line.split()[0] in ("FAIL", "pass")]
    assert marks == ["FAIL"] + ["pass"] * 5
    assert "12 cells in 2 scenarios: 10 passed, 1 skipped, 1 failed" in text
    assert "slowest policy realizations" in text


def test_wide_terminal_rows_take_one_line(tmp_path: Path) -> None:
    run = load_run(make_run(tmp_path / "r", 1, 2))
    lines = [t for t, _ in tables.render(run, width=120) if "GET /p" in t]
    assert len(lines) == 2 and all("allowed" in t and t.startswith("  pass") for t in lines)


# -- html ---------------------------------------------------------------------------------

def test_html_is_self_contained_with_one_matrix_and_evidence_per_cell(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", 3, 4, failing={(2, 0)}, skipped={(0, 3)})
    code, out = cli("report", str(run))
    assert code == 0 and f"report: {run / REPORT}" in out
    page = (run / REPORT).read_text()
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing fetched
    assert page.count('<section class="scenario"') == 3
    cells = re.findall(r'<td class="cell (\w+)"[^>]*data-sc="(\d+)" data-i="(\d+)"', page)
    assert sorted(o for o, _, _ in cells) == ["failed"] + ["passed"] * 10 + ["skipped"]
    blobs = dict(re.findall(r'<script type="application/gzip-base64" id="ev-(\d+)">([^<]+)<',
                            page))
    evidence = {n: html.unpack(blob) for n, blob in blobs.items()}
    assert sorted(evidence) == ["0", "1", "2"]
    assert all(len(e["cells"]) == 4 and "account-service-ingress" in e["policy"]
               for e in evidence.values())
    _, n, i = next(c for c in cells if c[0] == "failed")
    failed = evidence[n]["cells"][int(i)]
    for part in ("Model", "Probe", "Matching flows (6)", "Application log (1)",
                 "Metric deltas", "missing: L7 REQUEST FORWARDED", "hubble: no L7 flow"):
        assert part in failed, part
    skipped = next(c for c in cells if c[0] == "skipped")
    assert "did not run" in evidence[skipped[1]]["cells"][int(skipped[2])]


def test_html_shows_the_upgrade_report_and_changes_since_a_baseline(tmp_path: Path) -> None:
    old = make_run(tmp_path / "old", 1, 2)
    new = make_run(tmp_path / "new", 1, 2, failing={(0, 1)})
    (new / "upgrade-report.json").write_text(json.dumps({
        "from": "1.19.6", "to": "1.20.0", "passed": False, "failures": ["cell changed"],
        "steps": [{"from": "1.19.6", "to": "1.20.0",
                   "watch": {"windows": [{"node": "kind-worker", "start": 1.0, "end": 9.5}]},
                   "changed_cells": [{"scenario": "s0", "cell": "c", "before": ["passed"],
                                      "after": ["failed"], "predicted": False}]}]}))
    code, _ = cli("report", str(new), "--baseline", str(old))
    page = (new / REPORT).read_text()
    assert code == 0
    assert 'id="upgrade"' in page and "kind-worker: agent down +1.0 s .. +9.5 s" in page
    assert "<td>NO</td>" in page  # the change the model did not predict
    assert 'id="comparison"' in page and "1 flipped" in page


def test_write_leaves_no_partial_file_when_rendering_fails(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    run = load_run(make_run(tmp_path / "r", 1, 1))

    def broken(*_: object) -> str:
        raise RuntimeError("boom")

    monkeypatch.setattr(html, "render", broken)
    with pytest.raises(RuntimeError):
        html.write(run, tmp_path / "r" / REPORT)
    assert [p.name for p in (tmp_path / "r").iterdir() if "report" in p.name] == []


def test_markdown_summary_lists_failing_cells(tmp_path: Path) -> None:
    run = load_run(make_run(tmp_path / "r", 2, 2, failing={(1, 1)}))
    text = summary.markdown(run)
    assert text.startswith("## ❌ zt-conformance: Cilium 1.20.0 on kind")
    assert "| s1 | src1 GET /p1 -> svc:8080 => allowed | hubble |" in text


def test_missing_folder_of_a_report_is_an_error() -> None:
    with pytest.raises(ReportError):
        load_run("/nonexistent/zt-artifacts")


# -- progress -----------------------------------------------------------------------------

def test_follower_prints_worker_events_and_names_a_long_wait(tmp_path: Path) -> None:
    now = [1000.0]
    said: list[str] = []
    sink = progress.WorkerSink(tmp_path, "run1", "gw3")
    other = progress.WorkerSink(tmp_path, "run2", "gw0")  # another run's file: not ours
    follower = progress.Follower(tmp_path, "run1", said.append, clock=lambda: now[0])
    sink.emit({"what": "start", "scenario": "l7-http", "policy_timeout": 120,
               "flow_grace": 15})
    other.emit({"what": "start", "scenario": "grpc"})
    follower.poll()
    assert said == ["[gw3] l7-http: applied, waiting for enforcement (max 120 s), then "
                    "evidence (grace 15 s)"]
    now[0] += progress.HEARTBEAT_S
    follower.poll()
    assert said[-1] == f"[gw3] l7-http: still busy after {progress.HEARTBEAT_S:.0f} s"
    sink.emit({"what": "done", "scenario": "l7-http", "realize_s": 2.71, "probes_s": 0.1,
               "evidence_wait_s": 0.3, "cleanup_s": 0.2})
    follower.stop()
    assert said[-1] == ("[gw3] l7-http: enforced in 2.7 s; probes 0.1 s; evidence 0.3 s; "
                        "cleanup 0.2 s")
    now[0] += 10 * progress.HEARTBEAT_S
    follower.poll()
    assert len(said) == 3  # done: no more "still busy"
    assert not sink.path.exists() and other.path.exists()
