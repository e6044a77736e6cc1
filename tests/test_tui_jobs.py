"""Jobs screen: jobs made by the real CLI show up with their log; a slow background backup is
cancelled from the screen (confirm dialog, SIGTERM via `cli-recover cancel`'s code) and ends
`cancelled` with nothing left behind. Snapshots use fixed records and a fixed clock."""

from __future__ import annotations

import json

import pytest

from cli_recover.engine.store import JobStore
from cli_recover.tui.screens.jobs import JobsScreen
from cli_recover.tui.services import Services
from cli_recover.tui.widgets.cells import split_pod_target
from cli_recover.tui.widgets.confirm import ConfirmDialog
from tests.conftest import run_cli
from tests.test_tui_jobs_support import (
    ScreenHost,
    build_sandbox,
    fixed_history,
    fixed_services,
    settle,
    wait_for,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    with build_sandbox(tmp_path_factory.mktemp("jobs-cluster")) as sb:
        yield sb


def jobs_app(services: Services, **kw) -> ScreenHost:
    return ScreenHost(lambda: JobsScreen(services, refresh_seconds=kw.pop("refresh_seconds", 0.2), **kw), services)


def row_state(screen: JobsScreen, job_id: str) -> str | None:
    cells = screen._cells.get(job_id)
    return cells[1].plain if cells else None


async def test_a_cli_backup_shows_with_state_and_log(sandbox):
    out = run_cli("backup", "filesystem", "app", "/data", "--kubeconfig", sandbox.kubeconfig_path, "-q", "--json",
                  check=True)
    job_id = json.loads(out.stdout)["job"]
    app = jobs_app(Services(kubeconfig=str(sandbox.kubeconfig_path)))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: job_id in screen._row_ids, what="the job row")
        assert row_state(screen, job_id) == "succeeded"
        cells = screen._cells[job_id]
        assert cells[2] == "backup" and cells[3] == "filesystem" and cells[4] == "default/app:/data"
        log = screen.query_one("#job-log")
        await wait_for(pilot, lambda: any("producer on" in line for line in log.lines), what="the job's log")
        summary = str(screen.query_one("#job-summary").content)
        assert job_id in summary and "succeeded" in summary


async def test_cancel_a_running_background_job_from_the_screen(sandbox, data_home):
    out = run_cli("backup", "filesystem", "slow", "/data", "--kubeconfig", sandbox.kubeconfig_path,
                  "--compression", "gzip", "--level", "9", "--background", check=True)
    job_id = out.stdout.strip().splitlines()[-1]
    app = jobs_app(Services(kubeconfig=str(sandbox.kubeconfig_path)))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: job_id in screen._row_ids, what="the job row")
        screen.select_job(job_id)
        # running, with bytes flowing and a progress bar for the selected job
        await wait_for(pilot, lambda: (screen._summaries.get(job_id, {}).get("done") or 0) > 0, what="progress")
        assert row_state(screen, job_id) == "running"
        await wait_for(pilot, lambda: screen.query_one("#job-progress-row").display, what="the progress bar")
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the confirm dialog")
        await pilot.press("n")  # "keep running" changes nothing
        await pilot.pause(0.3)
        assert JobStore().get(job_id)["state"] == "running"
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the confirm dialog")
        await pilot.press("y")
        await wait_for(pilot, lambda: row_state(screen, job_id) == "cancelled", timeout=40, what="cancelled")
        await app.workers.wait_for_complete([])
        messages = [n.message for n in app._notifications]
        assert f"job {job_id} cancelled" in messages
    rec = JobStore().get(job_id)
    assert rec["state"] == "cancelled" and "SIGTERM" in (rec["error"] or "")
    backups = data_home / "backups"
    assert not backups.exists() or list(backups.iterdir()) == []


async def test_cancelling_a_finished_job_only_warns(tmp_path, monkeypatch, data_home):
    monkeypatch.setenv("CLI_RECOVER_HISTORY_MAX_AGE", "never")
    fixed_history(data_home)
    app = jobs_app(fixed_services(), refresh_seconds=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded > 0)
        screen.select_job("0k1a2a000001")
        await pilot.pause(0.2)
        await pilot.press("c")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, ConfirmDialog)
        assert any("is not running (it succeeded)" in n.message for n in app._notifications)


def test_pod_targets_are_split_from_the_right():
    assert split_pod_target("arn:aws:eks:eu-1:1:cluster/prod/default/db-0[main]:/var/lib") == (
        "arn:aws:eks:eu-1:1:cluster/prod", "default", "db-0", "main", "/var/lib")
    assert split_pod_target("/srv/local/path") is None


# --- snapshots ------------------------------------------------------------------------------------


@pytest.fixture
def fixed_jobs(data_home, monkeypatch):
    monkeypatch.setenv("CLI_RECOVER_HISTORY_MAX_AGE", "never")
    return fixed_history(data_home)


async def _loaded(pilot, *keys: str) -> None:
    await wait_for(pilot, lambda: getattr(pilot.app.screen, "loaded", 0) > 0)
    await settle(pilot)
    for key in keys:
        await pilot.press(key)
        await settle(pilot)


def test_snapshot_jobs_running_job_selected(snap_compare, fixed_jobs):
    async def before(pilot):
        await _loaded(pilot, "down")

    assert snap_compare(jobs_app(fixed_services(), refresh_seconds=3600), terminal_size=(120, 40),
                        run_before=before)


def test_snapshot_jobs_cancel_confirmation(snap_compare, fixed_jobs):
    async def before(pilot):
        await _loaded(pilot)
        await pilot.press("down", "c")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmDialog))
        await pilot.pause(0.1)

    assert snap_compare(jobs_app(fixed_services(), refresh_seconds=3600), terminal_size=(120, 40),
                        run_before=before)


def test_snapshot_jobs_empty(snap_compare):
    assert snap_compare(jobs_app(fixed_services(), refresh_seconds=3600), terminal_size=(120, 40),
                        run_before=_loaded)


