"""Schedules screen: add with live cron validation and a five-run preview (fixed clock), edit, pause and
resume, run now (a real background job carrying the schedule's name), delete with confirmation; and
snapshots of the list, the editor (an error, a preview) and the delete dialog from fixed files."""

from __future__ import annotations

import pytest

from cli_recover.engine import schedules as sched
from cli_recover.tui.screens.jobs import ConfirmDialog
from cli_recover.tui.screens.schedules import ScheduleEditor, SchedulesScreen
from tests.jobs_helpers import record, records
from tests.test_tui_jobs_support import ScreenHost, fixed_services, settle, wait_for

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def schedules_app(services=None, **kw) -> ScreenHost:
    services = services or fixed_services()
    return ScreenHost(lambda: SchedulesScreen(services, refresh_seconds=kw.pop("refresh_seconds", 3600),
                                              default_timezone="UTC", **kw), services)


async def loaded(pilot) -> SchedulesScreen:
    await wait_for(pilot, lambda: getattr(pilot.app.screen, "loaded", 0) > 0, what="the schedules")
    await settle(pilot)
    return pilot.app.screen


async def reload(pilot, screen: SchedulesScreen) -> None:
    before = screen.loaded
    screen.action_refresh()
    await wait_for(pilot, lambda: screen.loaded > before, what="a refresh")
    await settle(pilot)


def _set(editor: ScheduleEditor, field: str, value: str) -> None:
    editor.query_one(f"#{field}").value = value


async def test_add_with_live_validation_then_edit(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    app = schedules_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        assert screen._row_ids == [] and screen.query_one("#schedules-empty").display
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ScheduleEditor), what="the editor")
        editor = app.screen
        await pilot.press(*"nightly")
        _set(editor, "cron", "61 2 * * *")
        await pilot.pause(0.05)
        assert not editor.preview_ok
        assert editor.preview_text == "bad minute field '61' in '61 2 * * *': allowed 0-59 (out of range)"
        _set(editor, "cron", "30 2 * * *")
        _set(editor, "timezone", "Mars/Base")
        await pilot.pause(0.05)
        assert not editor.preview_ok and editor.preview_text.startswith("unknown time zone 'Mars/Base'")
        _set(editor, "timezone", "Europe/Berlin")
        await pilot.pause(0.05)
        assert editor.preview_ok
        # the next five runs from the fixed clock (2026-11-26 12:45 UTC)
        assert editor.preview_text.splitlines() == [
            "daily at 02:30, next runs:", "  Fri 2026-11-27 02:30 CET", "  Sat 2026-11-28 02:30 CET",
            "  Sun 2026-11-29 02:30 CET", "  Mon 2026-11-30 02:30 CET", "  Tue 2026-12-01 02:30 CET"]
        # a bad backup is refused on save and the editor stays open
        _set(editor, "backup", "filesystem --local")
        await pilot.press("ctrl+s")
        await pilot.pause(0.05)
        assert isinstance(app.screen, ScheduleEditor)
        assert "bad backup arguments" in str(editor.query_one("#editor-error").content)
        _set(editor, "backup", f"filesystem --local {src}")
        _set(editor, "keep-last", "2")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is screen, what="the editor to close")
        await settle(pilot)
        stored = sched.load("nightly")
        assert stored["cron"] == "30 2 * * *" and stored["timezone"] == "Europe/Berlin"
        assert stored["backup"] == ["backup", "filesystem", "--local", str(src)] and stored["keep"] == {"last": 2}
        assert screen._row_ids == ["nightly"]
        assert any("added schedule nightly: daily at 02:30" in n.message for n in app._notifications)

        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ScheduleEditor), what="the editor")
        editor = app.screen
        assert editor.query_one("#name").disabled and editor.query_one("#cron").value == "30 2 * * *"
        _set(editor, "cron", "@weekly")
        await pilot.pause(0.05)
        assert editor.preview_text.splitlines()[:2] == ["weekly on Sunday at 00:00, next runs:",
                                                        "  Sun 2026-11-29 00:00 CET"]
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is screen, what="the editor to close")
        await settle(pilot)
        assert sched.load("nightly")["cron"] == "@weekly"
        assert screen.views["nightly"]["description"] == "weekly on Sunday at 00:00"


