"""The publication gate: every check on the candidate marts, recorded in `dq.check_results`.

Blocking (`error`) failures stop publication unless a steward has waived that check since the last
publication; `warn` results never block. Checks: every dbt node (models must build, data tests and
unit tests pass; a node dbt skipped because something upstream failed says which), the Great Expectations
reconciliation of the marts against the accepted raw rows, and the range, plausibility and anomaly checks
of `expectations.gate_rules` on the candidate marts. A run's results are recorded in one transaction: all
of them or, if the run dies, none.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote

import pandas as pd

from expectations.results import CheckResult, format_value
from foundation import bilingual
from foundation.config import Settings
from foundation.db import connect_warehouse
from foundation.journal import CHECK_TABLES
from foundation.journal import sync as sync_journal
from publishing.build import DbtBuild, DbtNodeResult, last_build
from publishing.collapse import collapse_checks
from publishing.unchanged import record_gate_passed

log = logging.getLogger(__name__)


@dataclass
class GateResult:
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def blocking(self) -> list[CheckResult]:
        return [c for c in self.checks if c.severity == "error" and c.status == "fail" and not c.waived_by]

    @property
    def passed(self) -> bool:
        return not self.blocking


FAILED = ("error", "fail", "runtime error")
# Failures of the project itself, not of the data: a model that does not build (a contract failure included),
# a unit test, a seed or a snapshot. No steward waiver lets them through; an operator fixes the model.
PROJECT_RESOURCES = ("model", "unit_test", "seed", "snapshot")
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")  # dbt colours its messages (unit test diffs) for a terminal
MAX_EXAMPLES = 20  # failing rows named in a check's detail (all of them are counted)
SKIPPED_PREFIX = "skipped: "  # the English part of a skipped node's detail starts so (a detail stored before
SKIPPED_PREFIX_ZH = "已跳过："  # the details were bilingual is English only), the Chinese part so
DBT_MESSAGE_CHARS = 1800  # of dbt's own message, in each part of a dbt node's detail
# What a failing dbt node of each resource type is, for the Chinese lead-in to dbt's own (English) message.
_RESOURCE_ZH = {"model": "dbt 模型", "test": "dbt 数据测试", "unit_test": "dbt 单元测试", "seed": "dbt 种子表",
                "snapshot": "dbt 快照"}


def _check_name(n: DbtNodeResult) -> str:
    return f"dbt.{n.resource_type}.{n.name}"


def project_resource(check_name: str) -> str | None:
    """The dbt resource type if the check is one of the project itself (`dbt.model.x` -> 'model'), else None."""
    prefix, _, rest = check_name.partition(".")
    resource = rest.partition(".")[0]
    return resource if prefix == "dbt" and resource in PROJECT_RESOURCES else None


def is_skipped(detail: str | None) -> bool:
    """Whether the detail is that of a node dbt skipped: English only (as stored before the details were
    bilingual) or Chinese first (`foundation.bilingual`)."""
    return bool(detail) and (bilingual.part(detail, "en").startswith(SKIPPED_PREFIX)
                             or detail.startswith(SKIPPED_PREFIX_ZH))


def skip_causes(detail: str | None) -> list[str] | None:
    """The checks whose failure made dbt skip this one (from its detail, English only or Chinese first), or
    None if it was not skipped."""
    if not is_skipped(detail):
        return None
    match = (re.search(r"because (.+?) failed upstream", bilingual.part(detail, "en"))
             or re.search(r"因为上游的 (.+?) 未通过", bilingual.part(detail, "zh")))
    return [name.strip() for name in match.group(1).split(",")] if match else []


def skipped_detail(causes: list[str]) -> str:
    """The detail of a node dbt skipped because `causes` (check names) failed upstream, Chinese first."""
    if not causes:
        return bilingual.join(f"{SKIPPED_PREFIX_ZH}dbt 没有运行它（上游原因不明）",
                              f"{SKIPPED_PREFIX}dbt did not run it (upstream cause unknown)")
    names = ", ".join(causes)
    return bilingual.join(f"{SKIPPED_PREFIX_ZH}dbt 没有运行它，因为上游的 {names} 未通过；修复后，下次构建会自动"
                          "重新运行（无需单独处理）",
                          f"{SKIPPED_PREFIX}dbt did not run it because {names} failed upstream; fix that and it runs "
                          "again on the next build (no separate action needed)")


def _node_detail(n: DbtNodeResult, status: str) -> str:
    """dbt's own message as dbt wrote it (colours removed), after a Chinese lead-in saying what the node is and
    how it ended."""
    message = ANSI.sub("", n.message or n.status)[:DBT_MESSAGE_CHARS]
    what = f"{_RESOURCE_ZH.get(n.resource_type, 'dbt ' + n.resource_type)} {n.name}"
    if status == "pass":
        lead = f"{what} 通过"
    elif status == "warn":
        lead = f"{what} 发出警告（{n.failures or 0} 行，不阻止发布）"
    elif n.resource_type == "test":
        lead = f"{what} 未通过：{n.failures or 0} 行不符合"
    elif n.resource_type in PROJECT_RESOURCES:
        lead = f"{what} 失败：这是模型本身的问题，由运维人员修复，不能豁免"
    else:
        lead = f"{what} 失败"
    return bilingual.join(f"{lead}（以下为 dbt 的原文）：{message}", message)


def may_waive(check_name: str, detail: str | None) -> bool:
    """Whether a steward may waive this failing check: data checks yes; failures of the project itself no, and a
    skipped node has no decision of its own (it follows the failures that caused it)."""
    return project_resource(check_name) is None and skip_causes(detail) is None


def _ancestors(uid: str, parents: dict[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    stack = list(parents.get(uid, []))
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(parents.get(node, []))
    return seen


def _skip_causes(build: DbtBuild) -> dict[str, list[str]]:
    """For each skipped node: the failed nodes that made dbt skip it (a failed ancestor, or a failed test
    or unit test on the node itself or on an ancestor)."""
    failed = [n for n in build.nodes if n.status in FAILED]
    causes = {}
    for n in build.nodes:
        if n.status != "skipped":
            continue
        upstream = _ancestors(n.unique_id, build.parents) | {n.unique_id}
        causes[n.unique_id] = [_check_name(f) for f in failed
                               if f.unique_id in upstream or set(build.parents.get(f.unique_id, [])) & upstream]
    return causes


def _dbt_checks(build: DbtBuild) -> list[CheckResult]:
    causes = _skip_causes(build)
    checks = []
    for n in build.nodes:
        if n.status in ("success", "pass"):
            status = "pass"
        elif n.status == "warn":
            status = "warn"
        else:
            status = "fail"
        # a skipped node's detail is not cut short: its causes are read back from it (skip_causes)
        detail = skipped_detail(causes.get(n.unique_id) or []) if n.status == "skipped" else _node_detail(n, status)
        checks.append(CheckResult(_check_name(n), "warn" if status == "warn" else n.severity,
                                  status, n.failures, detail))
    return checks


RECONCILIATION_SQL = """
with latest as (
    select *, row_number() over (
        partition by project_code, building_no order by received_at desc, submission_id desc
    ) as rn
    from raw.buildings
),
-- by the month a building started, as the figures count it: the file's period for every row that passed the
-- submission checks (start_date_in_period), not for a late row a steward accepted (ingestion/accepted.py)
accepted as (
    select unit_code, cast(date_trunc('month', start_date) as date) as month, count(*) as buildings,
        sum(prefab_floor_area_m2) as prefab
    from latest
    where rn = 1
    group by all
),
published as (
    select unit_code, month, sum(building_count) as buildings, sum(prefab_floor_area_m2) as prefab
    from marts.fct_prefab_floor_area_monthly
    where unit_code in (select unit_code from accepted)
    group by all
)
select coalesce(a.unit_code, p.unit_code) as unit_code, coalesce(a.month, p.month) as month,
    coalesce(a.buildings, 0) as accepted_buildings, coalesce(p.buildings, 0) as published_buildings,
    coalesce(a.prefab, 0)::double as accepted_prefab_m2, coalesce(p.prefab, 0)::double as published_prefab_m2
