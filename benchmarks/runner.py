"""Runs one scale: the stages of `pipeline.stages.STAGES` one by one (as the DAG's tasks run them, without
Airflow), each timed, with the baselines measured in the same run, and returns the result document."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path

import duckdb

from benchmarks import airflow_night, dbt_cost, measure, queries, registry, workload
from foundation.config import Settings, settings
from pipeline.stages import Stage, run_stage, select

STAGES = tuple(s.name for s in select(last="load"))  # the ingestion stages: discover, read, check, load
INGEST = tuple(s for s in STAGES if s != "discover")  # the "read + normalise + check + load" (read normalises)
KEYS = ("ingest_ratio_vs_native", "files_per_second", "full_load_seconds", "incremental_seconds",
        "dbt_fixed_seconds", "publish_seconds", "query_p95_ms", "peak_rss_mb", "bulletin_seconds")
# figure -> (target as text, predicate on the median, the scale the issue sets it at); no entry: no target
TARGETS = {
    "ingest_ratio_vs_native": ("<= 2.0x", lambda v, r: v <= 2.0, "bigfile"),
    "files_per_second": (">= 200", lambda v, r: v >= 200, "province"),
    "incremental_seconds": ("< 180 s and < 15% of full load",
                            lambda v, r: v < 180 and r.get("full_load_seconds") and v < 0.15 * r["full_load_seconds"],
                            "national"),
    "query_p95_ms": ("< 150 ms", lambda v, r: v < 150, "national"),
    "peak_rss_mb": ("< 4096 MB", lambda v, r: v < 4096, "national"),
    "publish_swap_seconds": ("< 1 s", lambda v, r: v < 1, "national"),
}
# the table's rows: the keys, then the swap (its own target, inside publication)
ROWS = (*KEYS, "publish_swap_seconds")
log = logging.getLogger("benchmarks")


def _settings(landing: Path, data: Path) -> Settings:
    """The settings in force (dbt project included), with the run's own folders. The benchmark writes its landing
    zone just before it runs: no file is waited for as still being written (`landing_settle_seconds`)."""
    return replace(settings(), landing_dir=landing, data_dir=data, max_file_bytes=1 << 31, landing_settle_seconds=0)


def national_project(work: Path) -> Path:
    """A fresh copy of the configured dbt project under `work`, its unit list replaced by the synthetic one."""
    project = work / "dbt_project"
    shutil.rmtree(project, ignore_errors=True)
    shutil.copytree(settings().dbt_project_dir, project,
                    ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", ".user.yml"))
    registry.write_registry(project / "seeds" / "reporting_units.csv")
    return project


@contextmanager
def dbt_project(scale: workload.Scale, work: Path):
    """Point `PREFAB_DBT_PROJECT_DIR` (ingestion's unit list and dbt's project) at the scale's project while it
    runs: the national scale's copy, else the one already configured."""
    before = os.environ.get("PREFAB_DBT_PROJECT_DIR")
    if scale.national_registry:
        os.environ["PREFAB_DBT_PROJECT_DIR"] = str(national_project(work))
    try:
        yield settings().dbt_project_dir
    finally:
        if before is None:
            os.environ.pop("PREFAB_DBT_PROJECT_DIR", None)
        else:
            os.environ["PREFAB_DBT_PROJECT_DIR"] = before


def warm_imports() -> float:
    """Import Great Expectations and the checks once (about 8 s), so no stage's figure carries it."""
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    started = time.perf_counter()
    import great_expectations  # noqa: F401

    import expectations.submission  # noqa: F401

    return time.perf_counter() - started


def timed_stage(out: dict, stage: Stage, settings: Settings, run_id: str):
    """Run a stage, recording its seconds, CPU seconds, the peak RSS after it and its record (as JSON) under
    its name in `out`; returns the record."""
    cpu, started = time.process_time(), time.perf_counter()
    try:
        record = run_stage(stage, settings, run_id)
    finally:
        out["seconds"][stage.name] = time.perf_counter() - started
        out["cpu_seconds"][stage.name] = time.process_time() - cpu
        out["peak_rss_mb_after"][stage.name] = measure.peak_rss_parts_mb()  # which stage raised the high-water mark
    out["summary"][stage.name] = asdict(record)
    return record


def ingest(settings: Settings, run_id: str) -> dict:
    """discover -> read -> check -> load; per-stage seconds and the stages' records."""
    out = {"seconds": {}, "cpu_seconds": {}, "summary": {}, "peak_rss_mb_after": {}}
    for stage in select(last="load"):
        timed_stage(out, stage, settings, run_id)
    out["seconds"]["total"] = sum(out["seconds"][s] for s in STAGES)
    out["cpu_seconds"]["total"] = sum(out["cpu_seconds"][s] for s in STAGES)
    return out


