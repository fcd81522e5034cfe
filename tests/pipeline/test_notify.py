"""Alerts people receive, through the real channels: an e-mail to a local SMTP server (aiosmtpd) by the SMTP
provider's notifier, and a DingTalk/WeCom-style webhook to a local HTTP receiver; nothing is sent when nothing is
set; each message is in Chinese and says what happened and what to do next."""

from __future__ import annotations

import email
import email.policy
import json
import re
import socket
import threading
import types
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import duckdb
import pytest

from expectations.results import CheckResult
from pipeline.notify import OVERDUE_STATE, PrefabNotifier, notifiers, overdue_message
from pipeline.stages import Stage, StageFailed, run_task
from publishing.gate import GateResult, enforce

RUN = "scheduled__2026-12-01T18:00:00+00:00"


def _context(task_id: str, exception: BaseException | None = None) -> dict:
    ti = types.SimpleNamespace(dag_id="prefab_nightly", task_id=task_id)
    return {"task_instance": ti, "run_id": RUN, "exception": exception}


@pytest.fixture
def smtp_server():
    """A local SMTP server (aiosmtpd) on a free port: its port and the messages it received."""
    from aiosmtpd.controller import Controller

    received: list[email.message.EmailMessage] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            message["X-Envelope-To"] = ",".join(envelope.rcpt_tos)
            received.append(message)
            return "250 OK"

    with socket.socket() as probe:  # aiosmtpd's Controller cannot take port 0 (it connects to check it is up)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, received
    finally:
        controller.stop()


@pytest.fixture
def webhook_receiver():
    """A local HTTP receiver answering like a DingTalk robot: its URL, the JSON bodies it got, and a switch
    making it answer an error."""
    received: list[dict] = []
    answer = {"errcode": 0, "errmsg": "ok"}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length).decode("utf-8")))
            body = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/robot/send?access_token=t", received, answer
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def channels(data_env, monkeypatch, smtp_server, webhook_receiver):
    port, mails = smtp_server
    url, posts, answer = webhook_receiver
    monkeypatch.setenv("PREFAB_ALERT_EMAIL_TO", "li.wei@example.cn, ops@example.cn")
    monkeypatch.setenv("PREFAB_ALERT_EMAIL_FROM", "prefab@example.cn")
    monkeypatch.setenv("PREFAB_ALERT_SMTP_URL", f"smtp://127.0.0.1:{port}?disable_ssl=true&disable_tls=true")
    monkeypatch.setenv("PREFAB_ALERT_WEBHOOK_URL", url)
    monkeypatch.setenv("PREFAB_STEWARD_URL", "https://steward.example.cn/")
    from foundation.config import settings

    return types.SimpleNamespace(mails=mails, posts=posts, answer=answer, settings=settings())


def _body(mail: email.message.EmailMessage) -> str:
    return mail.get_body(preferencelist=("html", "plain")).get_content()


def _alerts(data_env) -> list[dict]:
    path = data_env.data_dir / "alerts.jsonl"
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def _publication(path, run_id: str, publication_id: int = 3) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    con.execute("""create table publication (publication_id integer, run_id varchar, published_at timestamp,
        data_as_of date, submissions_included integer, checks_passed integer, checks_warned integer,
        content_checksum varchar)""")
    con.execute("insert into publication values (?, ?, ?, ?, ?, ?, ?, ?)",
                [publication_id, run_id, datetime(2026, 12, 1, 18, 30), datetime(2026, 11, 30).date(), 41, 57, 2,
                 "ab" * 32])
    con.close()


def test_nothing_is_sent_when_nothing_is_set(data_env, smtp_server, webhook_receiver):
    from pipeline.notify import failure_message

    assert notifiers(data_env, failure_message(data_env, RUN, "load", "disk full")) == []
    _publication(data_env.reporting_path, RUN)
    PrefabNotifier("published").notify(_context("publish"))
    assert smtp_server[1] == [] and webhook_receiver[1] == []
    (record,) = _alerts(data_env)  # the alerts file still has it, for monitoring
    assert (record["event"], record["sent"]) == ("published", [])


BLOCKING = [CheckResult("gx.reconciliation_prefab_floor_area", "error", "fail", 3, "3 unit-months differ"),
            CheckResult("gx.range_floor_area", "error", "fail", 1, "1 building over 1e7 m2")]


def blocked_stage(settings, run_id):
    enforce(GateResult(BLOCKING), settings, run_id)


