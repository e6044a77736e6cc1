"""Issue 5, the app shell: `?` help, esc back, `:` commands and named views, `:ctx`, the command palette,
keys remapped from $CLI_RECOVER_HOME/keymap.toml, and errors shown as notifications."""

from __future__ import annotations

import pytest

from cli_recover.tui import app as app_module
from cli_recover.tui.keymap import load_keymap
from tests.tui_pods_helpers import demo_cluster, make_app, make_services, settle

WEB = "shop/web-7d4b9c6f5-x2k8p"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("tui-app-cluster")
    with demo_cluster(root) as sb:
        yield sb


@pytest.fixture
def services(cluster, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig_path))
    svc = make_services(namespace="shop")
    yield svc
    svc.close()


def notes(app) -> list[str]:
    return [n.message for n in app._notifications]


async def open_web(pilot):
    await settle(pilot)
    pilot.app.pods_screen.table.move_to_key(WEB)
    await pilot.press("enter")
    await settle(pilot)
    return pilot.app.screen


async def test_help_lists_the_keys_of_the_current_screen_and_esc_goes_back(services):
    from cli_recover.tui.widgets.help import HelpScreen

    app = make_app(services)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        ids = {row[2] for row in app.screen.rows}
        assert {"open_pod", "all_namespaces", "help", "command", "filter", "back", "quit"} <= ids
        assert "backup" not in ids
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.pods_screen

        pod = await open_web(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        ids = {row[2] for row in app.screen.rows}
        assert {"backup", "enter_dir", "parent_dir", "mark", "next_container"} <= ids
        await pilot.press("escape", "escape")  # close help, then back to the pods
        await pilot.pause()
        assert app.screen is app.pods_screen and pod not in app.screen_stack
        await pilot.press("escape")  # nothing under the pods view: stays
        await pilot.pause()
        assert app.screen is app.pods_screen


async def test_command_mode_opens_views_by_name(services, monkeypatch):
    app = make_app(services)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("colon", *"jobs", "enter")
        await settle(pilot)
        assert getattr(app.screen, "view_name", None) == "jobs"
        await pilot.press("colon", *"history", "enter")
        await settle(pilot)
        assert getattr(app.screen, "view_name", None) == "history"
        await pilot.press("colon", *"jobs", "enter")  # already open: back to it, no second copy
        await settle(pilot)
        assert [getattr(s, "view_name", None) for s in app.screen_stack] == ["pods", "jobs"]
        await pilot.press("colon", *"pods", "enter")
        await settle(pilot)
        assert app.screen is app.pods_screen and len(app.screen_stack) == 1

        # a view registered by name whose module is not there (yet) says so instead of crashing
        monkeypatch.setitem(app_module.VIEWS, "reports", ("cli_recover.tui.screens.reports_missing", "X"))
        await pilot.press("colon", *"reports", "enter")
        await pilot.pause()
        assert app.screen is app.pods_screen
        assert any("reports view is not installed" in m for m in notes(app))
        await pilot.press("colon", *"frobnicate", "enter")
        await pilot.pause()
        assert any("unknown command :frobnicate" in m for m in notes(app))
        await pilot.press("colon", *"quit", "enter")
        await pilot.pause()
    assert app.return_code == 0


async def test_context_switching_and_errors_as_notifications(services):
    app = make_app(services)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        pods = app.pods_screen
        assert pods.context_name == "sandbox"
        await pilot.press("colon", *"ctx nowhere", "enter")
        await settle(pilot)
        assert any("unknown context 'nowhere'" in m and "sandbox-viewer" in m for m in notes(app))
        await pilot.press("colon", *"ctx sandbox-viewer", "enter")  # may list pods, not exec (RBAC)
        await settle(pilot)
        assert pods.context_name == "sandbox-viewer" and services.context == "sandbox-viewer"
        assert pods.namespace == "default"  # the context's namespace
        assert pods.table.keys == ["default/batch-import-pending", "default/toolbox"]
        pods.table.move_to_key("default/toolbox")
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.files.row_count == 0 and "forbidden" in app.screen.files.empty_text
        assert any("forbidden" in m for m in notes(app))
        await pilot.press("escape", "colon", *"ctx sandbox", "enter")
        await settle(pilot)
        assert pods.context_name == "sandbox" and services.context == "sandbox"


async def test_pickers_for_namespace_and_context(services):
    from cli_recover.tui.widgets.picker import PickerDialog

    app = make_app(services)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, PickerDialog)
        assert [v for v, _ in app.screen.choices][:2] == ["all", "blog"]
        await pilot.press("down", "enter")  # highlighted: shop (current) -> next one
        await settle(pilot)
        assert app.screen is app.pods_screen
        assert app.pods_screen.namespace != "shop" or app.pods_screen.all_namespaces
        await pilot.press("x")
        await settle(pilot)
        assert [v for v, _ in app.screen.choices] == ["sandbox", "sandbox-viewer"]
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.pods_screen


