"""A full disk while `twitchwatch stream --record` runs, made real with RLIMIT_FSIZE in the
child (SIGXFSZ ignored, so writes past the limit fail with EFBIG as on a full disk).

What must hold: the stream goes on detecting to its end (same events as without the limit),
says once, on one line, that recording stopped, exits 0, and the part written opens and
matches the signal."""
from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

from conftest import run_cli as tw
from twitchwatch.formats import open_recording

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "recordings" / "sim-cyton-250hz.bdf"
LIMIT = 60_000  # bytes: about 14 s of the 250 Hz x 4 channel BDF+


def _small_disk() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def test_recording_on_a_full_disk_stops_and_the_stream_goes_on(tmp_path):
    args = ["stream", "--replay", str(SAMPLE), "--speed", "max", "--duration", "40", "--quiet", "--no-log"]
    full, free = tmp_path / "full.json", tmp_path / "free.json"
    rec_path = tmp_path / "live.bdf"
    proc = subprocess.run([sys.executable, "-m", "twitchwatch.cli", *args, "--json", str(full), "--record",
                           str(rec_path)], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                          env=dict(os.environ, PYTHONPATH=str(ROOT / "src")), preexec_fn=_small_disk)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "recording stopped" in line]
    assert len(warnings) == 1 and str(rec_path) in warnings[0], proc.stderr
    reference = tw(*args, "--json", str(free))
    assert reference.returncode == 0, reference.stderr
    doc, ref = json.loads(full.read_text()), json.loads(free.read_text())
    assert doc["duration_s"] == 40.0 and doc["events"] == ref["events"] and doc["events"]
    live, original = open_recording(rec_path), open_recording(SAMPLE)
    assert rec_path.stat().st_size <= LIMIT
    assert live.fs == original.fs and live.n_samples % int(live.fs) == 0
    assert 5 * live.fs <= live.n_samples < 40 * live.fs
    assert abs(live.data - original.data[:, :live.n_samples]).max() < 1.0