def _blocked_gate(settings) -> StageFailed:
    """What the gate task raises when blocking checks failed (`pipeline.stages.run_task` of a blocked gate)."""
    with pytest.raises(StageFailed) as failed:
        run_task(Stage("gate", f"{__name__}.blocked_stage", "blocks"), settings, RUN)
    return failed.value


def test_a_blocked_gate_mails_and_posts_the_gates_own_message(channels):
    blocked = _blocked_gate(channels.settings)
    PrefabNotifier("failed").notify(_context("gate", blocked))

    (mail,) = channels.mails
    assert mail["Subject"] == "【装配式建筑统计】发布被拦截：2 项阻断性检查未通过"
    assert mail["From"] == "prefab@example.cn"
    assert mail["X-Envelope-To"] == "li.wei@example.cn,ops@example.cn"
    body = _body(mail)
    assert body.index("发布被质量闸门拦截") < body.index("gate blocked")  # Chinese first
    assert "gx.reconciliation_prefab_floor_area" in body and "gx.range_floor_area" in body
    assert "下一步" in body and "https://steward.example.cn/runs/scheduled__2026-12-01" in body
    (post,) = channels.posts
    assert post["msgtype"] == "text"
    assert post["text"]["content"].startswith("【装配式建筑统计】发布被拦截")
    # One source: the alerts file records the message sent, and the gate's message is in it whole.
    (record,) = _alerts(channels.settings)
    assert record["event"] == "gate_blocked" and record["error"] == str(blocked)
    assert str(blocked) in record["message"]
    assert post["text"]["content"] == f"{record['subject']}\n{record['message']}"
    assert record["sent"] == ["SmtpNotifier", "WebhookNotifier"]


def test_a_failed_task_says_which_and_what_to_do(channels):
    PrefabNotifier("failed").notify(_context("load", OSError(28, "No space left on device")))
    (mail,) = channels.mails
    assert mail["Subject"] == "【装配式建筑统计】运行失败：prefab_nightly 任务 load"
    body = _body(mail)
    assert "No space left on device" in body and "任务「load」" in body and "Clear" in body
    assert channels.posts[0]["text"]["content"].startswith("【装配式建筑统计】运行失败：prefab_nightly 任务 load")
    (record,) = _alerts(channels.settings)
    assert (record["event"], record["task_id"], record["dag_id"]) == ("failed", "load", "prefab_nightly")


def test_a_corrupt_warehouse_set_aside_is_sent_as_well_as_recorded(channels):
    from pipeline.recovery import set_aside_if_corrupt

    s = channels.settings
    s.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    s.warehouse_path.write_bytes(b"\0not a database" * 1024)
    moved = set_aside_if_corrupt(s, "r9")
    (mail,) = channels.mails
    assert mail["Subject"] == "【装配式建筑统计】仓库文件损坏，已移开并重建"
    assert moved.name in _body(mail) and "Next step" in _body(mail)
    (record,) = _alerts(s)
    assert (record["event"], record["run_id"], record["moved_to"]) == ("warehouse_corrupt", "r9", str(moved))
    assert channels.posts[0]["text"]["content"] == f"{record['subject']}\n{record['message']}"


def test_a_publication_is_announced_with_its_figures(channels):
    s = channels.settings
    _publication(s.reporting_path, RUN, publication_id=3)
    PrefabNotifier("published").notify(_context("publish"))
    (mail,) = channels.mails
    assert mail["Subject"] == "【装配式建筑统计】第 3 版报表数据已发布"
    body = _body(mail)
    # 18:30 UTC is 02:30 the next day in Beijing.
    assert "2026-12-02 02:30" in body and "纳入报送 41 份" in body and "警告 2 项" in body
    (record,) = _alerts(s)
    assert record["event"] == "published" and record["sent"] == ["SmtpNotifier", "WebhookNotifier"]


def test_a_run_that_published_nothing_new_announces_nothing(channels):
    _publication(channels.settings.reporting_path, "an_earlier_run")
    PrefabNotifier("published").notify(_context("publish"))
    assert channels.mails == [] and channels.posts == [] and _alerts(channels.settings) == []


def test_a_channel_that_fails_does_not_silence_the_other(channels, caplog):
    channels.answer["errcode"] = 310000  # DingTalk: keyword or signature check failed
    PrefabNotifier("failed").notify(_context("dbt_build", RuntimeError("dbt exited 2")))
    assert len(channels.mails) == 1 and len(channels.posts) == 1
    assert "errcode 310000" in caplog.text