async def test_pause_resume_run_now_and_delete(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("a\n")
    out = tmp_path / "out"
    out.mkdir()
    s = sched.new_schedule("docs", "0 3 * * *", "UTC", ["backup", "filesystem", "--local", str(src), "-o", str(out)])
    s["job"] = {"provider": "filesystem", "target": {"kind": "local", "path": str(src)}, "options": {}}
    sched.create(s)
    app = schedules_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        assert screen.selected == "docs"
        await pilot.press("p")
        await settle(pilot)
        assert sched.load("docs")["paused"] is True
        await reload(pilot, screen)
        assert screen.views["docs"]["paused"] and screen.views["docs"]["next_runs"] == []
        await pilot.press("p")
        await settle(pilot)
        assert sched.load("docs")["paused"] is False

        await pilot.press("r")  # run now: `cli-recover schedule run docs`, a background job
        await wait_for(pilot, lambda: any("started job" in n.message for n in app._notifications), what="the run")
        job = [r for r in records() if r.get("schedule") == "docs"]
        assert len(job) == 1
        await wait_for(pilot, lambda: record(job[0]["id"])["state"] == "succeeded", what="the run to succeed")
        await reload(pilot, screen)
        assert screen.views["docs"]["last_result"]["state"] == "succeeded"
        assert screen.views["docs"]["last_result"]["job"] == job[0]["id"]

        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the confirm dialog")
        await pilot.press("n")
        await settle(pilot)
        assert sched.schedule_path("docs").exists()
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the confirm dialog")
        await pilot.press("y")
        await wait_for(pilot, lambda: screen._row_ids == [], what="the row to go")
        assert not sched.schedule_path("docs").exists()
        assert len(list(out.iterdir())) == 2  # the archive and its manifest stay


def test_every_binding_has_an_id():
    for cls in (SchedulesScreen, ScheduleEditor):
        assert cls.BINDINGS and all(b.id for b in cls.BINDINGS), cls


# --- snapshots ------------------------------------------------------------------------------------

HOOK = "https://hooks.example.com/services/T000/B000/sekrit"


@pytest.fixture
def fixed_schedules(data_home):
    def write(name, cron, tz, backup, *, paused=False, keep=None, notify=(), result=None, runs=0, skips=()):
        s = sched.new_schedule(name, cron, tz, backup, keep=keep, notify=list(notify), now=1764000000.0)
        s["paused"] = paused
        s["state"].update(last_result=result, runs=runs, skipped=len(skips),
                          skips=[{"at": "2026-11-25T02:30:05.000Z", "scheduled": "2026-11-25T01:30:00.000Z",
                                  "reason": r} for r in skips])
        sched.create(s)

    write("nightly-db", "30 2 * * *", "Europe/Berlin",
          ["backup", "filesystem", "db-0", "/var/lib/postgresql", "-n", "shop"], keep={"last": 7, "daily": 14},
          notify=[HOOK], runs=12, skips=["overlap: the previous run (job 0k1a2a000009) is still running"],
          result={"job": "0k1a2a000010", "state": "succeeded", "finished": "2026-11-26T01:31:12.000Z",
                  "error": None, "archive": "/srv/backups/db-0-20261126T013000Z.tar.zst"})
    write("hourly-web", "@hourly", "UTC", ["backup", "filesystem", "--local", "/srv/www"], runs=40,
          result={"job": "0k1a2a000011", "state": "failed", "finished": "2026-11-26T12:00:02.000Z",
                  "error": "tar: /srv/www: Cannot open: Permission denied", "archive": None})
    write("weekly-archive", "0 4 * * 0", "America/New_York", ["backup", "filesystem", "--local", "/srv/archive"],
          paused=True, keep={"weekly": 8})


def test_snapshot_schedules_list(snap_compare, fixed_schedules):
    async def before(pilot):
        await loaded(pilot)
        await pilot.press("down")
        await settle(pilot)

    assert snap_compare(schedules_app(), terminal_size=(120, 40), run_before=before)


def test_snapshot_schedules_editor_invalid_cron(snap_compare, fixed_schedules):
    async def before(pilot):
        await loaded(pilot)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ScheduleEditor))
        await pilot.press(*"monthly")
        _set(pilot.app.screen, "cron", "0 3 31 2 *")
        await settle(pilot)

    assert snap_compare(schedules_app(), terminal_size=(120, 40), run_before=before)


def test_snapshot_schedules_editor_preview(snap_compare, fixed_schedules):
    async def before(pilot):
        await loaded(pilot)
        await pilot.press("down", "e")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ScheduleEditor))
        await settle(pilot)

    assert snap_compare(schedules_app(), terminal_size=(120, 40), run_before=before)


def test_snapshot_schedules_delete_confirmation(snap_compare, fixed_schedules):
    async def before(pilot):
        await loaded(pilot)
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmDialog))
        await pilot.pause(0.1)

    assert snap_compare(schedules_app(), terminal_size=(120, 40), run_before=before)


async def test_the_app_opens_schedules_by_name_and_filters(tmp_path, fixed_schedules):
    from cli_recover.tui.app import RecoverApp
    from cli_recover.tui.services import Services

    services = Services(kubeconfig=str(tmp_path / "no-kubeconfig"), clock=fixed_services().clock)
    app = RecoverApp(services, blink=False, refresh_interval=0)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        await pilot.press("colon", *"schedules", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, SchedulesScreen), what=":schedules")
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded > 0, what="the schedules")
        await settle(pilot)
        assert screen._row_ids == ["hourly-web", "nightly-db", "weekly-archive"]
        await pilot.press("slash", *"daily", "enter")
        assert screen.filter_text == "daily" and screen._row_ids == ["nightly-db"]
        await pilot.press("escape")  # clears the filter first
        assert screen.filter_text == "" and len(screen._row_ids) == 3
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, SchedulesScreen), what="back")
