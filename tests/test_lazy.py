"""Lazy EDF/BDF recordings (issue 6): samples stay in the file and are read in blocks, so
analysing a long recording takes memory for a block, not for the file; the answers are
those of the whole array in memory."""
from __future__ import annotations

import gc
import json
import os
import shutil
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from conftest import episode_keys
from twitchwatch import cli, formats
from twitchwatch.errors import RecordingError
from twitchwatch.formats import EdfWriter, open_recording, write_recording
from twitchwatch.quality import SignalStats, check_recording, snippets
from twitchwatch.pipeline import analyze
from twitchwatch.report_json import events_doc
from twitchwatch.synth import SynthConfig, simulate
from twitchwatch.types import READ_VALUES, Recording


@pytest.fixture(scope="module")
def bdf(tmp_path_factory) -> Path:
    """A 2-minute 4-channel BDF+ with events and annotations, not a whole number of records."""
    rec, truth = simulate(SynthConfig(minutes=2, fs=250, n_channels=4, seed=11))
    rec.data = rec.data[:, :-123]
    path = tmp_path_factory.mktemp("lazy") / "two.bdf"
    write_recording(path, rec, [(e["start_s"], e["end_s"] - e["start_s"], e["kind"]) for e in truth["events"][:20]])
    return path


def _eager(path: Path, **options) -> Recording:
    rec = open_recording(path, **options)
    rec.data  # read the whole file now
    assert not rec.lazy
    return rec


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_open_reads_header_only_and_slices_match_the_whole(bdf):
    rec, whole = open_recording(bdf), _eager(bdf)
    assert rec.lazy and rec.n_samples == whole.n_samples == 2 * 60 * 250 - 123  # END_TAG honoured
    assert rec.n_channels == 4 and rec.channels == whole.channels and rec.annotations == whole.annotations
    assert rec.meta["nonfinite"] == 0 and rec.meta["format"] == "bdf"
    rng = np.random.default_rng(0)
    cuts = [(0, 1), (0, rec.n_samples), (rec.n_samples - 5, rec.n_samples + 50), (-30, 10), (700, 700), (900, 800)]
    cuts += [tuple(sorted(rng.integers(0, rec.n_samples, 2))) for _ in range(20)]
    for a, b in cuts:
        got = rec.read(a, b)
        assert got.dtype == np.float32 and got.shape[0] == 4
        np.testing.assert_array_equal(got, whole.data[:, max(a, 0):max(b, 0)])
    for size in (7, 1000, 40_000, rec.n_samples + 1):
        chunks = list(rec.chunks(size))
        assert [c.start for c in chunks] == list(range(0, rec.n_samples, size))
        assert all(c.n_samples == size for c in chunks[:-1]) and chunks[-1].stop == rec.n_samples
        np.testing.assert_array_equal(np.concatenate([c.data for c in chunks], axis=1), whole.data)
    assert rec.lazy  # neither read nor chunks kept the whole
    np.testing.assert_array_equal(rec.data, whole.data)
    assert not rec.lazy and rec.data is rec.data  # materialised once, then cached
    with pytest.raises(ValueError):
        next(rec.chunks(0))


def test_lazy_analysis_gives_the_eager_events(bdf):
    rec, whole = open_recording(bdf), _eager(bdf)
    lazy_events, eager_events = analyze(rec), analyze(whole)
    assert rec.lazy and len(eager_events) > 0
    assert episode_keys(lazy_events) == episode_keys(eager_events)
    assert events_doc(rec, lazy_events) == events_doc(whole, eager_events)
    assert check_recording(rec, "x") == check_recording(whole, "x")
    waves = snippets(rec, lazy_events)
    assert waves and waves == snippets(whole, eager_events) and rec.lazy


def test_cli_analyze_never_reads_the_whole_file(bdf, tmp_path, monkeypatch):
    opened: list[Recording] = []

    def keep(*args, **kw):
        opened.append(real(*args, **kw))
        return opened[-1]

    real = formats.open_recording
    monkeypatch.setattr(formats, "open_recording", keep)
    out = tmp_path / "events.json"
    # with the episode log (the default): its sample waveforms are read as slices
    assert cli.main(["analyze", str(bdf), "--json", str(out), "--quiet", "--db", str(tmp_path / "log.sqlite")]) == 0
    assert len(opened) == 1 and opened[0].lazy
    whole = _eager(bdf)
    expected = events_doc(whole, analyze(whole))
    assert json.loads(out.read_text()) == json.loads(json.dumps(expected))


def test_channel_selection_and_fs_override(bdf):
    whole = _eager(bdf)
    rec = open_recording(bdf, columns="2,0")
    assert rec.lazy and rec.channels == (whole.channels[2], whole.channels[0]) and rec.n_channels == 2
    np.testing.assert_array_equal(rec.read(100, 5000), whole.data[[2, 0], 100:5000])
    np.testing.assert_array_equal(np.concatenate([c.data for c in rec.chunks(999)], axis=1), whole.data[[2, 0]])
    with pytest.raises(RecordingError, match=r"two\.bdf.*--columns names channel 4"):
        open_recording(bdf, columns="1,4")
    fast = open_recording(bdf, fs=500, columns="3")
    assert fast.fs == 500 and fast.duration_s == whole.n_samples / 500 and fast.lazy
    assert any("overrides" in w for w in fast.meta["warnings"])
    np.testing.assert_array_equal(fast.read(0, 300), whole.data[3:4, :300])