async def test_keymap_file_remaps_binding_ids(services, data_home):
    (data_home / "keymap.toml").write_text('[keymap]\nbackup = "ctrl+b"\nquit = "ctrl+q"\n')
    from cli_recover.tui.screens.backup import BackupDialog

    app = make_app(services)
    async with app.run_test(size=(120, 40)) as pilot:
        pod = await open_web(pilot)
        await pilot.press("b")
        await pilot.pause()
        assert app.screen is pod  # b no longer backs up
        await pilot.press("ctrl+b")
        await pilot.pause()
        assert isinstance(app.screen, BackupDialog)
        await pilot.press("escape", "escape")
        await pilot.pause()
        await pilot.press("q")
        await pilot.pause()
        assert app.is_running  # q was remapped away
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert not app.is_running


async def test_a_bad_keymap_is_reported_and_the_defaults_stay(services, data_home):
    (data_home / "keymap.yaml").write_text("backup: [unclosed\n")
    app = make_app(services)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert any("cannot read the keymap" in m and "default keys" in m for m in notes(app))


async def test_unknown_binding_ids_are_named(services, tmp_path):
    path = tmp_path / "keys.toml"
    path.write_text('bakup = "ctrl+b"\n')
    app = make_app(services, keymap_path=path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert any("unknown binding ids ignored: bakup" in m for m in notes(app))


def test_keymap_formats(tmp_path):
    (tmp_path / "a.toml").write_text('quit = "ctrl+q"\n[keymap]\nbackup = ["B", "ctrl+b"]\n')
    assert load_keymap(tmp_path / "a.toml") == {"backup": "B,ctrl+b"}
    (tmp_path / "b.yml").write_text("quit: ctrl+q\nhelp: 'f1, question_mark'\n")
    assert load_keymap(tmp_path / "b.yml") == {"quit": "ctrl+q", "help": "f1,question_mark"}
    (tmp_path / "c.toml").write_text("quit = 3\n")
    with pytest.raises(Exception, match="must be a key"):
        load_keymap(tmp_path / "c.toml")


async def test_command_palette_lists_the_screen_actions(services):
    from cli_recover.tui.screens.backup import BackupDialog

    app = make_app(services)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_web(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Backup")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, BackupDialog)


async def test_the_app_opens_when_the_cluster_is_unreachable(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    svc = make_services(kubeconfig=str(tmp_path / "missing.yaml"))
    app = make_app(svc)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert "kubeconfig file not found" in app.pods_screen.table.empty_text
        assert any("kubeconfig file not found" in m for m in notes(app))
    svc.close()


async def test_worker_errors_reach_the_one_handler_verbatim(tmp_path, monkeypatch):
    """The pods worker fails (a kubeconfig path that looks like markup): the error arrives as an
    ErrorReport at the app's handler and is shown once, as plain text, while the screen keeps working."""
    from cli_recover.tui.widgets.errors import ErrorReport, ReportsErrors

    monkeypatch.delenv("KUBECONFIG", raising=False)
    svc = make_services(kubeconfig=str(tmp_path / "[b]gone[/b].yaml"))
    app = make_app(svc)
    seen: list[ErrorReport] = []
    handler = ReportsErrors.on_error_report

    def spy(self, message):
        seen.append(message)
        handler(self, message)

    monkeypatch.setattr(ReportsErrors, "on_error_report", spy)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.pods_screen.reload()  # the same failure again is said once
        await settle(pilot)
        errors = [n for n in app._notifications if n.severity == "error"]
        assert len(errors) == 1 and "[b]gone[/b].yaml" in errors[0].message
        assert errors[0].markup is False and errors[0].title == "Pods"
        assert [m.title for m in seen] == ["Pods"]
        await pilot.press("colon", *"nosuchview", "enter")
        await settle(pilot)
        assert [m.title for m in seen] == ["Pods", ""] and "unknown command" in seen[-1].text
    svc.close()


async def test_cursors_are_steady_under_test_only(services):
    """tests/conftest.py switches blinking off for every Input; the app itself leaves it on."""
    from textual.widgets import Input

    from cli_recover.tui.widgets.command_bar import CommandBar

    app = make_app(services)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("colon")
        await pilot.pause()
        assert app.screen.query_one(CommandBar).cursor_blink is False
    assert Input.cursor_blink._default is False  # the fixture's doing, undone after the test
