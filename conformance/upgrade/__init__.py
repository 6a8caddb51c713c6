"""Pre-upgrade validation: the static check (static.py, notes.py), the disruption watch
(watch.py) and the upgrade run with its report (run.py, report.py)."""
