"""Issue 9 items 11 and 12: the commit order of a backup, with a crash or a full disk at every step.

The rule (docs/FORMAT.md, "How a backup commits"): archive `.partial` fsynced; manifest `.partial`
written and fsynced; archive renamed into place (the commit point); manifest renamed; folder
fsynced. Whatever step a SIGKILL hits, after the vanished-job check the folder holds the old state
(nothing) or the new one (archive + manifest, verified), never an orphan, never a deleted archive.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from tests.faults import fault_env, full_disk
from tests.jobs_helpers import ROOT, cli, env, records

BEFORE_COMMIT = ["commit.archive-synced", "commit.manifest-write", "commit.manifest-written"]
AFTER_COMMIT = ["commit.archive-renamed", "commit.manifest-renamed", "commit.dir-synced"]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    src = tmp_path_factory.mktemp("src")
    (src / "big.bin").write_bytes(os.urandom(300_000))
    for i in range(50):
        (src / f"file-{i:03d}.txt").write_text(f"line {i}\n" * 20)
    return src


def _backup(*args, faults: str | None = None) -> subprocess.CompletedProcess:
    e = env() if faults is None else fault_env(faults, base=env())
    return subprocess.run([sys.executable, "-m", "cli_recover", "backup", "filesystem", *map(str, args)],
                          capture_output=True, text=True, env=e, cwd=ROOT, timeout=120)


def _files(folder) -> list[str]:
    return sorted(os.listdir(folder))


def _reconcile_and_read() -> dict:
    res = cli("status", "-A", "-o", "json")  # the vanished-job check
    assert res.returncode == 0, res.stderr
    (rec,) = records()
    return rec


def _assert_new_state(archive: str, folder) -> None:
    assert _files(folder) == sorted([os.path.basename(archive), os.path.basename(archive) + ".manifest.json"])
    res = cli("verify", archive, "-q")
    assert res.returncode == 0, res.stdout + res.stderr
    listed = json.loads(cli("list", "--dir", folder, "-o", "json").stdout)
    assert [e["status"] for e in listed] == ["ok"]


@pytest.mark.parametrize("step", BEFORE_COMMIT + AFTER_COMMIT)
def test_sigkill_at_each_commit_step_leaves_the_old_or_the_new_state(source, tmp_path, step):
    out = tmp_path / "out"
    out.mkdir()
    archive = str(out / "a.tar.zst")
    res = _backup("--local", source, "-o", archive, "-q", faults=f"{step}=kill")
    assert res.returncode == -signal.SIGKILL, res.stderr
    rec = _reconcile_and_read()
    assert set(rec["partial"]) == {archive + ".partial", str(out / ".members-a.tar.zst.jsonl"),
                                   archive + ".manifest.json.partial"}
    if step in BEFORE_COMMIT:
        assert rec["state"] == "failed" and "disappeared" in rec["error"]
        assert _files(out) == []  # the old state: nothing
        assert "no archives" in cli("list", "--dir", out).stdout
    else:
        assert rec["state"] == "succeeded", rec
        assert rec["result"]["archive"] == archive and rec["result"]["members"] == 52
        _assert_new_state(archive, out)
    # a second look changes nothing; cleanup removes no complete archive
    cli("status", "-A")
    assert cli("cleanup", "--type", "backups").returncode == 0
    if step in AFTER_COMMIT:
        _assert_new_state(archive, out)


@pytest.mark.parametrize("step", AFTER_COMMIT)
def test_sigkill_after_the_commit_point_in_the_default_folder_and_cleanup_first(source, data_home, step):
    res = _backup("--local", source, "-q", faults=f"{step}=kill")
    assert res.returncode == -signal.SIGKILL
    backups = data_home / "backups"
    (archive,) = [p for p in _files(backups) if p.endswith(".tar.zst")]
    # cleanup is the first to look: it finishes the commit, never deletes the archive or its manifest
    res = cli("cleanup", "--type", "backups", "--older-than", "0s")
    assert res.returncode == 0, res.stderr
    remaining = _files(backups)
    assert all(not p.endswith(".partial") and not p.startswith(".members-") for p in remaining), remaining
    assert remaining in ([], sorted([archive, archive + ".manifest.json"]))  # removed as a pair, or kept


def test_list_shows_an_archive_cut_between_its_renames_as_not_committed(source, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    archive = str(out / "a.tar.zst")
    assert _backup("--local", source, "-o", archive, "-q", faults="commit.archive-renamed=kill").returncode < 0
    listed = json.loads(cli("list", "--dir", out, "-o", "json").stdout)  # before any reconcile
    assert [e["name"] for e in listed] == ["a.tar.zst"] and "not committed" in listed[0]["status"]
    assert not any(e["name"].startswith(".") for e in listed)


@pytest.mark.parametrize("step", ["commit.manifest-write", "commit.archive-synced", "commit.manifest-written",
                                  "commit.archive-renamed", "commit.manifest-renamed"])
def test_an_error_at_a_commit_step_rolls_back_to_nothing(source, tmp_path, step):
    out = tmp_path / "out"
    out.mkdir()
    archive = str(out / "a.tar.zst")
    action = "enospc" if step == "commit.manifest-write" else "raise"
    res = _backup("--local", source, "-o", archive, "-q", faults=f"{step}={action}")
    assert res.returncode != 0 and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    if action == "enospc":
        assert "no space left" in res.stderr.lower()
    assert _files(out) == []
    (rec,) = records()
    assert rec["state"] == "failed"
    assert archive + ".manifest.json.partial" in rec["partial"]


def test_a_real_full_disk_during_the_archive_is_one_line_and_leaves_nothing(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "random.bin").write_bytes(os.urandom(3 << 20))
    with full_disk(tmp_path / "disk", "1m") as disk:
        res = _backup("--local", src, "-o", f"{disk}/", "--compression", "none", "-q")
        assert res.returncode != 0 and "Traceback" not in res.stderr
        assert "no space left" in res.stderr.lower(), res.stderr
        assert _files(disk) == []
        (rec,) = records()
        assert rec["state"] == "failed" and "no space left" in rec["error"].lower()


def test_a_real_full_disk_during_the_manifest_is_one_line_and_leaves_nothing(tmp_path):
    # many members with long names: a manifest far bigger than the compressed archive
    src = tmp_path / "src"
    src.mkdir()
    for i in range(2000):
        (src / (f"{i:05d}-" + "n" * 150)).write_bytes(b"")
    with full_disk(tmp_path / "disk", "1m") as disk:
        res = _backup("--local", src, "-o", f"{disk}/a.tar.zst", "--level", "19", "-q")
        assert res.returncode != 0 and "Traceback" not in res.stderr
        assert "no space left" in res.stderr.lower(), res.stderr
        assert "manifest" in res.stderr, res.stderr
        assert _files(disk) == []


def test_cleanup_killed_between_a_manifest_and_its_archive_leaves_no_manifest_alone(source, data_home):
    assert _backup("--local", source, "-q").returncode == 0
    backups = data_home / "backups"
    (archive,) = [p for p in _files(backups) if p.endswith(".tar.zst")]
    res = subprocess.run([sys.executable, "-m", "cli_recover", "cleanup", "--type", "backups", "--older-than", "0s"],
                         capture_output=True, text=True, env=fault_env("cleanup.removed-one=kill", base=env()),
                         cwd=ROOT, timeout=60)
    assert res.returncode == -signal.SIGKILL
    assert _files(backups) == [archive]  # the manifest went first: an archive without one, never the reverse
    assert [e["status"] for e in json.loads(cli("list", "-o", "json").stdout)] == ["no manifest"]
