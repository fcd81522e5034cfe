"""Alerts people receive: a failed run, a blocked gate, a publication, overdue submissions and a corrupt
warehouse set aside, each as one message (`Message`: Chinese first, then English; what happened and what to do
next), which `alert` writes to the alerts file (`pipeline.alerts`, one JSON line, for monitoring) and sends
through the configured channels: an e-mail (the SMTP provider's `SmtpNotifier`) and a group-robot message
(`WebhookNotifier`: DingTalk and WeCom robots take the same `{"msgtype": "text"}` body). What the file records
is what is sent: one source for both.

Configured in one place, `foundation.config` (`PREFAB_ALERT_*`): a channel with no setting sends nothing, and
with none set only the JSON line is written. The DAGs attach `PrefabNotifier(event)` as a task callback:
failures of any task ("failed", told as "gate_blocked" when the gate blocked the publication), the announce
task's success ("published": it succeeds only when publish made a new publication) and the nightly summary's
success ("overdue": units whose monthly buildings file is missing for a month that has ended, per the dbt model
`dq.missing_submissions`; each unit-month is announced once, the ones announced are remembered in
`overdue_notified.json` in the data folder). `pipeline.recovery` alerts a corrupt warehouse through `alert`.

A notifier never raises: Airflow would only log it, and a channel that fails must not keep the others from
sending; what failed is logged with the message, and the JSON line names the channels that took it.
"""

from __future__ import annotations

import html
import json
import logging
import os
import tempfile
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from airflow.sdk.bases.notifier import BaseNotifier

from foundation.config import Settings, settings
from pipeline.alerts import FALLBACK_NAME, append_alert

log = logging.getLogger(__name__)

EVENTS = ("failed", "published", "overdue")  # the callbacks' events; a failure of the gate is told as "gate_blocked"
SMTP_CONN_ID = "prefab_alert_smtp"  # the Airflow connection made from PREFAB_ALERT_SMTP_URL
OVERDUE_STATE = "overdue_notified.json"
PREFIX = "【装配式建筑统计】"  # DingTalk robots with a keyword check: make the keyword 装配式
MAX_LISTED = 20


@dataclass(frozen=True)
class Message:
    event: str
    subject: str
    body: str  # plain text: Chinese, then English


def _open(path):
    """A read-only DuckDB connection (imported here: parsing the DAG file imports this module, not DuckDB)."""
    import duckdb

    from foundation.db import DUCKDB_CONFIG

    return duckdb.connect(str(path), read_only=True, config=DUCKDB_CONFIG)


def _local(at: datetime, s: Settings) -> str:
    return at.astimezone(ZoneInfo(s.timezone)).strftime("%Y-%m-%d %H:%M")


def failure_message(s: Settings, run_id: str, task_id: str, error: BaseException | str | None,
                    dag_id: str | None = "prefab_nightly") -> Message:
    """A failed task. The gate's blocked publication (`pipeline.stages.StageFailed` or `GateBlocked`, which name
    the blocking checks) is told with the gate's own message (`publishing.gate.blocked_text`: what failed, the
    steward page of the run, the next step)."""
    text = str(error or "")
    blocking = getattr(error, "blocking", None)
    if blocking is not None:
        count = len(blocking) or "若干"
        body = (f"运行 {run_id}（{dag_id}）的发布被质量闸门拦截：{count} 项阻断性检查未通过。\n"
                f"Run {run_id} ({dag_id}): the gate blocked the publication.\n\n{text[:4000]}")
        return Message("gate_blocked", f"{PREFIX}发布被拦截：{count} 项阻断性检查未通过", body)
    what = ("本次通报未生成，报表数据库不受影响" if dag_id == "prefab_bulletin"
            else "本次未发布，分析人员看到的仍是上一版 reporting.duckdb")
    body = (f"运行 {run_id}（{dag_id}）在任务「{task_id}」失败，{what}。\n"
            f"错误：{text[:2000]}\n\n"
            f"下一步：运维人员在 Airflow 中打开该任务的日志查明原因（磁盘、权限、数据库被占用等），排除后清除（Clear）"
            f"该任务重跑；原因未排除前无需重复重跑。\n\n"
            f"Run {run_id} of {dag_id} failed at task {task_id}. Next: read the task log in Airflow, fix the "
            f"cause, then clear the task to rerun it.")
    return Message("failed", f"{PREFIX}运行失败：{dag_id} 任务 {task_id}", body)


