"""Sources: BrainFlow's synthetic board, the embedded synthetic default (played through
BrainFlow's playback board), playback of a BrainFlow CSV, ReplaySource, gap accounting."""
from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("brainflow")

from twitchwatch.sources.brainflow import BrainFlowSource, count_lost, infer_step, stall_gap
from twitchwatch.sources.replay import ReplaySource
from twitchwatch.synth import SynthConfig, simulate


def _collect(src, max_s=None):
    t = time.monotonic()
    chunks, stamps = [], []
    for c in src.chunks():
        chunks.append(c)
        stamps.append(np.array(getattr(src, "timestamps", [])))
        if max_s is not None and time.monotonic() - t > max_s:
            src.stop()
    return chunks, stamps, time.monotonic() - t


def _contiguous(chunks):
    pos = chunks[0].start
    for c in chunks:
        assert c.start == pos + c.lost
        pos = c.stop


def test_brainflow_synthetic_board():
    src = BrainFlowSource("brainflow-synthetic", chunk_s=0.04)
    chunks, stamps, el = _collect(src, max_s=2.0)
    assert src.fs == 250.0 and len(src.channels) == 16
    assert len(chunks) > 10 and all(c.data.shape[0] == 16 for c in chunks)
    _contiguous(chunks)
    n = sum(c.n_samples for c in chunks)
    assert 0.6 * 250 * el < n < 1.4 * 250 * el
    ts = np.concatenate(stamps)
    assert np.all(np.diff(ts) >= 0)
    assert src.lost_samples == 0 and src.status == "stopped"


def test_synthetic_default_real_time():
    src = BrainFlowSource("synthetic", duration_s=3.0, seed=3)
    chunks, stamps, el = _collect(src)
    data = np.concatenate([c.data for c in chunks], axis=1)
    rec = src.recording
    assert src.status == "ended" and data.shape == rec.data.shape == (4, 750)
    assert abs(el - 3.0) < 0.3 * 3.0, el
    # write_file keeps 6 decimals; BrainFlow hands back what it read
    np.testing.assert_allclose(data, np.round(rec.data.astype(np.float64), 6), atol=2e-5)
    assert src.truth is not None and src.truth["fs"] == 250.0 and "events" in src.truth
    assert src.lost_samples == 0 and src.gaps == []
    _contiguous(chunks)
    assert np.all(np.diff(np.concatenate(stamps)) >= 0)


def test_playback_of_brainflow_csv(tmp_path):
    from brainflow.board_shim import BoardIds, BoardShim
    from brainflow.data_filter import DataFilter

    bid = BoardIds.CYTON_BOARD
    d = BoardShim.get_board_descr(bid)
    n = 250
    table = np.zeros((d["num_rows"], n))
    rows = BoardShim.get_emg_channels(bid)
    rng = np.random.default_rng(0)
    table[rows] = np.round(rng.normal(0, 50, (len(rows), n)), 6)
    pkg = np.arange(n) % 256
    keep = np.ones(n, bool)
    keep[100:105] = False  # five dropped packets
    table[d["package_num_channel"]] = pkg
    table[d["timestamp_channel"]] = 1.7e9 + np.arange(n) / 250.0
    path = tmp_path / "rec.csv"
    DataFilter.write_file(np.ascontiguousarray(table[:, keep]), str(path), "w")
    src = BrainFlowSource("playback", playback_file=str(path), master_board="cyton")
    chunks, _, el = _collect(src)
    assert src.status == "ended" and len(src.channels) == 8
    data = np.concatenate([c.data for c in chunks], axis=1)
    np.testing.assert_allclose(data, table[rows][:, keep], atol=1e-5)
    assert src.lost_samples == 5 and src.gaps == [(100, 5)]
    _contiguous(chunks)
    assert chunks[-1].stop == n
    assert 0.6 < el < 1.6


def test_replay_fast_and_paced():
    rec, _ = simulate(SynthConfig(minutes=2 / 60, fs=250, n_channels=2, seed=5))
    t = time.monotonic()
    fast = list(ReplaySource(rec, speed=None).chunks())
    assert time.monotonic() - t < 0.5
    np.testing.assert_array_equal(np.concatenate([c.data for c in fast], axis=1), rec.data)
    _contiguous(fast)
    src = ReplaySource(rec, speed=10)
    chunks, _, el = _collect(src)
    np.testing.assert_array_equal(np.concatenate([c.data for c in chunks], axis=1), rec.data)
    assert abs(el - 0.2) < 0.1, el
    assert src.fs == 250.0 and src.lost_samples == 0 and src.gaps == []


