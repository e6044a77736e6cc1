"""Issue 6, the pure parts with an injected clock: cron validation and calculation (DST, month ends,
macros), the describer, the retention policy, redaction, and the scheduler's decisions (catch-up within
the grace window, missed runs, overlap, pause/resume) driven tick by tick."""

from __future__ import annotations

import json
import os
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from cli_recover.engine import scheduler as schedmod
from cli_recover.engine import schedules as sched
from cli_recover.engine.model import iso, parse_iso
from cli_recover.engine.store import JobStore
from cli_recover.errors import UsageError

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


def ts(tz: str, *args) -> float:
    return datetime(*args, tzinfo=ZoneInfo(tz)).timestamp()


def local(runs, fmt="%Y-%m-%d %H:%M %Z") -> list[str]:
    return [d.strftime(fmt) for d in runs]


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize("expr, field", [
    ("61 * * * *", "minute"), ("* 24 * * *", "hour"), ("0 0 32 * *", "day-of-month"), ("0 0 * 13 *", "month"),
    ("0 0 * * 8", "day-of-week"), ("0 0 * * fri-xyz", "day-of-week"), ("*/0 * * * *", "minute"),
    ("x * * * *", "minute"), ("0 H * * *", "hour"),
])
def test_a_bad_field_is_named(expr, field):
    with pytest.raises(UsageError) as exc:
        sched.validate_cron(expr)
    msg = str(exc.value)
    assert msg.startswith(f"bad {field} field ") and "\n" not in msg


def test_other_bad_expressions():
    with pytest.raises(UsageError, match="has 3 fields; expected 5"):
        sched.validate_cron("* * *")
    with pytest.raises(UsageError, match="has 6 fields"):
        sched.validate_cron("* * * * * *", allow_seconds=False)
    assert sched.validate_cron("* * * * * */5", allow_seconds=True) == "* * * * * */5"
    with pytest.raises(UsageError, match="unknown cron macro '@often'"):
        sched.validate_cron("@often")
    with pytest.raises(UsageError, match="never matches a date"):
        sched.validate_cron("0 0 30 2 *")
    with pytest.raises(UsageError, match="empty cron"):
        sched.validate_cron("  ")
    assert sched.validate_cron("  30   2 * *  mon-fri ") == "30 2 * * mon-fri"
    assert sched.validate_cron("@DAILY") == "@daily"
    with pytest.raises(UsageError, match="unknown time zone 'Mars/Base'"):
        sched.validate_timezone("Mars/Base")
    with pytest.raises(UsageError, match="bad schedule name"):
        sched.validate_name("Nightly_DB")


# --- calculation with an injected clock -------------------------------------------------------


def test_berlin_spring_forward_runs_once_at_the_first_instant_after_the_gap():
    # 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist that night
    runs = sched.next_runs("30 2 * * *", BERLIN, ts(BERLIN, 2026, 3, 27, 12, 0), 4)
    assert local(runs) == ["2026-03-28 02:30 CET", "2026-03-29 03:00 CEST", "2026-03-30 02:30 CEST",
                           "2026-03-31 02:30 CEST"]
    gaps = [b.timestamp() - a.timestamp() for a, b in zip(runs, runs[1:], strict=False)]
    assert gaps == [23.5 * 3600, 23.5 * 3600, 24 * 3600]


def test_berlin_fall_back_fixed_time_runs_once_hourly_runs_every_real_hour():
    # 2026-10-25: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice
    daily = sched.next_runs("30 2 * * *", BERLIN, ts(BERLIN, 2026, 10, 23, 12, 0), 3)
    assert local(daily) == ["2026-10-24 02:30 CEST", "2026-10-25 02:30 CEST", "2026-10-26 02:30 CET"]
    hourly = sched.next_runs("@hourly", BERLIN, ts(BERLIN, 2026, 10, 25, 0, 30), 5)
    assert local(hourly) == ["2026-10-25 01:00 CEST", "2026-10-25 02:00 CEST", "2026-10-25 02:00 CET",
                             "2026-10-25 03:00 CET", "2026-10-25 04:00 CET"]
    assert all(b.timestamp() - a.timestamp() == 3600 for a, b in zip(hourly, hourly[1:], strict=False))


