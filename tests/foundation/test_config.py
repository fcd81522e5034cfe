"""Settings: each is declared once in foundation/config.py, and the README's configuration table (the users'
page) lists every one with the same default."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from foundation.config import DBT_PROJECT_DIR, PROJECT_ROOT, Settings, settings


def _declared() -> dict[str, object]:
    return {f.metadata["env"]: f.metadata["default"] for f in dataclasses.fields(Settings) if "env" in f.metadata}


def _readme_table() -> dict[str, str]:
    """Variable -> default cell of the README's configuration table (backticks dropped)."""
    lines = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("## Configuration"))
    table = {}
    for line in lines[start + 1:]:
        if line.startswith("## "):
            break
        cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
        if line.startswith("| `"):
            table[cells[0]] = cells[1]
    return table


def _as_readme_writes(default: object) -> str:
    if isinstance(default, bool):
        return "on" if default else "off"
    if isinstance(default, Path):
        return default.relative_to(PROJECT_ROOT).as_posix()
    if isinstance(default, int):
        for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20)):
            if default >= size and default % size == 0:
                return f"{default // size} {unit}"
    if isinstance(default, float):
        return f"{default:g}"
    if isinstance(default, tuple):
        return ",".join(default)
    return str(default)


def test_readme_lists_every_setting_with_its_default():
    table, declared = _readme_table(), _declared()
    assert set(table) == set(declared)
    for env, default in declared.items():
        if default is None:  # no value: the README says what stands in for it
            assert table[env], env
        else:
            assert table[env] == _as_readme_writes(default), env


def test_settings_reads_each_variable_and_falls_back_to_its_default(monkeypatch):
    for env in _declared():
        monkeypatch.delenv(env, raising=False)
    s = settings()
    assert (s.landing_dir, s.data_dir, s.dbt_project_dir) == (
        PROJECT_ROOT / "data" / "landing", PROJECT_ROOT / "data", DBT_PROJECT_DIR)
    assert (s.max_file_bytes, s.max_unzipped_bytes, s.work_retention_days) == (200 << 20, 2 << 30, 7)
    assert (s.steward_port, s.steward_users_file, s.steward_secret) == (8765, None, None)
    assert (s.duckdb_memory_limit, s.rehash_landing) == ("2GB", False)
    assert s.steward_users_path == PROJECT_ROOT / "data" / "steward_users"
    for env, value in {"PREFAB_DATA_DIR": "/srv/prefab", "PREFAB_LANDING_DIR": "in", "PREFAB_MAX_FILE_BYTES": "5",
                       "PREFAB_WORK_RETENTION_DAYS": "0.5", "PREFAB_STEWARD_PORT": "9000",
                       "PREFAB_STEWARD_USERS_FILE": "users", "PREFAB_STEWARD_SECRET": "k",
                       "PREFAB_REHASH_LANDING": "Yes", "PREFAB_DUCKDB_MEMORY_LIMIT": ""}.items():
        monkeypatch.setenv(env, value)
    s = settings()
    assert (s.data_dir, s.landing_dir, s.steward_users_file) == (
        Path("/srv/prefab"), PROJECT_ROOT / "in", PROJECT_ROOT / "users")
    assert (s.max_file_bytes, s.work_retention_days, s.steward_port) == (5, 0.5, 9000)
    assert (s.steward_secret, s.rehash_landing, s.duckdb_memory_limit) == ("k", True, "2GB")
