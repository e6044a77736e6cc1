"""Restore and backup ingest against GNU tar, archive by archive: the foreign corpus
(tests/corpus/foreign, see SOURCES.md) and the crafted header kinds (tests/corpus/crafted.py).

Each case: GNU tar extracts the original stream into tree A; our restore path (parser, guard,
canonical re-encoding, then the same tar) into tree B. Either we refuse with one clear line, or the
trees are identical (names, types, modes, owners, mtimes, content hashes, link targets, hard-link
groups) and our member index agrees with tree A. The classification runs in a child process with
an address-space limit and a per-case alarm, so a hang or a memory blow-up is a result, not a
stuck suite.
"""

from __future__ import annotations

import collections
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))


@pytest.fixture(scope="module")
def results() -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "tests.corpus.differential"], capture_output=True, text=True,
                          timeout=240, env=env, cwd=ROOT, preexec_fn=_limit)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    counts = collections.Counter(r["outcome"] for r in out)
    print("\ndifferential:", dict(counts), "of", len(out))
    return out


def test_every_case_has_a_result(results):
    from tests.corpus.crafted import CASES

    foreign = [p for p in (ROOT / "tests" / "corpus" / "foreign").rglob("*") if p.is_file()]
    assert len(results) == len(foreign) + len(CASES)
    assert len(foreign) >= 140


def test_no_wrong_crash_hang_or_valid_refused(results):
    bad = [r for r in results if r["outcome"] not in ("right", "refused-safe", "refused-policy")]
    assert not bad, json.dumps(bad, indent=1)[:4000]


def test_refusals_are_one_line(results):
    for r in results:
        if r["outcome"].startswith("refused"):
            assert r["one_line"] and r["why"], r


def test_backup_ingest_matches_gnu_tar(results):
    bad = [r for r in results if r.get("ingest")]
    assert not bad, json.dumps(bad, indent=1)[:4000]


@pytest.mark.parametrize("case", [
    "slash-file-with-size", "dir-with-size", "hardlink-with-size", "solaris-X", "two-pax-last-wins",
    "pax-then-longname", "longname-then-pax", "pax-nul-in-path", "pax-global-then-file", "pax-uid-garbage",
    "size-leading-spaces", "size-base256", "checksum-spaces", "checksum-no-terminator", "duplicate-path",
    "volume-label", "pax-mtime-999xxx9324.4", "pax-mtime-1748089464.951928467a", "pax-mtime-inf",
    "pax-mtime-nan", "pax-mtime-1e400", "pax-mtime-1748089464.951928467", "pax-mtime-99999999999999999999999",
])
def test_crafted_kinds_restore_as_gnu_tar_does(results, case):
    (r,) = [r for r in results if r["case"] == f"crafted/{case}"]
    assert r["outcome"] == "right", r


@pytest.mark.parametrize("case", [
    "slash-file-hides-device", "symlink-with-size", "device", "unknown-type", "pax-no-newline",
    "pax-underscore-length", "pax-size-negative", "size-0o", "size-underscore", "size-trailing-junk",
    "size-base64-sign", "size-base256-negative", "mode-0o", "checksum-0o", "absolute-symlink",
    "escape-through-symlink", "dotdot-name", "long-path-70k",
])
def test_crafted_kinds_refused(results, case):
    (r,) = [r for r in results if r["case"] == f"crafted/{case}"]
    assert r["outcome"] == "refused-safe", r


def test_foreign_kinds_of_note(results):
    by = {r["case"]: r for r in results}
    for name in ("tar-split/pax-nul-path.tar", "tar-split/gnu-sparse-big.tar", "tar-split/pax-sparse-big.tar",
                 "tar-rs/sparse-large.tar", "libarchive/test_read_format_tar_pax_large_attr.tar.gz",
                 "libarchive/test_read_format_gtar_sparse_1_17_posix10.tar", "tar-split/star.tar"):
        assert by[name]["outcome"] == "right", by[name]
    assert by["node-tar/excessively-deep.tar.gz"]["outcome"] == "refused-safe"