def test_new_york_dst_days_and_daily_macro():
    # 2026-03-08 spring forward, 2026-11-01 fall back in New York
    runs = sched.next_runs("@daily", NEW_YORK, ts(NEW_YORK, 2026, 3, 7, 12, 0), 3)
    assert local(runs) == ["2026-03-08 00:00 EST", "2026-03-09 00:00 EDT", "2026-03-10 00:00 EDT"]
    assert runs[1].timestamp() - runs[0].timestamp() == 23 * 3600
    runs = sched.next_runs("0 1 * * *", NEW_YORK, ts(NEW_YORK, 2026, 10, 31, 12, 0), 3)
    assert local(runs) == ["2026-11-01 01:00 EDT", "2026-11-02 01:00 EST", "2026-11-03 01:00 EST"]


def test_month_ends_and_leap_years():
    after = ts("UTC", 2028, 1, 15, 0, 0)
    assert local(sched.next_runs("0 0 31 * *", "UTC", after, 4), "%Y-%m-%d") == [
        "2028-01-31", "2028-03-31", "2028-05-31", "2028-07-31"]
    assert local(sched.next_runs("0 0 L * *", "UTC", after, 3), "%Y-%m-%d") == [
        "2028-01-31", "2028-02-29", "2028-03-31"]
    assert local(sched.next_runs("0 12 29 2 *", "UTC", after, 2), "%Y-%m-%d") == ["2028-02-29", "2032-02-29"]
    assert local(sched.next_runs("@monthly", "UTC", ts("UTC", 2026, 12, 31, 23, 59), 2), "%Y-%m-%d %H:%M") == [
        "2027-01-01 00:00", "2027-02-01 00:00"]


def test_hourly_and_next_run_is_strictly_after_the_clock():
    now = ts("UTC", 2026, 5, 5, 10, 0)  # exactly on a fire time
    runs = sched.next_runs("@hourly", "UTC", now, 3)
    assert local(runs, "%H:%M") == ["11:00", "12:00", "13:00"]
    latest, count = sched.latest_run("@hourly", "UTC", now - 3 * 3600 - 1, now)
    assert (latest, count) == (now, 4)
    # a scheduler down for 200 days with a per-minute schedule: counting stops, the latest is still exact
    assert sched.latest_run("* * * * *", "UTC", 0, 200 * 86400 + 30) == (200 * 86400, 1000)


def test_describer_covers_the_common_forms():
    cases = {
        "@daily": "daily at 00:00", "@hourly": "every hour at :00", "@weekly": "weekly on Sunday at 00:00",
        "@monthly": "monthly on the 1st at 00:00", "@yearly": "yearly on January 1 at 00:00",
        "* * * * *": "every minute", "*/15 * * * *": "every 15 minutes", "30 2 * * *": "daily at 02:30",
        "0 3 * * 1-5": "at 03:00 on weekdays", "0 3 * * sat,sun": "at 03:00 on weekends",
        "0 4 L * *": "monthly on the last day at 04:00", "0 */6 * * *": "every 6 hours at :00",
        "15,45 * * * *": "every hour at :15 and :45", "0 2,14 * * *": "daily at 02:00 and 14:00",
        "5 4 * * 2#1": "at 04:05 on the 1st Tuesday of the month", "0 5 24 12 *": "yearly on December 24 at 05:00",
        "0 9 * jan-mar mon": "cron: minute 0, hour 9, month jan-mar, day-of-week mon",
    }
    assert {e: sched.describe(e) for e in cases} == cases


# --- retention --------------------------------------------------------------------------------

NOW = ts("UTC", 2026, 6, 30, 12, 0)  # a Tuesday


def _archives(hours_ago: list[float]) -> list[sched.ArchiveRef]:
    return [sched.ArchiveRef(f"/b/{i:02d}.tar", NOW - h * 3600, f"j{i}") for i, h in enumerate(hours_ago)]


def _kept(kept) -> list[str]:
    return [a.path for a in kept]


def test_keep_last():
    kept, removed = sched.retention_plan(_archives([0.5, 1, 2, 3, 4]), keep_last=2, now=NOW)
    assert _kept(kept) == ["/b/00.tar", "/b/01.tar"]
    assert _kept(removed) == ["/b/04.tar", "/b/03.tar", "/b/02.tar"][::-1]


def test_keep_daily_keeps_the_newest_of_each_of_the_last_n_days_with_an_archive():
    # two archives today, one yesterday, none two days ago, two three days ago, one five days ago
    hours = [1, 5, 26, 74, 80, 122]
    kept, removed = sched.retention_plan(_archives(hours), keep_daily=3, now=NOW)
    assert _kept(kept) == ["/b/00.tar", "/b/02.tar", "/b/03.tar"]
    assert [a.reasons for a in kept] == [["newest", "daily 2026-06-30"], ["daily 2026-06-29"], ["daily 2026-06-27"]]
    assert _kept(removed) == ["/b/01.tar", "/b/04.tar", "/b/05.tar"]


