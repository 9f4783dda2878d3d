"""The compiled single passes (twitchwatch._kernels) against the numpy expressions they
stand for, and the detector's bursts the same with them and without (the window sums and
their threshold tests on every instruction set the CPU has)."""
from __future__ import annotations

import numpy as np
import pytest

from twitchwatch import detect
from twitchwatch.dsp import Preprocessor
from twitchwatch.synth import SynthConfig, simulate

kernels = pytest.importorskip("twitchwatch._kernels", reason="the C extension was not built")

CLIP, SCALE = detect._CLIP_UV * detect._CLIP_UV, detect._Q


@pytest.fixture(params=kernels.available())
def isa(request):
    """Each test on each code path this CPU can run (the default one restored after)."""
    default = kernels.isa()
    kernels.isa(request.param)
    yield request.param
    kernels.isa(default)


def numpy_square_cumsum(x: np.ndarray) -> np.ndarray:
    seg = np.minimum(np.square(x, dtype=np.float64), CLIP) * SCALE
    return np.cumsum(np.rint(seg).astype(np.int64), axis=-1)


@pytest.mark.parametrize("seed", range(4))
def test_square_cumsum_is_numpys(seed, isa):
    rng = np.random.default_rng(seed)
    x = (rng.standard_t(2, size=(5, 3000)) * rng.uniform(0.01, 300)).astype(np.float32)
    x[0, :5] = [0.0, -0.0, 1e5, -3e7, np.inf]  # zeros, the clip's edge, beyond it
    x[1, 10:20] = np.linspace(0.01, 0.05, 10)  # squares near half a fixed-point step
    view = x[:, 7:2900]  # rows of a wider buffer, as the detector passes them
    out = np.zeros((5, 4000), dtype=np.int64)[:, 100:100 + view.shape[1]]
    kernels.square_cumsum(view, out, CLIP, SCALE)
    np.testing.assert_array_equal(out, numpy_square_cumsum(view))
    one = np.empty(view.shape[1], dtype=np.int64)
    kernels.square_cumsum(view[2], one, CLIP, SCALE)
    np.testing.assert_array_equal(one, numpy_square_cumsum(view[2]))
    for n in range(9):  # shorter than a vector, and a vector and some
        kernels.square_cumsum(view[3, :n], one[:n], CLIP, SCALE)
        np.testing.assert_array_equal(one[:n], numpy_square_cumsum(view[3, :n]))
    with pytest.raises(TypeError, match="float32"):
        kernels.square_cumsum(view.astype(np.float64), out, CLIP, SCALE)
    with pytest.raises(ValueError, match="x's shape"):
        kernels.square_cumsum(view, out[:, 1:], CLIP, SCALE)


@pytest.mark.parametrize("seed", range(3))
def test_envelopes_are_numpys(seed, isa, monkeypatch):
    """The detector's window sums and threshold tests with the kernel and with numpy."""
    rng = np.random.default_rng(seed)
    det = detect.Detector(1000.0, 4)
    counts = np.array([13, 250, 250, 250, 14])  # a stretch of centres across the floor's blocks
    n = int(counts.sum())
    cs = np.cumsum(rng.integers(0, 10 ** 9, size=(4, n + 2 * det.hs + 1)), axis=1)
    thresholds = rng.integers(0, 3 * 10 ** 10, size=(4, counts.size, 3))
    thresholds[0, 1] = 2 ** 62  # beyond reach

    def run():
        fast = np.zeros((4, n + 50), dtype=np.int64)[:, 50:]  # rows of a wider buffer, as _judge passes them
        return (fast,) + det._envelopes(cs, thresholds, counts, fast)

    ours = run()
    monkeypatch.setattr(detect, "_kernels", None)
    theirs = run()
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)
    assert all(v.any() and not v.all() for v in ours[1:])
    with pytest.raises(ValueError, match="shapes"):
        kernels.envelopes(cs[:, 1:], det.hs, det.hf, thresholds.reshape(4, -1), counts, *run())


