"""The warehouse lock: one writer at a time across processes, a clear message naming the holder, and no stale
lock after the holder dies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from foundation.config import PROJECT_ROOT
from foundation.lock import WarehouseBusy, warehouse_lock

HOLDER = textwrap.dedent("""
    import sys, time
    from foundation.config import settings
    from foundation.lock import warehouse_lock
    with warehouse_lock(settings(), owner=sys.argv[1]):
        print("held", flush=True)
        line = sys.stdin.readline()  # held until told (or killed)
        if line.strip():
            time.sleep(float(line))
    print("released", flush=True)
""")


@pytest.fixture
def holder(data_env):
    """Start a process holding the lock as run `manual__A`; yields the Popen."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, "manual__A"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=PROJECT_ROOT, env=env)
    try:
        assert proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def test_second_process_is_refused_with_the_holder_named(data_env, holder):
    with pytest.raises(WarehouseBusy) as err, warehouse_lock(data_env, owner="manual__B"):
        pytest.fail("the lock was taken twice")
    message = str(err.value)
    assert "being written by run manual__A" in message
    assert f"pid {holder.pid}" in message
    assert err.value.holder["owner"] == "manual__A" and err.value.holder["pid"] == holder.pid
    assert "wait for it to finish" in message.lower()


def test_lock_is_free_after_the_holder_is_killed(data_env, holder):
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=10)
    # the dead holder's record may still be in the file: it must not matter
    with warehouse_lock(data_env, owner="manual__B") as me:
        assert me["pid"] == os.getpid()
        assert json.loads(data_env.lock_path.read_text())["owner"] == "manual__B"
    assert data_env.lock_path.read_text() == ""  # released: nobody is named any more


def test_wait_seconds_waits_for_the_holder_then_succeeds(data_env, holder):
    holder.stdin.write("1.0\n")  # the holder keeps the lock about one more second
    holder.stdin.flush()
    start = time.monotonic()
    with warehouse_lock(data_env, owner="manual__B", wait_seconds=30):
        waited = time.monotonic() - start
    assert 0.5 < waited < 20
    assert holder.stdout.readline().strip() == "released"


def test_wait_seconds_gives_up_after_the_wait(data_env, holder):
    start = time.monotonic()
    with pytest.raises(WarehouseBusy, match="after waiting"), warehouse_lock(data_env, owner="B", wait_seconds=0.6):
        pass
    assert time.monotonic() - start >= 0.6


def test_released_on_exception_and_reusable(data_env):
    with pytest.raises(RuntimeError), warehouse_lock(data_env, owner="r1"):
        raise RuntimeError("stage failed")
    with warehouse_lock(data_env, owner="r2"):
        pass
