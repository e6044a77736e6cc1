"""Issue 5, the Pods / Pod / Backup screens driven with Textual's pilot against the sandbox cluster: the pod
table, namespaces, filter, the folder browser over exec, the backup dialog's command line, a backup run as
a real background job to its archive, and a pod deleted while shown."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from cli_recover.kube.sandbox import make_pod
from tests.tui_pods_helpers import demo_cluster, make_app, make_services, settle, wait_for

WEB = "shop/web-7d4b9c6f5-x2k8p"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("tui-cluster")
    with demo_cluster(root) as sb:
        sb.test_root = root
        yield sb


@pytest.fixture
def services(cluster, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig_path))
    svc = make_services(namespace="shop")
    yield svc
    svc.close()


def names(app) -> list[str]:
    return list(app.pods_screen.table.keys)


def notes(app) -> list[str]:
    return [n.message for n in app._notifications]


async def open_pod(pilot, key: str):
    app = pilot.app
    await settle(pilot)
    assert app.pods_screen.table.move_to_key(key), names(app)
    await pilot.press("enter")
    await settle(pilot)
    from cli_recover.tui.screens.pod import PodScreen

    assert isinstance(app.screen, PodScreen)
    return app.screen


async def go_to(pilot, screen, name: str) -> None:
    assert screen.files.move_to_key(name), screen.files.keys
    await pilot.press("enter")
    await settle(pilot)


async def test_pod_table_namespaces_and_all_namespaces(services):
    app = make_app(services)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        pods = app.pods_screen
        assert names(app) == ["shop/postgres-0", "shop/recommender-crashloop", WEB, "shop/worker-5f8d7b7c9-q9zt4"]
        row = pods.table.rows[pods.table.keys.index(WEB)]
        assert row[0] == "web-7d4b9c6f5-x2k8p" and row[1] == "2/2" and row[2][0] == "Running"
        assert row[3] == "log-shipper,web" and row[5] == "59d"  # AGE from the injected clock

        await pilot.press("colon", *"ns all", "enter")
        await settle(pilot)
        assert pods.all_namespaces and pods.table.columns[0].label == "NAMESPACE"
        assert {"blog/mysql-0", "default/toolbox", WEB} <= set(names(app))

        await pilot.press("colon", *"ns blog", "enter")
        await settle(pilot)
        assert not pods.all_namespaces and pods.namespace == "blog"
        assert names(app) == ["blog/mysql-0", "blog/wordpress-6b9f8d4c7-m4v2n"]
        assert services.namespace == "blog"  # the backup dialog and launched jobs follow it

        await pilot.press("0")  # k9s: 0 toggles all namespaces
        await settle(pilot)
        assert pods.all_namespaces

        await pilot.press("colon", *"ns nowhere", "enter")
        await settle(pilot)
        assert names(app) == []
        assert any("no namespace 'nowhere'" in m for m in notes(app))


async def test_filter_as_you_type_keeps_or_clears(services):
    app = make_app(services, all_namespaces=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        total = len(names(app))
        await pilot.press("slash", "w", "o")
        assert set(names(app)) == {"shop/worker-5f8d7b7c9-q9zt4", "blog/wordpress-6b9f8d4c7-m4v2n"}
        await pilot.press("r", "k")
        assert names(app) == ["shop/worker-5f8d7b7c9-q9zt4"]
        await pilot.press("enter")  # keep the filter, back to the table
        await pilot.pause()
        assert app.pods_screen.filter_text == "work" and app.focused is app.pods_screen.table
        assert names(app) == ["shop/worker-5f8d7b7c9-q9zt4"]
        await pilot.press("slash", "backspace", "backspace", "backspace", "backspace", *"zzz")
        assert names(app) == [] and "no pods match /zzz" in app.pods_screen.table.empty_text
        await pilot.press("escape")  # Esc in the bar clears the filter
        await pilot.pause()
        assert app.pods_screen.filter_text == "" and len(names(app)) == total
        await pilot.press("slash", *"crash", "enter", "escape")  # Esc on the table clears a kept filter
        await pilot.pause()
        assert len(names(app)) == total


async def test_browse_folders_and_back_up_a_folder_as_a_background_job(services, data_home):
    app = make_app(services)
    async with app.run_test(size=(120, 40)) as pilot:
        pod = await open_pod(pilot, WEB)
        assert pod.container == "web"  # the default-container annotation
        assert {"app", "var"} <= set(pod.files.keys)
        await go_to(pilot, pod, "app")
        assert pod.path == "/app"
        assert pod.files.keys[:4] == ["..", "config", "uploads", "server.py"]
        server = pod.files.rows[pod.files.keys.index("server.py")]
        assert server[2] == "file" and server[3].endswith(" B")
        await go_to(pilot, pod, "config")
        assert pod.path == "/app/config" and set(pod.files.keys) == {"..", "app.yaml", "feature-flags.json"}
        await pilot.press("backspace")
        await settle(pilot)
        assert pod.path == "/app" and pod.files.cursor_key == "config"  # the cursor stays on where we were
        await go_to(pilot, pod, "config")

        await pilot.press("b")
        await pilot.pause()
        from cli_recover.tui.screens.backup import BackupDialog

        dialog = app.screen
        assert isinstance(dialog, BackupDialog)
        preview = str(dialog.query_one("#command-preview").render())
        assert preview == ("$ cli-recover backup filesystem web-7d4b9c6f5-x2k8p /app/config -n shop -c web "
                           "--context sandbox --compression zstd")
        # the command line follows the options
        from textual.widgets import Checkbox, Input, RadioButton, Select

        dialog.query_one("#compression", Select).value = "lz4"
        await pilot.pause()
        dialog.query_one("#level", Input).focus()
        await pilot.press("9")
        dialog.query_one("#excludes", Input).value = "*.json, tmp/*"
        dialog.query_one("#exclude-vcs", Checkbox).value = True
        await pilot.pause()
        assert dialog.argvs == [["backup", "filesystem", "web-7d4b9c6f5-x2k8p", "/app/config", "-n", "shop", "-c",
                                 "web", "--context", "sandbox", "--compression", "lz4", "--level", "9",
                                 "--exclude", "*.json", "--exclude", "tmp/*", "--exclude-vcs"]]
        assert "--exclude '*.json'" in str(dialog.query_one("#command-preview").render())
        dialog.query_one("#mode-background", RadioButton).value = True
        await pilot.pause()
        assert dialog.argvs[0][-1] == "--background"
        dialog.query_one("#level", Input).value = "99"
        await pilot.pause()
        assert "1..16" not in dialog.problem and "0..16" in dialog.problem
        assert dialog.query_one("#run").disabled
        dialog.query_one("#level", Input).value = ""
        dialog.query_one("#excludes", Input).value = "*.json"
        dialog.query_one("#mode-now", RadioButton).value = True
        await pilot.pause()
        assert not dialog.query_one("#run").disabled

        await pilot.click("#run")
        await wait_for(pilot, lambda: not isinstance(app.screen, BackupDialog), what="the dialog to close")
        await settle(pilot)
        assert getattr(app.screen, "view_name", None) == "jobs" or any("started" in m for m in notes(app))

        store = services.store()
        deadline = time.monotonic() + 60
        while True:
            jobs = store.summaries()
            if jobs and jobs[0]["state"] in ("succeeded", "failed", "cancelled"):
                break
            assert time.monotonic() < deadline, jobs
            await pilot.pause(0.2)
        record = store.get(jobs[0]["id"])
        assert record["state"] == "succeeded", record.get("error")
        archive = Path(record["archive"])
        assert archive.is_file() and archive.name.endswith(".tar.lz4")
        assert archive.is_relative_to(data_home / "backups")
        from cli_recover.archive.manifest import manifest_path

        manifest = manifest_path(archive).read_text()
        assert "app.yaml" in manifest and "feature-flags.json" not in manifest  # --exclude '*.json'
        assert record["target"]["pod"] == "web-7d4b9c6f5-x2k8p" and record["target"]["container"] == "web"


async def test_marked_entries_become_one_job_each(services):
    launched = []
    services.launcher = lambda argv: launched.append(argv) or f"job{len(launched)}"
    app = make_app(services)
    async with app.run_test(size=(120, 40)) as pilot:
        pod = await open_pod(pilot, WEB)
        await go_to(pilot, pod, "app")
        pod.files.move_to_key("config")
        await pilot.press("space")
        pod.files.move_to_key("server.py")
        await pilot.press("space")
        assert pod.marked == ["/app/config", "/app/server.py"]
        assert pod.files.rows[pod.files.keys.index("config")][0] == "✓"
        await pilot.press("b")
        await pilot.pause()
        dialog = app.screen
        assert [a[3] for a in dialog.argvs] == ["/app/config", "/app/server.py"]
        from textual.widgets import RadioButton

        dialog.query_one("#mode-background", RadioButton).value = True
        await pilot.pause()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is pod, what="back on the pod screen")
        assert [a[3] for a in launched] == ["/app/config", "/app/server.py"]
        assert all("--background" not in a for a in launched)  # the launcher adds it
        assert pod.marked == []
        assert any("job1, job2" in m for m in notes(app))


async def test_launch_failure_is_a_readable_error_in_the_dialog(services):
    from cli_recover.errors import RecoverError

    def refuse(argv):
        raise RecoverError("the API server said no")

    services.launcher = refuse
    app = make_app(services)
    async with app.run_test(size=(120, 40)) as pilot:
        pod = await open_pod(pilot, WEB)
        await pilot.press("b")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "the API server said no" in str(app.screen.query_one("#backup-problem").render())
        assert any("the API server said no" in m for m in notes(app))
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is pod


async def test_containers_and_a_pod_that_does_not_run(services):
    app = make_app(services)
    async with app.run_test(size=(120, 40)) as pilot:
        pod = await open_pod(pilot, WEB)
        await pilot.press("c")  # next container: log-shipper
        await settle(pilot)
        assert pod.container == "log-shipper"
        assert "log-shipper" in str(pod.query_one("#files-path").render())
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is app.pods_screen
        pod = await open_pod(pilot, "shop/recommender-crashloop")
        assert pod.files.row_count == 0
        assert "not Running" in pod.files.empty_text
        assert any("not Running" in m for m in notes(app))


async def test_a_pod_deleted_while_shown(services, cluster):
    folder = make_pod(cluster.test_root, "shop", "short-lived", {"containers": [{"name": "main"}]},
                      {"data/x.txt": "x"})
    app = make_app(services)
    async with app.run_test(size=(120, 40)) as pilot:
        pod = await open_pod(pilot, "shop/short-lived")
        assert "data" in pod.files.keys
        shutil.rmtree(folder)
        (folder.parent / "short-lived.pod.json").unlink()
        pod._check_pod()  # what the screen's timer does every refresh interval
        await settle(pilot)
        assert pod.gone
        banner = pod.query_one("#pod-gone")
        assert banner.display and "no longer exists" in str(banner.render())
        assert any("was deleted" in m for m in notes(app))
        assert "b" not in {b.key for b in pod.active_bindings.values() if b.binding.action == "backup"} or \
            not pod.check_action("backup", ())
        await pilot.press("escape")
        await settle(pilot)
        assert "shop/short-lived" not in names(app)  # gone from the table on return


async def test_the_pods_table_says_when_a_shown_pod_disappears(services, cluster):
    folder = make_pod(cluster.test_root, "shop", "short-lived-2", {"containers": [{"name": "main"}]})
    app = make_app(services)
    async with app.run_test(size=(120, 40)) as pilot:
        pod = await open_pod(pilot, "shop/short-lived-2")
        shutil.rmtree(folder)
        (folder.parent / "short-lived-2.pod.json").unlink()
        app.pods_screen.reload()  # the periodic refresh of the pods table
        await settle(pilot)
        assert pod.gone
        assert "shop/short-lived-2" not in names(app)


class FakeTarget:
    """A container whose find has no -printf (busybox): the browser falls back to `ls -1apL`."""

    def __init__(self):
        self.calls = []

    def run(self, argv, timeout=30.0):
        self.calls.append(argv[0])
        if argv[0] == "find":
            return 1, b"", "find: unrecognized: -printf\nBusyBox v1.36.1 multi-call binary."
        return 0, b"./\n../\nconf/\nnotes.txt\nbin/\n", ""


def test_busybox_listing_falls_back_to_ls():
    from cli_recover.tui.browse import list_dir, parse_find

    target = FakeTarget()
    entries = list_dir(target, "/data")
    assert target.calls == ["find", "ls"]
    assert [(e.name, e.kind, e.size) for e in entries] == [("bin", "dir", None), ("conf", "dir", None),
                                                          ("notes.txt", "file", None)]
    parsed = parse_find(b"d\td\t4096\tdir one\0l\td\t7\tlink\0f\tf\t12\ta\tb.txt\0")
    assert [(e.name, e.kind, e.size) for e in parsed] == [("dir one", "dir", None), ("link", "dirlink", None),
                                                         ("a\tb.txt", "file", 12)]


async def test_backup_from_the_pods_table_with_a_typed_path(services):
    launched = []
    services.launcher = lambda argv: launched.append(argv) or "job-typed"
    app = make_app(services)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.pods_screen.table.move_to_key("shop/postgres-0")
        await pilot.press("b")
        await pilot.pause()
        dialog = app.screen
        assert dialog.argvs == [] and dialog.problem == "give at least one path"
        assert dialog.query_one("#run").disabled
        await pilot.press(*"var/lib")
        await pilot.pause()
        assert dialog.problem == "paths in the pod are absolute: var/lib"
        await pilot.press("home", "slash")
        await pilot.pause()
        assert dialog.argvs[0][:6] == ["backup", "filesystem", "postgres-0", "/var/lib", "-n", "shop"]
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: bool(launched), what="the launch")
        await settle(pilot)
        assert launched[0][3] == "/var/lib"
        assert any("job-typed" in n.message for n in app._notifications)


async def test_the_table_refreshes_itself(services, cluster):
    app = make_app(services, refresh_interval=0.2)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert "shop/newcomer" not in names(app)
        folder = make_pod(cluster.test_root, "shop", "newcomer", {"containers": [{"name": "main"}]})
        try:
            await wait_for(pilot, lambda: "shop/newcomer" in names(app), what="the new pod in the table")
            app.pods_screen.table.move_to_key("shop/newcomer")
            shutil.rmtree(folder)
            (folder.parent / "newcomer.pod.json").unlink()
            await wait_for(pilot, lambda: "shop/newcomer" not in names(app), what="the pod to go")
            assert app.pods_screen.table.cursor_key is not None  # the cursor moved to a row that exists
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            (folder.parent / "newcomer.pod.json").unlink(missing_ok=True)


async def test_the_output_name_sets_the_compression_as_the_cli_does(services):
    """`-o x.tar.gz` means gzip on the command line; the dialog follows a typed Output name, and a
    name cli-recover cannot write (`.tar.xz`) is the dialog's problem line, not a failed job."""
    from textual.widgets import Input, Select

    app = make_app(services)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.pods_screen.table.move_to_key("shop/postgres-0")
        await pilot.press("b")
        await pilot.pause()
        dialog = app.screen
        dialog.query_one("#paths", Input).value = "/var/lib"
        assert dialog.query_one("#compression", Select).value == "zstd"
        dialog.query_one("#output", Input).value = "/tmp/db.tar.gz"
        await pilot.pause()
        assert dialog.query_one("#compression", Select).value == "gzip"
        assert dialog.argvs and dialog.argvs[0][dialog.argvs[0].index("--compression") + 1] == "gzip"
        assert not dialog.problem
        dialog.query_one("#output", Input).value = "/tmp/db.tar.xz"
        await pilot.pause()
        assert "names a compression cli-recover does not write" in dialog.problem
        assert dialog.query_one("#run").disabled
        dialog.query_one("#output", Input).value = "/tmp/db.tar"
        await pilot.pause()
        assert dialog.query_one("#compression", Select).value == "none" and not dialog.problem
