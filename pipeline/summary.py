"""What a run did, in words an operator reads: where the data is, what was loaded and rejected, and a
few headline indicators from the published reporting database."""

from __future__ import annotations

from datetime import UTC
from urllib.parse import quote
from zoneinfo import ZoneInfo

import duckdb

from bulletin.render import bulletins_dir, listing
from foundation.config import Settings
from foundation.db import DUCKDB_CONFIG, connect_warehouse
from publishing.postgres import target_name
from publishing.unchanged import skipped_in

MAX_LISTED = 10  # files or warnings named in the summary; the steward pages have all of them


def _fmt_area(m2: float | None) -> str:
    return "—" if m2 is None else f"{float(m2) / 10000:,.2f} 万m²"


def _fmt_pct(p: float | None) -> str:
    return "—" if p is None else f"{float(p):.2f} %"


def _not_yet_taken(settings: Settings, recorded: set[str]) -> list[str]:
    """Files in the landing zone the ledger has no record of (discover left them for a later run)."""
    landing = settings.landing_dir
    if not landing.is_dir():
        return []
    return sorted(p.relative_to(landing).as_posix() for p in landing.rglob("*")
                  if (p.is_file() or p.is_symlink()) and p.relative_to(landing).as_posix() not in recorded)


def postgres_target_line(con, target: str, timezone: str) -> str:
    """The PostgreSQL target's latest state (`dq.publication_targets`), in a line; its time (recorded in UTC)
    read in `timezone`, as the file publication's line reads it."""
    last = con.execute("select publication_id, status, detail, recorded_at from dq.publication_targets "
                       "where target = ? order by recorded_at desc limit 1", [target]).fetchall()
    if not last:
        return f"PostgreSQL {target}: nothing published there yet"
    pid, status, detail, at = last[0]
    if status == "complete":
        at = at.replace(tzinfo=UTC).astimezone(ZoneInfo(timezone))
        return f"PostgreSQL {target}: publication {pid} complete ({detail}; {at:%Y-%m-%d %H:%M:%S} {timezone})"
    return (f"PostgreSQL {target}: publication {pid} MISSING there ({detail}); rerun the publish task to "
            f"complete it")


def _one_line(text: str | None, width: int = 160) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[:width - 1] + "…"


def _quarantine_pages(con, settings: Settings) -> list[str]:
    """The files with open quarantined rows, each with its steward page (where the rows are decided)."""
    files = con.execute("""
        select q.submission_id, l.file_name, count(*) as open_rows
        from dq.quarantined_rows as q
        left join dq.submission_ledger as l using (submission_id)
        where q.status = 'open'
        group by all
        order by open_rows desc, l.file_name
        """).fetchall()
    if not files:
        return []
    lines = [f"  待处理的隔离行在 {len(files)} 个文件中，请在各文件的页面上处理（make steward）"
             f"(open quarantined rows in {len(files)} files; decide them on each file's page):"]
    lines += [f"    {name}: {n} rows  {settings.steward_url(f'/submissions/{sid}')}"
              for sid, name, n in files[:MAX_LISTED]]
    if len(files) > MAX_LISTED:
        more = len(files) - MAX_LISTED
        lines.append(f"    …另有 {more} 个文件 (and {more} more files): {settings.steward_url('/ledger')}")
    return lines


def _warnings(con, settings: Settings, run_id: str) -> list[str]:
    """The run's warnings, by name (submission checks and gate checks): they never block, a steward follows
    them up on the run's page."""
    rows = con.execute("""
        select stage, check_name, failing_rows, detail
        from dq.check_results
        where run_id = ? and status = 'warn'
        order by stage desc, check_name""", [run_id]).fetchall()
    if not rows:
        return []
    page = settings.steward_url(f"/runs/{quote(run_id, safe='')}")
    lines = [f"警告 {len(rows)} 项（不阻断发布），请在运行页面跟进 (warnings, never blocking: {len(rows)}; "
             f"follow them up at {page}):"]
    lines += [f"  - {name} ({stage}, {n} rows): {_one_line(detail)}" for stage, name, n, detail in rows[:MAX_LISTED]]
    if len(rows) > MAX_LISTED:
        more = len(rows) - MAX_LISTED
        lines.append(f"  …另有 {more} 项，见运行页面 (and {more} more on that page)")
    return lines


