"""Hand-written landing zones for the ingestion tests: a buildings header and rows, landing a file with its
mtime, running the ingestion stages (those of `pipeline.stages.STAGES` up to load), reading the ledger."""

from __future__ import annotations

import os
from dataclasses import asdict

import duckdb

from pipeline.stages import run_stages

HEADER = ("填报单位代码,统计期,项目代码,项目名称,单体编号,开工日期,建筑类别,结构体系,总建筑面积(m2),装配式建筑面积(m2),"
          "主体结构得分,围护墙和内隔墙得分,装修和设备管线得分,全装修\n")


def row(unit: str, period: str, project: str, no: str, day: str, total: str, prefab: str) -> str:
    return f"{unit},{period},{project},项目{project},{no},{day},居住建筑,装配式混凝土,{total},{prefab},30,15,20,是\n"


def land(settings, name: str, text: str, mtime: int, kind: str = "buildings", encoding: str = "utf-8") -> None:
    path = settings.landing_dir / kind / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    os.utime(path, (mtime, mtime))


def run(settings, run_id: str) -> dict:
    """The ingestion stages (discover to load), as the DAG runs them: stage name -> its record as a dict."""
    return {name: asdict(record) for name, record in run_stages(settings, run_id, last="load").items()}


def ledger(settings) -> dict[str, tuple]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        rows = con.execute("select file_name, status, rows_received, rows_loaded, rows_quarantined, rows_ignored, "
                           "reason from dq.submission_ledger").fetchall()
    finally:
        con.close()
    return {r[0]: r[1:] for r in rows}

