"""Failure notification hook: a failed nightly run is logged loudly and appended, one JSON line, to the alerts
file (`Settings.alerts_path`, by default `alerts.jsonl` in the data folder), which operators' monitoring and
the steward page watch.

The alert must survive the failure it reports: when the alerts file cannot be written (a read-only or full
data folder, often the very cause of the failure) the line goes to the first fallback that takes it,
`$AIRFLOW_HOME/prefab-alerts.jsonl` and then the system's temporary folder, and the task log says where
(at CRITICAL, with the whole record). The hook itself never raises: Airflow would only log that.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from foundation.config import settings

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


def notify_failure(context: dict) -> None:
    ti = context.get("task_instance")
    record = {"at": datetime.now(UTC).isoformat(), "dag_id": getattr(ti, "dag_id", None),
              "run_id": context.get("run_id"), "task_id": getattr(ti, "task_id", None),
              "error": str(context.get("exception"))[:4000]}
    log.error("prefab run failed: %s", record)
    try:
        primary = settings().alerts_path
    except Exception as exc:  # noqa: BLE001 - a broken setting must not lose the alert
        log.critical("prefab settings unreadable for the alert (%s)", exc)
        primary = Path(tempfile.gettempdir()) / FALLBACK_NAME
    append_alert(record, primary)