def summary_text(settings: Settings, run_id: str | None = None) -> str:
    lines = ["", "Prefab warehouse", f"  landing zone : {settings.landing_dir}",
             f"  warehouse    : {settings.warehouse_path}", f"  reporting    : {settings.reporting_path}",
             f"  archive      : {settings.archive_dir}", ""]
    with connect_warehouse(settings, read_only=True) as con:
        where = "where run_id = ?" if run_id else ""
        params = [run_id] if run_id else []
        lines.append("Submissions" + (" received in this run" if run_id else "") + ":")
        by_status = con.execute(f"""
            select kind, status, count(*), sum(rows_received), sum(rows_loaded), sum(rows_quarantined),
                sum(rows_ignored)
            from dq.submission_ledger
            {where}
            group by all
            order by 1, 2""", params).fetchall()
        if not by_status:
            lines.append("  nothing new")
        for kind, status, files, rec, ok, bad, ign in by_status:
            lines.append(f"  {kind:<17} {status:<10} {files:>5} files  rows: {rec:>7} received, {ok:>7} loaded, "
                         f"{bad:>5} quarantined, {ign:>4} totals/notes")
        rejected = con.execute(f"""
            select file_name, reason
            from dq.submission_ledger
            {where + (' and' if where else 'where')} status = 'rejected'
            order by file_name
            limit 10""", params).fetchall()
        for name, reason in rejected:
            lines.append(f"  rejected {name}: {reason}")
        waiting = _not_yet_taken(settings, {r[0] for r in con.execute(
            "select landing_path from dq.submission_files").fetchall()})
        if waiting:
            lines.append(f"  waiting: {len(waiting)} landed files not taken yet (modified less than "
                         f"{settings.landing_settle_seconds:g} s ago, or changing while archived: still being "
                         f"written, perhaps); the next run takes them, e.g. {', '.join(waiting[:3])}")
        q = con.execute("select count(*) filter (where status = 'open'), count(*) from dq.quarantined_rows").fetchone()
        lines.append(f"  quarantined rows: {q[0]} open of {q[1]} in all")
        lines += _quarantine_pages(con, settings)
        gate = con.execute("""
            select count(*) filter (where status = 'pass'), count(*) filter (where status = 'warn'),
                count(*) filter (where status = 'fail')
            from dq.check_results
            where run_id = ? and stage = 'gate'""", [run_id or ""]).fetchone()
        skipped = skipped_in(settings, run_id)
        if skipped:
            lines.append(f"Build / 构建: {skipped}")
            lines.append("Gate: skipped (nothing changed) / 质量门禁：已跳过（无变化）")
        elif run_id:
            lines.append(f"Gate: {gate[0]} passed, {gate[1]} warned, {gate[2]} failed")
            lines += _warnings(con, settings, run_id)
        if settings.reporting_postgres_url:
            lines.append(postgres_target_line(con, target_name(settings.reporting_postgres_url), settings.timezone))
    if not settings.reporting_path.exists():
        lines.append("Reporting: nothing published yet")
        return "\n".join(lines)
    rep = duckdb.connect(str(settings.reporting_path), read_only=True, config=DUCKDB_CONFIG)
    try:
        pub = rep.execute("select publication_id, published_at, data_as_of from publication "
                          "order by publication_id desc limit 1").fetchone()
        at = pub[1].replace(tzinfo=UTC).astimezone(ZoneInfo(settings.timezone))  # recorded in UTC; read in Beijing time
        lines.append(f"Reporting: publication {pub[0]} at {at:%Y-%m-%d %H:%M:%S} 北京时间 (Asia/Shanghai), "
                     f"data as of {pub[2]}")
        rows = rep.execute("""
            select u.unit_name_zh, u.unit_name_en, i.as_of_date, i.ytd_prefab_floor_area_m2, i.ytd_prefab_share_pct,
                i.ytd_prefab_yoy_pct, i.target_completion_pct
            from fct_indicators_daily as i
            inner join dim_reporting_unit as u using (unit_code)
            where u.unit_level in ('province', 'city') and u.valid_to is null
                and i.as_of_date = (select max(start_date) from fct_building)
                and (u.unit_level = 'province' or u.unit_code = '330400')
            order by u.unit_level desc, i.unit_code""").fetchall()
        lines.append("Headline indicators (year to date):")
        for zh, en, day, area, share, yoy, done in rows:
            lines.append(f"  {zh} {en} on {day}: new-start prefab {_fmt_area(area)}, share {_fmt_pct(share)}, "
                         f"YoY {_fmt_pct(yoy)}, annual task {_fmt_pct(done)} done")
    finally:
        rep.close()
    lines.append(_bulletins_line(settings, pub[0], pub[2]))
    return "\n".join(lines)


def _bulletins_line(settings: Settings, publication_id: int, data_as_of) -> str:
    """Where the bulletins of the newest publication are (prefab_bulletin writes them after this run)."""
    made = [m for m in listing(settings) if m.get("publication_id") == publication_id]
    where = bulletins_dir(settings) / f"<unit_code>_{data_as_of}"
    page = settings.steward_url("/bulletins")
    return (f"通报：第{publication_id}次发布的全省和各市通报由 prefab_bulletin 写入 {where}/bulletin.html|pdf，"
            f"已生成 {len(made)} 份，可在 {page} 查看 (bulletins of publication {publication_id}: "
            f"{where}/bulletin.html|pdf, written by the prefab_bulletin DAG for the province and every city; "
            f"{len(made)} made so far; on the steward app at {page})")
