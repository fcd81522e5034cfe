"""The environment Airflow runs in on the embedded default: a project-local AIRFLOW_HOME with SQLite
metadata, this project's DAGs folder, no example DAGs. Used by `make demo` and the tests."""

from __future__ import annotations

import os
from pathlib import Path

from foundation.config import PROJECT_ROOT


def airflow_env(home: Path | None = None) -> dict[str, str]:
    home = Path(os.environ.get("AIRFLOW_HOME") or home or PROJECT_ROOT / ".airflow")
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": os.environ.get(
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{home / 'airflow.db'}"),
        "AIRFLOW__CORE__DEFAULT_TIMEZONE": "Asia/Shanghai",
        # Where task logs are written and the UI reads them (Airflow's default, named so demo/task_logs.py and
        # `make airflow` agree on it).
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING"),
        "GX_ANALYTICS_ENABLED": "false",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
