"""The PostgreSQL publication timed at a scale: `python -m benchmarks.postgres_publish --scale province|national
[--repeat N]`.

The scale's landing zone (the same generated one `make bench` uses) goes through the nightly stages once, which
publishes `reporting.duckdb`; that file is then published `repeat` times (default 3) into a fresh PostgreSQL
database each time (`publishing.postgres.publish_to_postgres`: COPY of every table, indexes, ANALYZE, the view
switch, in one transaction), and the median is reported beside the file publication of the same run (the
baseline). The server: `PREFAB_BENCH_POSTGRES_URL` (an administrator's URL; default the local
`postgresql://postgres@127.0.0.1:5432/postgres`); without one, the figure is skipped with a note. Writes
`benchmarks/results/<scale>_postgres.json`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from benchmarks import measure, runner, workload
from foundation.config import settings

HERE = Path(__file__).resolve().parent
ADMIN_URL = os.environ.get("PREFAB_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
log = logging.getLogger("benchmarks")


def postgres_publication_seconds(reporting_path: Path, repeat: int = 3) -> dict:
    """Median seconds of publishing the file into a fresh PostgreSQL database, `repeat` times; or a skip note."""
    from publishing.postgres import publish_to_postgres
    from publishing.publish import REPORTING_TABLES

    try:
        psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        return {"postgres_publish_seconds": None,
                "postgres_note": f"skipped: no PostgreSQL at {ADMIN_URL} ({str(exc).strip()[:160]}); start one "
                                 f"or set PREFAB_BENCH_POSTGRES_URL"}
    runs, rows = [], {}
    for i in range(repeat):
        dbname = f"prefab_bench_{os.getpid()}_{i}"
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(sql.SQL("create database {}").format(sql.Identifier(dbname)))
        try:
            url = make_conninfo(**(conninfo_to_dict(ADMIN_URL) | {"dbname": dbname}))
            started = time.perf_counter()
            result = publish_to_postgres(url, reporting_path, (*REPORTING_TABLES, "publication"),
                                         f"prefab_bench_reader_{os.getpid()}")
            runs.append({"seconds": time.perf_counter() - started, "transaction_seconds": result.seconds})
            rows = result.rows
        finally:
            with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
                admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(dbname)))
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(f"prefab_bench_reader_{os.getpid()}")))
    return {"postgres_publish_seconds": measure.median([r["seconds"] for r in runs]),
            "postgres_publish_runs": runs, "postgres_rows": rows, "postgres_rows_total": sum(rows.values())}


def run(scale_name: str, repeat: int, work_root: Path) -> dict:
    scale = workload.SCALES[scale_name]
    work = work_root / scale_name
    work.mkdir(parents=True, exist_ok=True)
    doc = {"scale": scale_name, "date": measure.now_iso(), "machine": measure.machine(), "repeat": repeat}
    with runner.dbt_project(scale, work):
        runner.warm_imports()
        full, _, desc = workload.many_file_landing(scale, work, settings().reporting_units_path)
        doc["workload"] = desc
        data = work / "data_postgres"
        shutil.rmtree(data, ignore_errors=True)
        # as runner's own runs: the scale's folders, no settle wait for the just-written landing zone
        s = replace(settings(), landing_dir=full, data_dir=data, max_file_bytes=1 << 31, landing_settle_seconds=0)
        out = runner.warehouse_run(s, "bench_postgres")
        doc["file_publish_seconds"] = out["seconds"].get("publish")
        doc["gate_passed"] = out["gate_passed"]
        reporting = data / "reporting.duckdb"
        doc["reporting_bytes"] = reporting.stat().st_size if reporting.exists() else None
        if reporting.exists():
            doc |= postgres_publication_seconds(reporting, repeat)
        else:
            doc["postgres_note"] = "nothing published (the gate blocked): no figure"
    pg_s, file_s = doc.get("postgres_publish_seconds"), doc.get("file_publish_seconds")
    doc["postgres_vs_file_publish"] = pg_s / file_s if pg_s and file_s else None
    return doc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.postgres_publish", description=__doc__)
    parser.add_argument("--scale", choices=("quick", "province", "national"), default="province")
    parser.add_argument("--repeat", type=int, default=3, help="PostgreSQL publications to take the median over")
    parser.add_argument("--work-dir", type=Path, default=HERE / "work")
    parser.add_argument("--out-dir", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("great_expectations", "ingestion", "warehouse", "expectations"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    doc = run(args.scale, args.repeat, args.work_dir)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    out = args.out_dir / f"{args.scale}_postgres.json"
    out.write_text(json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    print(f"{args.scale}: PostgreSQL publication median {doc.get('postgres_publish_seconds')} s over {args.repeat} "
          f"({doc.get('postgres_rows_total')} rows; file publication {doc.get('file_publish_seconds')} s in the "
          f"same run) {doc.get('postgres_note', '')}\nwritten: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