from accepted as a
full join published as p on a.unit_code = p.unit_code and a.month = p.month
"""


def _reconciliation(settings: Settings) -> list[CheckResult]:
    """Reporting totals equal the accepted raw rows, per unit and month (validated with GX)."""
    from expectations.gx_context import gx_modules, run_suite

    with connect_warehouse(settings, read_only=True) as con:
        frame = con.execute(RECONCILIATION_SQL).df()
    if frame.empty:
        return [CheckResult("gx.reconciliation", "error", "pass", 0,
                            bilingual.join("还没有已接受的单体建筑行", "no accepted building rows yet"))]
    frame["row_key"] = frame["unit_code"] + " " + pd.to_datetime(frame["month"]).dt.strftime("%Y-%m")
    _, gxe, _ = gx_modules()
    expectations = [
        gxe.ExpectColumnPairValuesToBeEqual(column_A="accepted_buildings", column_B="published_buildings",
                                            meta={"check": "reconciliation_building_count"}),
        gxe.ExpectColumnPairValuesToBeEqual(column_A="accepted_prefab_m2", column_B="published_prefab_m2",
                                            meta={"check": "reconciliation_prefab_floor_area"}),
    ]
    run = run_suite(settings.gx_dir, "candidate_reconciliation", "gate_reconciliation", expectations, frame,
                    ["row_key"], meta={"stage": "gate"}, docs_on_failure_only=True)
    result, url = run.validation, run.page_url  # the reconciliation's own page (built when it failed)
    checks = []
    for r in result.results:
        failing = r.result.get("unexpected_index_list") or []
        keys = [i["row_key"] for i in failing]
        shown = ", ".join(keys[:5])
        detail = (bilingual.join("发布的汇总数与已接受的原始行按单位和月份逐一相等",
                                 "reporting totals equal the accepted raw rows per unit and month") if not keys else
                  bilingual.join(f"{len(keys)} 个单位月份的发布汇总数与已接受的原始行不一致，例如 {shown}",
                                 f"{len(keys)} unit-months differ between reporting and accepted rows, e.g. {shown}"))
        checks.append(CheckResult(f"gx.{r.expectation_config.meta['check']}", "error",
                                "pass" if r.success else "fail", len(keys), detail, url))
    return checks


def _waivers_in_force(con) -> dict[str, tuple[str, str]]:
    """Checks a steward waived since the last publication (`dq.waivers_in_force`): check_name ->
    (reviewer, review_id)."""
    rows = con.execute("select check_name, reviewer, review_id from dq.waivers_in_force").fetchall()
    return {name: (reviewer, review_id) for name, reviewer, review_id in rows}


class GateBlocked(Exception):
    """Raised when blocking checks failed: the run ends failed and nothing is published."""

    def __init__(self, message: str, blocking: list[str] | None = None):
        super().__init__(message)
        self.blocking = blocking or []  # the names of the blocking checks


def _candidate_checks(settings: Settings) -> list[CheckResult]:
    """The range, plausibility and anomaly checks of `expectations.gate_rules`, one GX suite per frame."""
    from expectations.gate_rules import FRAMES, RULES

    with connect_warehouse(settings, read_only=True) as con:  # open throughout: DETAILS look rows up by rowid
        results: dict[str, tuple[bool, set[int], list[str]]] = {}
        frames = {}
        pages: dict[str, str | None] = {}  # frame -> its suite's own Data Docs page (built when a rule failed)
        for frame_name, sql in FRAMES.items():
            rules = [r for r in RULES if r.frame == frame_name]
            frame = con.execute(sql).df()
            if frame.empty:
                results |= {r.name: (True, set(), []) for r in rules}
                continue
            if "row_id" not in frame:
                frame["row_id"] = range(len(frame))
            frames[frame_name] = frame
            validated, pages[frame_name] = _validate_frame(settings, frame_name, frame, rules)
            results |= validated
        checks = []
        for rule in RULES:
            passed, rows, errors = results[rule.name]
            url = pages.get(rule.frame)
            if passed:
                meaning = _both(rule.meaning_zh, rule.meaning)
                checks.append(CheckResult(f"gx.{rule.name}", rule.severity, "pass", 0, meaning, url))
                continue
            example_rows = _example_rows(con, rule.frame, frames[rule.frame], rows)
            shown = [{k: format_value(v) for k, v in row.items()} for row in example_rows]
            examples = [rule.example.format_map(values) for values in shown]
            more = f"; and {len(rows) - MAX_EXAMPLES} more" if len(rows) > MAX_EXAMPLES else ""
            found = f"{len(rows)} found: " + "; ".join(examples) + more if rows else "; ".join(errors) or "failed"
            detail = f"{found}. Check: {rule.meaning}"
            if rule.meaning_zh:
                template_zh = rule.example_zh or rule.example
                examples_zh = [template_zh.format_map({k: format_value(v, "zh") for k, v in row.items()})
                               for row in example_rows]
                more_zh = f"；另有 {len(rows) - MAX_EXAMPLES} 处" if len(rows) > MAX_EXAMPLES else ""
                found_zh = (f"发现 {len(rows)} 处：" + "；".join(examples_zh) + more_zh if rows else
                            f"检查运行出错：{'; '.join(errors)}" if errors else "未通过")
                detail = _both(f"{found_zh}。检查：{rule.meaning_zh}", detail)
            checks.append(CheckResult(f"gx.{rule.name}", rule.severity, "fail" if rule.severity == "error" else "warn",
                                      len(rows), detail[:4000], url))
    return checks


def _both(zh: str, en: str, limit: int = 4000) -> str:
    """`zh` and `en` joined (`foundation.bilingual`), each cut to its half of `limit`; `en` alone without `zh`."""
    if not zh:
        return en[:limit]
    half = (limit - len(bilingual.SEPARATOR)) // 2

    def cut(text: str) -> str:
        return text if len(text) <= half else text[:half - 1] + "…"

    return bilingual.join(cut(zh), cut(en))


def _validate_frame(settings: Settings, frame_name: str, frame: pd.DataFrame, rules: list
                    ) -> tuple[dict[str, tuple[bool, set[int], list[str]]], str | None]:
    """One GX suite over a frame: per rule, (passed, the row_ids failing it, errors raised); and the suite
    run's own Data Docs page."""
    from expectations.gx_context import gx_modules, run_suite

    _, gxe, column = gx_modules()
    expectations = []
    for rule in rules:
        for e in rule.build(gxe, column):
            e.meta = {"check": rule.name}
            expectations.append(e)
    run = run_suite(settings.gx_dir, f"candidate_{frame_name}", f"gate_{frame_name}", expectations, frame,
                    ["row_id"], meta={"stage": "gate"}, docs_on_failure_only=True)
    suite = run.validation
    failing: dict[str, set[int]] = defaultdict(set)
    errors: dict[str, list[str]] = defaultdict(list)
    ok: dict[str, bool] = defaultdict(lambda: True)
    for r in suite.results:
        name = r.expectation_config.meta["check"]
        ok[name] &= bool(r.success)
        failing[name].update(int(i["row_id"]) for i in (r.result.get("unexpected_index_list") or []))
        info = r.exception_info or {}
        if info.get("raised_exception"):
            errors[name].append(str(info.get("exception_message"))[:300])
    return {rule.name: (ok[rule.name], failing[rule.name], errors[rule.name]) for rule in rules}, run.page_url


