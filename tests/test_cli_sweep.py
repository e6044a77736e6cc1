"""Bad and odd input across the CLI: one `cli-recover: error:` line, a non-zero exit code, no traceback."""

from __future__ import annotations

import pytest

from tests.conftest import run_cli


def assert_one_line_error(proc, *fragments: str) -> None:
    assert proc.returncode != 0, proc
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("cli-recover: error:")]
    assert len(errors) == 1, proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 2, proc.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


@pytest.mark.parametrize("argv", [
    ("backup", "filesystem", "--local", "SRC"),
    ("logs", "abc"),
    ("schedule", "list"),
    ("cleanup",),
])
def test_data_home_that_is_a_file(tmp_path, argv):
    home = tmp_path / "home-file"
    home.write_text("not a folder")
    (tmp_path / "src").mkdir()
    argv = [str(tmp_path / "src") if a == "SRC" else a for a in argv]
    proc = run_cli(*argv, env={"CLI_RECOVER_HOME": str(home)})
    assert_one_line_error(proc, "Not a directory", str(home))
