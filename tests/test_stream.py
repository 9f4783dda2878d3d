"""The live path: `stream --replay` equals `analyze`, --duration, --record, JSON contract."""
from __future__ import annotations

import json
import time

import numpy as np
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from conftest import SCHEMA, run_cli as tw

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "recordings" / "sim-cyton-250hz.bdf"



def _events(path: Path) -> list[tuple]:
    doc = json.loads(path.read_text())
    return [(e["channel"], e["start_s"], e["end_s"], e["kind"], e["peak_uv"]) for e in doc["events"]]


@pytest.mark.parametrize("recording", [SAMPLE, ROOT / "recordings" / "sim-serial-1000hz.bdf"])
def test_replay_at_max_speed_gives_the_events_of_analyze(recording, tmp_path):
    a, b = tmp_path / "stream.json", tmp_path / "analyze.json"
    proc = tw("stream", "--replay", str(recording), "--speed", "max", "--json", str(a), "--quiet")
    assert proc.returncode == 0, proc.stderr
    proc = tw("analyze", str(recording), "--json", str(b), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert _events(a) == _events(b)
    assert len(_events(a)) > 0
    doc = json.loads(a.read_text())
    assert doc["lost_samples"] == 0 and doc["gaps"] == []
    if SCHEMA.is_file():
        jsonschema.validate(doc, json.loads(SCHEMA.read_text()))


def test_duration_stops_the_stream(tmp_path):
    out = tmp_path / "s.json"
    proc = tw("stream", "--replay", str(SAMPLE), "--speed", "max", "--duration", "30", "--json", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["duration_s"] == pytest.approx(30.0, abs=1 / 250)
    assert all(e["start_s"] < 30.0 for e in doc["events"])


def test_stream_needs_a_port_for_hardware_boards():
    for board in ("cyton", "serial"):
        proc = tw("stream", "--board", board)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert proc.stderr.strip().count("\n") == 0 and "--port" in proc.stderr


def test_bad_speed_is_one_line(tmp_path):
    proc = tw("stream", "--replay", str(SAMPLE), "--speed", "fast")
    assert proc.returncode == 2 and "--speed" in proc.stderr and "Traceback" not in proc.stderr


def test_synthetic_board_streams_in_real_time_with_truth(tmp_path):


    out = tmp_path / "syn.json"
    t = time.monotonic()
    proc = tw("stream", "--board", "synthetic", "--duration", "6", "--json", str(out), "--quiet")
    elapsed = time.monotonic() - t
    assert proc.returncode == 0, proc.stderr
    assert elapsed >= 0.8 * 6, "the synthetic board is paced in real time"
    doc = json.loads(out.read_text())
    truth = json.loads((tmp_path / "syn.truth.json").read_text())
    assert doc["duration_s"] == pytest.approx(6.0, abs=0.01) and doc["lost_samples"] == 0
    assert all(e["start_s"] < 6.0 for e in truth["events"])
    if SCHEMA.is_file():
        schema = json.loads(SCHEMA.read_text())
        jsonschema.validate(doc, schema)
        jsonschema.validate(truth, schema)


def test_record_while_streaming_keeps_the_signal(tmp_path):
    from twitchwatch.formats import open_recording

    rec_path = tmp_path / "live.bdf"
    proc = tw("stream", "--replay", str(SAMPLE), "--speed", "max", "--duration", "20", "--record", str(rec_path),
              "--quiet")
    assert proc.returncode == 0, proc.stderr
    original = open_recording(SAMPLE)
    recorded = open_recording(rec_path)
    assert recorded.fs == original.fs and recorded.n_samples == int(20 * original.fs)
    # BDF+ at the recorder's range quantises to well under a microvolt
    assert abs(recorded.data - original.data[:, :recorded.n_samples]).max() < 1.0


# The serial board through a pty (lossy, corrupted, garbage; the bar at 1000 Hz x 8
# channels for 60 s) is in tests/faults/test_serial_faults.py, on the shared tests/emulator.py.


def _start_recording_stream(tmp_path, *extra: str) -> tuple[subprocess.Popen, Path, float]:
    """`stream --replay SAMPLE --speed 1 --record` in a child; returns it, the recording's
    path and when the recording appeared (the stream is paced from about then)."""
    rec_path = tmp_path / "live.bdf"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    child = subprocess.Popen([sys.executable, "-m", "twitchwatch.cli", "stream", "--replay", str(SAMPLE),
                              "--speed", "1", "--record", str(rec_path), "--quiet", *extra],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                             stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not rec_path.exists():
        assert child.poll() is None, child.communicate()[1]
        assert time.monotonic() < deadline, "the stream never started recording"
        time.sleep(0.01)
    return child, rec_path, time.monotonic()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill9_while_recording_loses_at_most_a_second(seed, tmp_path):
    """SIGKILL of `stream --record` at a random moment: the file opens, holds the signal
    streamed up to the last whole second, and the episodes journalled so far."""
    from twitchwatch.formats import open_recording

    child, rec_path, started = _start_recording_stream(tmp_path)
    time.sleep(np.random.default_rng(seed).uniform(1.5, 4.5))
    child.kill()
    streamed_s = time.monotonic() - started
    child.communicate(timeout=10)
    original = open_recording(SAMPLE)
    rec = open_recording(rec_path)
    fs = original.fs
    assert rec.n_samples % int(fs) == 0 and rec.n_samples >= fs
    # paced in real time from (about) when the file appeared: at most the second being filled
    # is lost (plus scheduling slack on a shared machine)
    assert (streamed_s - 1.0 - 0.5) * fs <= rec.n_samples <= (streamed_s + 0.2) * fs
    assert abs(rec.data - original.data[:, :rec.n_samples]).max() < 1.0
    assert any("not closed" in w for w in rec.meta["warnings"])


def test_sigterm_stops_the_stream_cleanly(tmp_path):
    from twitchwatch.formats import open_recording

    out = tmp_path / "s.json"
    child, rec_path, _ = _start_recording_stream(tmp_path, "--json", str(out))
    time.sleep(2.5)
    child.terminate()
    _, err = child.communicate(timeout=20)
    assert child.returncode == 0, err
    assert "interrupted" in err and "Traceback" not in err
    doc = json.loads(out.read_text())
    rec = open_recording(rec_path)
    assert rec.meta["warnings"] == [] and rec.n_samples == round(doc["duration_s"] * rec.fs)
    assert not (tmp_path / "live.bdf.annotations.tsv").exists()