def _example_rows(con, frame_name: str, frame: pd.DataFrame, rows: set[int]) -> list[dict]:
    """The first MAX_EXAMPLES failing rows of a frame, with the columns its examples show."""
    from expectations.gate_rules import DETAILS

    if frame_name in DETAILS:
        found = con.execute(f"{DETAILS[frame_name]} limit {MAX_EXAMPLES}", {"rows": sorted(rows)}).df()
        return found.to_dict("records")
    by_id = frame.set_index("row_id", drop=False)
    return [by_id.loc[i].to_dict() for i in sorted(rows)[:MAX_EXAMPLES]]


def run_gate(settings: Settings, run_id: str, build: DbtBuild | None = None) -> GateResult:
    """Evaluate every gate check on the candidate (the last dbt build unless given) and record them."""
    gate = GateResult(_dbt_checks(build or last_build(settings)))
    if not any(c.status == "fail" and c.check_name.startswith("dbt.model.") for c in gate.checks):
        gate.checks += _reconciliation(settings)
        gate.checks += _candidate_checks(settings)
        gate.checks += collapse_checks(settings)  # the candidate against the live reporting.duckdb
    now = datetime.now(UTC).replace(tzinfo=None)
    with connect_warehouse(settings) as con:
        waivers = _waivers_in_force(con)
        con.execute("begin")
        waived_ids: dict[str, str] = {}
        for c in gate.checks:
            if c.status == "fail" and c.check_name in waivers and may_waive(c.check_name, c.detail):
                c.waived_by, waived_ids[c.check_name] = waivers[c.check_name]
        for c in gate.checks:
            causes = skip_causes(c.detail) if c.status == "fail" else None
            if causes and all(cause in waived_ids for cause in causes):  # skipped only because of waived failures
                c.waived_by = waivers[causes[0]][0]
                waived_ids[c.check_name] = waived_ids[causes[0]]
        for c in gate.checks:
            record_check(con, run_id, c, now, waived_ids.get(c.check_name) if c.waived_by else None)
        con.execute("commit")
        sync_journal(con, settings, CHECK_TABLES)
    for c in gate.checks:
        if c.status == "warn":
            log.warning("gate warning %s (%s rows): %s", c.check_name, c.failing_rows, c.detail)
    return gate