def native_read_csv(path: Path, scratch: Path) -> float:
    """DuckDB's own read_csv of the same file into a table of a fresh database file (the baseline)."""
    db = scratch / "native.duckdb"
    db.unlink(missing_ok=True)
    con = duckdb.connect(str(db), config={"autoinstall_known_extensions": False})
    try:
        started = time.perf_counter()
        con.execute(f"create table t as select * from read_csv('{path}', all_varchar = false)")
        con.execute("checkpoint")
        seconds = time.perf_counter() - started
    finally:
        con.close()
    db.unlink(missing_ok=True)
    return seconds


def _dbt_node_seconds(settings: Settings) -> float:
    data = json.loads((settings.data_dir / "dbt" / "target" / "run_results.json").read_text(encoding="utf-8"))
    return sum(float(r.get("execution_time") or 0) for r in data["results"])


def warehouse_run(settings: Settings, run_id: str) -> dict:
    """ingest -> dbt_build -> gate -> publish, timed per stage; publish only if the gate passed."""
    from publishing.gate import GateBlocked

    out = ingest(settings, run_id)
    sec = out["seconds"]
    out["gate_passed"], out["gate_blocking"] = True, []
    for stage in select(first="dbt_build"):
        try:
            record = timed_stage(out, stage, settings, run_id)
        except GateBlocked as blocked:
            out["gate_passed"], out["gate_blocking"] = False, blocked.blocking[:10]
            sec["publish"], out["published"] = None, False
            break
        if stage.name == "dbt_build":
            sec["dbt_nodes"] = _dbt_node_seconds(settings)
        elif stage.name == "publish":
            out["published"] = record.published
            sec["publish_swap"] = record.swap_seconds
    sec["pipeline"] = sec["total"] + sec["dbt_build"] + sec["gate"] + (sec["publish"] or 0)
    return out


def many_files_repeat(scale: workload.Scale, full: Path, incr: Path, files: int, data: Path) -> dict:
    from publishing.build import build

    shutil.rmtree(data, ignore_errors=True)
    first = warehouse_run(_settings(full, data), "bench_full")
    rec = {"full": first["seconds"], "gate_passed": first["gate_passed"], "gate_blocking": first["gate_blocking"],
           "ingest_summary": first["summary"], "peak_rss_mb_after": first["peak_rss_mb_after"]}
    rec["files_per_second"] = files / first["seconds"]["total"]
    # this process's CPU time (all its threads): a figure less sensitive to other load on a shared machine
    rec["ingest_cpu_seconds"] = first["cpu_seconds"]
    rec["files_per_cpu_second"] = files / first["cpu_seconds"]["total"]
    s = _settings(full, data)
    rec["dbt_fixed"] = dbt_cost.dbt_fixed_costs(s)
    rec["dbt_parse_seconds"] = rec["dbt_fixed"]["parse_partial_seconds"]
    # the same build again with nothing new: dbt's fixed cost plus re-materialising the models
    rec["dbt_rebuild_seconds"], _ = measure.timed(build, s)
    rec["dbt_rebuild_nodes"] = _dbt_node_seconds(s)
    if s.reporting_path.exists():
        q = queries.run_queries(s.reporting_path, scale.query_city, scale.query_year)
        rec["queries_ms"] = {k: v["ms"] for k, v in q.items()}
        rec["query_rows"] = {k: v["rows"] for k, v in q.items()}
        # what prefab_bulletin does after a publication: the province's and every city's bulletin (HTML, PDF,
        # charts), as one task of that DAG runs it
        from bulletin.render import write_publication

        rec["bulletin_seconds"], written = measure.timed(write_publication, s)
        rec["bulletins"] = len(written)
        if scale.postgres_publication:  # the same file into a fresh PostgreSQL database (skipped without a server)
            from benchmarks.postgres_publish import postgres_publication_seconds

            rec["postgres"] = postgres_publication_seconds(s.reporting_path, repeat=1)
    second = warehouse_run(_settings(incr, data), "bench_incremental")
    rec["incremental"] = second["seconds"]
    rec["incremental_gate_passed"] = second["gate_passed"]
    rec["incremental_new_files"] = second["summary"]["discover"]["new"]
    # how the new month's publication was written (whole, or from the published file: publishing/file_delta.py)
    rec["incremental_publication_written"] = (second["summary"].get("publish") or {}).get("written")
    if scale.airflow_nights:  # the same nights as an operator runs them: `airflow dags test`, a process each
        rec["airflow"] = airflow_night.airflow_nights(full, incr, data.parent / f"{data.name}_airflow")
    return rec


