"""Issue 9 (minor) and issue 10: empty cluster flags are refused instead of meaning the default, and a
reader that goes away (`verify --json | head -1`) neither ends in BrokenPipeError nor fails the job."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, run_cli
from tests.jobs_helpers import records

EMPTY_CASES = [
    (["pods", "-n", ""], "-n/--namespace"),
    (["pods", "--context", ""], "--context"),
    (["pods", "--kubeconfig", ""], "--kubeconfig"),
    (["contexts", "--kubeconfig", ""], "--kubeconfig"),
    (["preflight", "web", "-c", ""], "-c/--container"),
    (["preflight", "web", "-n", "  "], "-n/--namespace"),
    (["backup", "filesystem", "web", "/data", "-n", ""], "-n/--namespace"),
    (["backup", "filesystem", "web", "/data", "-c", ""], "-c/--container"),
    (["backup", "filesystem", "web", "/data", "--context="], "--context"),
    (["backup", "filesystem", "web", "/data", "--kubeconfig", ""], "--kubeconfig"),
    (["restore", "filesystem", "web", "a.tar.zst", "-n", ""], "-n/--namespace"),
    (["restore", "filesystem", "web", "a.tar.zst", "--kubeconfig", ""], "--kubeconfig"),
    (["tui", "--context", ""], "--context"),
    (["tui", "-n", ""], "-n/--namespace"),
    (["tui", "--kubeconfig", ""], "--kubeconfig"),
    (["sandbox", "serve", "--root", "{tmp}", "--kubeconfig", ""], "--kubeconfig"),
]


@pytest.mark.parametrize("args,flag", EMPTY_CASES, ids=[" ".join(a) for a, _ in EMPTY_CASES])
def test_empty_cluster_flags_are_refused(args, flag, tmp_path):
    done = run_cli(*[a.format(tmp=tmp_path / "root") for a in args], timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"cli-recover: error: argument {flag}: empty value")
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert records() == []  # refused before any job exists


def test_a_schedule_refuses_an_empty_namespace_in_its_backup():
    done = run_cli("schedule", "add", "s", "--cron", "@daily", "--", "backup", "filesystem", "web", "/data",
                   "-n", "", timeout=60)
    assert done.returncode == 2 and "-n/--namespace: empty value" in done.stderr
    assert "Traceback" not in done.stderr


def _closed_pipe_run(*args, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the CLI with stdout on a pipe whose reader has already gone: every write gets EPIPE."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        return subprocess.run([sys.executable, "-m", "cli_recover", *map(str, args)], stdout=write_end,
                              stderr=subprocess.PIPE, timeout=timeout, env=env, text=True)
    finally:
        os.close(write_end)


@pytest.fixture
def archive(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(400):  # a report bigger than any pipe buffer
        (src / f"file-{i:04d}-{'x' * 60}.txt").write_text(str(i))
    out = tmp_path / "a.tar.zst"
    run_cli("backup", "filesystem", "--local", src, "-o", out, "-q", check=True)
    return out


def _no_broken_pipe_noise(done) -> None:
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert "Exception ignored" not in done.stderr, done.stderr


def test_verify_json_into_a_closed_pipe_succeeds_and_records_success(archive):
    before = {r["id"] for r in records()}
    done = _closed_pipe_run("verify", archive, "--json", "-q")
    _no_broken_pipe_noise(done)
    assert done.returncode == 0
    new = [r for r in records() if r["id"] not in before]
    assert [r["kind"] for r in new] == ["verify"] and new[0]["state"] == "succeeded", new


@pytest.mark.parametrize("args", [["verify", "{a}", "-q"], ["list", "-o", "json"], ["list", "-o", "yaml"],
                                  ["list", "--dir", "{d}"], ["status", "-o", "json"], ["status", "-A"],
                                  ["status"], ["providers"], ["--help"]])
def test_read_commands_into_a_closed_pipe_exit_quietly(archive, args):
    args = [a.format(a=archive, d=archive.parent) for a in args]
    done = _closed_pipe_run(*args)
    _no_broken_pipe_noise(done)
    assert done.returncode == 0


def test_backup_into_a_closed_pipe_keeps_its_archive_and_success(tmp_path):
    src = tmp_path / "s"
    src.mkdir()
    (src / "x").write_text("x")
    out = tmp_path / "b.tar.zst"
    done = _closed_pipe_run("backup", "filesystem", "--local", src, "-o", out, "--json")
    _no_broken_pipe_noise(done)
    assert done.returncode == 0 and out.exists()
    (rec,) = [r for r in records() if r["kind"] == "backup"]
    assert rec["state"] == "succeeded"


def test_a_live_pipe_still_gets_everything(archive):
    done = subprocess.run([sys.executable, "-m", "cli_recover", "verify", str(archive), "--json", "-q"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0 and json.loads(done.stdout)["ok"] is True
