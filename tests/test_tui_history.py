"""History screen: a CLI backup shows as an archive and a finished job; verify runs as a background
job and its result shows; restore chosen files into a pod of another namespace through the Restore
dialog, then the Jobs screen shows the job and the files land in the sandbox. Snapshots use fixed
records, manifests and clock."""

from __future__ import annotations

import json

import pytest

from cli_recover.engine.store import JobStore
from cli_recover.tui.screens.history import Filter, HistoryScreen, cycle, set_filter_term
from cli_recover.tui.screens.jobs import JobsScreen
from cli_recover.tui.screens.restore import ArchiveTree, RestoreDialog
from cli_recover.tui.services import Services
from tests.conftest import run_cli
from tests.test_tui_jobs_support import (
    ScreenHost,
    build_sandbox,
    fixed_history,
    fixed_services,
    settle,
    wait_for,
)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    with build_sandbox(tmp_path_factory.mktemp("history-cluster")) as sb:
        yield sb


def history_app(services: Services, refresh_seconds: float = 0.2) -> ScreenHost:
    return ScreenHost(lambda: HistoryScreen(services, refresh_seconds=refresh_seconds), services)


def backup(sandbox) -> tuple[str, str]:
    out = run_cli("backup", "filesystem", "app", "/data", "--kubeconfig", sandbox.kubeconfig_path, "-q", "--json",
                  check=True)
    result = json.loads(out.stdout)
    return result["job"], result["archive"]


def archive_rows(screen: HistoryScreen) -> dict[str, tuple]:
    table = screen.query_one("#history-archives")
    return dict(zip(table.keys, table.rows, strict=True))


async def test_backup_shows_as_archive_and_job_and_verifies(sandbox):
    job_id, archive = backup(sandbox)
    app = history_app(Services(kubeconfig=str(sandbox.kubeconfig_path)))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: archive in archive_rows(screen), what="the archive row")
        row = archive_rows(screen)[archive]
        assert row[2] == "default/app:/data" and row[6][0] == "-"  # never verified
        assert job_id in screen.query_one("#history-jobs").keys
        details = screen.query_one("#history-details")
        await wait_for(pilot, lambda: "sha256" in _text(details), what="details")
        assert "zstd" in _text(details) and "/data" in _text(details)
        await pilot.press("v")
        await wait_for(pilot, lambda: archive_rows(screen)[archive][6][0] == "ok", timeout=40, what="verified ok")
        verify = [s for s in JobStore().summaries() if s["kind"] == "verify"]
        assert len(verify) == 1 and verify[0]["state"] == "succeeded" and verify[0]["target"] == archive
        await wait_for(pilot, lambda: any("verified OK" in n.message for n in app._notifications),
                       what="the verify notification")
        # the job table: focus it, the details follow
        await pilot.press("tab")
        await wait_for(pilot, lambda: job_id in _text(details), what="job details")


def _text(widget) -> str:
    from io import StringIO

    from rich.console import Console

    console = Console(file=StringIO(), width=118, color_system=None)
    content = widget.content
    console.print(content if not isinstance(content, str) else content)
    return console.file.getvalue()


async def test_restore_chosen_files_into_another_pod(sandbox):
    _, archive = backup(sandbox)
    services = Services(kubeconfig=str(sandbox.kubeconfig_path))
    app = history_app(services)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: archive in archive_rows(screen), what="the archive row")
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, RestoreDialog), what="the restore dialog")
        dialog = app.screen
        from textual.widgets import Input, Select

        ns = dialog.query_one("#restore-ns", Select)
        pods = dialog.query_one("#restore-pod", Select)
        # same pod as the source by default
        await wait_for(pilot, lambda: pods.value == "app", what="the source pod preselected")
        ns.value = "other"
        await wait_for(pilot, lambda: ("restore-here", "restore-here") in [(str(p), v) for p, v in pods._options],
                       what="the pods of namespace other")
        pods.value = "restore-here"
        path = dialog.query_one("#restore-path", Input)
        path.value = "/restored"
        tree = dialog.query_one(ArchiveTree)
        tree.focus()
        for wanted in ("docs", "name with spaces.md"):
            node = next(n for n in tree.root.children if n.data == wanted)
            tree.move_cursor(node)
            await pilot.press("space")
        await pilot.pause(0.1)
        command = _text(dialog.query_one("#restore-command"))
        assert "restore filesystem restore-here" in command and "-n other" in command
        assert "--target-path /restored --include docs --include 'name with spaces.md'" in command
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen), what="the jobs screen")
        jobs = app.screen
        job_id = jobs.selected_job
        await wait_for(pilot, lambda: (jobs._cells.get(job_id) or [None, None])[1] is not None
                       and jobs._cells[job_id][1].plain == "succeeded", timeout=60, what="the restore job")
    rec = JobStore().get(job_id)
    assert rec["kind"] == "restore" and rec["state"] == "succeeded", rec.get("error")
    restored = sandbox.root / "other" / "restore-here" / "restored"
    assert (restored / "docs" / "readme.txt").read_text() == "hello\n" * 1000
    assert (restored / "name with spaces.md").read_text() == "spaces"
    assert not (restored / "big.bin").exists() and not (restored / "app.log").exists()