def published_message(s: Settings, run_id: str) -> Message | None:
    """The publication of `run_id`, from the published file's own `publication` table; None when the run
    published nothing new (unchanged content)."""
    if not s.reporting_path.exists():
        return None
    con = _open(s.reporting_path)
    try:
        row = con.execute("""
            select publication_id, published_at, data_as_of, submissions_included, checks_passed, checks_warned,
                content_checksum
            from publication where run_id = ? order by publication_id desc limit 1""", [run_id]).fetchone()
    finally:
        con.close()
    if row is None:
        return None
    pid, at, as_of, included, passed, warned, checksum = row
    body = (f"第 {pid} 版报表数据库已发布（运行 {run_id}，{_local(at.replace(tzinfo=UTC), s)} 北京时间）。\n"
            f"数据截至：{as_of}；纳入报送 {included} 份；检查通过 {passed} 项，警告 {warned} 项。\n"
            f"文件：{s.reporting_path}（校验和 {checksum[:16]}）\n\n"
            f"下一步：分析人员重新打开 reporting.duckdb 即可看到新数据；"
            f"有警告时请数据管理员在 {s.steward_url('/')} 查看。\n\n"
            f"Publication {pid} is live (run {run_id}); {warned} warnings. Analysts: reopen reporting.duckdb.")
    return Message("published", f"{PREFIX}第 {pid} 版报表数据已发布", body)


def overdue_submissions(s: Settings, today: datetime | None = None) -> list[tuple[str, str, str]]:
    """(unit_code, unit_name_zh, 'YYYY-MM') of the buildings files missing for a month that has ended (in
    Asia/Shanghai), from `dq.missing_submissions`; [] when the warehouse or the model is not there yet."""
    if not s.warehouse_path.exists():
        return []
    today = (today or datetime.now(UTC)).astimezone(ZoneInfo(s.timezone)).date()
    con = _open(s.warehouse_path)
    try:
        exists = con.execute("select count(*) from duckdb_tables() where schema_name = 'dq' "
                             "and table_name = 'missing_submissions'").fetchone()[0] or con.execute(
            "select count(*) from duckdb_views() where schema_name = 'dq' "
            "and view_name = 'missing_submissions'").fetchone()[0]
        if not exists:
            return []
        rows = con.execute("""
            select unit_code, unit_name_zh, strftime(month, '%Y-%m')
            from dq.missing_submissions
            where is_missing and month < date_trunc('month', cast(? as date))
            order by month, unit_code""", [today]).fetchall()
    finally:
        con.close()
    return [tuple(r) for r in rows]


def overdue_message(s: Settings, run_id: str, today: datetime | None = None) -> Message | None:
    """The unit-months newly overdue since the last overdue alert (remembered in the data folder); None when
    there are none. Remembering them is part of building the message: call it once per alert."""
    overdue = overdue_submissions(s, today)
    state = s.data_dir / OVERDUE_STATE
    announced = set(json.loads(state.read_text(encoding="utf-8"))) if state.exists() else set()
    keys = {f"{code}:{month}" for code, _, month in overdue}
    new = [(c, n, m) for c, n, m in overdue if f"{c}:{m}" not in announced]
    state.parent.mkdir(parents=True, exist_ok=True)
    # Only what is still overdue is kept: a unit that reports and falls behind again is announced again.
    state.write_text(json.dumps(sorted(keys & announced | {f"{c}:{m}" for c, _, m in new})), encoding="utf-8")
    if not new:
        return None
    listed = "\n".join(f"  - {name or code}（{code}）{month}" for code, name, month in new[:MAX_LISTED])
    more = f"\n  …… 另 {len(new) - MAX_LISTED} 项" if len(new) > MAX_LISTED else ""
    body = (f"截至运行 {run_id}，新增 {len(new)} 项逾期未报（共 {len(overdue)} 项），即已结束月份的"
            f"月度建筑报表尚未收到：\n{listed}{more}\n\n"
            f"下一步：请数据管理员在 {s.steward_url('/')} 的报送日历中核对，并联系相关县区尽快报送"
            f"（无项目的月份也须报送零报表）。\n\n"
            f"{len(new)} unit-months newly overdue ({len(overdue)} in all): monthly buildings files not received "
            f"for months that have ended. Next: stewards chase the units (a zero report counts).")
    return Message("overdue", f"{PREFIX}催报：{len(new)} 项月报逾期未报", body)


class WebhookNotifier(BaseNotifier):
    """POST a text message to a DingTalk or WeCom group robot (`{"msgtype": "text", "text": {"content": ...}}`,
    which both accept); their errors come back as HTTP 200 with a non-zero `errcode`, raised here."""

    template_fields = ()

    def __init__(self, url: str, content: str, timeout: float = 10.0):
        super().__init__()
        self.url, self.content, self.timeout = url, content, timeout

    def notify(self, context) -> None:
        data = json.dumps({"msgtype": "text", "text": {"content": self.content}}, ensure_ascii=False).encode()
        request = urllib.request.Request(self.url, data=data, method="POST",
                                         headers={"Content-Type": "application/json; charset=utf-8"})
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - operator's URL
            answer = response.read().decode("utf-8", "replace")
        try:
            code = json.loads(answer).get("errcode", 0) if answer.strip() else 0
        except (ValueError, AttributeError):
            code = 0
        if code:
            raise RuntimeError(f"webhook answered errcode {code}: {answer[:500]}")