@pytest.mark.parametrize("seed", range(3))
def test_extents_are_numpys(seed, monkeypatch):
    """The bursts inside runs with the kernel and with numpy, on random sums and masks
    (peaks that stand alone, plateaus, ties at the peak's share)."""
    rng = np.random.default_rng(seed)
    det = detect.Detector(1000.0, 4)
    det._b0 = 1000
    det._fast = (rng.integers(0, 10 ** 6, size=(4, 3000)) * rng.integers(1, 4, size=(4, 3000)) ** 6)[:, 100:]
    det._fast[1, 200:240] = 400  # a plateau: every sample ties with the peak
    det._fast[2, 10:20] = [9, 100, 0, 2, 3, 4, 2, 100, 1, 2]  # ties at 100 * 0.15^2 = 2.25 and below
    det._strong = rng.random((4, 3100))[:, 200:] < 0.6
    det._strong[1:3] = True
    ch = np.r_[rng.integers(0, 4, 300), 1, 2, 2]
    start = np.r_[rng.integers(0, 2800, 300), 190, 10, 13] + det._b0
    stop = np.minimum(start + np.r_[rng.integers(1, 400, 300), 60, 10, 5], det._b0 + 2900)
    ours = det._extents(ch, start, stop)
    monkeypatch.setattr(detect, "_kernels", None)
    theirs = det._extents(ch, start, stop)
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)
    a, z = np.empty_like(start), np.empty_like(start)
    nothing = np.zeros_like(det._strong)
    assert not kernels.extents(det._fast, nothing, ch, start - det._b0, stop - det._b0, 0.0225, a, z)
    with pytest.raises(ValueError, match="outside"):
        kernels.extents(det._fast, det._strong, ch, start - det._b0 + 200, stop - det._b0 + 200, 0.0225, a, z)


@pytest.mark.parametrize("seed", range(3))
def test_ragged_segments_are_numpys(seed, monkeypatch):
    """Segments laid end to end with the kernel and with numpy, from a whole buffer and
    from a view of one (as after a trim), one-sample segments and overlaps included."""
    rng = np.random.default_rng(seed)
    wide = (rng.standard_normal((5, 900)) * 100).astype(np.float32)
    rows = rng.integers(0, 5, 60)
    a = rng.integers(0, 700, 60)
    z = np.minimum(a + rng.integers(1, 200, 60), 700)
    z[:3] = a[:3] + 1
    for buf in (wide[:, :700].copy(), wide[:, 200:]):
        ours = detect._ragged(buf, rows, a, z)
        with monkeypatch.context() as m:
            m.setattr(detect, "_kernels", None)
            theirs = detect._ragged(buf, rows, a, z)
        for u, v in zip(ours, theirs):
            np.testing.assert_array_equal(u, v)
            assert u.dtype == v.dtype
    out, which = np.empty(int((z - a).sum())), np.empty(int((z - a).sum()), dtype=np.intp)
    with pytest.raises(ValueError, match="outside buf"):
        kernels.ragged(wide[:, :700], rows, a, z + 1, out, which)


@pytest.mark.parametrize("seed", range(3))
def test_spectra_are_numpys(seed, monkeypatch):
    """The bursts' spectral centroids and flatness with the kernels (the window's angles, the frames)
    and with numpy: segments of one sample, of a power of two, longer than 64."""
    rng = np.random.default_rng(seed)
    det = detect.Detector(1000.0, 4)
    det._x = (rng.standard_normal((4, 6000)) * 50).astype(np.float32)[:, 500:]
    ch = rng.integers(0, 4, 80)
    a = rng.integers(0, 4000, 80)
    z = a + np.r_[1, 1, 64, 128, 65, rng.integers(1, 1500, 75)]
    ours = det._spectra(ch, a, z)
    monkeypatch.setattr(detect, "_kernels", None)
    np.testing.assert_array_equal(ours, det._spectra(ch, a, z))
    with pytest.raises(ValueError, match="add up"):
        kernels.hann_angles(np.array([3, 4]), 1.0, np.empty(8))
    with pytest.raises(ValueError, match="outside frames"):
        kernels.into_frames(np.ones(7), np.ones(7), np.array([3, 4]), np.array([0, 61]), np.zeros(64))


