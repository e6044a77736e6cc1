"""Restore dialog: the choice model (folders, files, un-choosing inside a chosen folder), the command
line kept in sync with every option, the argv handed to Services.launch, errors as notifications,
and snapshots with a fixed cluster (namespaces/pods) and manifest."""

from __future__ import annotations

import pytest
from textual.widgets import Checkbox, Input, Select

from cli_recover.archive.manifest import find_manifest
from cli_recover.errors import RecoverError
from cli_recover.tui.screens.restore import ArchiveTree, MemberSelection, RestoreDialog, command_line
from tests.test_tui_jobs_support import MEMBERS, FakeClusterServices, ScreenHost, wait_for, write_archive

ARCHIVE = "data-20261126T120000Z.tar.zst"


def test_choosing_folders_and_files():
    sel = MemberSelection(MEMBERS)
    assert sel.kids("") == ["config", "docs", "big.bin", "link-to-readme", "name with spaces.md"]
    assert sel.includes() == [] and sel.count()[0] == 10  # nothing chosen: everything
    sel.toggle("docs/readme.txt")
    assert sel.includes() == ["docs/readme.txt"] and sel.state("docs") == "some"
    sel.toggle("docs/guide.md")  # every entry of docs: docs itself
    assert sel.includes() == ["docs"] and sel.state("docs") == "all" and sel.state("docs/guide.md") == "all"
    sel.toggle("config/app.yaml")
    sel.toggle("docs/guide.md")  # un-choose one file of a chosen folder: its siblings stay chosen
    assert sel.includes() == ["config/app.yaml", "docs/readme.txt"]
    assert sel.count() == (2, 6310)
    sel.toggle("")  # the root: everything
    assert sel.includes() == [] and sel.state("big.bin") == "all"
    sel.toggle("big.bin")  # everything but big.bin
    assert sel.includes() == ["config", "docs", "link-to-readme", "name with spaces.md"]
    sel.clear()
    assert sel.includes() == [] and sel.state("docs") == "none"


def test_deep_members_imply_their_folders():
    sel = MemberSelection([{"path": "a/b/c.txt", "type": "file", "size": 3}, {"path": "a/d.txt", "type": "file"}])
    assert sel.kids("") == ["a"] and sel.kids("a") == ["a/b", "a/d.txt"] and sel.is_dir("a/b")
    sel.toggle("a/b/c.txt")
    assert sel.includes() == ["a/b"]  # the only entry of a/b


def test_command_line_quotes_and_names_the_data_home(data_home):
    archive = str(data_home / "backups" / ARCHIVE)
    argv = ["restore", "filesystem", "web", archive, "--include", "a b", "--target-path", "/x"]
    assert command_line(argv, archive) == (f"cli-recover restore filesystem web $CLI_RECOVER_HOME/backups/{ARCHIVE} "
                                           "--include 'a b' --target-path /x")


def dialog_app(data_home, services: FakeClusterServices) -> ScreenHost:
    archive = write_archive(data_home, ARCHIVE, created="2026-11-26T12:00:00Z", ns="default", pod="app",
                            path="/data")
    return ScreenHost(lambda: RestoreDialog(services, str(archive), find_manifest(archive)), services)


async def ready(pilot) -> RestoreDialog:
    dialog = pilot.app.screen
    await wait_for(pilot, lambda: dialog.query_one("#restore-container", Select).value == "main",
                   what="the source pod and container")
    for _ in range(3):
        await pilot.app.workers.wait_for_complete([])
        await pilot.pause(0.05)
    return dialog


async def choose_and_retarget(pilot) -> RestoreDialog:
    """Another namespace and pod, a new path, two chosen entries, --force."""
    dialog = pilot.app.screen
    dialog.query_one("#restore-ns", Select).value = "other"
    pods = dialog.query_one("#restore-pod", Select)
    await wait_for(pilot, lambda: [v for _, v in pods._options if v != Select.NULL] == ["restore-here"])
    pods.value = "restore-here"
    dialog.query_one("#restore-path", Input).value = "/restored"
    tree = dialog.query_one(ArchiveTree)
    tree.focus()
    docs = next(n for n in tree.root.children if n.data == "docs")
    tree.move_cursor(docs)
    await pilot.press("enter", "down", "space")  # open docs, choose docs/guide.md
    node = next(n for n in tree.root.children if n.data == "name with spaces.md")
    tree.move_cursor(node)
    await pilot.press("space", "ctrl+f")
    for _ in range(3):
        await pilot.app.workers.wait_for_complete([])
        await pilot.pause(0.05)
    return dialog


async def test_the_command_line_follows_the_options_and_is_what_runs(data_home):
    services = FakeClusterServices()
    app = dialog_app(data_home, services)
    async with app.run_test(size=(120, 40)) as pilot:
        dialog = await ready(pilot)
        archive = str(data_home / "backups" / ARCHIVE)
        assert dialog.current_argv() == ["restore", "filesystem", "app", archive, "-n", "default",
                                         "--target-path", "/data"]
        # another container of the same pod needs -c
        dialog.query_one("#restore-container", Select).value = "sidecar"
        await pilot.pause(0.05)
        assert ["-c", "sidecar"] == dialog.current_argv()[6:8]
        await choose_and_retarget(pilot)
        expected = ["restore", "filesystem", "restore-here", archive, "-n", "other", "--target-path", "/restored",
                    "--include", "docs/guide.md", "--include", "name with spaces.md", "--force"]
        assert dialog.current_argv() == expected
        shown = str(dialog.query_one("#restore-command").content)
        assert shown == "$ " + command_line(expected, archive)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: services.launched, what="the launch")
        await pilot.pause(0.1)
    assert services.launched == [expected]
    assert app.return_value is None  # the dialog was dismissed (the host app keeps running until exit)


async def test_refusals_and_launch_errors_are_notifications(data_home):
    class Failing(FakeClusterServices):
        def launch(self, argv):
            raise RecoverError("no such archive: /gone.tar.zst")

    services = Failing()
    app = dialog_app(data_home, services)
    async with app.run_test(size=(120, 40)) as pilot:
        dialog = await ready(pilot)
        dialog.query_one("#restore-path", Input).value = "relative/path"
        await pilot.press("ctrl+r")
        assert any("must be absolute" in n.message for n in app._notifications)
        dialog.query_one("#restore-path", Input).value = "/data"
        dialog.query_one("#restore-pod", Select).clear()
        await pilot.pause(0.05)
        await pilot.press("ctrl+r")
        assert any("choose the pod" in n.message for n in app._notifications)
        dialog.query_one("#restore-pod", Select).value = "app"
        await pilot.pause(0.05)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: any("no such archive" in n.message for n in app._notifications))
        assert app.screen is dialog and not dialog.query_one("#restore-run-button").disabled
        assert dialog.query_one("#restore-force", Checkbox).value is False


# --- snapshots ------------------------------------------------------------------------------------


@pytest.fixture
def snap_home(data_home):
    return data_home


def test_snapshot_restore_dialog_defaults(snap_compare, snap_home):
    async def before(pilot):
        await ready(pilot)

    assert snap_compare(dialog_app(snap_home, FakeClusterServices()), terminal_size=(120, 40), run_before=before)


def test_snapshot_restore_dialog_chosen_files_other_pod(snap_compare, snap_home):
    async def before(pilot):
        await ready(pilot)
        await choose_and_retarget(pilot)

    assert snap_compare(dialog_app(snap_home, FakeClusterServices()), terminal_size=(120, 40), run_before=before)
