"""Every case of the hostile-archive corpus (tests/hostile_corpus.py) through the real CLI: local
restore (dry run, real run, and a lying manifest that hides the evil members so only the stream
guard stands in the way, staged and --in-place) and pod restore through the sandbox. Each must be refused with one clear
line, a non-zero exit and no traceback, and the canary folder outside the target stays untouched."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from cli_recover.kube.sandbox import make_pod, serve
from tests.conftest import run_cli
from tests.hostile_corpus import ALLOW, CASES, Ctx, build, build_first

KEEP = b"canary\n"


def assert_refused(out, case, *also: str) -> None:
    """Refused with one line naming case.expect (or one of `also`), non-zero, no traceback."""
    assert out.returncode != 0, (case.name, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr, out.stderr
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("cli-recover: error:")]
    assert len(errors) == 1 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "\x1b" not in out.stderr and "\r" not in out.stderr, out.stderr
    assert any(phrase in errors[0] for phrase in (case.expect, *also)), (case.name, errors[0])


def layout(base: Path, case, link: str) -> tuple[Path, Path]:
    """base/T (the target) and base/O (the canary, holding one file)."""
    target, outside = base / "T", base / "O"
    outside.mkdir(parents=True)
    (outside / "keep").write_bytes(KEEP)
    if case.setup is not None:
        case.setup(target, link)
    return target, outside


def assert_canary_untouched(outside: Path) -> None:
    assert sorted(os.listdir(outside)) == ["keep"]
    st = (outside / "keep").lstat()
    assert (outside / "keep").read_bytes() == KEEP and st.st_nlink == 1


def listing(target: Path) -> list[str]:
    return sorted(str(p.relative_to(target)) for p in target.rglob("*")) if target.exists() else []


def lying_manifest(archive: Path) -> None:
    """A manifest whose stored hash is right but whose member list is empty: the pre-checks see
    nothing, so the guard on the stream is what must refuse."""
    data = archive.read_bytes()
    manifest = {
        "format": "cli-recover/manifest", "format_version": 1, "kind": "backup", "provider": "filesystem",
        "archive": archive.name, "source": {"kind": "local", "path": "/x"},
        "stream": {"type": "tar", "member_prefix": "./"}, "codec": {"name": "none", "level": None},
        "bytes": {"stored": len(data), "raw": len(data)},
        "sha256": {"stored": hashlib.sha256(data).hexdigest(), "raw": hashlib.sha256(data).hexdigest()},
        "members": [], "options": {}, "warnings": [],
    }
    Path(str(archive) + ".manifest.json").write_text(json.dumps(manifest))


def local_restore(archive: Path, target: Path, *flags: str):
    return run_cli("restore", "filesystem", "--local", archive, "--target-path", target, "-q", *flags)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_local_restore_refuses(case, tmp_path):
    for mode in ("dry-run", "run", "lying-manifest", "lying-manifest-in-place"):
        base = tmp_path / mode
        target, outside = layout(base, case, str(base / "O"))
        ctx = Ctx(outside=str(outside))
        first = build_first(case, ctx)
        if first is not None:
            (base / "first.tar").write_bytes(first)
            done = local_restore(base / "first.tar", target, *case.flags)
            assert done.returncode == 0, done.stderr
        archive = base / "a.tar"
        archive.write_bytes(build(case, ctx))
        flags = list(case.flags)
        if mode == "dry-run":
            flags.append("--dry-run")
        if mode.startswith("lying-manifest"):
            lying_manifest(archive)
        if mode.endswith("in-place"):
            flags.append("--in-place")
        before = listing(target)
        out = local_restore(archive, target, *flags)
        assert_refused(out, case)
        assert_canary_untouched(outside)
        if not mode.endswith("in-place"):  # staged: a refused restore leaves the target as it was
            assert listing(target) == before, (before, listing(target))
        if ALLOW not in case.flags:  # and no link in it leads out (a later archive could write through it)
            for p in target.rglob("*") if target.exists() else ():
                if p.is_symlink() and case.setup is None:
                    assert Path(os.path.realpath(p)).is_relative_to(target.resolve()), p
        assert not any(p.name == "pwned" for p in base.rglob("*")), sorted(base.rglob("*"))


# --- pods ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster")
    make_pod(root, "default", "h", {"containers": [{"name": "main"}]})
    make_pod(root, "default", "nosh", {"containers": [{"name": "main"}], "env": {"PATH": "/nowhere"}})
    with serve(root, kubeconfig_path=root.parent / f"{root.name}.kubeconfig") as sb:
        yield sb


def pod_restore(cluster, archive: Path, target: str, *flags: str, pod: str = "h"):
    return run_cli("restore", "filesystem", pod, archive, "--target-path", target, "-q", *flags,
                   "--kubeconfig", cluster.kubeconfig_path)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_pod_restore_refuses(case, cluster, tmp_path):
    pod_root = cluster.root / "default" / "h"
    for mode in ("dry-run", "run", "lying-manifest"):
        name = f"{case.name}-{mode}"
        base = pod_root / name
        target, outside = layout(base, case, f"/{name}/O")
        ctx = Ctx(outside=f"/{name}/O")
        first = build_first(case, ctx)
        if first is not None:
            (tmp_path / "first.tar").write_bytes(first)
            done = pod_restore(cluster, tmp_path / "first.tar", f"/{name}/T", *case.flags)
            assert done.returncode == 0, done.stderr
        archive = tmp_path / f"{mode}.tar"
        archive.write_bytes(build(case, ctx))
        if mode == "lying-manifest":
            lying_manifest(archive)
        out = pod_restore(cluster, archive, f"/{name}/T", *case.flags, *(["--dry-run"] if mode == "dry-run" else []))
        # a lying manifest hides the member from the pod's disk query: the stream guard refuses what
        # was not checked (before its bytes reach tar), whatever is on disk there
        assert_refused(out, case, *(["not checked on the target"] if mode == "lying-manifest" else []))
        assert_canary_untouched(outside)
        assert not any(p.name == "pwned" for p in base.rglob("*"))