@pytest.mark.parametrize("seed", range(3))
def test_sign_changes_are_numpys(seed, monkeypatch):
    """Sign flips within segments with the kernel and with numpy (segments of one value,
    empty ones, none at all)."""
    rng = np.random.default_rng(seed)
    which = np.repeat(np.arange(40), rng.integers(0, 30, 40))
    sign = rng.random(which.size) < 0.5
    ours = [detect._changes(which, sign, 40), detect._changes(which[:0], sign[:0], 3)]
    monkeypatch.setattr(detect, "_kernels", None)
    theirs = [detect._changes(which, sign, 40), detect._changes(which[:0], sign[:0], 3)]
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)
    assert ours[0].any()
    with pytest.raises(ValueError, match="within out"):
        kernels.sign_changes(which, sign, np.zeros(39))


def test_an_unknown_instruction_set_is_refused():
    with pytest.raises(ValueError, match="not available"):
        kernels.isa("sse9")
    with pytest.raises(ValueError, match="not available"):  # (only _biquads has an AVX-512 path)
        kernels.isa("avx512")
    assert "avx512" not in kernels.available()


@pytest.mark.parametrize("fs", [250.0, 1000.0])
def test_the_detector_finds_the_same_bursts_without_the_kernels(fs, isa, monkeypatch):
    rec, _ = simulate(SynthConfig(minutes=1.0, fs=fs, n_channels=3, seed=int(fs), twitch_rate=30.0))
    pre = Preprocessor(rec.fs, rec.n_channels)
    chunks = [c for chunk in rec.chunks(int(7.3 * fs)) for c in pre.process(chunk)] + pre.flush()

    def bursts():
        det = detect.Detector(rec.fs, rec.n_channels)
        found = [b for c in chunks for b in det.process(c)] + det.flush()
        return [(b.channel, b.start, b.stop, sorted(b.features.items())) for b in found]

    ours = bursts()
    monkeypatch.setattr(detect, "_kernels", None)
    assert ours and ours == bursts()


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("block,stride", [(100, 4), (25, 1), (13, 1), (6, 4)])
def test_hum_offsets_are_numpys(seed, block, stride, isa):
    """The hum guard's offsets from the predicted hum: the kernel's every stride-th value
    and block peaks are those of the numpy expression, to the bit, on every instruction set
    (blocks no multiple of four lanes, one to six sinusoids, hum a thousand times the
    noise, fits on the grid as the guard makes them)."""
    from twitchwatch.dsp import HUM_GRID, hum_offsets

    rng = np.random.default_rng(seed)
    rows, blocks = 3, 40
    for width in (2, 4, 12):
        ahead = np.ascontiguousarray(rng.normal(size=(width, block)))
        coef = np.rint(rng.normal(size=(rows, blocks, width)) * rng.uniform(1, 1e3) * HUM_GRID) / HUM_GRID
        ext = rng.normal(size=(rows, 5 + blocks * block)) * rng.uniform(0.1, 10)
        y = ext[:, 5:]  # rows of a wider buffer
        sub = np.empty((rows, blocks, -(-block // stride)))
        peak = np.empty((rows, blocks))
        kernels.hum_offsets(y, block, coef.reshape(rows, -1), ahead, HUM_GRID, stride, sub.reshape(rows, -1), peak)
        off = hum_offsets(y.reshape(rows, blocks, block), coef, ahead)
        np.testing.assert_array_equal(sub, off[:, :, ::stride])
        np.testing.assert_array_equal(peak, off.max(axis=2))
    with pytest.raises(ValueError, match="out's blocks"):
        kernels.hum_offsets(y, block + 1, coef.reshape(rows, -1), ahead, HUM_GRID, stride, sub.reshape(rows, -1), peak)
    with pytest.raises(ValueError, match="width x block"):
        kernels.hum_offsets(y, block, coef.reshape(rows, -1)[:, 1:], ahead, HUM_GRID, stride, sub.reshape(rows, -1), peak)


@pytest.mark.parametrize("step", range(2, 9))
def test_group_sums_are_the_low_bands(step):
    rng = np.random.default_rng(step)
    x = rng.normal(size=(3, 50 * step + 3)) * 10.0 ** rng.uniform(-3, 6, size=(3, 1))
    view = x[:, : 50 * step]
    out = np.empty((3, 50))
    kernels.group_sums(view, step, out)
    g = view.reshape(3, 50, step)
    rest = g[:, :, 1].copy()
    for j in range(2, step):
        rest += g[:, :, j]
    np.testing.assert_array_equal(out, g[:, :, 0] + rest)
    np.testing.assert_array_equal(out, np.add.reduceat(view, np.arange(0, view.shape[1], step), axis=1))


def test_the_preprocessor_gives_the_same_output_without_the_kernels(monkeypatch):
    """The hum guard (block peaks) and the low band (group sums) with the kernels and without."""
    from twitchwatch import dsp

    rec, _ = simulate(SynthConfig(minutes=0.5, fs=1000.0, n_channels=3, seed=5, twitch_rate=30.0))

    def run():
        pre = Preprocessor(rec.fs, rec.n_channels)
        out = [c for chunk in rec.chunks(4321) for c in pre.process(chunk)] + pre.flush()
        return np.concatenate([c.data for c in out], axis=1), np.concatenate([c.low for c in out], axis=1)

    ours = run()
    monkeypatch.setattr(dsp, "_kernels", None)
    for a, b in zip(ours, run()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("bps", [2, 3])
def test_edf_samples_are_numpys(bps, isa):
    """One signal of EDF (int16) or BDF (int24) records decoded and scaled, against the
    numpy expressions of formats.edf, from a sample inside a record to one in another."""
    rng = np.random.default_rng(bps)
    spr, records, offset, record_bytes = 50, 7, 3 * bps * 50, 5 * bps * 50
    raw = bytearray(rng.integers(0, 256, records * record_bytes + 1, dtype=np.uint8).tobytes())
    shift, gain = 12.5, 0.031250000123
    if bps == 2:
        cells = np.ndarray((records, spr), "<i2", raw, offset + 1, (record_bytes, 2))
    else:
        cells = np.ndarray((records, spr), "<i4", raw, offset, (record_bytes, 3)) >> 8
    want = ((cells.reshape(-1).astype(np.float64) + shift) * gain).astype(np.float32)
    assert want.min() < 0 < want.max()
    for lo, n in [(0, records * spr), (17, 1), (49, 2), (33, 250), (0, 0), (300, 50), (301, 49), (5, 338)]:
        out = np.zeros(n + 4, dtype=np.float32)[2: n + 2]
        kernels.edf_samples(raw, offset + 1, record_bytes, bps, spr, lo, shift, gain, out)
        np.testing.assert_array_equal(out, want[lo: lo + n])
    # the data ending with the last sample (no vector may read past it)
    cut = memoryview(raw)[: (records - 1) * record_bytes + offset + 1 + spr * bps]
    out = np.empty(records * spr, dtype=np.float32)
    kernels.edf_samples(cut, offset + 1, record_bytes, bps, spr, 0, shift, gain, out)
    np.testing.assert_array_equal(out, want)
    with pytest.raises(ValueError, match="outside"):
        kernels.edf_samples(raw, offset + 1, record_bytes, bps, spr, 1, shift, gain, np.empty(records * spr, np.float32))


@pytest.mark.parametrize("ext", ["edf", "bdf"])
def test_edf_files_read_the_same_without_the_kernels(ext, isa, tmp_path, monkeypatch):
    from twitchwatch.formats import edf, open_recording, write_recording

    rec, _ = simulate(SynthConfig(minutes=0.2, fs=250.0, n_channels=3, seed=2))
    path = tmp_path / f"r.{ext}"
    write_recording(path, rec)
    opened = open_recording(path)
    ours = [opened.read(a, b) for a, b in [(0, opened.n_samples), (123, 2345)]]
    monkeypatch.setattr(edf, "_kernels", None)
    for got, (a, b) in zip(ours, [(0, opened.n_samples), (123, 2345)]):
        np.testing.assert_array_equal(got, open_recording(path).read(a, b))


@pytest.mark.parametrize("seed", range(4))
def test_top_two_are_numpys(seed, isa, monkeypatch):
    """A block's extremes, the next values inward and their counts, with the kernel and
    with numpy: quantized samples (ties), zeros of both signs, flat rows, rows that are no
    multiple of the kernel's eight lanes; and the signal checks' figures the same (the
    spread to rounding: the moments kernel adds up in another order)."""
    from twitchwatch import quality

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3000))
    x = (np.round(rng.standard_normal((6, n + 5)) * rng.uniform(0.5, 40)) * 0.25).astype(np.float32)[:, 5:]
    x[1] = -0.0  # flat, at a zero
    x[2, ::3] = 0.0
    x[2, 1::3] = -0.0
    x[3] = np.minimum(x[3], 0.0)  # highest at zero
    x[4, -1] = 1e30
    vals, counts = np.empty((2, 6, 2)), np.empty((2, 6, 2), dtype=np.int64)
    kernels.top_two(x, vals, counts)
    for side, v in enumerate((x, -x)):
        first = v.max(axis=1)
        second = np.where(v == first[:, None], -np.inf, v).max(axis=1)
        np.testing.assert_array_equal(vals[side], np.stack([first, second], axis=1) + 0.0)
        assert not np.signbit(vals[side][vals[side] == 0]).any()  # zeros as +0
        np.testing.assert_array_equal(counts[side], np.stack([(v == first[:, None]).sum(axis=1),
                                                             (v == second[:, None]).sum(axis=1)], axis=1))

    def figures():
        stats = quality.SignalStats(6)
        for block in np.array_split(x, 3, axis=1):
            if block.shape[1]:
                stats.add(block)
        return [getattr(stats, name) for name in ("bad", "n", "std", "high", "low", "n_high", "n_low",
                                                    "n_next_high", "n_next_low")]

    ours = figures()
    monkeypatch.setattr(quality, "_kernels", None)
    for k, (a, b) in enumerate(zip(ours, figures())):
        if k == 2:  # std
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=0)
        else:
            np.testing.assert_array_equal(a, b)
        assert np.signbit(a).tolist() == np.signbit(b).tolist()
    assert ours[3][1] == 0.0 and not np.signbit(ours[3][1]) and not np.signbit(ours[4][1])  # "constant 0 uV"
    with pytest.raises(ValueError, match="top_two"):
        kernels.top_two(x[:, :0], vals, counts)


@pytest.mark.parametrize("seed", range(4))
def test_moments_are_numpys(seed, isa):
    """Per row, the finite samples' number, sum and sum of squared deviations from their
    mean, with the kernel and with numpy in float64 (to rounding: the kernel adds up in
    another order): rows of every length up to two vectors and more, offsets far above
    the spread, NaN and inf, a row with nothing finite."""
    rng = np.random.default_rng(seed)
    for n in [*range(18), 33, 1000 + seed, 4099]:
        x = rng.standard_normal((5, n + 3)) * rng.uniform(0.1, 100) + rng.choice([0.0, 4e4, -7e5])
        x = x.astype(np.float32)[:, 3:]  # (rows that start anywhere in a vector)
        bad = rng.random(x.shape) < 0.05
        x[bad] = rng.choice(np.array([np.nan, np.inf, -np.inf], np.float32), bad.sum())
        x[2] = np.nan
        x[3, ::2] = 1e30
        counts, sums, m2 = np.empty(5, np.int64), np.empty(5), np.empty(5)
        kernels.moments(x, counts, sums, m2)
        ok = np.isfinite(x)
        v = np.where(ok, x, 0).astype(np.float64)
        np.testing.assert_array_equal(counts, ok.sum(axis=1))
        np.testing.assert_allclose(sums, v.sum(axis=1), rtol=1e-12, atol=1e-9)
        mean = v.sum(axis=1) / np.maximum(counts, 1)
        want = (np.where(ok, v - mean[:, None], 0) ** 2).sum(axis=1)
        np.testing.assert_allclose(m2, want, rtol=1e-9, atol=1e-9)
        assert counts[2] == 0 and sums[2] == 0 and m2[2] == 0
    with pytest.raises(ValueError, match="moments"):
        kernels.moments(x, counts[:4], sums, m2)
