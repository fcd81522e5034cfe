"""The `prefab_reporting` asset and the `announce` step of the DAGs that publish (`prefab_nightly`,
`prefab_reprocess`); `prefab_bulletin` is scheduled on it.

The asset is updated only when publish made a new publication: a task's outlets emit an event whenever it
succeeds, and publish succeeds without publishing when a rebuild gives the published content again. On a night
with nothing new publish is skipped, and announce with it (all_success).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow.sdk import Asset
from airflow.sdk.exceptions import AirflowSkipException

# A logical URI: where the file lives (PREFAB_DATA_DIR) may change without the asset becoming another one.
REPORTING = Asset(name="prefab_reporting", uri="prefab://reporting/reporting.duckdb")


def announce(publication: dict, outlet_events: Callable[[], Any]) -> int:
    """The asset event of a new publication (its id in the event's extra); a skip when publish made none.
    `outlet_events` gives the running task's outlet events, asked for only when there is an event to emit."""
    if not publication["published"]:
        raise AirflowSkipException(f"no new publication ({publication['reason']}): no asset event")
    outlet_events()[REPORTING].extra = {"publication_id": publication["publication_id"]}
    return publication["publication_id"]
