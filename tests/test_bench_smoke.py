"""Smoke test of scripts/bench.py: the quick run (5 minutes of 8 x 1000 Hz, one repeat)
finishes, exits 0 and prints its table. Cheap: about 10 s; bounded at 60 s."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "scripts" / "bench.py"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="bench.py pins cores (Linux only)")
def test_bench_quick_runs_and_prints_the_table(tmp_path):
    env = dict(os.environ)
    src = str(REPO / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["COLUMNS"] = "160"
    proc = subprocess.run([sys.executable, str(BENCH), "--quick", "--repeats", "1", "--out", str(tmp_path)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "twitchwatch analyze benchmark" in out  # the rich table's title
    assert "| measure | value | target / note |" in out  # the markdown table's header
    for row in ("| throughput |", "| peak RSS (child) |", "| read (open_recording) |", "| pipeline (analyze) |"):
        assert row in out, row
    assert "command: " in out and "machine: " in out
    assert list(tmp_path.glob("bench-5min-8ch-1000Hz-seed0.bdf"))  # the cached recording
