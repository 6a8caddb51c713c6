"""Pre-upgrade validation: the static check (static.py, notes.py), the disruption watch
(watch.py; on a live cluster livewatch.py) and the upgrade run with its report (run.py,
simulated.py, live.py, report.py)."""