def test_keep_weekly_and_combined_policies_in_the_schedules_time_zone():
    days = [0, 1, 6, 8, 13, 15, 22, 40]
    archives = [sched.ArchiveRef(f"/b/{d:02d}.tar", NOW - d * 86400) for d in days]
    kept, removed = sched.retention_plan(archives, keep_last=1, keep_daily=2, keep_weekly=3, now=NOW)
    # weeks (ISO, Monday first): 06-30/06-29 -> W27; 06-24/06-22 -> W26; 06-17 -> W25
    assert _kept(kept) == ["/b/00.tar", "/b/01.tar", "/b/06.tar", "/b/13.tar"]
    assert _kept(removed) == ["/b/08.tar", "/b/15.tar", "/b/22.tar", "/b/40.tar"]
    # 22:30 UTC on Monday 06-29 is already Tuesday in Berlin (CEST): the day buckets follow the zone
    late = [sched.ArchiveRef("/b/a", ts("UTC", 2026, 6, 29, 22, 30)),
            sched.ArchiveRef("/b/b", ts("UTC", 2026, 6, 29, 21, 30))]
    assert _kept(sched.retention_plan(late, keep_daily=2, tz="UTC", now=NOW)[0]) == ["/b/a"]
    assert _kept(sched.retention_plan(late, keep_daily=2, tz=BERLIN, now=NOW)[0]) == ["/b/a", "/b/b"]


def test_newest_and_future_archives_are_never_removed_and_no_policy_removes_nothing():
    archives = _archives([-48, 1, 2, 3])  # one dated two days in the future (a clock that went back)
    kept, removed = sched.retention_plan(archives, keep_last=1, now=NOW)
    assert _kept(kept) == ["/b/00.tar"] and "dated in the future" in kept[0].reasons
    kept, removed = sched.retention_plan(_archives([5, 1]), keep_daily=0, keep_last=0, keep_weekly=0, now=NOW)
    assert removed == [] and len(kept) == 2
    kept, removed = sched.retention_plan(_archives([9]), keep_weekly=1, now=NOW)
    assert _kept(kept) == ["/b/00.tar"] and removed == []
    assert sched.retention_plan([], keep_last=3, now=NOW) == ([], [])


# --- redaction ----------------------------------------------------------------------------------


def test_notify_targets_are_redacted_for_display():
    assert sched.redact_notify("https://hooks.slack.com/services/T0/B0/sekrit") == "https://hooks.slack.com/***"
    assert sched.redact_notify("http://user:pw@127.0.0.1:8080/hook?token=x") == "http://127.0.0.1:8080/***"
    assert sched.redact_notify("https://example.com") == "https://example.com"
    shown = sched.redact_notify("notify --token abc123 --to ops https://x.example/t/sekrit")
    assert "abc123" not in shown and "sekrit" not in shown and "--to ops" in shown


# --- the scheduler's decisions, tick by tick ---------------------------------------------------


class Clock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


class FakeLauncher:
    """Creates a finished job record for the schedule, as a real run would leave it."""

    def __init__(self, state="succeeded", fail: str | None = None):
        self.calls: list[str] = []
        self.state = state
        self.fail = fail

    def __call__(self, schedule: dict) -> str:
        if self.fail:
            from cli_recover.errors import RecoverError

            raise RecoverError(self.fail)
        store = JobStore()
        rec = store.create(kind="backup", provider="filesystem", target={"kind": "local", "path": "/x"}, options={},
                           schedule=schedule["name"])
        rec.update(state=self.state, finished=iso(), error=None if self.state == "succeeded" else "boom")
        store.save(rec)
        self.calls.append(rec["id"])
        return rec["id"]


def _add(name="hourly", cron="@hourly", created: float = 0.0, **kw) -> dict:
    s = sched.new_schedule(name, cron, "UTC", ["backup", "filesystem", "--local", "/x"], now=created, **kw)
    sched.create(s)
    return s


def _scheduler(clock, launcher, notes=None, grace=3600.0) -> schedmod.Scheduler:
    def notifier(target, event):
        notes.append((target, event))
        return f"test {target}"

    return schedmod.Scheduler(grace=grace, clock=clock, launcher=launcher, notifier=notifier, async_notify=False)


