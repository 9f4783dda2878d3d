"""Faults of a serial firmware-bridge board, through the real `twitchwatch stream` on a real
pseudo-terminal (tests/emulator.py speaks PROTOCOL.md only): lost, corrupted, duplicated and
reordered frames, garbage, a format change mid-stream, stalls, and the board vanishing.

What must hold: no crash; lost samples counted exactly (from sequence numbers), each gap
where it happened; every sample that arrived is in its place; a repeated or late frame is
never counted twice nor spliced in the wrong place; a format change never mixes rates.
"""
from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli as tw
from emulator import Device, to_frames
from twitchwatch.sources.serial import SerialSource
from twitchwatch.stream import run_stream
from twitchwatch.types import Chunk

FS, N, SCALE = 1000, 10, 0.25


def _stream(dev: Device, seconds: float, out: Path, *extra: str, timeout: float = 120):
    """`twitchwatch stream --board serial` on the device's port until ``seconds`` of signal."""
    dev.start()
    try:
        return tw("stream", "--board", "serial", "--port", str(dev.link), "--duration", str(seconds),
                  "--json", str(out), "--quiet", *extra, timeout=timeout)
    finally:
        dev.stop()
        dev.join(timeout=10)
        dev.close()
        assert dev.error is None, dev.error


def _gap_starts(lost_frames: list[int]) -> list[float]:
    """Where the gaps start (s): adjacent lost frames make one gap."""
    return [k * N / FS for k in sorted(lost_frames) if k - 1 not in lost_frames]


@pytest.mark.parametrize("seed,channels,seconds", [(21, 4, 20.0), (22, 8, 20.0), (23, 6, 20.0), (24, 4, 20.0),
                                                   (25, 8, 20.0), (26, 8, 60.0)])
def test_the_bar_lossy_board_twitches_found_and_losses_counted_exactly(seed, channels, seconds, synth, tmp_path):
    """The issue's bar (seed 26: 1000 Hz x 8 channels for 60 s): 1% corrupted and 1% dropped
    frames and ~100 bytes a second of garbage; the stream finds the twitches sent (F1 >= 0.9)
    and reports exactly the samples lost, gap by gap. The device sends at 4x real time (the
    stream reads what comes as it comes; nothing in it is paced by the wall clock)."""
    from twitchwatch.evaluate import score

    rec, truth = synth(minutes=seconds / 60 + 0.05, fs=FS, n_channels=channels, seed=seed, twitch_rate=90.0,
                       spasm_rate=0.0, artifact_rate=0.0, ecg=False, noise_uv=2.0, electrode_noise=False, hum_swings=False)
    frames = to_frames(rec.data, N, SCALE)
    rng = random.Random(seed)
    dropped = sorted(k for k in range(10, len(frames)) if rng.random() < 0.01)
    corrupted = sorted(k for k in range(10, len(frames)) if rng.random() < 0.01 and k not in dropped)
    faults = {k: ["drop"] for k in dropped} | {k: ["corrupt"] for k in corrupted}
    dev = Device(frames, FS, SCALE, tmp_path / "ttyTW", faults=faults, speed=4.0, garbage_per_s=100.0, seed=seed)
    out = tmp_path / "serial.json"
    proc = _stream(dev, seconds, out)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    limit = int(seconds * FS) // N
    lost = [k for k in dropped + corrupted if k < limit]
    assert doc["duration_s"] == seconds
    assert doc["lost_samples"] == N * len(lost)
    assert [g["start_s"] for g in doc["gaps"]] == pytest.approx(_gap_starts(lost))
    cut = dict(truth, events=[e for e in truth["events"] if e["end_s"] < seconds], duration_s=seconds)
    s = score(cut, doc).kinds["twitch"]
    assert s.tp + s.fn >= 8
    print(f"seed {seed}: {channels} ch {seconds:g} s, lost frames {len(lost)}, twitch F1 {s.f1:.3f}")
    assert s.f1 >= 0.9, s


class _Keep:
    """A sink that keeps every chunk (to check each sample's place)."""

    def __init__(self):
        self.chunks: list[Chunk] = []

    def write(self, chunk: Chunk) -> None:
        self.chunks.append(chunk)

    def episodes(self, episodes) -> None:
        pass

    def close(self) -> None:
        pass


