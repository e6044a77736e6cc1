"""Review of issue 9's backup / jobs / kube side, as an attacker: each test failed before its fix."""

from __future__ import annotations

import os
import stat

from cli_recover.kube.sandbox import write_kubeconfig


def test_kubeconfig_never_written_through_a_planted_tmp_file(tmp_path):
    """The sandbox's kubeconfig holds its tokens: a file or symlink planted at its temporary name (a
    shared folder) must not receive them nor leave the kubeconfig readable by others."""
    leak = tmp_path / "leak"
    leak.write_text("")
    os.chmod(leak, 0o666)
    kc = tmp_path / "kc"
    (tmp_path / "kc.tmp").symlink_to(leak)
    write_kubeconfig(kc, "https://127.0.0.1:1", "admintoken123", "viewertoken456")
    assert "admintoken123" not in leak.read_text()
    st = os.lstat(kc)
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600

    planted = tmp_path / "kc2.tmp"
    planted.write_text("")
    os.chmod(planted, 0o666)
    kc2 = tmp_path / "kc2"
    write_kubeconfig(kc2, "https://127.0.0.1:1", "admintoken123", "viewertoken456")
    assert stat.S_IMODE(os.lstat(kc2).st_mode) == 0o600
    assert "admintoken123" not in planted.read_text() if planted.exists() else True
