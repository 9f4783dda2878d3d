"""BrainFlow boards that cannot start: a port that does not exist, and a real port where no
board answers (a pty nobody speaks on: BrainFlow's Cyton handshake times out).

What must hold: one line on stderr naming the board and the port, exit 2, no traceback, and
no output file left behind (the session is prepared before any output is created). A board
that stops sending mid-stream is held by
tests/test_sources.py::test_watchdog_reports_a_stall_reconnects_and_records_the_gap."""
from __future__ import annotations

import os

import pytest

from conftest import run_cli as tw
from emulator import make_pty


@pytest.mark.parametrize("port", ["missing", "silent-pty"])
def test_a_board_that_cannot_start_is_one_line_exit_2_and_leaves_nothing(port, tmp_path):
    fds: tuple[int, ...] = ()
    if port == "missing":
        device = str(tmp_path / "ttyUSB9")
    else:
        fds = make_pty()
        device = os.ttyname(fds[1])
    out, rec, db = tmp_path / "s.json", tmp_path / "live.bdf", tmp_path / "log.sqlite"
    try:
        proc = tw("stream", "--board", "cyton", "--port", device, "--duration", "3", "--json", str(out),
                  "--record", str(rec), "--db", str(db), "--quiet", timeout=120)
    finally:
        for fd in fds:
            os.close(fd)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--board cyton" in lines[0] and device in lines[0], proc.stderr
    assert not out.exists() and not rec.exists() and not db.exists()