def bigfile_repeat(sources: dict[str, Path], work: Path, i: int) -> dict:
    rec = {}
    for label, source in sources.items():
        root = work / f"run_{label}"
        # a new data folder per repeat: Great Expectations caches its context by folder within a process
        data = root / f"data{i}"
        shutil.rmtree(data, ignore_errors=True)
        landing = workload.single_file_landing(root, source)
        res = ingest(_settings(landing, data), f"bench_{label}")
        load = res["summary"]["load"]
        rec[label] = res["seconds"] | {"ingest": sum(res["seconds"][s] for s in INGEST),
                                       "rows_loaded": load.get("rows_loaded"),
                                       "rows_quarantined": load.get("rows_quarantined")}
        shutil.rmtree(data, ignore_errors=True)
    rec["native_read_csv"] = native_read_csv(sources["csv_utf8"], work)
    return rec


def run_scale(name: str, repeat: int, work_root: Path, units: int | None = None) -> dict:
    """Run a scale; `units`: only the first that many reporting units of the scale's selection (a smoke of the
    scale's set-up, in a work folder of its own: its figures are not the scale's)."""
    scale = workload.SCALES[name]
    work = work_root / (name if units is None else f"{name}_{units}_units")
    work.mkdir(parents=True, exist_ok=True)
    with dbt_project(scale, work):
        if units is not None and scale.units:
            scale = workload.first_units(scale, settings().reporting_units_path, units)
        doc = _run_scale(scale, repeat, work)
    doc["units_limit"] = units
    return doc


def _run_scale(scale: workload.Scale, repeat: int, work: Path) -> dict:
    name = scale.name
    started = time.perf_counter()
    doc = {"scale": name, "date": measure.now_iso(), "machine": measure.machine(), "repeat": repeat,
           "note": scale.note, "workload": {}, "runs": {}}
    doc["gx_import_seconds"] = warm_imports()
    gen_started = time.perf_counter()
    sources = {}
    if scale.big_rows:
        sources["csv_utf8"] = workload.big_csv(work / "inputs" / f"big_{scale.big_rows}.csv", scale.big_rows)
        sources["csv_gbk"] = workload.big_csv(work / "inputs" / f"big_{scale.big_rows}_gbk.csv", scale.big_rows,
                                              "gbk")
        sources["csv_failing"] = workload.big_csv(work / "inputs" / f"big_{scale.big_rows}_failing.csv",
                                                  scale.big_rows, failing_every=workload.BIG_FAILING_EVERY)
    if scale.xlsx_rows:
        sources["xlsx"] = workload.big_xlsx(work / "inputs" / f"big_{scale.xlsx_rows}.xlsx", scale.xlsx_rows)
    if sources:
        doc["workload"]["big_files"] = {k: {"bytes": p.stat().st_size,
                                            "rows": scale.xlsx_rows if k == "xlsx" else scale.big_rows}
                                        for k, p in sources.items()}
        doc["workload"]["big_files"]["csv_failing"]["failing_every"] = workload.BIG_FAILING_EVERY
    if scale.units:
        units_path = settings().reporting_units_path
        full, incr, desc = workload.many_file_landing(scale, work, units_path)
        doc["workload"]["landing"] = desc | {
            "units": scale.units, "unit_list": str(units_path), "years": list(scale.years),
            "buildings_per_month": scale.buildings_per_month}
    doc["workload"]["generation_seconds"] = time.perf_counter() - gen_started
    big_runs, many_runs = [], []
    for i in range(repeat):
        if sources:
            big_runs.append(bigfile_repeat(sources, work, i))
        if scale.units:
            many_runs.append(many_files_repeat(scale, full, incr, desc["files"], work / f"data{i}"))
        log.info("repeat %d/%d done after %.0f s", i + 1, repeat, time.perf_counter() - started)
    doc["runs"] = {"bigfile": big_runs, "many_files": many_runs}
    doc.update(summarise(big_runs, many_runs))
    doc["peak_rss_mb"] = measure.peak_rss_mb()
    doc["peak_rss_mb_parts"] = measure.peak_rss_parts_mb()
    doc["wall_seconds"] = time.perf_counter() - started
    return doc


def _med(runs: list[dict], *path: str) -> float | None:
    vals = []
    for r in runs:
        for p in path:
            r = r.get(p) if isinstance(r, dict) else None
        vals.append(r)
    return measure.median(vals)


