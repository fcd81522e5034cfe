"""Failure notification hook: a failed nightly run is logged loudly and appended to
`<PREFAB_DATA_DIR>/alerts.jsonl`, which operators (and the steward page) watch."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from foundation.config import settings

log = logging.getLogger(__name__)


def notify_failure(context: dict) -> None:
    ti = context.get("task_instance")
    record = {"at": datetime.now(UTC).isoformat(), "dag_id": getattr(ti, "dag_id", None),
              "run_id": context.get("run_id"), "task_id": getattr(ti, "task_id", None),
              "error": str(context.get("exception"))[:4000]}
    log.error("prefab run failed: %s", record)
    path = settings().data_dir / "alerts.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, ensure_ascii=False) + "\n")
