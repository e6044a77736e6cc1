"""Issue 9 item 8: what cli-recover writes is private, whatever the umask.

The data home and its folders 0700; every archive, .partial, manifest, spool, log, history record,
`.index.json`, PID file and schedule file 0600; archives written to a folder the user chose 0600
(the folder itself is left as the user made it). Run as real processes under umask 000 and 022.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time

import pytest

from tests.faults import fault_env
from tests.jobs_helpers import ROOT, env


def _run(home, umask: int, *args, faults: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    e = env() if faults is None else fault_env(faults, base=env())
    e["CLI_RECOVER_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "cli_recover", *map(str, args)], capture_output=True, text=True,
                          env=e, cwd=ROOT, timeout=timeout, umask=umask)


def _mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _everything(root) -> dict[str, int]:
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            out[os.path.relpath(p, root)] = _mode(p)
    return out


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    src = tmp_path_factory.mktemp("src")
    (src / "secret.key").write_text("k")
    os.chmod(src / "secret.key", 0o600)
    (src / "blob.bin").write_bytes(os.urandom(200_000))
    return src


@pytest.mark.parametrize("umask", [0o000, 0o022], ids=["umask000", "umask022"])
def test_the_data_home_and_all_it_holds_are_private(source, tmp_path, umask):
    home = tmp_path / "new" / "home"  # does not exist yet: cli-recover creates it
    res = _run(home, umask, "backup", "filesystem", "--local", source, "-q")
    assert res.returncode == 0, res.stderr
    res = _run(home, umask, "backup", "filesystem", "--local", source, "--background")
    assert res.returncode == 0, res.stderr
    job = res.stdout.strip().splitlines()[-1]
    deadline = time.monotonic() + 60
    while json.loads(_run(home, umask, "status", job, "-o", "json").stdout)["state"] in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    res = _run(home, umask, "backup", "filesystem", "--local", tmp_path / "missing", "-q")  # a failed job
    assert res.returncode != 0
    res = _run(home, umask, "schedule", "add", "nightly", "--cron", "@daily", "--", "backup", "filesystem",
               "--local", source)
    assert res.returncode == 0, res.stderr
    assert _run(home, umask, "status", "-A").returncode == 0  # writes history/.index.json

    assert _mode(home) == 0o700
    modes = _everything(home)
    for name in ("backups", "history", "logs", "schedules"):
        assert modes[name] == 0o700, (name, oct(modes[name]))
    names = set(modes)
    assert any(n.endswith(".tar.zst") for n in names) and any(n.endswith(".manifest.json") for n in names)
    assert "history/.index.json" in names and any(n.startswith("logs/") for n in names)
    assert any(n.startswith("schedules/") and n.endswith(".json") for n in names)
    loose = {n: oct(m) for n, m in modes.items() if m != 0o700 and m != 0o600}
    assert not loose, loose
    dirs = {n for n in names if os.path.isdir(home / n)}
    assert all(modes[n] == 0o700 for n in dirs)
    assert all(modes[n] == 0o600 for n in names - dirs)


@pytest.mark.parametrize("umask", [0o000, 0o022], ids=["umask000", "umask022"])
def test_an_archive_in_a_folder_the_user_chose_is_private_and_the_folder_is_left_alone(source, tmp_path, umask):
    out = tmp_path / "mine"
    out.mkdir()
    os.chmod(out, 0o755)
    home = tmp_path / "home"
    res = _run(home, umask, "backup", "filesystem", "--local", source, "-o", f"{out}/", "--json")
    assert res.returncode == 0, res.stderr
    archive = json.loads(res.stdout)["archive"]
    assert _mode(archive) == 0o600 and _mode(archive + ".manifest.json") == 0o600
    assert _mode(out) == 0o755
    res = _run(home, umask, "backup", "filesystem", "--local", source, "-o", out / "named.tar")
    assert res.returncode == 0, res.stderr
    assert _mode(out / "named.tar") == 0o600 and _mode(out / "named.tar.manifest.json") == 0o600


@pytest.mark.parametrize("step", ["commit.archive-synced", "commit.manifest-written"])
def test_partial_files_and_the_spool_are_private(source, tmp_path, step):
    out = tmp_path / "out"
    out.mkdir()
    res = _run(tmp_path / "home", 0o000, "backup", "filesystem", "--local", source, "-o", out / "a.tar.zst", "-q",
               faults=f"{step}=kill")
    assert res.returncode < 0
    left = _everything(out)  # before anyone reconciles: what the killed job left
    assert "a.tar.zst.partial" in left
    assert (".members-a.tar.zst.jsonl" in left) == (step == "commit.archive-synced")
    assert ("a.tar.zst.manifest.json.partial" in left) == (step == "commit.manifest-written")
    assert all(m == 0o600 for m in left.values()), {n: oct(m) for n, m in left.items()}