def summarise(big: list[dict], many: list[dict]) -> dict:
    out = {k: None for k in KEYS}
    stages = {}
    if big:
        # The ingest: read (and normalise) + check + load. `discover` (scan, hash, archive copy) is
        # reported beside it, in `ingest_with_archive_ratio_vs_native` and the stage lines.
        def ratio(label: str, stages_: tuple[str, ...] = INGEST) -> float | None:
            return measure.median([sum(r[label][s] for s in stages_) / r["native_read_csv"] for r in big])

        out["ingest_ratio_vs_native"] = ratio("csv_utf8")
        out["ingest_with_archive_ratio_vs_native"] = ratio("csv_utf8", STAGES)
        out["native_read_csv_seconds"] = _med(big, "native_read_csv")
        out["bigfile_ingest_seconds"] = _med(big, "csv_utf8", "ingest")
        for label in ("csv_utf8", "csv_gbk", "csv_failing", "xlsx"):
            if label in big[0]:
                stages[f"bigfile_{label}"] = {s: _med(big, label, s) for s in (*STAGES, "ingest", "total")}
        for label, key in (("csv_gbk", "gbk_ratio_vs_native"), ("csv_failing", "failing_ratio_vs_native")):
            if label in big[0]:
                out[key] = ratio(label)
        if "xlsx" in big[0]:
            out["xlsx_ingest_seconds"] = _med(big, "xlsx", "ingest")
    if many:
        out["files_per_second"] = _med(many, "files_per_second")
        out["files_per_cpu_second"] = _med(many, "files_per_cpu_second")
        out["full_load_seconds"] = _med(many, "full", "pipeline")
        out["incremental_seconds"] = _med(many, "incremental", "pipeline")
        out["dbt_fixed_seconds"] = _med(many, "dbt_parse_seconds")
        out["dbt_build_seconds"] = _med(many, "full", "dbt_build")
        out["dbt_node_seconds"] = _med(many, "full", "dbt_nodes")
        out["dbt_rebuild_no_change_seconds"] = _med(many, "dbt_rebuild_seconds")
        out["publish_seconds"] = _med(many, "full", "publish")
        out["publish_swap_seconds"] = _med(many, "full", "publish_swap")
        out["bulletin_seconds"] = _med(many, "bulletin_seconds")
        out["bulletins_per_publication"] = _med(many, "bulletins")
        if out["bulletin_seconds"] is not None and out["bulletins_per_publication"]:
            out["bulletin_seconds_each"] = out["bulletin_seconds"] / out["bulletins_per_publication"]
        all_ms = [ms for r in many for v in r.get("queries_ms", {}).values() for ms in v]
        out["query_p95_ms"] = measure.percentile(all_ms, 95)
        per_query = {}
        for r in many:
            for k, v in r.get("queries_ms", {}).items():
                per_query.setdefault(k, []).extend(v)
        out["query_p95_ms_by_query"] = {k: measure.percentile(v, 95) for k, v in per_query.items()}
        steps = (*STAGES, "total", "dbt_build", "dbt_nodes", "gate", "publish", "pipeline")
        stages["full_load"] = {s: _med(many, "full", s) for s in steps}
        stages["incremental"] = {s: _med(many, "incremental", s) for s in steps}
        out["gate_passed_every_run"] = all(r["gate_passed"] and r["incremental_gate_passed"] for r in many)
        out["dbt_fixed"] = {k: _med(many, "dbt_fixed", k) for k in many[0].get("dbt_fixed", {})
                            if not k.endswith("_error")}
        if "postgres" in many[0]:
            out["postgres_publish_seconds"] = _med(many, "postgres", "postgres_publish_seconds")
            out["postgres_note"] = many[0]["postgres"].get("postgres_note")
        if "airflow" in many[0]:
            out["airflow_nights"] = airflow_summary(many, stages)
    out["stage_seconds"] = stages
    return out