def record_check(con, run_id: str, c: CheckResult, checked_at: datetime, waiver_review_id: str | None = None) -> None:
    """One gate result; a failure let through by a waiver names it (`waived_by`, `waiver_review_id`)."""
    con.execute("insert into dq.check_results (run_id, check_name, stage, severity, status, failing_rows, detail, "
                "checked_at, report_url, waived_by, waiver_review_id) values (?, ?, 'gate', ?, ?, ?, ?, ?, ?, ?, ?)",
                [run_id, c.check_name, c.severity, c.status, c.failing_rows, c.detail, checked_at, c.report_url,
                 c.waived_by, waiver_review_id])


@dataclass
class GateSummary:
    """The gate stage's record: whether it passed, how many checks ran, the failed ones (waived included),
    how many warned."""

    passed: bool
    checks: int
    failed: list[dict]
    warned: int


def gate_summary(gate: GateResult) -> GateSummary:
    return GateSummary(passed=gate.passed, checks=len(gate.checks),
                       failed=[asdict(c) for c in gate.checks if c.status == "fail"],
                       warned=sum(1 for c in gate.checks if c.status == "warn"))


def gate(settings: Settings, run_id: str) -> GateSummary:
    """The gate stage: every check on the last dbt build's candidate, recorded; raises `GateBlocked` (failing
    the run) when a blocking check failed."""
    result = run_gate(settings, run_id)
    enforce(result, settings, run_id)
    record_gate_passed(settings, run_id)  # a later run with the same inputs skips (`publishing.unchanged`)
    return gate_summary(result)


