"""dsp: the EMG band, mains detection and the streaming preprocessor."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twitchwatch.dsp import MAINS_PROBE_S, Preprocessor, detect_mains, emg_band, measure_mains, median, quiet_seconds
from twitchwatch.synth import SynthConfig, simulate
from twitchwatch.types import Chunk, Recording

RATES = (125.0, 200.0, 250.0, 1000.0)


def _names(c: int) -> tuple[str, ...]:
    return tuple(f"C{i}" for i in range(c))


def _feed(pre: Preprocessor, x: np.ndarray, fs: float, sizes, start: int = 0) -> list[Chunk]:
    """Feed ``x`` in chunks cycling through ``sizes``; all output chunks, flush included."""
    out, i, k = [], 0, 0
    while i < x.shape[1]:
        s = int(sizes[k % len(sizes)])
        k += 1
        out += pre.process(Chunk(x[:, i:i + s], fs, _names(x.shape[0]), start=start + i))
        i += s
    return out + pre.flush()


def _joined(chunks: list[Chunk]) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([c.data for c in chunks], axis=1), np.concatenate([c.low for c in chunks], axis=1)


def _hum_and_noise(fs, seconds, c, rng, mains=None, hum_uv=10.0, noise_uv=3.0, dc=0.0):
    n = int(round(seconds * fs))
    t = np.arange(n) / fs
    x = noise_uv * rng.standard_normal((c, n)) + dc
    if mains:
        x += hum_uv * np.sin(2 * np.pi * mains * t + rng.uniform(0, 2 * np.pi, (c, 1)))
    return x


# -- emg_band ------------------------------------------------------------------------

@pytest.mark.parametrize("fs", RATES)
def test_emg_band_fits_the_rate(fs):
    lo, hi = emg_band(fs)
    assert lo == 20.0
    assert 0 < lo < hi < fs / 2
    assert hi <= 450.0


# -- detect_mains --------------------------------------------------------------------

@pytest.mark.parametrize("fs", [250.0, 1000.0])
@pytest.mark.parametrize("mains", [50.0, 60.0])
@pytest.mark.parametrize("seconds,channels", [(1.0, 4), (1.0, 1), (3.0, 2)])
def test_detect_mains_finds_the_line(fs, mains, seconds, channels, rng):
    # hum 5 uV against 3 uV of white noise (spread over 0 .. fs/2)
    x = _hum_and_noise(fs, seconds, channels, rng, mains=mains, hum_uv=5.0, dc=300.0)
    assert detect_mains(x, fs) == mains


@pytest.mark.parametrize("fs", [250.0, 1000.0])
@pytest.mark.parametrize("seed", range(6))
def test_detect_mains_none_for_pure_noise(fs, seed):
    x = _hum_and_noise(fs, MAINS_PROBE_S, 4, np.random.default_rng(seed), dc=-200.0)
    assert detect_mains(x, fs) is None


@pytest.mark.parametrize("fs", [250.0, 1000.0])
def test_detect_mains_false_alarm_rate_four_channels(fs):
    rng = np.random.default_rng(int(fs))
    hits = sum(detect_mains(rng.standard_normal((4, int(fs))), fs) is not None for _ in range(200))
    assert hits / 200 <= 0.03


@pytest.mark.parametrize("fs", [250.0, 1000.0])
def test_detect_mains_false_alarm_rate_one_channel(fs):
    rng = np.random.default_rng(int(fs) + 1)
    hits = sum(detect_mains(rng.standard_normal((1, int(fs))), fs) is not None for _ in range(200))
    assert hits / 200 <= 0.05, f"{hits / 200:.1%} of pure-noise seconds called mains"


@pytest.mark.parametrize("fs", [200.0, 250.0, 1000.0])
@pytest.mark.parametrize("mains", [50.0, 60.0])
def test_a_channel_with_its_electrode_off_does_not_hide_the_hum(fs, mains, rng):
    """Three channels with 5 uV of hum at 50.05 / 60.06 Hz in 3 uV of noise, and one whose
    electrode is off (300 uV of noise): the mains are found and measured on the three, as
    they would be with that channel flat. Summed with the loud one, the hum was buried."""
    runs = mains * 1.001
    x = _hum_and_noise(fs, MAINS_PROBE_S, 4, rng, mains=runs, hum_uv=5.0)
    x[3] = 300.0 * rng.standard_normal(x.shape[1])
    flat = x.copy()
    flat[3] = 0.0
    assert detect_mains(x, fs) == detect_mains(flat, fs) == mains
    assert measure_mains(x, fs, mains, (1,)) == pytest.approx(measure_mains(flat, fs, mains, (1,)), abs=1e-9)
    assert abs(measure_mains(x, fs, mains, (1,)) - runs) < 0.05


@pytest.mark.parametrize("fs", [200.0, 250.0, 1000.0])
@pytest.mark.parametrize("mains", [50.0, 60.0])
def test_flat_rows_outnumbering_the_live_ones_do_not_hide_the_hum(fs, mains, rng):
    """Four channels with hum and twelve flat rows (zeros, and one held at a constant: a
    board's unconnected rows in its file): the mains are found and measured as on the four
    alone. The median channel's noise was a flat row's, 0, and no live channel had a say."""
    runs = mains * 1.001
    x = _hum_and_noise(fs, MAINS_PROBE_S, 4, rng, mains=runs, hum_uv=5.0)
    padded = np.vstack([x, np.zeros((12, x.shape[1]))])
    padded[7] = 4.5
    assert detect_mains(padded, fs) == detect_mains(x, fs) == mains
    assert measure_mains(padded, fs, mains, (1,)) == pytest.approx(measure_mains(x, fs, mains, (1,)), abs=1e-9)


@pytest.mark.parametrize("fs", [250.0, 1000.0])
def test_flat_rows_do_not_change_which_seconds_are_quiet(fs, rng):
    """A loud start on four channels, with twelve flat rows beside them: the same quiet
    seconds are found (their median step was 0 on every second, and none looked loud)."""
    n = int((MAINS_PROBE_S + 10.0) * fs)
    x = 3.0 * rng.standard_normal((4, n))
    x[:, : int(2 * fs)] += 300.0 * rng.standard_normal((4, int(2 * fs)))
    padded = np.vstack([x, np.zeros((12, n))])
    look = quiet_seconds(list(Recording(x, fs, _names(4)).chunks(int(fs))), fs)
    look_padded = quiet_seconds(list(Recording(padded, fs, _names(16)).chunks(int(fs))), fs)
    assert look is not None and look_padded is not None and np.array_equal(look_padded[:4], look)


def _filtered(x: np.ndarray, fs: float) -> np.ndarray:
    """A stream's Preprocessor output for ``x``, fed a second at a time."""
    pre = Preprocessor(fs, len(x))
    step = int(fs)
    out = [c.data for i in range(0, x.shape[1], step)
           for c in pre.process(Chunk(x[:, i:i + step], fs, _names(len(x)), start=i))]
    return np.concatenate(out + [c.data for c in pre.flush()], axis=1)


@pytest.mark.parametrize("fs,runs", [(250.0, 49.986), (250.0, 50.011), (1000.0, 49.996), (1000.0, 60.004), (200.0, 60.07)])
def test_strong_hum_a_little_off_nominal_is_taken_out(fs, runs, rng):
    """800 uV of hum, with 3rd and 5th harmonics of 150 and 60 uV (odd harmonics are the
    strong ones), in 3 uV of noise: after the re-check the output is as quiet as the noise's
    own. At 250 Hz the 3rd harmonic folds beside the 2nd (read as the 2nd, it pulled the
    measured mains to 50.00 Hz; its own notch takes it out); a few thousandths of a hertz
    off nominal, the comb at nominal let several microvolts through."""
    seconds = 20.0
    noise = 3.0 * rng.standard_normal((3, int(seconds * fs)))
    t = np.arange(noise.shape[1]) / fs
    hum = sum(a * np.sin(2 * np.pi * k * runs * t + rng.uniform(0, 2 * np.pi, (3, 1)))
              for k, a in ((1, 800.0), (3, 150.0), (5, 60.0)))
    kept = slice(int((MAINS_PROBE_S + 11.0) * fs), None)  # after the re-check (and its notches' settling)
    quiet = _filtered(noise, fs)[:, kept].std(axis=1)
    assert np.all(_filtered(noise + hum, fs)[:, kept].std(axis=1) < 1.1 * quiet)


@pytest.mark.parametrize("fs", [200.0, 250.0, 1000.0])
@pytest.mark.parametrize("seed", [5, 6, 7])
def test_a_recording_that_starts_in_a_contraction_still_finds_its_hum(fs, seed):
    """A recording whose first 1.2 s are a strong contraction on every channel (300 uV):
    ``tune`` finds the mains on a quiet second of its head instead, within 0.02 Hz of
    where they run. The first second showed no hum at all, and the whole recording went
    without a notch. Without the contraction the first second is the one looked at; the
    whole recording in one chunk is tuned as in quarter seconds."""
    rec, truth = simulate(SynthConfig(minutes=0.5, fs=fs, seed=seed, mains_hz=50.0))
    assert quiet_seconds(list(rec.chunks(int(fs)))[:11], fs) is None
    x = rec.data.copy()
    x[:, : int(1.2 * fs)] += 300.0 * np.random.default_rng(seed).standard_normal((rec.n_channels, int(1.2 * fs)))
    tuned = []
    for size in (int(fs) // 4, rec.n_samples):  # chunking does not change it
        pre = Preprocessor(fs, rec.n_channels)
        pre.tune(Recording(x, fs, rec.channels).chunks(size))
        tuned.append(pre._tuned)
    mains, harmonics, _ = tuned[0]
    assert mains is not None and abs(mains - truth["mains_runs_hz"]) < 0.02 and 1 in harmonics
    assert tuned[1] == tuned[0]


@pytest.mark.parametrize("fs,within", [(200.0, 0.02), (250.0, 0.005), (1000.0, 0.005)])
@pytest.mark.parametrize("loud_s", [1.2, 3.5])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_hum_after_a_loud_start_is_measured_on_the_quiet_seconds_that_follow(fs, within, loud_s, seed):
    """A loud start (300 uV on every channel) and then 3 uV of noise with 20 uV of hum
    at 49.945 Hz, with 2nd and 3rd harmonics of 4 and 6 uV (at 250 Hz they fold to 99.89
    and 100.17 Hz): the seconds looked at run to the end of the head, none of them loud
    (a loud tail swamps a spectrum of ten seconds), and the mains are measured on them
    within 0.005 Hz (on the quietest second alone: up to 0.009 Hz off at 250 Hz, 0.004 at
    1000 Hz). At 200 Hz the 3rd harmonic folds to 50.165 Hz, beside the fundamental:
    0.02 Hz."""
    rng = np.random.default_rng(seed)
    runs, head = 49.945, MAINS_PROBE_S + 10.0
    n = int(head * fs)
    t = np.arange(n) / fs
    hum = sum(a * np.sin(2 * np.pi * k * runs * t + rng.uniform(0, 2 * np.pi, (4, 1)))
              for k, a in ((1, 20.0), (2, 4.0), (3, 6.0)))
    x = 3.0 * rng.standard_normal((4, n)) + hum
    x[:, : int(loud_s * fs)] += 300.0 * rng.standard_normal((4, int(loud_s * fs)))
    chunks = list(Recording(x, fs, _names(4)).chunks(int(fs) // 4))
    look = quiet_seconds(chunks, fs)
    assert look is not None and look.shape[1] >= 3 * int(fs)  # (strong hum sampled at 200 Hz beats:
    first = int(head) * int(fs) - look.shape[1]  # its median step varies 1.6 times from second to second)
    assert first >= np.ceil(loud_s) * int(fs) and np.array_equal(look, x[:, first: int(head) * int(fs)])
    pre = Preprocessor(fs, 4)
    pre.tune(chunks)
    assert abs(pre._tuned[0] - runs) < within


# -- Preprocessor: holding the probe -------------------------------------------------

@pytest.mark.parametrize("fs", [125.0, 250.0, 1000.0])
@pytest.mark.parametrize("mains", [50.0, 60.0])
def test_preprocessor_holds_the_first_second_then_releases(fs, mains, rng):
    x = _hum_and_noise(fs, 3.0, 3, rng, mains=mains if mains < fs / 2 - 1 else None)
    step = max(1, int(0.3 * fs))
    pre = Preprocessor(fs, 3)
    probe = int(MAINS_PROBE_S * fs)
    fed, released = 0, []
    i = 0
    while fed < probe:
        chunk = Chunk(x[:, i:i + step], fs, _names(3), start=i)
        out = pre.process(chunk)
        fed += chunk.n_samples
        i += step
        if fed < probe:
            assert out == [], "nothing comes out before a second has been seen"
        else:
            released = out
    # everything held comes out at once, in order, with its own starts and sizes
    assert [c.start for c in released] == list(range(0, fed, step))
    assert sum(c.n_samples for c in released) == fed
    assert all(c.low is not None and c.low.shape == c.data.shape for c in released)
    if mains < fs / 2 - 1:
        assert pre.mains_hz == pytest.approx(mains, abs=0.05)  # measured: within a tenth of the notch
    # then each chunk passes straight through
    out = pre.process(Chunk(x[:, i:i + 7], fs, _names(3), start=i))
    assert len(out) == 1 and out[0].start == i and out[0].n_samples == 7


@pytest.mark.parametrize("fs", [125.0, 1000.0])
def test_preprocessor_flush_releases_a_short_stream(fs, rng):
    x = _hum_and_noise(fs, 0.4, 2, rng)
    pre = Preprocessor(fs, 2)
    assert pre.process(Chunk(x, fs, _names(2))) == []
    out = pre.flush()
    assert sum(c.n_samples for c in out) == x.shape[1]
    assert np.isfinite(_joined(out)[0]).all()
    assert pre.flush() == []


# -- Preprocessor: chunking never changes the answer ---------------------------------

def _stream_case(fs: float, seed: int, seconds: float = 3.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = _hum_and_noise(fs, seconds, 3, rng, mains=50.0 if fs > 110 else None, dc=rng.uniform(-3e4, 3e4, (3, 1)))
    # a few bursts, a step and some non-finite samples
    n = x.shape[1]
    for _ in range(4):
        i = int(rng.integers(0, n - 20))
        x[int(rng.integers(3)), i:i + 10] += 200 * rng.standard_normal(10)
    x[1, n // 2:] += 500.0
    bad = rng.integers(1, n, 6)
    x[rng.integers(0, 3, 6), bad] = rng.choice([np.nan, np.inf, -np.inf], 6)
    x[2, 0] = np.nan  # before any finite value
    return x.astype(np.float32)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fs=st.sampled_from([125.0, 250.0, 1000.0]), seed=st.integers(0, 3),
       sizes=st.lists(st.integers(1, 700), min_size=1, max_size=12))
def test_preprocessor_output_does_not_depend_on_chunking(fs, seed, sizes):
    x = _stream_case(fs, seed)
    whole = Preprocessor(fs, 3)
    ref = _feed(whole, x, fs, [x.shape[1]])
    pre = Preprocessor(fs, 3)
    got = _feed(pre, x, fs, sizes, start=0)
    y_ref, low_ref = _joined(ref)
    y, low = _joined(got)
    assert np.array_equal(y, y_ref)
    assert np.array_equal(low, low_ref)
    assert [c.start for c in got] == list(np.cumsum([0] + [c.n_samples for c in got])[:-1])
    assert pre.mains_hz == whole.mains_hz
    assert np.array_equal(pre.nonfinite, whole.nonfinite)


# -- Preprocessor: robustness ----------------------------------------------------------

@pytest.mark.parametrize("fs", [125.0, 250.0, 1000.0])
@pytest.mark.parametrize("chunk_s", [0.1, 10.0])
def test_nonfinite_samples_are_counted_and_contained(fs, chunk_s, rng):
    x = _hum_and_noise(fs, 4.0, 3, rng, mains=50.0, dc=1000.0)
    n = x.shape[1]
    x[0, n // 2: n // 2 + 5] = np.nan  # a run, after the probe
    x[0, int(0.7 * fs)] = np.nan  # inside the probe
    x[1, int(0.3 * fs)] = np.inf
    x[1, n - 1] = -np.inf  # the last sample
    pre = Preprocessor(fs, 3)
    y, low = _joined(_feed(pre, x.astype(np.float32), fs, [max(1, int(chunk_s * fs))]))
    assert pre.nonfinite.tolist() == [6, 2, 0]
    assert np.isfinite(y).all() and np.isfinite(low).all()
    # held at the last finite value: the filters stay on the scale of the signal (hum 10 uV, noise 3 uV)
    assert np.abs(y).max() < 100.0
    assert np.abs(y[:, int(0.05 * fs):]).max() < 100.0


@pytest.mark.parametrize("fs", [250.0, 1000.0])
def test_nonfinite_first_sample_starts_no_transient(fs, rng):
    """A stream whose very first sample is NaN (a board's first packet, a gap marker) on
    a channel with a DC offset: there is no last finite value to hold, and the filters
    must not start from 0 uV and step to the offset."""
    x = _hum_and_noise(fs, 4.0, 2, rng, dc=60000.0, noise_uv=1.0)
    x[0, 0] = np.nan
    pre = Preprocessor(fs, 2, None)
    y, low = _joined(_feed(pre, x.astype(np.float32), fs, [int(0.5 * fs)]))
    assert pre.nonfinite.tolist() == [1, 0]
    assert np.isfinite(y).all()
    after = int(0.05 * fs)
    assert np.abs(y[:, after:]).max() < 10.0, "a NaN first sample set off a start-up transient"
    assert np.abs(low[:, after:]).max() < 10.0


@pytest.mark.parametrize("fs", RATES)
@pytest.mark.parametrize("dc", [60000.0, -60000.0])
def test_large_dc_offset_gives_no_startup_transient(fs, dc, rng):
    n = int(5 * fs)
    noise = 0.5 * rng.standard_normal((2, n))
    x = np.vstack([dc + noise, np.full((1, n), dc)])
    y, low = _joined(_feed(Preprocessor(fs, 3), x.astype(np.float32), fs, [int(0.2 * fs)]))
    after = int(0.05 * fs)
    assert np.abs(y[:, after:]).max() < 3.0  # 0.5 uV noise alone reaches ~2 uV in 5 s
    assert np.abs(low[:, after:]).max() < 3.0
    assert np.abs(y[2]).max() < 1e-3  # pure DC: nothing at all, from the first sample


def _gain_db(fs: float, mains: float | str, tone: float) -> float:
    t = np.arange(int(10 * fs)) / fs
    x = (100.0 * np.sin(2 * np.pi * tone * t))[None, :]
    ref = x[0, int(3 * fs):].std()
    if mains == "auto":  # let the preprocessor find the line in the first second
        x = x + 20.0 * np.sin(2 * np.pi * 50.0 * t)[None, :]
    pre = Preprocessor(fs, 1, mains)
    y, _ = _joined(_feed(pre, x.astype(np.float32), fs, [int(fs)]))
    if mains == "auto":
        assert pre.mains_hz == 50.0
    settled = int(3 * fs)
    return float(20 * np.log10(y[0, settled:].std() / ref))


@pytest.mark.parametrize("fs", [125.0, 250.0, 1000.0])
@pytest.mark.parametrize("mains", [50.0, 60.0])
def test_notch_removes_the_mains_line(fs, mains):
    if mains >= fs / 2 - 1:
        pytest.skip("no mains line below Nyquist")
    assert _gain_db(fs, mains, mains) < -20.0
    if 2 * mains < emg_band(fs)[1]:  # harmonics inside the band are notched as well
        assert _gain_db(fs, mains, 2 * mains) < -20.0


@pytest.mark.parametrize("fs,mains,tone", [(1000.0, 60.0, 100.0), (1000.0, 50.0, 75.0), (1000.0, "auto", 75.0),
                                           (250.0, 50.0, 75.0), (250.0, 60.0, 90.0), (200.0, 50.0, 75.0)])
def test_tones_between_notches_pass(fs, mains, tone):
    assert abs(_gain_db(fs, mains, tone)) < 1.0


def _with_holes(x: np.ndarray, fs: float, holes: dict[int, int], size: int) -> list[Chunk]:
    """Chunks of ``x`` with samples [p, p + n) removed for each hole p: n; the stream
    clock counts them (``lost``), as a source reports dropped frames."""
    cuts = sorted(set(range(0, x.shape[1], size)) | set(holes) | {p + n for p, n in holes.items()})
    chunks, lost = [], 0
    for a, b in zip(cuts, cuts[1:] + [x.shape[1]]):
        if any(p <= a < p + n for p, n in holes.items()):
            lost += b - a
            continue
        chunks.append(Chunk(x[:, a:b], fs, _names(x.shape[0]), start=a, lost=lost))
        lost = 0
    return chunks


@pytest.mark.parametrize("fs,mains", [(250.0, 50.0), (250.0, 60.0), (1000.0, 50.0), (1000.0, 60.0),
                                      (200.0, 60.0), (125.0, 50.0)])
def test_a_hole_of_lost_samples_does_not_set_the_filters_ringing(fs, mains, rng):
    """Dropped frames in 400 uV of mains over a 50 mV offset: after each hole the output
    stays at the noise, where a naive join (the step and the phase jump) rings for seconds."""
    x = _hum_and_noise(fs, 12.0, 3, rng, mains=mains, hum_uv=400.0, noise_uv=2.0, dc=50000.0)
    x += np.linspace(0, 300.0, x.shape[1])  # a drifting baseline too
    holes = {int(3.1 * fs): 1, int(5.3 * fs): int(0.01 * fs) + 3, int(8.2 * fs): int(0.37 * fs)}
    pre = Preprocessor(fs, 3, "auto")
    out = [c for chunk in _with_holes(x, fs, holes, int(0.04 * fs)) for c in pre.process(chunk)] + pre.flush()
    assert pre.mains_hz == pytest.approx(mains, abs=0.05)
    y = np.concatenate([c.data for c in out], axis=1)
    starts = np.concatenate([np.arange(c.start, c.stop) for c in out])
    assert len(starts) == x.shape[1] - sum(holes.values())  # the fill is never passed on
    ref = np.concatenate([c.data for c in _feed(Preprocessor(fs, 3, mains), x.astype(np.float32), fs, [x.shape[1]])],
                         axis=1)
    settled = starts >= 2 * fs
    noise = ref[:, int(2 * fs):].std()
    assert np.abs(y[:, settled]).max() < 6 * noise
    # a fifth of a second after a hole, the output is the uninterrupted one again
    later = settled & ~np.any([(starts >= p) & (starts < p + n + 0.2 * fs) for p, n in holes.items()], axis=0)
    assert np.abs(y[:, later] - ref[:, starts[later]]).max() < noise
    # a naive join, for contrast: the same chunks with the clock jumps hidden
    naive = Preprocessor(fs, 3, mains)
    joined = [Chunk(c.data, c.fs, c.channels, c.start) for c in _with_holes(x, fs, holes, int(0.04 * fs))]
    yn = np.concatenate([c.data for ch in joined for c in naive.process(ch)] + [c.data for c in naive.flush()], axis=1)
    assert np.abs(yn[:, settled]).max() > 10 * noise


@pytest.mark.parametrize("fs", [250.0, 1000.0])
def test_a_hole_longer_than_the_bridge_restarts_the_filters_at_the_new_level(fs, rng):
    from twitchwatch.dsp import MAX_BRIDGE_S

    x = _hum_and_noise(fs, 4.0 + MAX_BRIDGE_S + 2.0, 2, rng, noise_uv=1.0, dc=20000.0)
    hole = (int(2.0 * fs), int((MAX_BRIDGE_S + 1.0) * fs))
    x[:, hole[0] + hole[1]:] += 30000.0  # a new electrode offset after a long unplug
    pre = Preprocessor(fs, 2, None)
    out = [c for chunk in _with_holes(x, fs, dict([hole]), int(0.1 * fs)) for c in pre.process(chunk)] + pre.flush()
    after = np.concatenate([c.data for c in out if c.start >= sum(hole)], axis=1)
    assert after.shape[1] == x.shape[1] - sum(hole)
    assert np.abs(after).max() < 8.0  # no 30 mV step into the filters


@pytest.mark.parametrize("fs", [200.0, 250.0, 1000.0])
@pytest.mark.parametrize("mains,off", [(50.0, 0.0015), (60.0, -0.002), (50.0, -0.0008), (60.0, 0.001)])
def test_off_nominal_mains_is_measured_and_notched(fs, mains, off, rng):
    """Grids run a little off 50/60 Hz: 200 uV of hum (and its harmonics) at 0.1-0.2 % off
    is measured from the first second and notched down to the noise, where notches at
    the nominal frequency leave several times the noise."""
    runs = mains * (1.0 + off)
    n = int(10 * fs)
    t = np.arange(n) / fs
    noise = 3.0 * rng.standard_normal((3, n))
    hum = sum(200.0 / h * np.sin(2 * np.pi * h * runs * t + rng.uniform(0, 2 * np.pi, (3, 1)))
              for h in (1, 2, 3) if h * runs < fs / 2 - 2)
    pre = Preprocessor(fs, 3)
    y, _ = _joined(_feed(pre, noise + hum, fs, [int(0.04 * fs)]))
    assert pre.mains_hz == pytest.approx(runs, abs=0.015)
    ref, _ = _joined(_feed(Preprocessor(fs, 3, None), noise, fs, [int(0.04 * fs)]))
    settled = slice(int(2 * fs), None)
    assert y[:, settled].std() < 1.3 * ref[:, settled].std()
    from scipy import signal

    from twitchwatch.dsp import design_filters, mains_comb, mains_harmonics

    x = noise + hum  # for contrast: the same filters at the nominal frequency
    yn = signal.sosfilt(design_filters(fs, mains, mains_harmonics(x, fs, mains))[0], x, axis=1)
    comb = mains_comb(fs, mains)
    if comb is not None:
        yn, _ = comb.filter(yn, comb.rest(3))
    assert yn[:, settled].std() > 2 * ref[:, settled].std()


def _folded_beside(fs, h, off, folded_uv, rng, seconds=16.0):
    """200 uV of mains at 50 Hz x (1 + off), ``folded_uv`` of its h-th harmonic (sampled at
    ``fs``, so folded back), 2 uV of noise; and the noise alone."""
    runs = 50.0 * (1.0 + off)
    n = int(seconds * fs)
    t = np.arange(n) / fs
    phase = rng.uniform(0, 2 * np.pi, (3, 2, 1))
    noise = 2.0 * rng.standard_normal((3, n))
    hum = 200.0 * np.sin(2 * np.pi * runs * t + phase[:, 0]) + folded_uv * np.sin(2 * np.pi * h * runs * t + phase[:, 1])
    return noise + hum, noise, runs


@pytest.mark.parametrize("fs,h", [(200.0, 3), (250.0, 4)])
@pytest.mark.parametrize("off", [0.0015, -0.002])
def test_a_harmonic_folded_beside_the_fundamental_is_notched_after_the_recheck(fs, h, off, rng):
    """Off nominal, the 3rd harmonic (at 200 Hz) or the 4th (at 250 Hz) folds 0.3-0.5 Hz
    beside the fundamental, inside the skirt of its 1 Hz notch, and leaves several times
    the noise. The first second cannot tell it is there; ten seconds of output show it as a
    line, and it gets a notch of its own: after that, what is left is the noise. Where it
    lands does not depend on how the stream is chunked."""
    from twitchwatch.dsp import MAINS_PROBE_S, RECHECK_S, harmonic_hz

    x, noise, runs = _folded_beside(fs, h, off, 40.0, rng)
    pre = Preprocessor(fs, 3)
    y, _ = _joined(_feed(pre, x, fs, [int(0.04 * fs)]))
    assert len(pre.added) == 1 and pre.added[0] == pytest.approx(harmonic_hz(h, runs, fs), abs=0.05)
    ref, _ = _joined(_feed(Preprocessor(fs, 3, None), noise, fs, [int(0.04 * fs)]))
    at = int((MAINS_PROBE_S + RECHECK_S) * fs)
    before, after = slice(int(3 * fs), at), slice(at + int(2 * fs), None)
    assert y[:, before].std() > 2.0 * ref[:, before].std()  # the problem: the notch beside it
    assert y[:, after].std() < 1.3 * ref[:, after].std()
    for sizes in ([x.shape[1]], rng.integers(1, int(0.5 * fs), 40)):
        again = Preprocessor(fs, 3)
        assert np.array_equal(_joined(_feed(again, x, fs, sizes))[0], y)
        assert again.added == pre.added


@pytest.mark.parametrize("fs,h", [(200.0, 3), (250.0, 4)])
@pytest.mark.parametrize("off", [0.0015, -0.002])
def test_a_recording_is_tuned_before_its_first_sample(fs, h, off, rng):
    """A recording (not a live stream) is looked into first (``tune``): the notch the
    re-check would add after eleven seconds is there from the first sample, and the
    start is as clean as the rest."""
    x, noise, runs = _folded_beside(fs, h, off, 40.0, rng)
    size = int(0.04 * fs)
    streamed = Preprocessor(fs, 3)
    _feed(streamed, x, fs, [size])
    pre = Preprocessor(fs, 3)
    pre.tune(Chunk(x[:, i:i + size], fs, _names(3), start=i) for i in range(0, x.shape[1], size))
    y, _ = _joined(_feed(pre, x, fs, [size]))
    assert pre.added == streamed.added and len(pre.added) == 1
    assert pre.mains_hz == streamed.mains_hz
    ref, _ = _joined(_feed(Preprocessor(fs, 3, None), noise, fs, [size]))
    early = slice(int(1 * fs), int(10 * fs))
    assert y[:, early].std() < 1.3 * ref[:, early].std()


@pytest.mark.parametrize("fs,mains", [(200.0, 50.0), (250.0, 60.0), (1000.0, 50.0), (125.0, 50.0)])
def test_the_filters_start_in_the_hum(fs, mains, rng):
    """The notches start as if the hum had always been there (``_lead_in``): 400 uV of
    mains from the first sample, over a drifting 20 mV offset, leave the first half second
    at the noise. Started at rest, they rang there at up to hundreds of times it."""
    x = _hum_and_noise(fs, 6.0, 3, rng, mains=mains, hum_uv=400.0, noise_uv=2.0, dc=20000.0)
    x += np.linspace(0, 300.0, x.shape[1])
    pre = Preprocessor(fs, 3)
    y, _ = _joined(_feed(pre, x, fs, [int(0.1 * fs)]))
    assert pre.mains_hz == pytest.approx(mains, abs=0.05)
    settled = y[:, int(2 * fs):].std()
    assert np.abs(y[:, : int(0.5 * fs)]).max() < 5 * settled


@pytest.mark.parametrize("fs", [200.0, 250.0])
def test_the_recheck_adds_no_notch_where_no_harmonic_folds(fs, rng):
    x, _, _ = _folded_beside(fs, 3, 0.0015, 0.0, rng)
    pre = Preprocessor(fs, 3)
    _feed(pre, x, fs, [int(0.04 * fs)])
    assert pre.mains_hz is not None and pre.added == ()


@pytest.mark.parametrize("off", [0.0, 0.0011, -0.0015])
def test_a_harmonic_folded_below_the_band_is_notched(off, rng):
    """At 250 Hz, 60 Hz mains fold their 4th harmonic (240 Hz) to 10 Hz, below the EMG
    band; the band-pass takes only about 25 dB off it, and 60 uV of it left five times the
    noise. It is notched like the others: what is left is the noise."""
    fs, runs = 250.0, 60.0 * (1.0 + off)
    n = int(10 * fs)
    t = np.arange(n) / fs
    phase = rng.uniform(0, 2 * np.pi, (3, 2, 1))
    noise = 2.0 * rng.standard_normal((3, n))
    x = noise + 300.0 * np.sin(2 * np.pi * runs * t + phase[:, 0]) + 60.0 * np.sin(2 * np.pi * 4 * runs * t + phase[:, 1])
    pre = Preprocessor(fs, 3)
    y, _ = _joined(_feed(pre, x, fs, [int(0.04 * fs)]))
    assert 4 in pre.harmonics
    ref, _ = _joined(_feed(Preprocessor(fs, 3, None), noise, fs, [int(0.04 * fs)]))
    settled = slice(int(2 * fs), None)
    assert y[:, settled].std() < 1.3 * ref[:, settled].std()


@pytest.mark.parametrize("fs,seed", [(250.0, 0), (1000.0, 1), (1000.0, 2)])
def test_hum_guard_does_not_depend_on_chunking(fs, seed):
    """The hum prediction goes through BLAS, which rounds differently for different numbers
    of blocks at once: on its grid, what goes around the notches is the same, to the bit,
    however the stream is chunked (here 20 random chunkings of two minutes of hum with
    large spikes, some clipped)."""
    from twitchwatch.dsp import HumGuard

    rng = np.random.default_rng(seed)
    n = int(120 * fs)
    t = np.arange(n) / fs
    freqs = [50.03, 100.06, 150.09]
    x = 2.0 * rng.standard_normal((8, n)) + sum(a * np.sin(2 * np.pi * f * t + rng.uniform(0, 6, (8, 1)))
                                                for a, f in zip((40.0, 10.0, 5.0), freqs))
    x[:, rng.integers(0, n, 100)] += rng.choice([-300.0, 300.0], (8, 100))
    ref = HumGuard(fs, freqs, 8).excess(x)
    assert np.count_nonzero(ref) > 500  # the spikes' excess goes around
    for _ in range(20):
        guard, out, i = HumGuard(fs, freqs, 8), [], 0
        while i < n:
            k = int(rng.integers(1, 3000))
            got = guard.excess(x[:, i:i + k])
            out.append(np.zeros((8, min(k, n - i))) if got is None else got)  # None: nothing goes around
            i += k
        assert np.array_equal(np.concatenate(out, axis=1), ref)


def _twitch(n: int, at: int, fs: float, size: float) -> np.ndarray:
    """A biphasic 12 ms twitch of peak ``size`` at sample ``at``."""
    twitch = np.zeros(n)
    width = max(3, int(0.012 * fs))
    twitch[at: at + width] = size * np.sin(np.pi * np.arange(width) / width) * np.sign(np.arange(width) - width / 2 + 0.5)
    return twitch


@pytest.mark.parametrize("fs", [200.0, 250.0, 1000.0])
def test_a_large_twitch_does_not_set_the_notches_ringing(fs, rng):
    """A twitch 100 times the noise, on 40 uV of hum (notched): a tenth of a second after
    it, the output is back at the noise, where a notch fed the whole twitch rings at the
    mains frequency for a few tenths of a second."""
    n = int(8 * fs)
    t = np.arange(n) / fs
    noise = 1.0 * rng.standard_normal((2, n))
    hum = 40.0 * np.sin(2 * np.pi * 60.0 * t + rng.uniform(0, 6, (2, 1)))
    at = int(5 * fs)
    pre = Preprocessor(fs, 2, 60.0)
    y, _ = _joined(_feed(pre, noise + hum + _twitch(n, at, fs, 100.0), fs, [int(0.04 * fs)]))
    quiet = y[:, int(2 * fs): int(4.5 * fs)].std()
    after = slice(at + int(0.1 * fs), at + int(0.4 * fs))
    assert np.abs(y[:, after]).max() < 5 * quiet


@pytest.mark.parametrize("fs", [200.0, 250.0, 1000.0])
@pytest.mark.parametrize("hum_uv", [(200.0,), (60.0, 30.0, 20.0, 10.0)])
def test_a_twitch_inside_the_hums_reach_does_not_set_the_notches_ringing(fs, hum_uv, rng):
    """A twitch 30 times the noise on hum (60 Hz and its harmonics, notched) where the two
    together stay inside the hum's amplitude: what tells the twitch from the hum is how
    far it stands off the hum predicted, not how far it reaches. After it, the output is
    what it is without the hum, as closely as before it (a notch fed the twitch rings at
    the mains frequency and its folded harmonics for a few tenths of a second)."""
    n = int(8 * fs)
    t = np.arange(n) / fs
    hum = sum(a * np.sin(2 * np.pi * 60.0 * (k + 1) * t + rng.uniform(0, 6)) for k, a in enumerate(hum_uv))
    width = max(3, int(0.012 * fs))
    reach = np.abs(np.lib.stride_tricks.sliding_window_view(hum, width) + _twitch(width, 0, fs, 30.0)).max(axis=1)
    at = int(5 * fs) + int(np.argmin(reach[int(5 * fs): int(5.5 * fs)]))
    x = 1.0 * rng.standard_normal((2, n)) + _twitch(n, at, fs, 30.0)
    assert np.abs(x + hum)[:, at: at + width].max() < sum(hum_uv)
    y, without = (_joined(_feed(Preprocessor(fs, 2, 60.0), signal, fs, [int(0.04 * fs)]))[0] for signal in (x + hum, x))
    change = np.abs(y - without)
    before, after = change[:, int(3 * fs): int(4.5 * fs)].max(), change[:, at + int(0.05 * fs): at + int(0.4 * fs)].max()
    assert after < 2 * before + 0.5  # (the noise: 1 uV)


@pytest.mark.parametrize("fs", [250.0, 1000.0])
def test_an_empty_chunk_after_the_first_second_changes_nothing(fs, rng):
    """A source may deliver nothing for a while: an empty chunk in the middle of a stream
    (hum notched and guarded) gives an empty chunk out and leaves the rest as it was."""
    x = _hum_and_noise(fs, 4.0, 2, rng, mains=50.0, hum_uv=40.0).astype(np.float32)
    cut = int(2.3 * fs)
    ref, _ = _joined(_feed(Preprocessor(fs, 2), x, fs, [x.shape[1]]))
    pre = Preprocessor(fs, 2)
    out = pre.process(Chunk(x[:, :cut], fs, _names(2), start=0))
    empty = pre.process(Chunk(x[:, cut:cut], fs, _names(2), start=cut))
    assert [c.n_samples for c in empty] == [0]
    out += empty + pre.process(Chunk(x[:, cut:], fs, _names(2), start=cut)) + pre.flush()
    y, _ = _joined(out)
    assert np.array_equal(y, ref)


@pytest.mark.parametrize("seed", range(4))
def test_median_is_numpys_to_the_bit(seed):
    """dsp.median (no numpy.ma import) against np.median: odd and even lengths, 1-D and
    along an axis, ties, NaN."""
    rng = np.random.default_rng(seed)
    for shape, axis in (((1,), -1), ((7,), -1), ((8,), 0), ((5, 14), 1), ((6, 9), 1), ((4, 6), 0)):
        a = np.exp(rng.normal(size=shape) * 20)
        a.flat[rng.integers(0, a.size)] = a.flat[0]  # a tie
        for x in (a, np.where(rng.random(shape) < 0.2, np.nan, a)):
            ref = np.median(x, axis=axis)
            ours = median(x, axis=axis)
            assert np.shape(ours) == np.shape(ref)
            np.testing.assert_array_equal(ours, ref)


def test_the_hum_guards_window_middles_are_the_sorts():
    """The comparator network (dsp._window_middles) against sorting each window: every
    pattern of 8 zeros and ones (which settles a network), ties, inf, and NaN (sorted)."""
    from itertools import product

    from twitchwatch.dsp import CLIP_HISTORY, _window_middles

    def sorted_middles(hist, n):
        s = np.sort(np.lib.stride_tricks.sliding_window_view(hist, CLIP_HISTORY, axis=1)[:, :n], axis=2)
        return s[:, :, CLIP_HISTORY // 2 - 1], s[:, :, CLIP_HISTORY // 2]

    assert CLIP_HISTORY == 8  # the network's width
    bits = np.array(list(product((0.0, 1.0), repeat=8)))
    rng = np.random.default_rng(0)
    cases = [bits, rng.integers(0, 4, size=(6, 40)).astype(float), np.abs(rng.normal(size=(8, 607)))]
    cases[1][:, :5] = np.inf  # the history before any block
    cases.append(np.where(rng.random((3, 30)) < 0.1, np.nan, rng.normal(size=(3, 30))))
    for hist in cases:
        for n in (1, hist.shape[1] - CLIP_HISTORY + 1):
            for ours, ref in zip(_window_middles(hist, n), sorted_middles(hist, n)):
                np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize("n", [1, 2, 7, 1000, 10_000, 12_345])
def test_tones_are_the_exponentials(n):
    """dsp.tones (angle addition) against np.exp of each angle: as close as the angles'
    own rounding allows, at consecutive sample numbers and with holes; a number n gives
    those at 0 .. n - 1 to the bit."""
    from twitchwatch.dsp import tones

    rng = np.random.default_rng(n)
    freqs = rng.uniform(-500.0, 500.0, 13)
    for at in (np.arange(n), np.sort(rng.choice(3 * n, n, replace=False))):
        ref = np.exp(2j * np.pi * np.multiply.outer(freqs, at / 1000.0))
        ours = tones(at, freqs, 1000.0)
        assert ours.shape == ref.shape
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-15 * (1 + 3e3 * at.max()))
    np.testing.assert_array_equal(tones(n, freqs, 1000.0), tones(np.arange(n), freqs, 1000.0))  # (n: no gather)
