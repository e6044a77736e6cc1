"""The storage seams driven directly: LocalFileSink (the commit rule of docs/FORMAT.md, a kill and an
error at every commit step, a real full disk) and LocalArchiveStore (list/stat/load/remove, the
manifest-before-archive removal order), open_store/store_for, and the manifest's command redaction."""

from __future__ import annotations

import errno
import json
import os
import signal
import stat
import subprocess
import sys

import pytest

from cli_recover.archive.manifest import ManifestDocument, MemberSpool, load_manifest, redact_command
from cli_recover.errors import RecoverError, UsageError
from cli_recover.storage import open_store, redact_location, store_for
from cli_recover.storage.base import ArchiveStore, Sink, removal_order
from cli_recover.storage.local import LocalArchiveStore, LocalFileSink
from tests.faults import fault_env, full_disk, inject
from tests.jobs_helpers import ROOT

BEFORE_COMMIT = ["commit.archive-synced", "commit.manifest-write", "commit.manifest-written"]
AFTER_COMMIT = ["commit.archive-renamed", "commit.manifest-renamed", "commit.dir-synced"]
HEADER = {"format": "cli-recover/manifest", "format_version": 1, "archive": "a.bin", "codec": {"name": "none"},
          "bytes": {"stored": 3000}, "sha256": {}, "created": "2026-01-01T00:00:00Z"}


def _ls(folder) -> list[str]:
    return sorted(os.listdir(folder))


def _write(store: LocalArchiveStore, name: str = "a.bin", data: bytes = b"abc" * 1000):
    sink = store.create(name)
    sink.write(data)
    assert sink.finish() == len(data)
    return sink


def test_a_sink_commits_archive_and_manifest_private_and_nothing_else(tmp_path):
    store = LocalArchiveStore(tmp_path)
    assert isinstance(store, ArchiveStore)
    sink = _write(store)
    assert isinstance(sink, Sink)
    assert _ls(tmp_path) == ["a.bin.partial"]  # written, durable, not visible
    archive, manifest = sink.commit(ManifestDocument(HEADER))
    assert (archive, manifest) == (str(tmp_path / "a.bin"), str(tmp_path / "a.bin.manifest.json"))
    assert _ls(tmp_path) == ["a.bin", "a.bin.manifest.json"]
    for name in _ls(tmp_path):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o600
    assert load_manifest(manifest)["members"] == []
    assert load_manifest("shown", store, "a.bin.manifest.json")["archive"] == "a.bin"
    sink.abort()  # after the commit: a no-op, never removes the committed archive
    assert _ls(tmp_path) == ["a.bin", "a.bin.manifest.json"]


def test_the_manifest_streams_the_member_spool(tmp_path):
    sink = _write(LocalArchiveStore(tmp_path))
    spool = MemberSpool(sink.spool_path)
    spool.add({"path": "x", "type": "file"})
    spool.add({"path": "y", "type": "dir"})
    _a, manifest = sink.commit(spool.document(HEADER))
    spool.discard()
    assert [m["path"] for m in load_manifest(manifest)["members"]] == ["x", "y"]
    assert _ls(tmp_path) == ["a.bin", "a.bin.manifest.json"]


def test_abort_removes_what_the_sink_created_and_only_that(tmp_path):
    store = LocalArchiveStore(tmp_path)
    sink = _write(store)
    sink.abort()
    sink.abort()
    assert _ls(tmp_path) == []
    # a manifest .partial the sink did not create (another writer's) survives a failed commit
    sink = _write(store)
    (tmp_path / "a.bin.manifest.json.partial").write_text("not ours")
    with pytest.raises(FileExistsError):
        sink.commit(ManifestDocument(HEADER))
    assert _ls(tmp_path) == ["a.bin.manifest.json.partial"]


def test_a_taken_name_is_one_line_and_the_existing_archive_is_untouched(tmp_path):
    store = LocalArchiveStore(tmp_path)
    _write(store).commit(ManifestDocument(HEADER))
    with pytest.raises(UsageError, match="already exists"):
        store.create("a.bin")
    assert _ls(tmp_path) == ["a.bin", "a.bin.manifest.json"]


