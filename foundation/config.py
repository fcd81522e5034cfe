"""Configuration in one place: every path and tunable of the pipeline is read here, from the environment.

Each setting is a field of `Settings` declared once, with its environment variable, its default and how the
variable's text is read (`_setting`); `settings()` reads them all. The users' page of the settings, with
every variable, default and meaning, is the configuration table of README.md (a test holds it to these
declarations). In brief: the landing folder where county submissions arrive, the data folder that holds the
pipeline's `warehouse.duckdb`, the published `reporting.duckdb` and the archive of every file received; the
limits on what a file may be (its size, an XLSX workbook's declared unpacked size); how long a killed run's
work folder is kept for a retry; whether every landed file is hashed each run (see `ingestion.discover`); the
memory each DuckDB that writes the warehouse (the load stage, dbt, publication) may use before it spills to
disk; the PostgreSQL database every publication also goes to, if one is configured, and the role analysts read it
through; and the dbt project that builds the warehouse, whose seed `reporting_units.csv` is also the reference
list ingestion checks unit codes against (the benchmarks point it at a copy with a synthetic national list).

The steward web app (`make steward`, package `steward`) listens on `steward_host`, port `steward_port`; its
users are in a file of lines `name:role:scrypt-hash` (written by `python -m steward add-user`), and its
session cookies are signed with a secret that has no default: the app refuses to start without it. It answers only
requests whose `Host` is one of `steward_allowed_hosts` or the host it listens on.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
SUBMISSION_KINDS = ("buildings", "production_bases", "targets")
DATA_DOCS_SITE = Path("gx") / "uncommitted" / "data_docs" / "local_site"  # inside the GX project folder


def _path(value: str) -> Path:
    """A path from the environment; a relative one is under the project root."""
    path = Path(value)
    return path if path.is_absolute() else (PROJECT_ROOT / path)


def _names(value: str) -> tuple[str, ...]:
    return tuple(h.strip() for h in value.split(",") if h.strip())


def _flag(value: str) -> bool:
    return value.lower() in ("1", "true", "yes")


def _setting(env: str, default: Any, parse: Callable[[str], Any], *, constructor_default: bool = True) -> Any:
    """A field of `Settings` read from `env` (unset or empty: `default`) by `parse`. Without
    `constructor_default`, code that builds a `Settings` itself must give the field."""
    metadata = {"env": env, "default": default, "parse": parse}
    if constructor_default:
        return dataclasses.field(default=default, metadata=metadata)
    return dataclasses.field(metadata=metadata)


@dataclass(frozen=True)
class Settings:
    landing_dir: Path = _setting("PREFAB_LANDING_DIR", PROJECT_ROOT / "data" / "landing", _path,
                                 constructor_default=False)
    data_dir: Path = _setting("PREFAB_DATA_DIR", PROJECT_ROOT / "data", _path, constructor_default=False)
    max_file_bytes: int = _setting("PREFAB_MAX_FILE_BYTES", 200 << 20, int, constructor_default=False)
    # what an XLSX file's parts may declare unpacked, in all
    max_unzipped_bytes: int = _setting("PREFAB_MAX_UNZIPPED_BYTES", 2 << 30, int)
    # address space of the worker process that reads XLSX files (ingestion.read.xlsx_worker)
    xlsx_read_memory_bytes: int = _setting("PREFAB_XLSX_READ_MEMORY_BYTES", 4 << 30, int)
    # what reading one XLSX file may take, in seconds
    xlsx_read_seconds: float = _setting("PREFAB_XLSX_READ_SECONDS", 300.0, float)
    # a killed run's work folder is kept this long (days) for a retry
    work_retention_days: float = _setting("PREFAB_WORK_RETENTION_DAYS", 7.0, float)
    timezone: str = "Asia/Shanghai"
    # the steward app's address: in a container (docker-compose.yml) 0.0.0.0, published on the host's loopback only
    steward_host: str = _setting("PREFAB_STEWARD_HOST", "127.0.0.1", str)
    steward_port: int = _setting("PREFAB_STEWARD_PORT", 8765, int)
    # None: `steward_users` in the data folder (steward_users_path)
    steward_users_file: Path | None = _setting("PREFAB_STEWARD_USERS_FILE", None, _path)
    steward_secret: str | None = _setting("PREFAB_STEWARD_SECRET", None, str)  # None: the app refuses to start
    # Host names the app answers (besides steward_host): a DNS-rebinding page names another
    steward_allowed_hosts: tuple[str, ...] = _setting("PREFAB_STEWARD_ALLOWED_HOSTS", ("127.0.0.1", "localhost"),
                                                      _names)
    dbt_project_dir: Path = _setting("PREFAB_DBT_PROJECT_DIR", DBT_PROJECT_DIR, _path)
    # how long a writing stage waits for another writer, or a process holding warehouse.duckdb, before it fails
    writer_wait_seconds: float = _setting("PREFAB_WRITER_WAIT_SECONDS", 600.0, float)
    # None: `alerts.jsonl` in the data folder (alerts_path)
    alerts_file: Path | None = _setting("PREFAB_ALERTS_FILE", None, _path)
    # DuckDB's memory_limit for the writers of the warehouse (it spills beyond)
    duckdb_memory_limit: str = _setting("PREFAB_DUCKDB_MEMORY_LIMIT", "2GB", str)
    # hash every landed file, even one the ledger holds with its size and mtime
    rehash_landing: bool = _setting("PREFAB_REHASH_LANDING", False, _flag)
    # a landed file modified more recently than this (seconds) is still being written: it waits for the next run
    landing_settle_seconds: float = _setting("PREFAB_LANDING_SETTLE_SECONDS", 60.0, float)
    # 'YYYY-MM': no submission period before it is plausible (foundation.periods)
    earliest_period: str = _setting("PREFAB_EARLIEST_PERIOD", "2000-01", str)
    # None: publish reporting.duckdb only; a libpq URL: every publication also goes to that PostgreSQL database
    reporting_postgres_url: str | None = _setting("PREFAB_REPORTING_POSTGRES_URL", None, str)
    # the NOLOGIN role granted USAGE/SELECT on the published PostgreSQL schema (analysts' logins are its members)
    reporting_reader_role: str = _setting("PREFAB_REPORTING_READER_ROLE", "prefab_analyst", str)
    # how many publications of reporting.duckdb are kept for `python -m publishing rollback` (the live one included)
    publications_kept: int = _setting("PREFAB_PUBLICATIONS_KEPT", 5, int)
    # Celery queue of the tasks that open warehouse.duckdb (pipeline.stages.queue): one worker process serves it,
    # on the host that holds the file; the other tasks go to `shared_queue` (Airflow's default queue's name)
    warehouse_queue: str = _setting("PREFAB_WAREHOUSE_QUEUE", "warehouse", str)
    shared_queue: str = _setting("PREFAB_SHARED_QUEUE", "default", str)
    # Alerts people receive (pipeline.notify); nothing is sent while these are unset. E-mail: recipients
    # (comma-separated), sender, and the SMTP server as an Airflow connection URI (smtp://user:password@host:port
    # with ?disable_ssl=true&disable_tls=true for a plain relay)
    alert_email_to: tuple[str, ...] | None = _setting("PREFAB_ALERT_EMAIL_TO", None, _names)
    alert_email_from: str = _setting("PREFAB_ALERT_EMAIL_FROM", "prefab-warehouse@localhost", str)
    alert_smtp_url: str | None = _setting("PREFAB_ALERT_SMTP_URL", None, str)
    # a DingTalk or WeCom group robot's webhook URL (both take {"msgtype": "text", ...})
    alert_webhook_url: str | None = _setting("PREFAB_ALERT_WEBHOOK_URL", None, str)
    # the steward app's address as people open it (a proxy's or another host's), for the links in the summary,
    # the gate's message and alerts; None: http://steward_host:steward_port
    steward_public_url: str | None = _setting("PREFAB_STEWARD_URL", None, str)

    @property
    def reporting_units_path(self) -> Path:
        """The reference list of reporting units: the dbt project's seed."""
        return self.dbt_project_dir / "seeds" / "reporting_units.csv"

    @property
    def alerts_path(self) -> Path:
        """Where failure alerts are appended (one JSON line each)."""
        return self.alerts_file or (self.data_dir / "alerts.jsonl")

    @property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def reporting_path(self) -> Path:
        return self.data_dir / "reporting.duckdb"

    @property
    def archive_dir(self) -> Path:
        return self.data_dir / "archive"

    @property
    def journal_dir(self) -> Path:
        """The append-only journal of the warehouse's `dq` history (`foundation.journal`), beside the archive."""
        return self.data_dir / "journal"

    @property
    def publications_dir(self) -> Path:
        """The last `publications_kept` publications of reporting.duckdb (`publishing.retention`)."""
        return self.data_dir / "publications"

    @property
    def gx_dir(self) -> Path:
        """Great Expectations project folder: validation results and Data Docs."""
        return self.data_dir / "gx"

    @property
    def lock_path(self) -> Path:
        return self.data_dir / "warehouse.lock"

    @property
    def steward_users_path(self) -> Path:
        return self.steward_users_file or (self.data_dir / "steward_users")

    def steward_url(self, path: str = "/") -> str:
        """A page of the steward app (`make steward`) as people open it: the links the run's summary, the
        blocked gate's message and the alerts give (`steward_public_url`, else this machine's address)."""
        base = self.steward_public_url or f"http://{self.steward_host}:{self.steward_port}"
        return base.rstrip("/") + path

    @property
    def gx_docs_dir(self) -> Path:
        """The Great Expectations Data Docs site (served by the steward app behind its sign-in)."""
        return self.gx_dir / DATA_DOCS_SITE


def settings() -> Settings:
    """The settings in force now (read on every call, so tests and `make demo` can redirect them)."""
    values = {}
    for f in dataclasses.fields(Settings):
        if "env" in f.metadata:
            text = os.environ.get(f.metadata["env"])
            values[f.name] = f.metadata["parse"](text) if text else f.metadata["default"]
    return Settings(**values)