def _missing(path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    con.execute("create schema if not exists dq")
    con.execute("create or replace table dq.missing_submissions (unit_code varchar, unit_name_zh varchar, "
                "month date, is_missing boolean)")
    con.executemany("insert into dq.missing_submissions values (?, ?, cast(? as date), ?)", rows)
    con.close()


def test_overdue_submissions_are_announced_once_each(channels):
    s = channels.settings
    today = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
    _missing(s.warehouse_path, [
        ("330402", "南湖区", "2026-10-01", True),
        ("330411", "秀洲区", "2026-11-01", True),
        ("330421", "嘉善县", "2026-12-01", True),  # this month: not due yet
        ("330424", "海盐县", "2026-10-01", False),  # arrived
    ])
    first = overdue_message(s, RUN, today)
    assert first.subject == "【装配式建筑统计】催报：2 项月报逾期未报"
    assert "南湖区（330402）2026-10" in first.body and "秀洲区（330411）2026-11" in first.body
    assert "嘉善县" not in first.body and "海盐县" not in first.body
    assert overdue_message(s, RUN, today) is None  # already announced

    # 秀洲区 reports; in January 嘉善县's December is overdue: only it is new.
    _missing(s.warehouse_path, [
        ("330402", "南湖区", "2026-10-01", True),
        ("330411", "秀洲区", "2026-11-01", False),
        ("330421", "嘉善县", "2026-12-01", True),
    ])
    january = overdue_message(s, RUN, datetime(2027, 1, 3, tzinfo=UTC))
    assert january.subject.endswith("1 项月报逾期未报") and "嘉善县（330421）2026-12" in january.body
    assert "南湖区" not in january.body
    assert sorted(json.loads((s.data_dir / OVERDUE_STATE).read_text())) == ["330402:2026-10", "330421:2026-12"]


def test_the_overdue_alert_goes_through_the_channels(channels):
    s = channels.settings
    _missing(s.warehouse_path, [("330402", "南湖区", "2020-01-01", True)])
    PrefabNotifier("overdue").notify(_context("summary"))
    (mail,) = channels.mails
    assert "南湖区（330402）2020-01" in _body(mail) and "零报表" in _body(mail)
    assert [r["event"] for r in _alerts(s)] == ["overdue"]
    PrefabNotifier("overdue").notify(_context("summary"))
    assert len(channels.mails) == 1  # nothing new: nothing sent


def test_no_warehouse_yet_means_no_overdue_alert(channels):
    PrefabNotifier("overdue").notify(_context("summary"))
    assert channels.mails == [] and channels.posts == []


@pytest.mark.slow
def test_after_a_real_run_the_publication_and_the_overdue_units_are_announced(channels):
    """A real run of the stages on sample submissions (every Jiaxing unit, each month of 2021): the publication
    is announced with its number, and the overdue list is what the generator left out (every month since
    2022-01 for the Jiaxing units; every month for the units that sent nothing), judged from its own files."""
    from sample_data import generate
    from tests.helpers.nightly import nightly_without_airflow

    s = channels.settings
    zone = generate(s.landing_dir, seed=11, years=(2021,), units="jiaxing", buildings_per_month=1, bad=False)
    publication = nightly_without_airflow(s, "r1")
    assert publication.published
    PrefabNotifier("published").notify({**_context("publish"), "run_id": "r1"})
    (mail,) = channels.mails
    assert mail["Subject"] == f"【装配式建筑统计】第 {publication.publication_id} 版报表数据已发布"
    assert publication.content_checksum[:16] in _body(mail)

    overdue = overdue_message(s, "r1")
    now = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai"))
    last_ended = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    months_since_2022 = [f"{y}-{m:02d}" for y in range(2022, last_ended[0] + 1) for m in range(1, 13)
                         if (y, m) <= last_ended]
    sent = {(f.unit_code, f.period) for f in zone.files if f.kind == "buildings" and f.expected_outcome == "loaded"}
    listed = set(re.findall(r"（(\d{6})）(\d{4}-\d{2})", overdue.body))  # the first MAX_LISTED, oldest first
    assert listed and not listed & sent
    for unit in zone.unit_codes:
        assert {(unit, f"2021-{m:02d}") for m in range(1, 13)} <= sent, unit  # the generator sent all of 2021
    total = int(re.search(r"共 (\d+) 项", overdue.body).group(1))
    state = set(json.loads((s.data_dir / OVERDUE_STATE).read_text()))
    assert len(state) == total
    assert {f"{u}:{m}" for u in zone.unit_codes for m in months_since_2022} <= state
    assert not {f"{u}:{p}" for u, p in sent} & state