def test_unclosed_file_reads_complete_records_from_a_copy_removed_with_the_recording(tmp_path):
    x = (np.random.default_rng(2).standard_normal((2, 800)) * 50).astype(np.float32)
    w = EdfWriter(tmp_path / "live.bdf", 250, ["a", "b"])
    w.append(x)
    shutil.copy(tmp_path / "live.bdf", tmp_path / "crash.bdf")  # as if the process died
    w.close()
    (tmp_path / "crash.bdf.annotations.tsv").write_text("1.5\t0\ttag:coffee\n9.0\t0\tafter the end\n")
    before = (tmp_path / "crash.bdf").read_bytes()
    rec = open_recording(tmp_path / "crash.bdf", columns="1")
    assert rec.lazy and rec.n_samples == 750 and "not closed" in rec.meta["warnings"][0]
    assert rec.annotations == [(1.5, 0.0, "tag:coffee")]
    copy = rec.samples.copy.path
    assert copy.is_file()
    np.testing.assert_allclose(rec.read(0, 750)[0], x[1, :750], atol=0.03)  # 24-bit steps of the live range
    np.testing.assert_array_equal(np.concatenate([c.data for c in rec.chunks(100)], axis=1), rec.read(0, 750))
    assert (tmp_path / "crash.bdf").read_bytes() == before  # the original is never touched
    del rec
    gc.collect()
    assert not copy.exists()


def test_cut_off_file_reads_its_complete_records(bdf, tmp_path):
    whole = _eager(bdf)
    raw = bdf.read_bytes()
    (tmp_path / "cut.bdf").write_bytes(raw[:-5000])
    rec = open_recording(tmp_path / "cut.bdf")
    assert rec.lazy and rec.meta["warnings"] and 0 < rec.n_samples < whole.n_samples
    assert rec.n_samples % 250 == 0
    np.testing.assert_array_equal(rec.data, whole.data[:, :rec.n_samples])


def test_many_open_recordings_hold_no_file_handles(bdf):
    fds = _open_fds()
    recs = [open_recording(bdf) for _ in range(70)]  # more than edflib's 64 open files
    assert _open_fds() == fds
    first = [r.read(k, k + 10) for k, r in enumerate(recs)]
    assert all(np.array_equal(a[:, 1:], b[:, :-1]) for a, b in zip(first, first[1:]))
    gen = recs[0].chunks(250)
    next(gen)
    assert _open_fds() == fds + 1  # a chunk iteration holds its reader ...
    gen.close()
    assert _open_fds() == fds  # ... until it ends


def test_signal_stats_merged_over_blocks_equal_the_whole():
    rng = np.random.default_rng(5)
    x = np.round(rng.standard_normal((6, 5000)) * 30).astype(np.float32) + 40_000  # quantized, offset
    x[1] = 7.0  # flat
    x[2] = np.clip(x[2], 39_980, 40_025)  # clipped at both edges
    x[3, rng.integers(0, 5000, 40)] = np.nan
    x[3, :3] = [np.inf, -np.inf, np.nan]
    x[4] = np.nan  # nothing finite
    x[5, 4000:] = 1e6  # a pile-up in the last block only
    whole = SignalStats(6)
    whole.add(x)
    cuts = np.sort(rng.integers(0, 5000, 9))
    merged = SignalStats(6)
    for block in np.split(x, cuts, axis=1):
        merged.add(block)
    ok = np.isfinite(x)
    for c in (0, 1, 2, 3, 5):
        v = x[c][ok[c]]
        hi, lo = v.max(), v.min()
        assert merged.high[c] == hi and merged.low[c] == lo and merged.n[c] == v.size
        assert merged.n_high[c] == np.sum(v == hi) and merged.n_low[c] == np.sum(v == lo)
        if hi > lo:
            assert merged.n_next_high[c] == np.sum(v == v[v < hi].max())
            assert merged.n_next_low[c] == np.sum(v == v[v > lo].min())
        assert merged.std[c] == pytest.approx(v.std(dtype=np.float64), rel=1e-9, abs=1e-9)
    assert merged.bad.tolist() == (~ok).sum(axis=1).tolist() and merged.n[4] == 0
    for name in ("bad", "n", "high", "low", "n_high", "n_low", "n_next_high", "n_next_low"):
        assert np.array_equal(getattr(merged, name), getattr(whole, name)), name


def test_signal_checks_span_blocks_the_same_lazily(tmp_path):
    rng = np.random.default_rng(8)
    n = 3 * (READ_VALUES // 3) + 777  # more than three read blocks
    x = (rng.standard_normal((3, n)) * 40).astype(np.float32)
    x[1] = -12.0
    x[2] = np.clip(x[2] * 5, -60, 60)
    rec = Recording(x, 250.0, ("a", "b", "c"))
    write_recording(tmp_path / "w.bdf", rec)
    lazy = open_recording(tmp_path / "w.bdf")
    warns = check_recording(lazy, "w.bdf")
    assert lazy.lazy and warns == check_recording(_eager(tmp_path / "w.bdf"), "w.bdf")
    assert len(warns) == 2 and "channel 1 (b) is flat" in warns[0] and "channel 2 (c) looks clipped" in warns[1]


def test_checks_and_reading_take_memory_for_a_block_not_the_file(tmp_path):
    """Peak traced memory of the signal checks and a full pass of 60-s chunks over a
    20-minute 16-channel file stays far below the samples as float32 (what `data` takes):
    a few blocks' worth (the raw bytes of one, its float32 samples, one 60-s chunk)."""
    rec0, _ = simulate(SynthConfig(minutes=20, fs=250, n_channels=16, seed=4))
    write_recording(tmp_path / "ten.bdf", rec0)
    del rec0
    rec = open_recording(tmp_path / "ten.bdf")
    full = rec.n_channels * rec.n_samples * 4
    tracemalloc.start()
    try:
        check_recording(rec, "ten.bdf")
        total = sum(float(np.abs(c.data).sum()) for c in rec.chunks(int(60 * rec.fs)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert total > 0 and rec.lazy
    assert peak < full / 3, (peak, full)
