"""The one way a stage says "nothing to do": it raises `NothingToDo`. The DAG's wiring turns it into Airflow's
skip (the task shows as skipped, and the tasks after it are skipped by their trigger rule);
`pipeline.stages.run_stages` does the same without Airflow. Here, in the ground, so that any package's stage
can raise it."""

from __future__ import annotations


class NothingToDo(Exception):
    """Raised by a stage function that had nothing to do; its message says why, for the task log and the
    run's summary."""