def test_fires_when_due_and_not_before():
    t0 = ts("UTC", 2026, 5, 5, 9, 59, 30)
    _add(created=t0 - 60)
    clock, launcher = Clock(t0), FakeLauncher()
    s = _scheduler(clock, launcher, [])
    assert s.tick() == ts("UTC", 2026, 5, 5, 10, 0) and launcher.calls == []
    clock.t = ts("UTC", 2026, 5, 5, 10, 0, 1)
    assert s.tick() == ts("UTC", 2026, 5, 5, 11, 0)
    assert len(launcher.calls) == 1
    state = sched.load("hourly")["state"]
    assert state["last_scheduled"] == "2026-05-05T10:00:00.000Z" and state["pending"] == launcher.calls
    s.tick()  # collects the finished job; no second run for the same hour
    state = sched.load("hourly")["state"]
    assert len(launcher.calls) == 1 and state["pending"] == []
    assert state["last_result"]["state"] == "succeeded" and state["last_result"]["job"] == launcher.calls[0]


def test_catches_up_once_within_the_grace_window_and_records_older_misses():
    created = ts("UTC", 2026, 5, 5, 6, 30)
    _add(created=created)
    clock, launcher = Clock(ts("UTC", 2026, 5, 5, 10, 20)), FakeLauncher()  # 07, 08, 09, 10 o'clock were missed
    s = _scheduler(clock, launcher, [])
    s.tick()
    assert len(launcher.calls) == 1  # once, not four times
    assert sched.load("hourly")["state"]["last_scheduled"] == "2026-05-05T10:00:00.000Z"
    log = schedmod.log_path().read_text()
    assert "catching up the run due at 2026-05-05 10:00 UTC" in log and "4 run(s) were due" in log

    _add("daily", "@daily", created=ts("UTC", 2026, 5, 1, 12, 0))
    clock.t = ts("UTC", 2026, 5, 5, 10, 30)  # the latest missed run (00:00) is 10.5 h late: beyond the 1 h grace
    s.tick()
    daily = sched.load("daily")["state"]
    assert len(launcher.calls) == 1 and daily["skipped"] == 1
    assert daily["skips"][0]["reason"].startswith("missed: the scheduler was not running at 2026-05-05 00:00 UTC")
    assert daily["last_scheduled"] == "2026-05-05T00:00:00.000Z"


def test_overlap_is_skipped_and_recorded():
    t0 = ts("UTC", 2026, 5, 5, 10, 0, 5)
    _add(created=t0 - 600)
    store = JobStore()
    rec = store.create(kind="backup", provider="filesystem", target={}, options={}, schedule="hourly")
    rec.update(state="running")  # this test process is its (live) pid
    store.save(rec)
    launcher = FakeLauncher()
    s = _scheduler(Clock(t0), launcher, [])
    s.tick()
    state = sched.load("hourly")["state"]
    assert launcher.calls == [] and state["skipped"] == 1
    assert state["skips"][0]["reason"] == f"overlap: the previous run (job {rec['id']}) is still running"
    assert "hourly: skipped the run due at 2026-05-05T10:00:00.000Z: overlap" in schedmod.log_path().read_text()


def test_paused_schedules_do_not_fire_and_resume_does_not_make_up_runs(data_home):
    from cli_recover.cli.schedule_commands import cmd_pause, cmd_resume

    t0 = ts("UTC", 2026, 5, 5, 9, 0, 30)
    _add(created=t0 - 60)
    ns = type("A", (), {"name": "hourly"})
    cmd_pause(ns)
    clock, launcher = Clock(ts("UTC", 2026, 5, 5, 10, 0, 30)), FakeLauncher()
    s = _scheduler(clock, launcher, [])
    assert s.tick() is None and launcher.calls == []
    cmd_resume(ns)  # with the real clock, long after 2026-05-05: without a new anchor the last hour would run
    state = sched.load("hourly")["state"]
    clock.t = parse_iso(state["anchor"]) + 0.001
    s.tick()
    assert launcher.calls == [], (state, schedmod.log_path().read_text())
    assert sched.load("hourly")["state"]["skipped"] == 0


def test_failures_notify_and_successes_only_with_always():
    t0 = ts("UTC", 2026, 5, 5, 10, 0, 1)
    _add("fails", created=t0 - 600, notify=["hook"])
    _add("chatty", created=t0 - 600, notify=["cmd"], notify_on="always")
    _add("quiet", created=t0 - 600, notify=["never-called"])
    notes: list = []
    s = _scheduler(Clock(t0), lambda sc: (FakeLauncher("failed") if sc["name"] == "fails" else FakeLauncher())(sc),
                   notes)
    s.tick()
    s.tick()
    assert sorted((t, e["schedule"], e["state"]) for t, e in notes) == [
        ("cmd", "chatty", "succeeded"), ("hook", "fails", "failed")]
    assert {e["error"] for _, e in notes} == {None, "boom"}