def test_filter_terms():
    f = Filter.parse("state:failed ns:shop web KIND:restore")
    assert (f.state, f.kind, f.ns, f.words) == ("failed", "restore", "shop", ["web"])
    assert set_filter_term("web state:failed", "state", "cancelled") == "web state:cancelled"
    assert set_filter_term("web state:failed", "state", None) == "web"
    assert cycle(["a", "b"], None) == "a" and cycle(["a", "b"], "a") == "b" and cycle(["a", "b"], "b") is None


async def test_filter_keys_narrow_the_tables(data_home, monkeypatch):
    monkeypatch.setenv("CLI_RECOVER_HISTORY_MAX_AGE", "never")
    fixed_history(data_home)
    app = history_app(fixed_services(), refresh_seconds=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded > 0)
        jobs = screen.query_one("#history-jobs")
        assert len(jobs.rows) == 5
        await pilot.press("s", "s")  # state: succeeded, then failed
        assert screen.filter_text == "state:failed" and jobs.keys == ["0k1a2a000003"]
        await pilot.press("s", "s", "n")  # state: any; ns: default
        assert screen.filter_text == "ns:default"
        assert set(jobs.keys) == {"0k1a2a000003", "0k1a2a000001"}
        assert [r[0] for r in screen.query_one("#history-archives").rows] == ["data-20261126T120000Z.tar.zst"]
        screen.apply_filter("uploads")
        assert set(jobs.keys) == {"0k1a2a000004", "0k19zz000005"}


# --- snapshots ------------------------------------------------------------------------------------


@pytest.fixture
def fixed_jobs(data_home, monkeypatch):
    monkeypatch.setenv("CLI_RECOVER_HISTORY_MAX_AGE", "never")
    return fixed_history(data_home)


def _before(*keys: str):
    async def before(pilot):
        await wait_for(pilot, lambda: getattr(pilot.app.screen, "loaded", 0) > 0)
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return before


def test_snapshot_history_archive_details(snap_compare, fixed_jobs):
    assert snap_compare(history_app(fixed_services(), 3600), terminal_size=(120, 40), run_before=_before())


def test_snapshot_history_failed_jobs_filtered(snap_compare, fixed_jobs):
    assert snap_compare(history_app(fixed_services(), 3600), terminal_size=(120, 40),
                        run_before=_before("tab", "s", "s"))


def test_snapshot_history_empty(snap_compare):
    assert snap_compare(history_app(fixed_services(), 3600), terminal_size=(120, 40), run_before=_before())


async def test_the_app_opens_history_and_jobs_by_name_and_filters(sandbox, data_home, monkeypatch):
    from cli_recover.tui.app import RecoverApp

    monkeypatch.setenv("CLI_RECOVER_HISTORY_MAX_AGE", "never")
    fixed_history(data_home)
    app = RecoverApp(Services(kubeconfig=str(sandbox.kubeconfig_path)), refresh_interval=0)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        await pilot.press("colon", *"history", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen), what=":history")
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded > 0)
        await pilot.press("slash", *"uploads", "enter")
        assert screen.filter_text == "uploads"
        assert set(screen.query_one("#history-jobs").keys) == {"0k1a2a000004", "0k19zz000005"}
        await pilot.press("escape")  # the app's Esc clears a kept filter first
        assert screen.filter_text == ""
        await pilot.press("colon", *"jobs", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen), what=":jobs")
        jobs = app.screen
        await wait_for(pilot, lambda: "0k1a2b3c4d5e" in jobs._row_ids, what="the running job")
