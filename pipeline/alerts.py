"""The alerts file: every alert (`pipeline.notify.alert`: a failed run, a blocked gate, a publication, overdue
submissions, a corrupt warehouse set aside) is appended, one JSON line, to `Settings.alerts_path` (by default
`alerts.jsonl` in the data folder), which operators' monitoring and the steward page watch; the line holds the
message the channels sent, and which channels took it.

The alert must survive the failure it reports: when the alerts file cannot be written (a read-only or full
data folder, often the very cause of the failure) the line goes to the first fallback that takes it,
`$AIRFLOW_HOME/prefab-alerts.jsonl` and then the system's temporary folder, and the task log says where
(at CRITICAL, with the whole record). Writing it never raises: a task callback that raises is only logged by Airflow.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

FALLBACK_NAME = "prefab-alerts.jsonl"


def _candidates(primary: Path) -> list[Path]:
    paths = [primary]
    if os.environ.get("AIRFLOW_HOME"):
        paths.append(Path(os.environ["AIRFLOW_HOME"]) / FALLBACK_NAME)
    paths.append(Path(tempfile.gettempdir()) / FALLBACK_NAME)
    return paths


def append_alert(record: dict, primary: Path) -> Path | None:
    """Append the record to the first alerts file that can be written; returns it (None: none could)."""
    line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
    failures = []
    for path in _candidates(primary):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as fh:
                fh.write(line)
        except OSError as exc:
            failures.append(f"{path}: {exc}")
            continue
        if failures:
            log.critical("prefab alert written to %s, not to %s (%s): %s", path, primary, "; ".join(failures),
                         line.strip())
        return path
    log.critical("prefab alert could not be written anywhere (%s): %s", "; ".join(failures), line.strip())
    return None

