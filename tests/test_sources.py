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