def _run(dev: Device, seconds: float, **source_options) -> tuple[SerialSource, object, list[Chunk]]:
    """run_stream on a SerialSource reading the device, ``seconds`` of signal."""
    src = SerialSource(str(dev.link), **source_options)
    keep = _Keep()
    dev.start()
    try:
        src.open()
        res = run_stream(src, duration_s=seconds, sinks=(keep,))
    finally:
        dev.stop()
        dev.join(timeout=10)
        dev.close()
    assert dev.error is None, dev.error
    return src, res, keep.chunks


def _assert_in_place(chunks: list[Chunk], frames: np.ndarray, expected_lost: set[int]) -> None:
    """Every chunk's samples are those the device made for that place on the clock, and
    exactly the frames in ``expected_lost`` are missing."""
    made = frames.reshape(-1, frames.shape[2]).T.astype(np.float32) * np.float32(SCALE)
    have = np.zeros(made.shape[1], bool)
    for a, b in zip(chunks, chunks[1:]):
        assert b.start == a.stop + b.lost
    for c in chunks:
        np.testing.assert_array_equal(c.data, made[:, c.start:c.stop])
        have[c.start:c.stop] = True
    end = chunks[-1].stop // N
    missing = set(np.flatnonzero(~have[: end * N].reshape(end, N).all(axis=1)).tolist())
    assert missing == {k for k in expected_lost if k < end}


def test_duplicated_frames_count_once_and_late_frames_are_not_spliced_in(synth, tmp_path):
    """Repeated frames (a retransmitting bridge) are dropped and not counted twice; a frame
    that comes after a newer one (reordered in transit) is dropped too: its place on the
    clock has passed, it was counted lost when the newer frame came, and it stays so (no
    wrap-around 'loss' of 65535 frames, no samples shifted)."""
    rec, _ = synth(minutes=0.1, fs=FS, n_channels=4, seed=5, twitch_rate=60.0, spasm_rate=0.0,
                   artifact_rate=0.0, ecg=False, noise_uv=2.0, electrode_noise=False, hum_swings=False)
    frames = to_frames(rec.data, N, SCALE)
    dups = [20, 21, 150, 300]
    late = {60: 1, 200: 3, 201: 1, 400: 5}       # frame -> sent after frame + d
    faults = {k: ["dup"] for k in dups} | {k: [("late", d)] for k, d in late.items()}
    dev = Device(frames, FS, SCALE, tmp_path / "ttyTW", faults=faults, speed=4.0, seed=5, seq0=65500)
    src, res, chunks = _run(dev, 5.0)
    assert src.duplicate_frames == len(dups) and src.late_frames == len(late)
    assert res.lost_samples == N * len(late) and res.samples + res.lost_samples == 5 * FS
    assert [a for a, _ in res.gaps] == [60 * N, 200 * N, 400 * N]  # 200 and 201: one gap
    _assert_in_place(chunks, frames, set(late))


def test_a_counter_restart_is_not_a_phantom_gap(synth, tmp_path):
    """A device that restarts its sequence counter without leaving the port (a firmware
    reset behind a USB bridge): the jump is not taken as 65000 lost frames; the gap is
    counted from the wall clock (about nothing here) and the stream goes on."""
    rec, _ = synth(minutes=0.1, fs=FS, n_channels=2, seed=6, twitch_rate=60.0, spasm_rate=0.0,
                   artifact_rate=0.0, ecg=False, noise_uv=2.0, electrode_noise=False, hum_swings=False)
    frames = to_frames(rec.data, N, SCALE)
    dev = Device(frames, FS, SCALE, tmp_path / "ttyTW", faults={150: ["restart"]}, speed=1.0, seq0=3000)
    src, res, chunks = _run(dev, 3.0)
    assert src.gap_methods in ([], ["wallclock"])
    assert res.lost_samples <= 0.2 * FS
    assert res.samples + res.lost_samples == 3 * FS
    made = frames.reshape(-1, 2).T.astype(np.float32) * np.float32(SCALE)
    at = src.gaps[0][0] if src.gaps else res.samples + res.lost_samples
    assert at == 150 * N or not src.gaps
    for c in chunks:  # every sample in its place, after the (estimated) gap shifted by it
        shift = res.lost_samples if c.start >= at else 0
        np.testing.assert_array_equal(c.data, made[:, c.start - shift:c.stop - shift])