def test_a_launch_failure_is_recorded_and_notified():
    t0 = ts("UTC", 2026, 5, 5, 10, 0, 1)
    _add(created=t0 - 600, notify=["hook"])
    notes: list = []
    _scheduler(Clock(t0), FakeLauncher(fail="no such folder"), notes).tick()
    state = sched.load("hourly")["state"]
    assert state["last_result"]["state"] == "failed" and state["last_result"]["error"] == "no such folder"
    assert notes[0][1]["state"] == "failed" and notes[0][1]["error"] == "no such folder"


def test_notification_delivery_failures_are_logged_and_never_raise():
    t0 = ts("UTC", 2026, 5, 5, 10, 0, 1)
    _add(created=t0 - 600, notify=["http://127.0.0.1:9/hook/secret-token", "exit 7"])
    s = schedmod.Scheduler(clock=Clock(t0), launcher=FakeLauncher("failed"), async_notify=False)
    s.tick()
    s.tick()
    log = schedmod.log_path().read_text()
    assert "notification failed: webhook http://127.0.0.1:9/*** failed" in log
    assert "notification failed: command exit 7 exited with 7" in log
    assert "secret-token" not in log


def test_grace_zero_still_starts_on_time_runs_but_makes_up_none():
    t0 = ts("UTC", 2026, 5, 5, 10, 0, 2)
    _add(created=t0 - 600)
    clock, launcher = Clock(t0), FakeLauncher()
    s = _scheduler(clock, launcher, [], grace=0)
    s.tick()
    assert len(launcher.calls) == 1  # two seconds late is on time
    clock.t = ts("UTC", 2026, 5, 5, 13, 30)  # 11, 12 and 13 o'clock missed
    s.tick()
    state = sched.load("hourly")["state"]
    assert len(launcher.calls) == 1 and state["skipped"] == 1 and state["skips"][0]["reason"].startswith("missed")


def _archive(directory, name: str, created: float) -> str:
    path = directory / name
    path.write_bytes(b"x")
    (directory / (name + ".manifest.json")).write_text(json.dumps({"format": "cli-recover/manifest",
                                                                   "created": iso(created)}))
    return str(path)


def test_retention_runs_after_a_success_only_and_logs_what_it_removes(tmp_path):
    t0 = ts("UTC", 2026, 5, 5, 10, 0, 1)
    old = [_archive(tmp_path, f"old-{i}.tar", t0 - (5 - i) * 86400) for i in range(3)]
    s = sched.new_schedule("hourly", "@hourly", "UTC", ["backup", "filesystem", "--local", "/x"], now=t0 - 600,
                           keep={"last": 1})
    s["state"]["archives"] = [{"path": p, "created": None, "job": None} for p in old]
    sched.create(s)

    def launcher_for(state):
        def launch(schedule):
            store = JobStore()
            rec = store.create(kind="backup", provider="filesystem", target={}, options={}, schedule="hourly")
            archive = _archive(tmp_path, f"new-{rec['id']}.tar", t0) if state == "succeeded" else None
            rec.update(state=state, finished=iso(), archive=archive, error=None if archive else "boom")
            store.save(rec)
            return rec["id"]
        return launch

    clock = Clock(t0)
    s = _scheduler(clock, launcher_for("failed"), [])
    s.tick()
    s.tick()
    assert all(os.path.exists(p) for p in old)  # a failed run removes nothing
    assert sched.load("hourly")["state"]["last_result"]["state"] == "failed"
    clock.t = t0 + 3600
    s.launcher = launcher_for("succeeded")
    s.tick()
    s.tick()
    left = sorted(p.name for p in tmp_path.iterdir())
    new = [n for n in left if n.startswith("new-") and n.endswith(".tar")]
    assert len(new) == 1 and left == sorted(new + [new[0] + ".manifest.json"])
    log = schedmod.log_path().read_text()
    for p in old:
        assert f"hourly: retention: removed {p}" in log
    state = sched.load("hourly")["state"]
    assert [a["path"] for a in state["archives"]] == [str(tmp_path / new[0])]
    assert state["retention"]["kept"] == [str(tmp_path / new[0])]


def test_schedule_modules_stay_headless():
    import subprocess
    import sys

    code = ("import sys, cli_recover.engine.scheduler, cli_recover.engine.schedules, cli_recover.cli.schedule_commands\n"
            "print(' '.join(m for m in ('textual', 'kubernetes', 'croniter') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == []  # croniter too: only loaded when a cron is computed