def notifiers(s: Settings, message: Message) -> list[BaseNotifier]:
    """The configured channels for one message (none when nothing is set)."""
    chosen: list[BaseNotifier] = []
    if s.alert_email_to and s.alert_smtp_url:
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        # The SMTP provider reads its server from an Airflow connection; PREFAB_ALERT_SMTP_URL is that
        # connection's URI, given to Airflow the way it reads connections from the environment.
        os.environ[f"AIRFLOW_CONN_{SMTP_CONN_ID.upper()}"] = s.alert_smtp_url
        content = f"<pre style=\"font-family: sans-serif; white-space: pre-wrap\">{html.escape(message.body)}</pre>"
        chosen.append(SmtpNotifier(to=list(s.alert_email_to), from_email=s.alert_email_from,
                                   subject=message.subject, html_content=content, smtp_conn_id=SMTP_CONN_ID))
    if s.alert_webhook_url:
        chosen.append(WebhookNotifier(s.alert_webhook_url, f"{message.subject}\n{message.body}"))
    return chosen


def deliver(s: Settings, message: Message, context: dict | None = None) -> list[str]:
    """Send `message` through every configured channel; the names of those that took it."""
    sent = []
    for notifier in notifiers(s, message):
        name = type(notifier).__name__
        try:
            notifier.notify(context or {})
        except Exception:  # noqa: BLE001 - one channel down must not silence the others
            log.exception("prefab alert not sent by %s: %s", name, message.subject)
            continue
        sent.append(name)
    return sent


def alert(s: Settings, message: Message, fields: dict | None = None, context: dict | None = None) -> dict:
    """Send `message` through the configured channels and append it to the alerts file, with `fields` (run,
    task, the whole error) and the channels that took it; returns that record."""
    sent = deliver(s, message, context)
    record = {"at": datetime.now(UTC).isoformat(), "event": message.event, **(fields or {}),
              "subject": message.subject, "message": message.body, "sent": sent}
    append_alert(record, s.alerts_path)
    log.info("prefab alert %s: %s (sent by %s)", message.event, message.subject, ", ".join(sent) or "nothing")
    return record


class PrefabNotifier(BaseNotifier):
    """The task callback of one event of `EVENTS`: builds its message from the task's context and the data,
    then `alert`s it (the alerts file and the configured channels)."""

    template_fields = ()

    def __init__(self, event: str):
        super().__init__()
        if event not in EVENTS:
            raise ValueError(f"unknown alert event {event!r}; one of {', '.join(EVENTS)}")
        self.event = event

    def message(self, s: Settings, context: dict) -> Message | None:
        run_id = str(context.get("run_id"))
        if self.event == "failed":
            ti = context.get("task_instance") or context.get("ti")
            return failure_message(s, run_id, getattr(ti, "task_id", "?"), context.get("exception"),
                                   getattr(ti, "dag_id", None))
        if self.event == "published":
            return published_message(s, run_id)
        return overdue_message(s, run_id)

    def notify(self, context) -> None:
        ti = context.get("task_instance") or context.get("ti")
        fields = {"dag_id": getattr(ti, "dag_id", None), "run_id": context.get("run_id"),
                  "task_id": getattr(ti, "task_id", None)}
        if self.event == "failed":
            fields["error"] = str(context.get("exception"))[:4000]
            log.error("prefab run failed: %s", fields)
        try:
            s = settings()
        except Exception as exc:  # noqa: BLE001 - a broken setting must not lose a failure's alert
            log.critical("prefab settings unreadable for the alert %s (%s)", self.event, exc)
            append_alert({"at": datetime.now(UTC).isoformat(), "event": self.event, **fields},
                         Path(tempfile.gettempdir()) / FALLBACK_NAME)
            return
        try:
            message = self.message(s, context)
        except Exception as exc:  # noqa: BLE001 - never raise from a callback; a failure is still recorded
            log.exception("prefab alert %s could not be built", self.event)
            if self.event != "failed":
                return
            message = Message("failed", f"{PREFIX}运行失败：任务 {fields['task_id']}",
                              f"{fields['error']}\n(alert text could not be built: {exc})")
        if message is not None:
            alert(s, message, fields, context)
