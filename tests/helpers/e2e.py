"""Helpers for end-to-end tests: run the real DAG, and compute expected figures independently of the
pipeline (plain pandas and Decimal arithmetic over the generator's own records)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pandas as pd


@contextmanager
def pipeline_env(root: Path, **extra: str) -> Iterator[None]:
    """PREFAB_LANDING_DIR and PREFAB_DATA_DIR under `root` (plus any `extra` variables) while the block runs,
    for module-scoped fixtures (pytest's monkeypatch is function-scoped); the environment is restored after."""
    env = {"PREFAB_LANDING_DIR": str(root / "landing"), "PREFAB_DATA_DIR": str(root / "data"), **extra}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_nightly():
    """Run `prefab_nightly` once through Airflow's `dag.test()`; returns the DagRun."""
    from airflow.dag_processing.dagbag import DagBag

    from foundation.config import PROJECT_ROOT

    dag = DagBag(dag_folder=str(PROJECT_ROOT / "dags")).dags["prefab_nightly"]
    return dag.test()


def query(path: Path, sql: str, params: list | None = None) -> pd.DataFrame:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, params or []).df()
    finally:
        con.close()


def d2(value) -> Decimal:
    """Round half-up to two decimals, as bulletins do."""
    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def pct(numerator: Decimal, denominator: Decimal) -> Decimal | None:
    if denominator == 0:
        return None
    return (numerator * 100 / denominator).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def area_sum(values) -> Decimal:
    return sum((Decimal(str(round(float(v), 2))) for v in values), Decimal("0"))


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
