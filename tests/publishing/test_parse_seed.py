"""A new data folder's first dbt run starts from the parse another data folder's run saved (`publishing.parse_seed`),
and a saved parse of an older project is only a starting point: dbt re-parses what changed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb

from foundation.config import PROJECT_ROOT, settings
from publishing import parse_seed
from publishing.build import run_dbt

MODEL = Path("models") / "dq" / "missing_submissions.sql"


def _parse_in(folder: Path, monkeypatch) -> list[str]:
    """`dbt parse` with the data folder `folder`; the lines of dbt's log about partial parsing."""
    monkeypatch.setenv("PREFAB_DATA_DIR", str(folder))
    proc = run_dbt(settings(), "parse")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    log = (folder / "dbt" / "logs" / "dbt.log").read_text(encoding="utf-8")
    return [line for line in log.splitlines() if "partial pars" in line.lower()]


def _compiled_sql_of(folder: Path, name: str) -> str:
    manifest = json.loads((folder / "dbt" / "target" / "manifest.json").read_text(encoding="utf-8"))
    return next(n["raw_code"] for n in manifest["nodes"].values() if n["name"] == name)


def test_a_new_data_folder_reuses_the_saved_parse(tmp_path, monkeypatch):
    project = tmp_path / "dbt_project"  # its own copy: no shared parse from other tests' builds
    shutil.copytree(PROJECT_ROOT / "dbt_project", project, ignore=shutil.ignore_patterns("target", "logs"))
    monkeypatch.setenv("PREFAB_DBT_PROJECT_DIR", str(project))
    shared = parse_seed.seed_path(settings())
    assert not shared.exists()

    first = _parse_in(tmp_path / "a", monkeypatch)
    assert any("Starting full parse" in line for line in first), first
    assert shared.exists()

    second = _parse_in(tmp_path / "b", monkeypatch)
    assert any("no changes found, skipping parsing" in line for line in second), second
    assert not any("Starting full parse" in line for line in second), second

    # The project changes after the parse was shared: the next new folder re-parses the changed file.
    model = project / MODEL
    model.write_text(model.read_text(encoding="utf-8") + "\n-- changed after the parse was shared\n",
                     encoding="utf-8")
    third = _parse_in(tmp_path / "c", monkeypatch)
    assert any("1 files changed" in line for line in third), third
    assert "changed after the parse was shared" in _compiled_sql_of(tmp_path / "c", "missing_submissions")
    assert "changed after the parse was shared" not in _compiled_sql_of(tmp_path / "b", "missing_submissions")


def test_dbt_writes_the_warehouse_of_its_own_data_folder(tmp_path, monkeypatch):
    """The profile's warehouse path is relative to dbt's working directory: each folder's dbt writes its own."""
    for name in ("a", "b"):
        monkeypatch.setenv("PREFAB_DATA_DIR", str(tmp_path / name))
        proc = run_dbt(settings(), "seed", "--select", "grades")
        assert proc.returncode == 0, proc.stdout + proc.stderr
    expected = len((PROJECT_ROOT / "dbt_project" / "seeds" / "grades.csv").read_text(encoding="utf-8").splitlines()) - 1
    for name in ("a", "b"):
        with duckdb.connect(str(tmp_path / name / "warehouse.duckdb"), read_only=True) as con:
            assert con.execute("select count(*) from reference.grades").fetchone()[0] == expected
    assert not list((PROJECT_ROOT / "dbt_project").glob("*.duckdb"))