def test_a_format_change_mid_stream_stops_cleanly_and_keeps_what_came(synth, tmp_path):
    """INFO announces another rate mid-stream: the stream never feeds the new rate to the
    old pipeline; it stops there, keeps everything received (events JSON, a closed
    recording of exactly that signal) and says why in one line, exit 2."""
    from twitchwatch.formats import open_recording

    rec, truth = synth(minutes=0.1, fs=FS, n_channels=4, seed=7, twitch_rate=90.0, spasm_rate=0.0,
                       artifact_rate=0.0, ecg=False, noise_uv=2.0, electrode_noise=False, hum_swings=False)
    frames = to_frames(rec.data, N, SCALE)
    dev = Device(frames, FS, SCALE, tmp_path / "ttyTW", faults={300: [("format", 4, 500)]}, speed=2.0)
    out, bdf = tmp_path / "s.json", tmp_path / "live.bdf"
    proc = _stream(dev, 5.0, out, "--record", str(bdf))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    err = [line for line in proc.stderr.splitlines() if "error" in line]
    assert len(err) == 1 and "changed format" in err[0] and "500 Hz" in err[0]
    doc = json.loads(out.read_text())
    assert doc["fs"] == FS and doc["duration_s"] == 3.0 and doc["lost_samples"] == 0
    assert any(e["kind"] == "twitch" for e in doc["events"])
    live = open_recording(bdf)
    assert live.fs == FS and live.n_samples == 3 * FS and live.meta["warnings"] == []
    made = frames[:300].reshape(-1, 4).T * SCALE
    assert abs(live.data - made).max() < 1.0