@pytest.mark.parametrize("step", BEFORE_COMMIT[:1] + ["commit.manifest-write"] + BEFORE_COMMIT[2:] + AFTER_COMMIT[:2])
def test_an_error_at_each_commit_step_undoes_every_step(tmp_path, monkeypatch, step):
    inject(monkeypatch, f"{step}={'enospc' if step == 'commit.manifest-write' else 'raise'}")
    sink = _write(LocalArchiveStore(tmp_path))
    with pytest.raises(BaseException) as info:  # noqa: PT011 - the fault point's exception is re-raised as is
        sink.commit(ManifestDocument(HEADER))
    if step == "commit.manifest-write":
        assert isinstance(info.value, OSError) and info.value.errno == errno.ENOSPC
    assert _ls(tmp_path) == []


KILLED_SINK = """
import sys
from cli_recover.archive.manifest import ManifestDocument
from cli_recover.storage import open_store
sink = open_store(sys.argv[1]).create("a.bin")
sink.write(b"abc" * 1000)
sink.finish()
sink.commit(ManifestDocument({"format": "cli-recover/manifest", "format_version": 1, "codec": {}, "bytes": {},
                              "sha256": {}}))
"""


@pytest.mark.parametrize("step", BEFORE_COMMIT + AFTER_COMMIT)
def test_a_kill_at_each_commit_step_leaves_the_old_or_the_new_state(tmp_path, step):
    res = subprocess.run([sys.executable, "-c", KILLED_SINK, str(tmp_path)], env=fault_env(f"{step}=kill"),
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert res.returncode == -signal.SIGKILL, res.stderr
    files = _ls(tmp_path)
    if step in BEFORE_COMMIT:  # only .partial names: the old state once the job's partials are removed
        assert "a.bin" not in files and "a.bin.manifest.json" not in files
        assert all(f.endswith(".partial") for f in files) and "a.bin.partial" in files
    else:  # the archive is in place and complete; its manifest complete under one of its two names
        assert "a.bin" in files and "a.bin.partial" not in files
        assert (tmp_path / "a.bin").read_bytes() == b"abc" * 1000
        (mname,) = [f for f in files if f.startswith("a.bin.manifest.json")]
        assert json.loads((tmp_path / mname).read_text())["members"] == []


def test_a_real_full_disk_is_an_oserror_and_abort_leaves_nothing(tmp_path):
    with full_disk(tmp_path / "disk", "1m") as disk:
        store = LocalArchiveStore(disk)
        sink = store.create("big.bin")
        with pytest.raises(OSError) as info:
            for _ in range(4):
                sink.write(os.urandom(1 << 20))
            sink.finish()
        assert info.value.errno == errno.ENOSPC
        sink.abort()
        assert _ls(disk) == []


def test_the_archive_folder_that_cannot_be_written_is_one_line(tmp_path):
    (tmp_path / "a.bin.partial").mkdir()  # the reserved name is a folder: open fails
    with pytest.raises(RecoverError, match="cannot write the archive in"):
        LocalFileSink(tmp_path / "a.bin", reserved=True)


def test_list_stat_load_remove(tmp_path):
    store = LocalArchiveStore(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.bin").write_bytes(b"0123456789")
    (tmp_path / "a.bin").write_bytes(b"xy")
    os.mkfifo(tmp_path / "fifo")
    assert [(i.name, i.size, i.kind) for i in store.list()] == [("a.bin", 2, "file"), ("fifo", 0, "other"),
                                                                 ("sub/b.bin", 10, "file")]
    assert [i.name for i in store.list(recursive=False)] == ["a.bin", "fifo"]
    assert [i.name for i in store.list("sub")] == ["sub/b.bin"]
    assert list(LocalArchiveStore(tmp_path / "missing").list()) == []
    assert store.stat("sub/b.bin").size == 10 and store.stat("sub").kind == "dir"
    with pytest.raises(FileNotFoundError):
        store.stat("nope")
    with store.load("sub/b.bin", offset=4) as f:
        assert f.read() == b"456789"
    with pytest.raises(FileNotFoundError):
        store.load("nope")
    store.remove("a.bin")
    store.remove("a.bin")  # a missing object is not an error
    assert not (tmp_path / "a.bin").exists()
    for bad in ("../x", "/etc/passwd", "", "sub/../../x"):
        with pytest.raises(UsageError):
            store.stat(bad)
    assert store.locate("sub/b.bin") == str(tmp_path / "sub" / "b.bin")


def test_remove_archive_goes_manifest_first_and_stops_at_an_error(tmp_path):
    store = LocalArchiveStore(tmp_path)
    assert removal_order("a.bin") == ["a.bin.manifest.json", "a.bin"]
    _write(store).commit(ManifestDocument(HEADER))
    seen = []
    assert store.remove_archive("a.bin", on_removed=seen.append) == [str(tmp_path / "a.bin.manifest.json"),
                                                                     str(tmp_path / "a.bin")]
    assert seen == ["a.bin.manifest.json", "a.bin"] and _ls(tmp_path) == []
    # a manifest that cannot be removed (here: a folder) keeps its archive: never a manifest alone
    (tmp_path / "b.bin").write_bytes(b"x")
    (tmp_path / "b.bin.manifest.json").mkdir()
    with pytest.raises(OSError):
        store.remove_archive("b.bin")
    assert (tmp_path / "b.bin").exists()
    # an archive without its manifest, and a manifest without its archive, go alone
    (tmp_path / "c.bin").write_bytes(b"x")
    assert store.remove_archive("c.bin") == [str(tmp_path / "c.bin")]


def test_open_store_and_store_for(tmp_path):
    assert open_store(str(tmp_path)).root == tmp_path
    assert open_store(f"file://{tmp_path}").root == tmp_path
    store, name = store_for(tmp_path / "x" / "a.tar.zst")
    assert (store.root, name) == (tmp_path / "x", "a.tar.zst")
    assert store_for("a.tar")[0].root.as_posix() == "."
    for bad in ("", "  "):
        with pytest.raises(UsageError):
            open_store(bad)
    with pytest.raises(UsageError) as info:
        store_for("s3://AKIA:hunter2@bucket/prefix/a.tar.zst")
    assert "not supported yet" in str(info.value) and "hunter2" not in str(info.value)


def test_redact_location():
    assert redact_location("/srv/backups") == "/srv/backups"
    assert redact_location("s3://bucket/p/") == "s3://bucket/p/"
    assert redact_location("https://user:pw@minio:9000/b?X-Amz-Signature=abc&part=2") == \
        "https://user:***@minio:9000/b?X-Amz-Signature=***&part=2"
    assert "tok" not in redact_location("az://c/p?sig=tok&sv=1")


def test_the_manifest_command_hides_secrets_but_keeps_its_shape():
    argv = ["env", "PGPASSWORD=hunter2", "MYSQL_PWD=s3cr3t", "PATH=/bin", "pg_dump", "--password=x1",
            "--db-password", "x2", "--host", "db", "postgres://u:x3@db/app", "-C", "/data", "--", "."]
    out = redact_command(argv, secrets=("plain-secret",))
    assert len(out) == len(argv)
    assert not any(s in " ".join(out) for s in ("hunter2", "s3cr3t", "x1", "x2", "x3"))
    assert out[:4] == ["env", "PGPASSWORD=***", "MYSQL_PWD=***", "PATH=/bin"]
    assert out[-3:] == ["/data", "--", "."] and "db" in out
    assert redact_command(["cat", "plain-secret"], secrets=("plain-secret",)) == ["cat", "***"]
    tar = ["tar", "-c", "-f", "-", "-C", "/srv/uploads", "--", "."]
    assert redact_command(tar) == tar


# --- the consumers go through the seams ---------------------------------------------------------


class RecordingStore(LocalArchiveStore):
    """A real folder store that also notes which of its methods were called."""

    def __init__(self, root):
        super().__init__(root)
        self.calls: list[tuple[str, str]] = []

    def stat(self, name):
        self.calls.append(("stat", name))
        return super().stat(name)

    def load(self, name, offset=0):
        self.calls.append(("load", name))
        return super().load(name, offset)

    def remove(self, name):
        self.calls.append(("remove", name))
        return super().remove(name)


class MemorySink:
    """A sink that is not a file: what a remote store's sink looks like to the pipeline."""

    def __init__(self, tmp_path):
        self.name, self.where, self.spool_path = "mem.tar", "memory", tmp_path / ".members-mem.tar.jsonl"
        self.data, self.manifest, self.events = bytearray(), None, []

    def write(self, data):
        self.data += data

    def finish(self):
        self.events.append("finish")
        return len(self.data)

    def commit(self, manifest):
        import io

        buf = io.StringIO()
        manifest.write_to(buf)
        manifest.done()
        self.manifest = json.loads(buf.getvalue())
        self.events.append("commit")
        return "mem://mem.tar", "mem://mem.tar.manifest.json"

    def abort(self):
        self.events.append("abort")


def _tar_request(src, sink, argv=None):
    from pathlib import Path

    from cli_recover.archive.pipeline import BackupRequest
    from cli_recover.kube.local import LocalTarget

    return BackupRequest(target=LocalTarget(), argv=argv or ["tar", "-c", "-f", "-", "-C", str(src), "--", "."],
                         output=Path("mem.tar"), codec="none", level=None, provider="filesystem",
                         source={"path": str(src)}, sink=sink)


def test_the_pipeline_writes_only_through_its_sink(tmp_path):
    import tarfile
    from io import BytesIO

    from cli_recover.archive.pipeline import run_backup

    src = tmp_path / "src"
    src.mkdir()
    (src / "f.txt").write_text("hello\n")
    sink = MemorySink(tmp_path)
    header = run_backup(_tar_request(src, sink))
    assert sink.events == ["finish", "commit"]
    assert header["archive_path"] == "mem://mem.tar" and header["bytes"]["stored"] == len(sink.data)
    assert [m["path"] for m in sink.manifest["members"]] == [".", "f.txt"]
    assert "f.txt" in tarfile.open(fileobj=BytesIO(bytes(sink.data))).getnames()[-1]
    assert _ls(tmp_path) == ["src"]  # the spool is gone; nothing else was written beside it


def test_a_failed_producer_aborts_the_sink(tmp_path):
    from cli_recover.archive.pipeline import run_backup
    from cli_recover.errors import ProducerError

    sink = MemorySink(tmp_path)
    with pytest.raises(ProducerError):
        run_backup(_tar_request(tmp_path / "missing", sink))
    assert sink.events[-1] == "abort" and "commit" not in sink.events
    assert _ls(tmp_path) == []


def test_the_catalog_reads_through_the_store(tmp_path):
    from cli_recover.archive.catalog import catalog

    store = RecordingStore(tmp_path)
    _write(store).commit(ManifestDocument(HEADER))
    (tmp_path / "b.tar").write_bytes(b"x" * 10)
    entries = catalog(store)
    assert {e["name"]: e["status"] for e in entries} == {"a.bin": "ok", "b.tar": "no manifest"}
    assert ("load", "a.bin.manifest.json") in store.calls and ("stat", "a.bin") in store.calls
    assert catalog(tmp_path) == entries  # a folder path is opened as a store


def test_cleanup_finds_and_removes_backups_through_the_store_manifest_first(tmp_path, data_home):
    from cli_recover.engine import cleanup

    store = RecordingStore(tmp_path / "archives")
    (tmp_path / "archives" / "sub").mkdir(parents=True)
    _write(store, "sub/a.bin").commit(ManifestDocument(HEADER))
    (tmp_path / "archives" / "stray.partial").write_bytes(b"x")
    items = cleanup.plan(("backups",), older_than=0, archives=store)
    assert sorted(i.names[-1] for i in items) == ["stray.partial", "sub/a.bin"]
    cleanup.execute(items)
    removes = [name for op, name in store.calls if op == "remove"]
    assert sorted(removes) == ["stray.partial", "sub/a.bin", "sub/a.bin.manifest.json"]
    assert removes.index("sub/a.bin.manifest.json") < removes.index("sub/a.bin")
    assert _ls(tmp_path / "archives" / "sub") == [] and _ls(tmp_path / "archives") == ["sub"]


def test_retention_removes_a_schedules_archive_through_its_folders_store(tmp_path):
    from cli_recover.storage import remove_archive_at

    store = LocalArchiveStore(tmp_path)
    _write(store).commit(ManifestDocument(HEADER))
    logged = []
    assert remove_archive_at(str(tmp_path / "a.bin"), logged.append) == [str(tmp_path / "a.bin.manifest.json"),
                                                                         str(tmp_path / "a.bin")]
    (tmp_path / "b.bin").write_bytes(b"x")
    (tmp_path / "b.bin.manifest.json").mkdir()
    assert remove_archive_at(str(tmp_path / "b.bin"), logged.append) == []
    assert len(logged) == 1 and "could not remove" in logged[0] and (tmp_path / "b.bin").exists()


def test_cleanup_that_cannot_remove_a_manifest_keeps_its_archive(tmp_path, data_home):
    # before the store owned the order, cleanup went on to remove the archive: a manifest left alone
    from cli_recover.engine import cleanup

    backups = data_home / "backups"
    _write(LocalArchiveStore(backups)).commit(ManifestDocument(HEADER))
    (item,) = cleanup.plan(("backups",), older_than=0)
    (backups / "a.bin.manifest.json").unlink()
    (backups / "a.bin.manifest.json").mkdir()  # now it cannot be unlinked
    (backups / "a.bin.manifest.json" / "x").write_text("x")
    cleanup.execute([item])
    assert item.removed == [] and "could not remove" in item.note
    assert (backups / "a.bin").exists()


def test_a_backup_manifest_on_disk_holds_no_secret_of_the_producer_argv(tmp_path):
    from cli_recover.archive.pipeline import run_backup

    src = tmp_path / "src"
    src.mkdir()
    (src / "f.txt").write_text("hello\n")
    req = _tar_request(src, None, argv=["env", "PGPASSWORD=hunter2", "tar", "-c", "-f", "-", "-C", str(src), "--", "."])
    req.output = tmp_path / "out" / "a.tar"
    header = run_backup(req)
    text = (tmp_path / "out" / "a.tar.manifest.json").read_text()
    assert "hunter2" not in text
    assert json.loads(text)["stream"]["command"][:3] == ["env", "PGPASSWORD=***", "tar"]
    assert header["archive_path"] == str(tmp_path / "out" / "a.tar")
    assert _ls(tmp_path / "out") == ["a.tar", "a.tar.manifest.json"]


def test_a_store_url_on_the_command_line_is_one_line_and_file_urls_work(tmp_path, data_home):
    from tests.jobs_helpers import cli

    store = LocalArchiveStore(tmp_path)
    _write(store, "a.tar").commit(ManifestDocument({**HEADER, "archive": "a.tar"}))
    for args in (["list", "--dir", "s3://AKIA:hunter2@bucket/p/"], ["verify", "s3://AKIA:hunter2@bucket/p/a.tar"]):
        res = cli(*args)
        assert res.returncode != 0 and "Traceback" not in res.stderr, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1 and "not supported yet" in res.stderr
        assert "hunter2" not in res.stderr
    listed = json.loads(cli("list", "--dir", f"file://{tmp_path}", "-o", "json").stdout)
    assert [(e["name"], e["status"], e["archive"]) for e in listed] == [("a.tar", "ok", str(tmp_path / "a.tar"))]
    res = cli("list", "--dir", str(tmp_path / "missing"))
    assert res.returncode != 0 and "no such folder" in res.stderr


def test_create_reserves_a_unique_name_and_lists_the_partial_outputs(tmp_path):
    store = LocalArchiveStore(tmp_path)
    first = store.create("a.tar.zst", unique=True, extension=".tar.zst")
    second = store.create("a.tar.zst", unique=True, extension=".tar.zst")
    assert (first.name, second.name) == ("a.tar.zst", "a-2.tar.zst")
    assert second.partial_outputs == [str(tmp_path / "a-2.tar.zst.partial"), str(tmp_path / ".members-a-2.tar.zst.jsonl"),
                                      str(tmp_path / "a-2.tar.zst.manifest.json.partial")]
    with pytest.raises(UsageError, match="a backup to it is running or was killed"):
        store.create("a.tar.zst")
    first.abort()
    second.abort()
    assert _ls(tmp_path) == []
