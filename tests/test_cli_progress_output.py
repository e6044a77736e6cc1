"""Issue 11: the CLI's progress line and `-o table` are drawn by rich; on a terminal the line fits the
terminal and is redrawn in place, elsewhere plain lines; tables align by terminal cells, never wrap and
never read markup."""

from __future__ import annotations

import fcntl
import io
import os
import re
import struct
import termios

from cli_recover.cli.output import table
from cli_recover.cli.progress import ProgressLine

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _pty(columns: int):
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    return master, open(slave, "w", encoding="utf-8")


def _drain(master: int) -> str:
    os.set_blocking(master, False)
    out = b""
    try:
        while chunk := os.read(master, 65536):
            out += chunk
    except BlockingIOError:
        pass
    return out.decode("utf-8")


def _draws(raw: str) -> list[str]:
    return [ANSI.sub("", part) for part in raw.replace("\r\n", "\n").split("\r\x1b[2K") if part]


def test_progress_on_a_terminal_is_one_line_redrawn_in_place_and_cleared():
    for columns in (120, 40):
        master, stream = _pty(columns)
        now = [0.0]
        line = ProgressLine("backup shop/web-0:/var/lib/data", stream=stream, clock=lambda now=now: now[0])
        for i in range(1, 11):
            now[0] = i
            line(i * 100 << 20, 1000 << 20)
        line.close()
        stream.flush()
        raw = _drain(master)
        stream.close()
        os.close(master)
        assert raw.startswith("\r\x1b[2K") and raw.endswith("\r\x1b[2K")  # redrawn in place, cleared at the end
        assert "\n" not in raw.replace("\r\n", "\n").rstrip("\n")
        draws = _draws(raw)
        assert len(draws) == 10
        assert all(len(d) < columns for d in draws)  # never wraps, so the next draw overwrites it
        if columns == 120:
            assert "backup shop/web-0:/var/lib/data" in draws[-1]
            assert " 50%" in draws[4] and "500.0 MiB / 1000.0 MiB" in draws[4] and "100.0 MiB/s" in draws[4]
            assert "ETA 5s" in draws[4] and "━" in draws[4]


def test_progress_on_a_terminal_without_a_total_has_no_bar():
    master, stream = _pty(100)
    now = [0.0]
    line = ProgressLine("check", stream=stream, clock=lambda: now[0])
    now[0] = 2
    line(4 << 20, None)
    stream.flush()
    draws = _draws(_drain(master))
    stream.close()
    os.close(master)
    assert draws == ["check  4.0 MiB  2.0 MiB/s"]


def test_progress_elsewhere_is_plain_lines_without_escapes():
    now = [0.0]
    buf = io.StringIO()
    line = ProgressLine("restore", stream=buf, clock=lambda: now[0], interval=5)
    for i in range(1, 51):
        now[0] = i * 0.2
        line(i << 20, 50 << 20)
    line.close()
    text = buf.getvalue()
    assert "\x1b" not in text and "\r" not in text
    assert text.splitlines()[0] == "restore  50%  25.0 MiB / 50.0 MiB  5.0 MiB/s  ETA 5s"


def test_table_is_kubectl_like_and_counts_terminal_cells():
    out = table(["NAME", "SIZE", "NOTE"], [["日本語.tar.zst", 1, "[bold]x[/] :smile:"], ["b", None, ""]])
    lines = out.splitlines()
    assert lines[0] == "NAME" + " " * 13 + "SIZE   NOTE"  # 14 cells for the name: 3 wide characters are 6
    assert lines[1] == "日本語.tar.zst   1      [bold]x[/] :smile:"  # cells are text, never markup or emoji
    assert lines[2] == "b" + " " * 16 + "-"
    assert table(["A"], [], empty="nothing") == "nothing"


def test_a_table_wider_than_any_terminal_is_not_wrapped_or_cut():
    long = "x" * 500
    lines = table(["PATH", "STATE"], [[long, "ok"]]).splitlines()
    assert lines == ["PATH" + " " * 499 + "STATE", long + "   ok"]