def test_stalls_are_reported_and_a_stall_that_drops_frames_is_a_counted_gap(synth, tmp_path):
    """The board goes silent for 1.5 s twice: once buffering (it then goes on with the next
    sequence number: nothing lost) and once dropping 120 frames (1.2 s): the stream says
    'no samples' both times, goes on, and counts exactly the dropped samples as one gap."""
    rec, _ = synth(minutes=0.15, fs=FS, n_channels=4, seed=8, twitch_rate=60.0, spasm_rate=0.0,
                   artifact_rate=0.0, ecg=False, noise_uv=2.0, electrode_noise=False, hum_swings=False)
    frames = to_frames(rec.data, N, SCALE)
    dropped = list(range(500, 620))
    faults = {200: [("pause", 1.5)], 500: [("pause", 1.5), "drop"]} | {k: ["drop"] for k in dropped[1:]}
    dev = Device(frames, FS, SCALE, tmp_path / "ttyTW", faults=faults, speed=4.0)
    out = tmp_path / "s.json"
    proc = _stream(dev, 8.0, out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("no samples from") == 2, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["lost_samples"] == len(dropped) * N
    assert doc["gaps"] == [{"start_s": 5.0, "samples": len(dropped) * N}]
    assert doc["duration_s"] == 8.0


def test_the_board_vanishes_and_comes_back(synth, tmp_path):
    """The port disappears for 1.5 s (cable pulled, pty closed, link removed) and comes back
    behind the same name: the stream says so, reconnects, goes on, and counts the frames
    the board made meanwhile (sequence numbers agree with the time away) as one gap."""
    rec, _ = synth(minutes=0.15, fs=FS, n_channels=4, seed=9, twitch_rate=60.0, spasm_rate=0.0,
                   artifact_rate=0.0, ecg=False, noise_uv=2.0, electrode_noise=False, hum_swings=False)
    frames = to_frames(rec.data, N, SCALE)
    dev = Device(frames, FS, SCALE, tmp_path / "ttyTW", faults={300: [("vanish", 1.5)]}, speed=1.0)
    out = tmp_path / "s.json"
    proc = _stream(dev, 7.0, out)
    assert proc.returncode == 0, proc.stderr
    assert "vanished" in proc.stderr and "wall-clock" not in proc.stderr
    away = dev.skipped
    assert away[0] == 300 and len(away) >= 150 and 300 + len(away) < 700
    doc = json.loads(out.read_text())
    assert doc["lost_samples"] == len(away) * N
    assert doc["gaps"] == [{"start_s": 3.0, "samples": len(away) * N}]
    assert doc["duration_s"] == 7.0


def test_a_board_that_never_returns_ends_the_stream_with_what_came(synth, tmp_path):
    """The port vanishes for good: after ``give_up_s`` (30 s in the CLI, 1 s here) the stream
    ends with the reason in ``error`` (the CLI prints it, exit 2), and the signal received
    before (3 s) is all there, through the sinks (the recording), unlike a crash."""
    from twitchwatch.formats import open_recording
    from twitchwatch.recorder import Recorder
    from twitchwatch.stream import RecorderSink

    rec, _ = synth(minutes=0.1, fs=FS, n_channels=2, seed=10, twitch_rate=60.0, spasm_rate=0.0,
                   artifact_rate=0.0, ecg=False, noise_uv=2.0, electrode_noise=False, hum_swings=False)
    frames = to_frames(rec.data, N, SCALE)
    dev = Device(frames[:300], FS, SCALE, tmp_path / "ttyTW", speed=2.0)
    src = SerialSource(str(dev.link), give_up_s=1.0, retry_s=0.2)
    dev.start()
    src.open()
    recorder = Recorder(tmp_path / "live.bdf", FS, src.channels)
    def unplug_once_read() -> None:
        """After the last frame, once the reader has taken all of it: the test is that what
        came is kept, and bytes still in the pty when it closes never came (on a loaded
        machine the reader was 58 frames behind, and the pty dropped them)."""
        dev.join()
        dev.drained()
        dev._unplug()

    watcher = threading.Thread(target=unplug_once_read, daemon=True)
    watcher.start()
    res = run_stream(src, sinks=(RecorderSink(recorder),))
    watcher.join(timeout=10)
    assert dev.error is None, dev.error
    assert res.error is not None and "giving up" in res.error
    assert res.samples == 300 * N and res.lost_samples == 0
    live = open_recording(tmp_path / "live.bdf")
    assert live.n_samples == 300 * N and live.meta["warnings"] == []
    assert abs(live.data - frames.reshape(-1, 2)[: 300 * N].T * SCALE).max() < 1.0


def test_a_reader_held_up_still_counts_the_frames_dropped_meanwhile_exactly(synth, tmp_path):
    """The stream itself is held up for 2 s (a slow disk under the recorder, a loaded
    machine) while the board, unable to send, drops 1.5 s of frames: when the reader comes
    back, the frames buffered before the drop and those after it arrive together, yet the
    sequence jump is trusted (the reader knows it was away) and counted exactly, not taken
    for a counter restart."""
    import time

    rec, _ = synth(minutes=0.1, fs=FS, n_channels=2, seed=11, twitch_rate=60.0, spasm_rate=0.0,
                   artifact_rate=0.0, ecg=False, noise_uv=2.0, electrode_noise=False, hum_swings=False)
    frames = to_frames(rec.data, N, SCALE)
    dropped = set(range(150, 300))
    dev = Device(frames, FS, SCALE, tmp_path / "ttyTW", faults={k: ["drop"] for k in dropped}, speed=1.0)

    class Slow(_Keep):
        def write(self, chunk: Chunk) -> None:
            super().write(chunk)
            if chunk.start < 1000 <= chunk.stop:
                time.sleep(2.0)

    src = SerialSource(str(dev.link))
    slow = Slow()
    dev.start()
    try:
        src.open()
        res = run_stream(src, duration_s=4.0, sinks=(slow,))
    finally:
        dev.stop()
        dev.join(timeout=10)
        dev.close()
    assert dev.error is None, dev.error
    assert src.gap_methods == ["seq"] and res.gaps == [(1500, 1500)]
    _assert_in_place(slow.chunks, frames, dropped)