def airflow_summary(many: list[dict], stages: dict) -> dict:
    """Per night through `airflow dags test`: the median wall time of the command, of the DAG run (Airflow's
    own start and end), each task's median seconds (into `stages` as `airflow_<night>`) and its states."""
    out = {}
    for night in airflow_night.NIGHTS:
        runs = [r["airflow"].get(night) or {} for r in many]
        order = [s.name for s in select()] + ["summary", "announce"]  # the DAG's order, then any other task
        tasks = sorted({t for r in runs for t in r.get("tasks", {})},
                       key=lambda t: (order.index(t) if t in order else len(order), t))
        stages[f"airflow_{night}"] = {t: measure.median([(r.get("tasks", {}).get(t) or {}).get("seconds")
                                                          for r in runs]) for t in tasks}
        out[night] = {"dags_test_seconds": measure.median([r.get("seconds") for r in runs]),
                      "dag_run_seconds": measure.median([r.get("run_seconds") for r in runs]),
                      "every_run_ok": all(r.get("returncode") == 0 and r.get("state") == "success" for r in runs),
                      "task_states": {t: sorted({(r.get("tasks", {}).get(t) or {}).get("state") or "-"
                                                 for r in runs}) for t in tasks}}
    return out


def verdicts(doc: dict) -> dict[str, str]:
    """Per figure: met / MISSED at the scale the target is set for; elsewhere the same test, marked as such."""
    out = {}
    for key in ROWS:
        value = doc.get(key)
        if key not in TARGETS:
            out[key] = "-"
        elif value is None:
            out[key] = "not measured"
        else:
            text, test, scale = TARGETS[key]
            verdict = "met" if test(value, doc) else "MISSED"
            out[key] = verdict if doc.get("scale") == scale else f"({verdict}; the target is {scale}'s)"
    return out


def table(doc: dict) -> str:
    """The figures (medians) with baseline, target and verdict, as a Markdown table."""
    baseline = {
        "ingest_ratio_vs_native": f"native read_csv {_fmt(doc.get('native_read_csv_seconds'))} s, "
                                  f"read+check+load {_fmt(doc.get('bigfile_ingest_seconds'))} s "
                                  f"({_fmt(doc.get('ingest_with_archive_ratio_vs_native'))}x with discover)",
        "files_per_second": f"ingest of {doc['workload'].get('landing', {}).get('files', '-')} files "
                            f"({_fmt(doc.get('files_per_cpu_second'))} per CPU-second)",
        "incremental_seconds": f"full load {_fmt(doc.get('full_load_seconds'))} s",
        "bulletin_seconds": f"{_fmt(doc.get('bulletins_per_publication'))} bulletins, "
                            f"{_fmt(doc.get('bulletin_seconds_each'))} s each; "
                            f"publish {_fmt(doc.get('publish_seconds'))} s",
        "dbt_fixed_seconds": f"dbt build {_fmt(doc.get('dbt_build_seconds'))} s, nodes "
                             f"{_fmt(doc.get('dbt_node_seconds'))} s",
    }
    v = verdicts(doc)
    lines = [f"scale {doc['scale']}, {doc['repeat']} run(s), {doc['date']}, {doc['machine']['cpu_count']} CPUs, "
             f"Python {doc['machine']['python']}", "",
             "| figure | median | baseline (same run) | target | verdict |", "|---|---|---|---|---|"]
    for key in ROWS:
        lines.append(f"| {key} | {_fmt(doc.get(key))} | {baseline.get(key, '')} | "
                     f"{TARGETS[key][0] + ' at ' + TARGETS[key][2] if key in TARGETS else ''} | {v[key]} |")
    nights = doc.get("airflow_nights") or {}
    for night, fig in nights.items():
        stage_night = {"full_load": "full_load", "one_new_month": "incremental"}.get(night)
        stages = (doc.get("stage_seconds", {}).get(stage_night) or {}).get("pipeline") if stage_night else None
        lines.append(f"\nairflow dags test, {night}: {_fmt(fig['dags_test_seconds'])} s (DAG run "
                     f"{_fmt(fig['dag_run_seconds'])} s; the stages without Airflow {_fmt(stages)} s; "
                     f"{'ok' if fig['every_run_ok'] else 'NOT OK'})")
    if doc.get("dbt_fixed"):
        lines.append("\ndbt fixed cost, s: " + ", ".join(f"{k.removesuffix('_seconds')} {_fmt(v)}"
                                                      for k, v in doc["dbt_fixed"].items()))
    if "postgres_publish_seconds" in doc:
        note = f"; {doc['postgres_note']}" if doc.get("postgres_note") else ""
        lines.append(f"\nPostgreSQL publication {_fmt(doc['postgres_publish_seconds'])} s (file publication "
                     f"{_fmt(doc.get('publish_seconds'))} s){note}")
    for group, steps in doc.get("stage_seconds", {}).items():
        shown = ", ".join(f"{s} {_fmt(x)}" for s, x in steps.items() if x is not None)
        lines.append(f"\nseconds, {group}: {shown}")
    return "\n".join(lines)


def _fmt(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)
