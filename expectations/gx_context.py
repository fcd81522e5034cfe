"""One Great Expectations file context per data folder, with its Data Docs site.

GX takes seconds to import, so it is imported here, lazily, and its info logging is silenced first.
Validation results and the Data Docs site live under `<PREFAB_DATA_DIR>/gx`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any


def gx_modules() -> tuple[Any, Any, Any]:
    """(great_expectations, great_expectations.expectations, row_conditions.Column), imported quietly."""
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import Column

    return gx, gxe, Column


@lru_cache(maxsize=4)
def context(gx_dir: Path) -> Any:
    gx, _, _ = gx_modules()
    gx_dir.mkdir(parents=True, exist_ok=True)
    ctx = gx.get_context(mode="file", project_root_dir=str(gx_dir))
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    ctx.variables.save()
    return ctx


@dataclass
class SuiteRun:
    """A suite's validation (GX's ExpectationSuiteValidationResult) and the URL of its own Data Docs page
    (`file://...`; None when no page was built for it: all passed under `docs_on_failure_only`)."""

    validation: Any
    page_url: str | None


def _page_url(ctx: Any, identifier: Any) -> str | None:
    """The validation's own page (not the site's index), if it was built."""
    for site in ctx.get_docs_sites_urls(resource_identifier=identifier, only_if_exists=True):
        if site.get("site_url"):
            return site["site_url"]
    return None


def run_suite(gx_dir: Path, asset_name: str, suite_name: str, expectations: list[Any], frame: Any,
              index_columns: list[str], meta: dict | None = None, docs_on_failure_only: bool = False) -> SuiteRun:
    """Validate `frame` against a suite (created or replaced from `expectations`); returns the
    validation with its Data Docs page. Results are stored and the Data Docs site is updated (with
    `docs_on_failure_only`, only when an expectation failed: rendering a page costs seconds, and a steward
    reads the pages of failures)."""
    gx, _, _ = gx_modules()
    ctx = context(gx_dir)
    source = ctx.data_sources.add_or_update_pandas("prefab")
    try:
        asset = source.get_asset(asset_name)
    except LookupError:
        asset = source.add_dataframe_asset(asset_name)
    try:
        batch_definition = asset.get_batch_definition("whole_frame")
    except (KeyError, LookupError):
        batch_definition = asset.add_batch_definition_whole_dataframe("whole_frame")
    suite = gx.ExpectationSuite(name=suite_name, expectations=expectations, meta=meta or {})
    suite = ctx.suites.add_or_update(suite)
    definition = ctx.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=suite_name, data=batch_definition, suite=suite))
    checkpoint = ctx.checkpoints.add_or_update(gx.Checkpoint(
        name=suite_name, validation_definitions=[definition],
        result_format={"result_format": "COMPLETE", "unexpected_index_column_names": index_columns,
                       "return_unexpected_index_query": False, "partial_unexpected_count": 0},
        actions=[] if docs_on_failure_only else [gx.checkpoint.UpdateDataDocsAction(name="update_data_docs")]))
    result = checkpoint.run(batch_parameters={"dataframe": frame})
    identifier, validation = next(iter(result.run_results.items()))
    built = not docs_on_failure_only or not validation.success
    if docs_on_failure_only and not validation.success:
        ctx.build_data_docs(resource_identifiers=[identifier])
    return SuiteRun(validation, _page_url(ctx, identifier) if built else None)