DETAIL_CHARS = 240  # of a check's detail in the blocked message (the whole detail is in dq.check_results)


def _one_line(text: str) -> str:
    text = " ".join(ANSI.sub("", text).split())
    return text if len(text) <= DETAIL_CHARS else text[:DETAIL_CHARS - 1] + "…"


def blocked_text(blocking: list[CheckResult], settings: Settings | None = None, run_id: str | None = None) -> str:
    """What an operator reads when the gate blocks (the task log, `make demo`, the alert): what failed, in a
    few lines, then the next step: the steward page of the run, the commands. Chinese first, English after."""
    causes = [c for c in blocking if not is_skipped(c.detail)]
    skipped = [c for c in blocking if is_skipped(c.detail)]
    lines = [f"发布被阻止：{len(causes)} 项阻断性检查未通过，本次未发布，分析人员继续使用上一版 reporting.duckdb。",
             "publication blocked by failing checks (waive or fix them, then rerun); nothing was published.",
             "未通过的检查 (failing checks):"]
    for c in causes:
        zh, en = bilingual.part(c.detail, "zh"), bilingual.part(c.detail, "en")
        if zh == en:  # a detail in one language (dbt's own message, or one stored before): one line
            lines.append(f"- {c.check_name}: {_one_line(c.detail)} ({c.failing_rows} failing rows)")
        else:
            lines += [f"- {c.check_name}：{_one_line(zh)}（{c.failing_rows} 行未通过）",
                      f"  {_one_line(en)} ({c.failing_rows} failing rows)"]
    if skipped:
        lines.append(f"- 另有 {len(skipped)} 个 dbt 节点因上述失败被跳过，无需单独处理 (and {len(skipped)} dbt nodes "
                     f"skipped because of the failures above: {', '.join(c.check_name for c in skipped[:3])}"
                     f"{', ...' if len(skipped) > 3 else ''})")
    page = "数据管理员应用中本次运行的页面 (the steward app's run page)"
    if settings and run_id:
        page = settings.steward_url(f"/runs/{quote(run_id, safe='')}")
    lines.append("下一步 (next step):")
    if any(project_resource(c.check_name) is None for c in causes):
        lines += [f"- 数据问题：数据管理员打开 {page} 查看并处理（make steward 启动该页面）；或 "
                  ".venv/bin/python -m steward review open-failures",
                  "  data: a steward opens that page (make steward) to request a corrected file or waive the check "
                  "with a note (python -m steward review waive-check CHECK_NAME --reviewer NAME --note TEXT)"]
    if any(project_resource(c.check_name) is not None for c in causes):
        dbt_log = settings.data_dir / "dbt" / "logs" / "dbt.log" if settings else "dbt's log"
        lines += [f"- 模型问题（dbt 模型、单元测试、合约，不能豁免）：运维人员修复 dbt_project/ 中的模型，"
                  f"详情见 {dbt_log}",
                  "  model: an operator fixes the model in dbt_project/ (these cannot be waived); dbt's own "
                  "output is in that log"]
    task = "dbt_build" if any(project_resource(c.check_name) is not None for c in causes) else "gate"
    lines += [f"- 然后重跑：make demo，或在 Airflow 中清除 {task} 任务（连同下游任务）",
              f"  then rerun: make demo, or clear the {task} task (with its downstream tasks) in Airflow"]
    return "\n".join(lines)


def enforce(gate: GateResult, settings: Settings | None = None, run_id: str | None = None) -> None:
    if gate.blocking:
        raise GateBlocked(blocked_text(gate.blocking, settings, run_id), [c.check_name for c in gate.blocking])
