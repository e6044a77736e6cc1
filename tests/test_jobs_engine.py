"""Issue 4: the job engine's parts in-process: ids, durations, redaction, liveness, index, pruning, runner."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from cli_recover.engine import proc
from cli_recover.engine.model import iso, new_job_id, parse_duration, redact, redact_argv, redact_text
from cli_recover.engine.runner import JobSpec, _child_argv, run_as_job
from cli_recover.engine.store import JobStore, history_max_age
from cli_recover.errors import Cancelled, RecoverError, UsageError
from tests.jobs_helpers import cli

SPEC = JobSpec("backup", "test", {"kind": "local", "path": "/data"}, {"level": 3, "db_password": "s3cr3t"})


def _args(**kw):
    return SimpleNamespace(background=False, job_id=None, _argv=["backup", "--local", "/data"], **kw)


def test_job_ids_are_short_unique_and_sort_by_time():
    ids = [new_job_id() for _ in range(2000)]
    assert len(set(ids)) == 2000 and all(len(i) == 12 and i.isalnum() and i.islower() for i in ids)
    assert ids == sorted(ids)  # strictly increasing within a process, even inside one millisecond
    t = time.time()
    stamped = [new_job_id(t + k) for k in (0, 0.002, 1, 60, 86400 * 400)]
    assert stamped == sorted(stamped)


@pytest.mark.parametrize("text,seconds", [("7d", 7 * 86400), ("12h", 43200), ("30m", 1800), ("2w", 14 * 86400),
                                          ("45s", 45), ("1d12h", 129600), ("0", 0), (" 1.5h ", 5400)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "7", "7x", "d", "-1d", "1d 2h", "7days"])
def test_bad_durations(text):
    with pytest.raises(UsageError, match="bad duration"):
        parse_duration(text)


def test_redaction():
    opts = {"level": 3, "password": "p", "db-password": "p", "accessToken": "t", "s3": {"secret_key": "k"},
            "keep_last": 2, "url": "s3://user:pw@host/bucket", "monkey": "banana", "empty_password": None}
    assert redact(opts) == {"level": 3, "password": "***", "db-password": "***", "accessToken": "***",
                            "s3": {"secret_key": "***"}, "keep_last": 2, "url": "s3://user:***@host/bucket",
                            "monkey": "banana", "empty_password": None}
    assert redact_argv(["backup", "--password", "p", "--token=t", "--level", "3", "-o", "x"]) == [
        "backup", "--password", "***", "--token=***", "--level", "3", "-o", "x"]
    assert redact_text("connect with hunter22 now", ["hunter22"]) == "connect with *** now"


def test_child_argv_drops_background_and_adopts_the_record():
    assert _child_argv(["backup", "filesystem", "--local", "/x", "--background", "-q"], "abc") == [
        "backup", "filesystem", "--local", "/x", "-q", "--job-id", "abc"]
    assert _child_argv(["verify", "--backg", "a.tar", "--", "--background"], "abc") == [
        "verify", "a.tar", "--job-id", "abc", "--", "--background"]


def test_a_reused_pid_or_a_reboot_is_never_taken_for_the_job():
    store = JobStore()
    me = proc.identity()
    assert proc.is_alive(me["pid"], me["pid_start"], me["boot_id"])
    assert not proc.is_alive(me["pid"], me["pid_start"] + 1, me["boot_id"])  # same pid, another process
    assert not proc.is_alive(me["pid"], me["pid_start"], "another-boot")
    recs = []
    for identity in (me, {**me, "pid_start": me["pid_start"] - 1}, {**me, "boot_id": "before-reboot"}):
        rec = store.create(kind="backup", provider=None, target={}, options={})
        rec.update(state="running", **identity)
        store.save(rec)
        recs.append(rec)
    remote = store.create(kind="backup", provider=None, target={}, options={})
    remote.update(state="running", pid=me["pid"], pid_start=-5, boot_id="x", host="another-machine")
    store.save(remote)  # a data home shared with another host: it cannot be judged from here
    states = {s["id"]: s["state"] for s in store.summaries()}
    assert [states[r["id"]] for r in recs] == ["running", "failed", "failed"]
    assert states[remote["id"]] == "running"
    assert "disappeared" in store.read(recs[1]["id"])["error"]


def test_a_zombie_is_not_alive():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    ident = proc.identity(p.pid)
    deadline = time.monotonic() + 30
    while proc.start_time(p.pid) is not None and time.monotonic() < deadline:
        time.sleep(0.01)  # exited but not reaped yet: a zombie
    assert not proc.is_alive(p.pid, ident["pid_start"], ident["boot_id"])
    p.wait()


def test_index_follows_new_changed_removed_and_corrupt_records():
    store = JobStore()
    a = store.create(kind="backup", provider=None, target={}, options={})
    a.update(state="succeeded", finished=iso())
    store.save(a)
    assert [s["state"] for s in store.summaries()] == ["succeeded"]
    a["state"] = "failed"
    a["error"] = "changed"
    store.save(a)
    b = store.create(kind="verify", provider=None, target={}, options={})
    b.update(state="cancelled", finished=iso())
    store.save(b)
    got = {s["id"]: (s["state"], s["error"]) for s in store.summaries()}
    assert got == {a["id"]: ("failed", "changed"), b["id"]: ("cancelled", None)}
    os.unlink(store.path(a["id"]))
    (store.dir / ".index.json").write_text("{not json")
    assert [s["id"] for s in store.summaries()] == [b["id"]]
    store.path(b["id"]).write_text("{broken")
    [s] = store.summaries()
    assert s["state"] == "unreadable"


def test_history_is_pruned_past_its_max_age_but_never_an_active_job(monkeypatch):
    store = JobStore()
    old, running, fresh = (store.create(kind="backup", provider=None, target={}, options={}) for _ in range(3))
    long_ago = iso(time.time() - 40 * 86400)
    old.update(state="succeeded", created=long_ago, finished=long_ago)
    running.update(state="running", created=long_ago, **proc.identity())
    fresh.update(state="failed", finished=iso(time.time() - 2 * 86400))
    for r in (old, running, fresh):
        store.save(r)
        Path(r["log"]).write_text("x\n")
    monkeypatch.setenv("CLI_RECOVER_HISTORY_MAX_AGE", "never")
    assert len(store.summaries()) == 3
    monkeypatch.delenv("CLI_RECOVER_HISTORY_MAX_AGE")
    assert history_max_age() == 30 * 86400
    assert {s["id"] for s in store.summaries()} == {running["id"], fresh["id"]}
    assert not store.path(old["id"]).exists() and not Path(old["log"]).exists()
    (Path(os.environ["CLI_RECOVER_HOME"]) / "config.json").write_text(json.dumps({"history_max_age": "1d"}))
    assert {s["id"] for s in store.summaries()} == {running["id"]}
    monkeypatch.setenv("CLI_RECOVER_HISTORY_MAX_AGE", "soon")
    res = cli("status")
    assert res.returncode == 2
    assert res.stderr.strip() == ("cli-recover: error: CLI_RECOVER_HISTORY_MAX_AGE: bad duration 'soon': use a "
                                  "number and a unit s, m, h, d or w (e.g. 7d, 12h, 30m)")


def test_run_as_job_success_restores_signal_handlers():
    def custom(signum, frame):
        pass

    before = signal.signal(signal.SIGTERM, custom)
    try:
        seen = {}

        def work(handle):
            seen["handler"] = signal.getsignal(signal.SIGTERM)
            handle.progress(10, 100, "reading")
            handle.set_paths(archive="/tmp/none.tar", manifest="/tmp/none.tar.manifest.json")
            return {"bytes": 10}

        code, result = run_as_job(_args(), SPEC, work)
        assert (code, result["bytes"]) == (0, 10) and result["job_id"]
        assert seen["handler"] is not custom
        assert signal.getsignal(signal.SIGTERM) is custom
    finally:
        signal.signal(signal.SIGTERM, before)
    rec = JobStore().read(result["job_id"])
    assert rec["state"] == "succeeded" and rec["result"] == {"bytes": 10}
    assert rec["options"] == {"level": 3, "db_password": "***"}
    assert rec["archive"] == "/tmp/none.tar" and rec["argv"] == ["backup", "--local", "/data"]


def test_run_as_job_errors(tmp_path):
    part = tmp_path / "x.partial"

    def fails(handle):
        handle.set_paths(partial=[part])
        part.write_bytes(b"half")
        raise RecoverError("tar exited with status 2")

    with pytest.raises(RecoverError, match="^tar exited with status 2$"):
        run_as_job(_args(), SPEC, fails)
    assert not part.exists()

    def crashes(handle):
        return {}["missing"]

    with pytest.raises(RecoverError) as info:
        run_as_job(_args(), SPEC, crashes)
    assert "\n" not in str(info.value) and str(info.value).startswith("KeyError: 'missing'")

    def cancelled(handle):
        handle.cancel(signal.SIGINT)  # what the signal handler does
        handle.check_cancelled()

    with pytest.raises(Cancelled) as info:
        run_as_job(_args(), SPEC, cancelled)
    assert info.value.exit_code == 130
    recs = sorted(JobStore().summaries(), key=lambda s: s["id"])
    assert [s["state"] for s in recs] == ["failed", "failed", "cancelled"]
    crash = JobStore().read(recs[1]["id"])
    assert "Traceback (most recent call last)" in Path(crash["log"]).read_text()
    assert "Traceback" not in crash["error"]


def test_cancel_hooks_run_once_even_when_registered_late():
    calls = []

    def work(handle):
        handle.on_cancel(lambda: calls.append("early"))
        handle.cancel(signal.SIGTERM)
        handle.cancel(signal.SIGINT)  # a second signal changes nothing
        handle.on_cancel(lambda: calls.append("late"))
        raise RuntimeError("producer died")

    with pytest.raises(Cancelled) as info:
        run_as_job(_args(), SPEC, work)
    assert calls == ["early", "late"] and info.value.exit_code == 143


def test_progress_writes_at_a_bounded_rate(monkeypatch):
    writes = []
    orig = JobStore.save

    def counting(self, rec, durable=True):
        writes.append(dict(rec["progress"]))
        orig(self, rec, durable=durable)

    monkeypatch.setattr(JobStore, "save", counting)

    def work(handle):
        writes.clear()
        t0 = time.monotonic()
        done = 0
        while time.monotonic() - t0 < 1.5:
            for _ in range(1000):
                done += 4096
                handle.progress(done, 1 << 40, "streaming")
        return {"elapsed": time.monotonic() - t0, "calls": done // 4096}

    _, result = run_as_job(_args(), SPEC, work)
    progress_writes = [w for w in writes if w["phase"] == "streaming"]
    assert result["calls"] > 1000
    assert len(progress_writes) <= result["elapsed"] / 1.0 + 2  # about once a second, whatever the call rate
    last = progress_writes[-1]
    assert last["rate"] and last["rate"] > 0 and last["eta"] and last["eta"] > 0


def test_background_child_that_cannot_start_is_reported(capsys):
    args = SimpleNamespace(background=True, job_id=None, _argv=["whatever"],
                           _reexec_module="tests.no_such_module_for_jobs")
    with pytest.raises(RecoverError, match="failed to start: the background process exited with status 1"):
        run_as_job(args, SPEC, lambda h: {})
    assert capsys.readouterr().out == ""
    [s] = JobStore().summaries()
    assert s["state"] == "failed"
    assert "No module named" in Path(JobStore().read(s["id"])["log"]).read_text()
