"""The steward app's one message catalogue: every text a page, a message or an export header shows, in
Simplified Chinese (the default: the users are county, city and province housing staff) and in English.

Why a Python catalogue and not gettext .po/.mo files: both languages of a message sit side by side under one
key, so a missing or stale translation shows in the same diff, and a test (tests/steward/test_steward_i18n.py)
checks that every key has both and that both use the same `{placeholders}`; there is no compiled .mo to
forget in a clean clone's build, and no extraction step. Babel (in the lock) would add plural rules, which
Chinese does not need and the English texts avoid. Templates call `t("key", name=value)`; Python code calls
`text(lang, "key", ...)`. Times are shown in Asia/Shanghai (`local_time`), the zone named in the headers.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
LANGUAGE_COOKIE = "prefab_lang"
SHANGHAI = ZoneInfo("Asia/Shanghai")

MESSAGES: dict[str, dict[str, str]] = {
    # --- frame and navigation -------------------------------------------------------------------------------
    "app_name": {"zh": "装配式建筑数据仓库 · 数据管理员", "en": "Prefab warehouse · stewards"},
    "app_title": {"zh": "数据管理员", "en": "Data stewards"},
    "nav_runs": {"zh": "运行", "en": "Runs"},
    "nav_ledger": {"zh": "报送台账", "en": "Ledger"},
    "nav_missing": {"zh": "缺报日历", "en": "Missing submissions"},
    "nav_history": {"zh": "决定记录", "en": "Decisions"},
    "nav_docs": {"zh": "校验报告", "en": "Data Docs"},
    "nav_bulletins": {"zh": "通报", "en": "Bulletins"},
    "sign_out": {"zh": "退出", "en": "Sign out"},
    "switch_language": {"zh": "English", "en": "中文"},
    "with_tz": {"zh": "{label}（北京时间）", "en": "{label} (Beijing time, Asia/Shanghai)"},
    "back": {"zh": "返回", "en": "Back"},
    "back_to_runs": {"zh": "返回运行列表", "en": "Back to the runs"},
    "none": {"zh": "无", "en": "none"},
    "any": {"zh": "全部", "en": "any"},
    "role_steward": {"zh": "数据管理员", "en": "steward"},
    "role_viewer": {"zh": "只读", "en": "viewer"},
    # --- sign-in and errors ---------------------------------------------------------------------------------
    "sign_in": {"zh": "登录", "en": "Sign in"},
    "user": {"zh": "用户名", "en": "User"},
    "password": {"zh": "密码", "en": "Password"},
    "wrong_password": {"zh": "用户名或密码错误。", "en": "Unknown user or wrong password."},
    "too_many_attempts": {"zh": "登录尝试过多，请在 {minutes} 分钟后重试。",
                          "en": "Too many sign-in attempts; try again in {minutes} minutes."},
    "sign_in_first": {"zh": "请先登录", "en": "Sign in first"},
    "not_signed_in": {"zh": "您尚未登录，或会话已结束，请登录后重试。",
                      "en": "You are not signed in, or your session has ended. Sign in and try again."},
    "not_allowed": {"zh": "不允许", "en": "Not allowed"},
    "viewer_cannot_decide": {"zh": "{name} 只能查看，不能做决定：做决定需要数据管理员（steward）角色。",
                             "en": "{name} may look but not decide: decisions need the steward role."},
    "request_refused": {"zh": "请求被拒绝", "en": "Request refused"},
    "warehouse_busy": {"zh": "数据仓库忙", "en": "Warehouse busy"},
    "busy_text": {"zh": "夜间运行正在写入数据仓库，请一分钟后重试。",
                  "en": "The nightly run is writing the warehouse; try again in a minute."},
    "warehouse_error": {"zh": "数据仓库错误", "en": "Warehouse error"},
    "warehouse_error_text": {"zh": "数据仓库无法生成此页面，错误已写入应用日志。",
                             "en": "The warehouse could not answer this page; the error is in the app's log."},
    "not_found": {"zh": "未找到", "en": "Not found"},
    "error": {"zh": "出错了", "en": "Error"},
    "unexpected_text": {"zh": "出现意外错误，错误已写入应用日志。",
                        "en": "Something went wrong; the error is in the app's log."},
    "no_run": {"zh": "没有记录运行 {run_id}。", "en": "No run {run_id} is recorded."},
    "no_submission": {"zh": "台账中没有报送 {submission_id}。", "en": "No submission {submission_id} in the ledger."},
    "no_docs_page": {"zh": "没有这个校验报告页面（报告由夜间运行生成）。",
                     "en": "No such Data Docs page (the site is built by the nightly run)."},
    "no_docs_asset": {"zh": "没有这个校验报告资源文件。", "en": "No such Data Docs asset."},
    # --- decisions ------------------------------------------------------------------------------------------
    "decision_not_recorded": {"zh": "决定未记录", "en": "Decision not recorded"},
    "note_placeholder": {"zh": "说明（必填）", "en": "note (required)"},
    "note_for": {"zh": "{target} 的说明", "en": "note for {target}"},
    "decision_waive_check": {"zh": "豁免此检查", "en": "Waive this check"},
    "effect_waive_check": {"zh": "下一次运行即使此检查仍失败也会发布；发布记录会写明此豁免。",
                           "en": "The next run publishes even if this check still fails; the publication "
                                 "records the waiver."},
    "decision_reopen": {"zh": "撤销决定", "en": "Undo the decision"},
    "effect_reopen_check": {"zh": "豁免撤销：此检查失败时将再次阻止发布。",
                            "en": "The waiver is withdrawn: this check blocks publication again while it fails."},
    "decision_exclude_row": {"zh": "不计入统计数据", "en": "Exclude from the figures"},
    "effect_exclude_row": {"zh": "此行不计入发布的统计数据，问题结案；原始值仍保留在隔离区。",
                           "en": "This row stays out of the published figures and the case is closed; the "
                                 "values as received stay in quarantine."},
    "effect_reopen_row": {"zh": "重新列为待处理；此行仍不计入统计数据。",
                          "en": "Listed as open again; the row still stays out of the figures."},
    "decision_accept_row": {"zh": "接受并入库", "en": "Accept and load"},
    "effect_accept_row": {"zh": "接受并入库：下次夜间运行时按原值计入统计（按其开工日期计入相应月份）。",
                          "en": "Accepted and loaded: the next nightly run counts the row in the figures as "
                                "reported (in the month of its start date)."},
    "effect_reopen_accepted_row": {"zh": "重新列为待处理；下次夜间运行时此行移出统计数据。",
                                   "en": "Listed as open again; the next nightly run takes the row back out of "
                                         "the figures."},
    "accept_not_allowed": {"zh": "此行违反的规则不允许数据管理员接受，只能不计入或请县里重新报送。",
                           "en": "The rules this row breaks do not let a steward accept it: exclude it or ask "
                                 "the county to resubmit."},
    "decision_resubmit": {"zh": "请县里重新报送", "en": "Ask the county to resubmit"},
    "effect_resubmit": {"zh": ("在更正文件到达前，统计数据保持不变（隔离行不计入）；"
                               "更正文件到达后将在下一次发布中替换本文件。"),
                        "en": "The figures stay as they are (quarantined rows out) until the corrected file "
                              "arrives; the next publication after that uses the new file instead of this one."},
    "decision_reject_file": {"zh": "记录为拒收", "en": "Record as refused"},
    "effect_reject_file": {"zh": "仅作记录：统计数据不变，已加载的行仍计入，直到县里报送新文件。",
                           "en": "A record only: the figures do not change; loaded rows stay in until the "
                                 "county sends a new file."},
    "effect_reopen_file": {"zh": "撤销对本文件的决定。", "en": "Withdraws the decision on this file."},
    "project_failure": {"zh": "项目本身的问题（{kind}），不能在此豁免：须由运维人员修复模型后重新运行。",
                        "en": "A failure of the project itself ({kind}); it cannot be waived here: an "
                              "operator must fix the model and run again."},
    "project_failure_refused": {"zh": ("{check} 是项目本身的问题（模型错误、单元测试或契约），"
                                       "不能豁免：须由运维人员修复模型。"),
                                "en": "{check} is a failure of the project itself (a model error, a unit test "
                                      "or a contract); it cannot be waived: an operator must fix the model."},
    "skipped_refused": {"zh": "{check} 是因上游失败而被跳过的节点，没有单独的决定：修复导致它的失败即可。",
                        "en": "{check} was skipped because of a failure upstream; it has no decision of its "
                              "own: fix the failure that caused it."},
    "kind_model": {"zh": "模型错误", "en": "model error"},
    "kind_unit_test": {"zh": "单元测试失败", "en": "unit test failed"},
    "kind_seed": {"zh": "参考数据错误", "en": "seed error"},
    "kind_snapshot": {"zh": "快照错误", "en": "snapshot error"},
    # --- overview -------------------------------------------------------------------------------------------
    "open_failures": {"zh": "未解决的发布检查失败", "en": "Open gate failures"},
    "no_gate_yet": {"zh": "尚无发布检查运行。", "en": "No gate has run yet."},
    "latest_gate_clean": {"zh": "最近一次发布检查（运行 {run}）没有阻止发布的失败。",
                          "en": "The latest gate (run {run}) has no failing blocking checks."},
    "latest_gate": {"zh": "最近一次发布检查：运行 {run}，{when}（北京时间）。",
                    "en": "Latest gate: run {run}, {when} (Beijing time)."},
    "blocks_publication": {"zh": "阻止发布", "en": "blocks publication"},
    "waived_by": {"zh": "已由 {name} 豁免", "en": "waived by {name}"},
    "next_run_may_publish": {"zh": "（下一次运行可以发布）", "en": "(the next run may publish)"},
    "skipped_because": {"zh": "另有 {n} 个节点因此被跳过", "en": "{n} nodes skipped because of it"},
    "resubmissions_waiting": {"zh": "已请求重新报送、尚未收到", "en": "Resubmissions requested, not yet received"},
    "requested_by": {"zh": "请求人", "en": "Requested by"},
    "latest_runs": {"zh": "最近的运行", "en": "Latest runs"},
    "no_runs": {"zh": "尚无运行记录。", "en": "No run recorded yet."},
    "col_run": {"zh": "运行", "en": "Run"},
    "col_started": {"zh": "开始时间", "en": "Started"},
    "col_files": {"zh": "文件", "en": "Files"},
    "col_rows_loaded": {"zh": "加载行数", "en": "Rows loaded"},
    "col_rows_quarantined": {"zh": "隔离行数", "en": "Rows quarantined"},
    "col_gate": {"zh": "发布检查", "en": "Gate"},
    "col_outcome": {"zh": "结果", "en": "Outcome"},
    "gate_not_reached": {"zh": "未执行", "en": "not reached"},
    "gate_summary": {"zh": "{checks} 项检查，{failed} 项阻止发布", "en": "{checks} checks, {failed} blocking failures"},
    "gate_waived": {"zh": "（{n} 项已豁免）", "en": " ({n} waived)"},
    "outcome_published": {"zh": "已发布", "en": "published"},
    "outcome_blocked": {"zh": "被阻止", "en": "blocked"},
    "outcome_no gate": {"zh": "未到发布检查", "en": "no gate"},
    "outcome_not published": {"zh": "未发布", "en": "not published"},
    "published_number": {"zh": "已发布（第 {n} 次）", "en": "published (#{n})"},
    "published_detail": {"zh": "已发布（第 {n} 次发布，{when} 北京时间）",
                         "en": "published (publication #{n}, {when} Beijing time)"},
    # --- run page -------------------------------------------------------------------------------------------
    "run_title": {"zh": "运行 {run}", "en": "Run {run}"},
    "outcome": {"zh": "结果", "en": "Outcome"},
    "run_counts": {"zh": "处理 {files} 个文件：{loaded} 行已加载，{quarantined} 行被隔离。",
                   "en": "{files} files processed: {loaded} rows loaded, {quarantined} rows quarantined."},
    "to_act_on": {"zh": "需要处理的检查", "en": "Checks to act on"},
    "nothing_to_act_on": {"zh": "没有失败或警告的检查。", "en": "No check failed or warned."},
    "warnings": {"zh": "警告（不阻止发布）", "en": "Warnings (do not block publication)"},
    "passing_checks": {"zh": "通过的检查（{n} 项）", "en": "Passing checks ({n})"},
    "no_checks": {"zh": "此运行没有检查记录。", "en": "No checks recorded for this run."},
    "stage_gate": {"zh": "发布检查", "en": "gate"},
    "stage_submission": {"zh": "报送检查", "en": "submission check"},
    "severity_error": {"zh": "阻止发布", "en": "blocking"},
    "severity_warn": {"zh": "警告", "en": "warning"},
    "status_fail": {"zh": "失败", "en": "failed"},
    "status_warn": {"zh": "警告", "en": "warned"},
    "status_pass": {"zh": "通过", "en": "passed"},
    "failing_rows": {"zh": "{n} 行不符合", "en": "{n} failing rows"},
    "about": {"zh": "涉及", "en": "About"},
    "report": {"zh": "校验报告", "en": "Data Docs"},
    "files_with_rows": {"zh": "有隔离行的文件", "en": "files with quarantined rows"},
    "skipped_nodes": {"zh": "{n} 个 dbt 节点因此被跳过（修复上面的问题后会自动重新运行，无需单独处理）",
                      "en": "{n} dbt nodes skipped because of this (they run again once it is fixed; no "
                            "action of their own)"},
    "skipped_unknown": {"zh": "被跳过的节点（上游原因未知）", "en": "Skipped nodes (upstream cause unknown)"},
    "col_check": {"zh": "检查", "en": "Check"},
    "col_stage": {"zh": "阶段", "en": "Stage"},
    "col_detail": {"zh": "说明", "en": "Detail"},
    "submissions_processed": {"zh": "处理的报送文件", "en": "Submissions processed"},
    "problem_files": {"zh": "共处理 {total} 个文件，以下 {n} 个被拒收或有隔离行。",
                      "en": "{total} files processed; the {n} below were rejected or have quarantined rows."},
    "all_files_of_run": {"zh": "在台账中查看全部文件", "en": "All of them in the ledger"},
    "no_files_processed": {"zh": "此运行没有处理文件。", "en": "No file was processed by this run."},
    # --- ledger ---------------------------------------------------------------------------------------------
    "ledger_title": {"zh": "报送台账", "en": "Submission ledger"},
    "col_unit": {"zh": "单位", "en": "Unit"},
    "col_period": {"zh": "期间", "en": "Period"},
    "col_status": {"zh": "状态", "en": "Status"},
    "col_kind": {"zh": "类型", "en": "Kind"},
    "col_level": {"zh": "单位级别", "en": "Unit level"},
    "col_reason": {"zh": "原因", "en": "Reason"},
    "col_received": {"zh": "收到时间", "en": "Received"},
    "col_file": {"zh": "文件", "en": "File"},
    "col_rows": {"zh": "行数", "en": "Rows"},
    "col_loaded": {"zh": "已加载", "en": "Loaded"},
    "col_quarantined": {"zh": "隔离", "en": "Quarantined"},
    "col_ignored": {"zh": "忽略", "en": "Ignored"},
    "col_warnings": {"zh": "警告", "en": "Warnings"},
    "filter": {"zh": "筛选", "en": "Filter"},
    "only_quarantined": {"zh": "仅有隔离行的", "en": "only with quarantined rows"},
    "only_warnings": {"zh": "仅有警告的", "en": "only with warnings"},
    "reason_contains": {"zh": "原因包含", "en": "Reason contains"},
    "ledger_count": {"zh": "{n} 个文件", "en": "{n} files"},
    "ledger_limited": {"zh": "（只显示最新的 {limit} 个，请缩小筛选范围）",
                       "en": " (the newest {limit}; narrow the filter)"},
    "of_run": {"zh": "运行 {run} 中的", "en": "of run {run}"},
    "status_loaded": {"zh": "已加载", "en": "loaded"},
    "status_rejected": {"zh": "拒收", "en": "rejected"},
    "status_superseded": {"zh": "已被替换", "en": "superseded"},
    "status_duplicate": {"zh": "重复", "en": "duplicate"},
    "level_province": {"zh": "省", "en": "province"},
    "level_city": {"zh": "市", "en": "city"},
    "level_county": {"zh": "县（区）", "en": "county"},
    "level_zone": {"zh": "功能区", "en": "zone"},
    "kind_buildings": {"zh": "建筑项目", "en": "buildings"},
    "kind_production_bases": {"zh": "生产基地", "en": "production bases"},
    "kind_targets": {"zh": "目标", "en": "targets"},
    # --- submission -----------------------------------------------------------------------------------------
    "submission_summary": {"zh": "{kind} · 单位 {unit} · 期间 {period} · 收到 {received}（北京时间）",
                           "en": "{kind} · unit {unit} · period {period} · received {received} (Beijing time)"},
    "submission_rows": {"zh": "共 {received} 行：{loaded} 行已加载，{quarantined} 行隔离，{ignored} 行忽略",
                        "en": "{received} rows: {loaded} loaded, {quarantined} quarantined, {ignored} ignored"},
    "resubmission_requested": {"zh": "已请求重新报送，本单位本期尚未收到更新的文件。",
                               "en": "A resubmission has been requested and no newer file for this unit and period "
                                     "has arrived yet."},
    "decision_on_file": {"zh": "对整个文件的决定", "en": "Decision on the whole file"},
    "quarantined_rows": {"zh": "隔离的行", "en": "Quarantined rows"},
    "download_rows": {"zh": "下载这些行（电子表格）", "en": "Download these rows as a spreadsheet"},
    "download_rows_why": {"zh": "供县里更正后重新报送。", "en": "for the county to correct and send back."},
    "col_row": {"zh": "行号", "en": "Row"},
    "col_reasons": {"zh": "问题", "en": "Reasons"},
    "col_values": {"zh": "收到的值", "en": "Values as received"},
    "col_decision": {"zh": "决定及其对统计数据的影响", "en": "Decision and what it does to the figures"},
    "row_open": {"zh": "待处理（不计入统计数据）", "en": "open (not in the figures)"},
    "row_waived": {"zh": "不计入统计数据（{name}：{note}）", "en": "excluded from the figures by {name}: {note}"},
    "row_fixed": {"zh": "已由更正文件替换", "en": "fixed by a corrected file"},
    "row_accepted": {"zh": "已接受，按原值计入统计数据（{name}：{note}）",
                     "en": "accepted by {name}, in the figures as reported: {note}"},
    "no_quarantined_rows": {"zh": "此文件没有被隔离的行。", "en": "No row of this file was quarantined."},
    "decisions": {"zh": "决定", "en": "Decisions"},
    # --- history --------------------------------------------------------------------------------------------
    "history_title": {"zh": "数据管理员的决定", "en": "Steward decisions"},
    "history_intro": {"zh": "所有决定，最新的在前。决定不会被修改；同一对象上较新的决定生效。",
                      "en": "Every decision, newest first. Decisions are never edited; a later one on the same "
                            "target is in force."},
    "col_when": {"zh": "时间", "en": "When"},
    "col_who": {"zh": "人员", "en": "Who"},
    "col_on": {"zh": "对象", "en": "On"},
    "col_note": {"zh": "说明", "en": "Note"},
    "no_decisions": {"zh": "尚无决定。", "en": "No decision recorded."},
    "target_quarantined_row": {"zh": "隔离行", "en": "quarantined row"},
    "target_check": {"zh": "检查", "en": "check"},
    "target_submission": {"zh": "报送文件", "en": "submission"},
    "history_waive": {"zh": "豁免 / 不计入", "en": "waive / exclude"},
    "history_reject": {"zh": "记录为拒收", "en": "recorded as refused"},
    "history_request_resubmission": {"zh": "请求重新报送", "en": "resubmission requested"},
    "history_reopen": {"zh": "撤销决定", "en": "decision undone"},
    "history_accept": {"zh": "接受并入库", "en": "accepted and loaded"},
    # --- missing submissions --------------------------------------------------------------------------------
    "missing_title": {"zh": "缺报日历", "en": "Missing submissions"},
    "calendar_not_built": {"zh": "缺报日历（dbt 模型 dq.missing_submissions）由夜间运行生成，尚未生成。",
                           "en": "The calendar (dbt model dq.missing_submissions) is built by the nightly run; "
                                 "no run has built it yet."},
    "calendar_empty": {"zh": "尚无应报送的单位。", "en": "No unit is expected to report yet."},
    "calendar_intro": {"zh": ("各单位月度建筑项目文件：✓ 已收到（零报告也算），✗ 缺报，点击 ✗ 查看该单位的台账。"
                              "只显示已到报送期的月份。"),
                       "en": "Each unit's monthly buildings file: ✓ arrived (a zero report counts), ✗ missing; "
                             "follow a ✗ to the unit's ledger. Only months that are due are shown."},
    "year": {"zh": "年份", "en": "Year"},
    "col_missing": {"zh": "缺报月数", "en": "Missing"},
    "city_total": {"zh": "{city} 合计：{n} 个缺报", "en": "{city}: {n} missing"},
    "missing_cell": {"zh": "缺报", "en": "missing"},
    "rejected_files": {"zh": "，{n} 个文件被拒收", "en": ", {n} rejected file(s)"},
    "zero_report": {"zh": "零报告", "en": "zero report"},
    "arrived": {"zh": "已收到", "en": "arrived"},
    "not_expected": {"zh": "· = 不需报送（该单位当时尚未设立）。", "en": "· = not expected (before the unit existed)."},
    "no_due_months": {"zh": "{year} 年尚无到期的月份。", "en": "No month of {year} is due yet."},
    # --- bulletins (steward/bulletins.py) -------------------------------------------------------------------
    "bulletins_title": {"zh": "通报", "en": "Bulletins"},
    "bulletins_intro": {"zh": ("每次发布后由 prefab_bulletin 生成全省和各市的通报（截至该次发布的数据日期）；"
                               "也可用 make bulletin UNIT=单位代码 DATE=日期 生成任一单位的通报。通报正文为中文。"),
                        "en": "After each publication prefab_bulletin writes the province's and every city's "
                              "bulletin (as of the publication's data date); make bulletin UNIT=code DATE=date "
                              "writes any unit's. The bulletins themselves are in Chinese."},
    "bulletins_publication": {"zh": "第{publication_id}次发布", "en": "Publication {publication_id}"},
    "col_unit_code": {"zh": "代码", "en": "Code"},
    "col_as_of": {"zh": "截至", "en": "As of"},
    "col_data_as_of": {"zh": "数据截至", "en": "Data as of"},
    "bulletin_web_page": {"zh": "网页", "en": "web page"},
    "bulletin_pdf": {"zh": "PDF 文件", "en": "PDF"},
    "no_bulletins": {"zh": "尚无通报：发布之后由 prefab_bulletin 生成。",
                     "en": "No bulletin yet: prefab_bulletin writes them after a publication."},
    "no_bulletin_file": {"zh": "没有这份通报文件（通报由 prefab_bulletin 在每次发布后生成）。",
                         "en": "No such bulletin file (prefab_bulletin writes the bulletins after each publication)."},
}

ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
CONTROL_NAMES = {0: "NUL", 7: "BEL", 8: "BS", 11: "VT", 12: "FF", 27: "ESC", 127: "DEL"}


def plain(value: object) -> object:
    """Text as a person should read it on a page: terminal colour codes (dbt's output has them) removed, and any
    other control character (a submitter's ESC or BEL) shown by name, so nothing a terminal would act on is ever
    rendered. Non-text values unchanged."""
    if not isinstance(value, str):
        return value
    value = ANSI.sub("", value)
    return CONTROL.sub(lambda m: f"<{CONTROL_NAMES.get(ord(m.group()), f'U+{ord(m.group()):04X}')}>", value)


def text(lang: str, key: str, **values: object) -> str:
    """The message `key` in `lang` (Chinese for an unknown language), its placeholders filled."""
    entry = MESSAGES[key]
    message = entry.get(lang) or entry[DEFAULT_LANGUAGE]
    return message.format(**values) if values else message


def has(key: str) -> bool:
    return key in MESSAGES


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The page language: the switch's cookie if set, else the browser's first preference among zh and en
    (Accept-Language, by q-value), else Chinese."""
    if cookie in LANGUAGES:
        return cookie
    preferences = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        base = tag.strip().lower().split("-")[0]
        if base in LANGUAGES and q > 0:
            preferences.append((-q, position, base))
    return min(preferences)[2] if preferences else DEFAULT_LANGUAGE


def local_time(value: datetime | None, seconds: bool = False, zone: ZoneInfo = SHANGHAI) -> str:
    """A recorded time (naive UTC, as the warehouse stores it) in the bureaus' zone (Settings.timezone,
    Asia/Shanghai)."""
    if value is None:
        return ""
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    return aware.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
