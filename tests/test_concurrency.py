"""Issue 9 item 6: backups started at the same moment each reserve their own output name.

The output name is reserved atomically (the `.partial` is created with O_CREAT|O_EXCL before it is
registered as the job's to remove); a default or `-o DIR/` name that is taken gets a `-2`, `-3`...
suffix; a job never registers (nor removes) a path it did not create.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.jobs_helpers import ROOT, cli, env, record, records, wait_for


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    src = tmp_path_factory.mktemp("src")
    for i in range(4):
        (src / f"blob-{i}.bin").write_bytes(os.urandom(1 << 20))
    (src / "small.txt").write_text("hello\n")
    return src


def _spawn(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cli_recover", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env(), cwd=ROOT)


def _ended(job_id: str) -> dict | None:
    rec = record(job_id)
    return rec if rec["state"] not in ("queued", "running") else None


def _check_all(job_ids: list[str]) -> list[str]:
    finals = [wait_for(lambda j=j: _ended(j), timeout=180, what=f"job {j} to end") for j in job_ids]
    for rec in finals:
        assert rec["state"] == "succeeded", (rec["error"], open(rec["log"]).read())
        assert "Traceback" not in open(rec["log"]).read()
    archives = [rec["result"]["archive"] for rec in finals]
    assert len(set(archives)) == len(archives), archives
    for a in archives:
        assert os.path.exists(a + ".manifest.json")
        assert not os.path.exists(a + ".partial")
        res = cli("verify", a, "-q")
        assert res.returncode == 0, res.stdout + res.stderr
    # each job's record lists only what it created: its own name and the files derived from it
    for rec in finals:
        for p in rec.get("partial") or []:
            assert os.path.basename(p).find(os.path.basename(rec["result"]["archive"])) >= 0, (p, rec["archive"])
    return archives


@pytest.mark.parametrize("where", ["default", "dir"])
def test_ten_background_backups_of_one_folder_at_once_all_succeed(source, tmp_path, where):
    extra = [] if where == "default" else ["-o", f"{tmp_path}/"]
    procs = [_spawn("backup", "filesystem", "--local", source, "--compression", "lz4", "--background", *extra)
             for _ in range(10)]
    job_ids = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert "Traceback" not in err
        job_ids.append(out.strip().splitlines()[-1])
    archives = _check_all(job_ids)
    if where == "dir":
        assert all(os.path.dirname(a) == str(tmp_path) for a in archives)
    listed = json.loads(cli("list", "-o", "json", *(["--dir", tmp_path] if where == "dir" else [])).stdout)
    assert sorted(e["archive"] for e in listed) == sorted(archives)
    assert all(e["status"] == "ok" for e in listed)


def test_two_sources_to_one_dir_in_the_same_second_get_distinct_names(tmp_path):
    # two different folders with the same last component: the default label is the same
    a, b = tmp_path / "pod-a" / "data", tmp_path / "pod-b" / "data"
    for d in (a, b):
        d.mkdir(parents=True)
        (d / "f").write_text(str(d))
    out = tmp_path / "out"
    out.mkdir()
    procs = [_spawn("backup", "filesystem", "--local", d, "-o", f"{out}/", "--compression", "none", "--json")
             for d in (a, b, a, b)]
    results = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=120)
        assert p.returncode == 0, stderr
        results.append(json.loads(stdout))
    archives = [r["archive"] for r in results]
    assert len(set(archives)) == 4, archives
    for r in results:
        assert cli("verify", r["archive"], "-q").returncode == 0
    assert sorted(os.listdir(out)) == sorted([os.path.basename(x) for x in archives]
                                             + [os.path.basename(x) + ".manifest.json" for x in archives])


def test_ten_backups_to_one_explicit_file_one_wins_the_rest_refuse_and_leave_it_alone(source, tmp_path):
    out = tmp_path / "one.tar.lz4"
    procs = [_spawn("backup", "filesystem", "--local", source, "-o", out, "-q") for _ in range(10)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    winners = [r for r in results if r[0] == 0]
    assert len(winners) >= 1  # usually one; a later one that starts after the first committed is refused too
    for code, err in results:
        if code != 0:
            assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
            assert "exists" in err
    assert sorted(os.listdir(tmp_path)) == ["one.tar.lz4", "one.tar.lz4.manifest.json"]
    assert cli("verify", out, "-q").returncode == 0
    for rec in records():
        if rec["state"] != "succeeded":  # a loser never registered the winner's files as its own
            assert not rec.get("partial") and not rec.get("removed_partial"), rec


def test_a_symlink_planted_at_a_partial_name_is_never_written_through(source, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(victim, out / "x.tar.partial")
    res = cli("backup", "filesystem", "--local", source, "-o", out / "x.tar", "-q")
    assert res.returncode != 0 and len(res.stderr.strip().splitlines()) == 1
    os.symlink(victim, out / "y.tar.manifest.json.partial")
    res = cli("backup", "filesystem", "--local", source, "-o", out / "y.tar", "-q")
    assert res.returncode != 0 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert victim.read_text() == "precious"
    res = cli("backup", "filesystem", "--local", source, "-o", f"{out}/", "--json")  # a chosen name moves on
    assert res.returncode == 0 and victim.read_text() == "precious"


def test_two_pods_data_to_one_dir_at_once_through_the_sandbox(tmp_path):
    from cli_recover.kube.sandbox import make_pod, serve

    root = tmp_path / "cluster"
    for name in ("web-1", "web-2"):
        make_pod(root, "default", name, {"containers": [{"name": "main"}]},
                 {"data/who.txt": name, "data/blob.bin": os.urandom(300_000)})
    out = tmp_path / "out"
    out.mkdir()
    with serve(root, kubeconfig_path=tmp_path / "kubeconfig") as sb:
        procs = [_spawn("backup", "filesystem", pod, "/data", "-o", f"{out}/", "--json", "-q",
                        "--kubeconfig", sb.kubeconfig_path) for pod in ("web-1", "web-2", "web-1", "web-2")]
        results = []
        for p in procs:
            stdout, stderr = p.communicate(timeout=120)
            assert p.returncode == 0, stderr
            results.append(json.loads(stdout))
    archives = [r["archive"] for r in results]
    assert len(set(archives)) == 4, archives  # all named data-<stamp>[-N].tar.zst
    for a in archives:
        assert cli("verify", a, "-q").returncode == 0
    assert len(os.listdir(out)) == 8
