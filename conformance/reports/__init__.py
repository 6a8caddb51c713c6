"""Reports people look at: terminal truth tables, report.html, run-to-run comparison and the
Markdown summary for CI, all written from the artifacts folder of a run (README, "Reports").

The suite's pytest plugin (`plugin.py`) records per cell what pytest decided
(`results.jsonl`) and the run's facts (`run-facts.json`) next to the harness's evidence;
everything else reads those files, so `python -m conformance report DIR` redoes it later.
"""