def test_replay_stop():
    rec, _ = simulate(SynthConfig(minutes=2 / 60, fs=250, n_channels=1, seed=6))
    src = ReplaySource(rec, speed=1.0)
    n = 0
    for c in src.chunks():
        n += c.n_samples
        if n >= 50:
            src.stop()
    assert n < 100


def test_gap_accounting():
    # cyton-like counter, step 1, wraps at 256
    nums = np.array([254, 255, 0, 3, 4, 4, 10])
    assert count_lost(253, nums, 1).tolist() == [0, 0, 0, 2, 0, 0, 5]
    assert count_lost(None, nums[:3], 1).tolist() == [0, 0, 0]
    assert count_lost(250, nums[:1], 1).tolist() == [3]
    # daisy-like step 2
    assert count_lost(0, np.array([2, 4, 10, 12]), 2).tolist() == [0, 0, 2, 0]
    assert infer_step(np.arange(0, 40, 2) % 256) == 2
    assert infer_step(np.arange(250, 270) % 256) == 1
    # stall: 2.5 s without samples at 250 Hz, 10 arrived in the first poll after it
    assert stall_gap(2.5, 250.0, 10) == 615
    assert stall_gap(0.01, 250.0, 10) == 0


SENDER = """
import sys, time
from brainflow.board_shim import BoardIds, BoardShim, BrainFlowInputParams
BoardShim.disable_board_logger()
board = BoardShim(BoardIds.SYNTHETIC_BOARD.value, BrainFlowInputParams())
board.prepare_session()
board.start_stream(45000, sys.argv[1])
print("streaming", flush=True)
time.sleep(600)
"""


def test_watchdog_reports_a_stall_reconnects_and_records_the_gap():
    """A real stall: a BrainFlow synthetic board in another process streams to a
    multicast group, and our source listens there (BrainFlow's streaming board). The
    sender is killed (a pulled cable) and, 2 s later, a new one starts. The source says
    'stalled', reconnects and goes on; the silent time is a gap on the stream clock (not
    bridged), so that the clock stays on the wall clock."""
    import random
    import subprocess
    import sys
    import threading

    port = random.randrange(20000, 60000)
    target = f"streaming_board://225.1.1.1:{port}"

    def start_sender() -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-c", SENDER, target], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "streaming"
        return proc

    senders = [start_sender()]
    statuses: list[str] = []
    src = BrainFlowSource("streaming", port=f"225.1.1.1:{port}", master_board="SYNTHETIC_BOARD",
                          stall_s=0.5, on_status=statuses.append)
    times = {}

    def pull_the_plug():
        time.sleep(2.0)
        senders[0].kill()
        time.sleep(2.0)
        senders.append(start_sender())
        deadline = time.monotonic() + 30
        while src.status != "streaming" or not src.gaps:  # back, after the reconnect
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        time.sleep(1.5)
        times["end"] = time.monotonic()
        src.stop()

    thread = threading.Thread(target=pull_the_plug, daemon=True)
    try:
        gen = src.chunks()
        chunks = [next(gen)]
        times["first"] = time.monotonic()
        thread.start()
        chunks += list(gen)
    finally:
        thread.join(timeout=40)
        for proc in senders:
            proc.kill()
            proc.wait()
    stalled = [k for k, s in enumerate(statuses) if s.startswith("stalled")]
    assert stalled and "streaming" in statuses[stalled[0]:], statuses
    _contiguous(chunks)
    fs = src.fs
    assert len(src.gaps) == 1 and src.lost_samples == src.gaps[0][1] >= 1.8 * fs
    # the clock (received + lost) stays on the wall clock: the gap is the time without data
    clock_s = (chunks[-1].stop - chunks[0].start) / fs
    assert abs(clock_s - (times["end"] - times["first"])) < 0.5, (clock_s, times)
    after = [c for c in chunks if c.start >= sum(src.gaps[0])]
    assert sum(c.n_samples for c in after) > 1.0 * fs, "the stream goes on after the stall"
