"""The nightly tasks run in-process without Airflow (for tests that need many runs)."""

from __future__ import annotations

from pipeline.stages import run_stages


def nightly_without_airflow(settings, run_id: str):
    """Every stage of `pipeline.stages.STAGES`, as the DAG runs them (a blocking gate raises `GateBlocked`);
    returns the publish stage's `Publication`."""
    return run_stages(settings, run_id)["publish"]
