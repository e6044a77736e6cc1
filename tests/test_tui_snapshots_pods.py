"""Issue 5, snapshots of the Pods and Pod screens, the Backup dialog, help, the command bar and the
namespace picker: demo cluster, fixed clock (every AGE is 59d), no kubeconfig path shown (KUBECONFIG
env), steady cursors. SVGs in the top-level snapshots/ folder."""

from __future__ import annotations

import pytest

from tests.tui_pods_helpers import demo_cluster, make_app, make_services, settle

SIZE = (120, 40)
WEB = "shop/web-7d4b9c6f5-x2k8p"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("tui-snap-cluster")
    with demo_cluster(root) as sb:
        yield sb


@pytest.fixture
def app_factory(cluster, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig_path))
    made = []

    def factory(**kw):
        services = make_services(namespace=kw.pop("namespace", "shop"))
        made.append(services)
        return make_app(services, **kw)

    yield factory
    for services in made:
        services.close()


async def _web_pod_at(pilot, path: str):
    await settle(pilot)
    pilot.app.pods_screen.table.move_to_key(WEB)
    await pilot.press("enter")
    await settle(pilot)
    pod = pilot.app.screen
    pod.list_path(path)
    await settle(pilot)
    return pod


def test_snapshot_pods_namespace(snap_compare, app_factory):
    assert snap_compare(app_factory(), terminal_size=SIZE, run_before=settle)


def test_snapshot_pods_all_namespaces_filtered(snap_compare, app_factory):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("slash", *"wor")

    assert snap_compare(app_factory(all_namespaces=True), terminal_size=SIZE, run_before=run_before)


def test_snapshot_pod_browser(snap_compare, app_factory):
    async def run_before(pilot):
        pod = await _web_pod_at(pilot, "/app/uploads/2026/01")
        pod.files.move_to_key("catalog.pdf")
        await pilot.press("space")  # marked
        await pilot.pause()

    assert snap_compare(app_factory(), terminal_size=SIZE, run_before=run_before)


def test_snapshot_backup_dialog(snap_compare, app_factory):
    async def run_before(pilot):
        await _web_pod_at(pilot, "/app")
        await pilot.press("b")
        await pilot.pause()
        from textual.widgets import Input, Select

        dialog = pilot.app.screen
        dialog.query_one("#compression", Select).value = "gzip"
        dialog.query_one("#level", Input).value = "9"
        dialog.query_one("#excludes", Input).value = "*.log, uploads/tmp"
        await pilot.pause()

    assert snap_compare(app_factory(), terminal_size=SIZE, run_before=run_before)


def test_snapshot_help_on_the_pod_screen(snap_compare, app_factory):
    async def run_before(pilot):
        await _web_pod_at(pilot, "/app")
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(app_factory(), terminal_size=SIZE, run_before=run_before)


def test_snapshot_command_bar(snap_compare, app_factory):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("colon", *"hi")

    assert snap_compare(app_factory(), terminal_size=SIZE, run_before=run_before)


def test_snapshot_namespace_picker(snap_compare, app_factory):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)

    assert snap_compare(app_factory(), terminal_size=SIZE, run_before=run_before)
