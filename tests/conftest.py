"""Hermetic test environment: Airflow gets a temporary home with SQLite metadata before anything imports
it, and every test that touches data gets its own landing zone and data folder."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

# Property tests check behaviour, never speed: no per-example deadline (a loaded 2-core CI machine missed 200 ms).
hypothesis_settings.register_profile("prefab", deadline=None)
hypothesis_settings.load_profile("prefab")

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="prefab-airflow-"))
from demo.airflow_env import airflow_env  # noqa: E402

os.environ.pop("AIRFLOW_HOME", None)
os.environ.update(airflow_env(_AIRFLOW_HOME))
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata DB for this test session (one per xdist worker)."""
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=os.environ.copy(), check=True, capture_output=True)
    return _AIRFLOW_HOME


@pytest.fixture
def data_env(tmp_path, monkeypatch):
    """PREFAB_LANDING_DIR and PREFAB_DATA_DIR pointed at fresh folders; returns the Settings."""
    from foundation.config import settings

    monkeypatch.setenv("PREFAB_LANDING_DIR", str(tmp_path / "landing"))
    monkeypatch.setenv("PREFAB_DATA_DIR", str(tmp_path / "data"))
    return settings()


def service_reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def pytest_collection_modifyitems(config, items):
    """Modules with a slow test first, each module's tests kept together.

    `make test` distributes whole modules (`--dist loadfile`): a module's expensive fixtures (a DAG run, the
    corpus, a running topology) are set up once, on one worker. pytest-xdist's `xdist_group` cannot do this
    under pytest 9 (it renames `item._nodeid`, which pytest 9 no longer reads: every grouped module fixture was
    set up on both workers, 2026-12-03). The slow modules go first so that the last minutes are shared by many
    small modules rather than left to one long one on one worker while the other idles; `--no-loadscope-reorder`
    keeps this order (xdist otherwise sends the modules with the most tests first: the one-test benchmark and
    topology modules, minutes each, ran last)."""
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    first_seen: dict = {}
    for item in items:
        first_seen.setdefault(item.path, len(first_seen))
    items.sort(key=lambda item: (item.path not in slow, first_seen[item.path]))
