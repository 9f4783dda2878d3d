"""synth.simulate: determinism, the truth's contract and the physics it promises."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from conftest import QUIET
from twitchwatch.synth import BRIEF_UNITS, SPASM_UNITS, SynthConfig, _held, _interference, simulate

RATES = (125.0, 200.0, 250.0, 1000.0)
TOL_S = 2e-4  # truth times are rounded to 1 us, and a waveform is a whole number of high-rate samples


@pytest.mark.parametrize("fs", RATES)
@pytest.mark.parametrize("minutes,n_channels", [(0.5, 1), (1.0, 4), (0.25, 8)])
def test_shape_and_dtype(fs, minutes, n_channels):
    rec, truth = simulate(SynthConfig(minutes=minutes, fs=fs, seed=3, n_channels=n_channels))
    assert rec.data.dtype == np.float32
    assert rec.data.shape == (n_channels, int(round(minutes * 60 * fs)))
    assert np.isfinite(rec.data).all()
    assert rec.fs == fs and truth["fs"] == fs
    assert len(rec.channels) == n_channels == len(truth["channels"]) == len(truth["noise_rms_uv"])
    assert truth["duration_s"] == pytest.approx(minutes * 60)


@pytest.mark.parametrize("fs", [125.0, 1000.0])
@pytest.mark.parametrize("seed", [0, 7, 123])
def test_deterministic_per_seed(fs, seed):
    cfg = SynthConfig(minutes=0.5, fs=fs, seed=seed)
    rec1, truth1 = simulate(cfg)
    rec2, truth2 = simulate(SynthConfig(minutes=0.5, fs=fs, seed=seed))
    assert np.array_equal(rec1.data, rec2.data)
    assert truth1 == truth2
    rec3, truth3 = simulate(SynthConfig(minutes=0.5, fs=fs, seed=seed + 1))
    assert rec3.data.shape == rec1.data.shape
    assert not np.array_equal(rec1.data, rec3.data)
    assert truth1["events"] != truth3["events"]


@pytest.mark.parametrize("fs,seed", [(125.0, 11), (200.0, 12), (250.0, 13), (1000.0, 14), (250.0, 15), (300.0, 16)])
def test_truth_follows_the_events_contract(fs, seed, schema):
    jsonschema = pytest.importorskip("jsonschema")
    rec, truth = simulate(SynthConfig(minutes=2, fs=fs, seed=seed))
    jsonschema.validate(truth, schema)
    events = truth["events"]
    assert events, "a default recording has events"
    starts = [e["start_s"] for e in events]
    assert starts == sorted(starts)
    for e in events:
        assert 0 <= e["channel"] < rec.n_channels
        assert e["channel_name"] == rec.channels[e["channel"]]
        assert 0 <= e["start_s"] < e["end_s"] <= truth["duration_s"]
    assert truth["mains_hz"] in (50.0, 60.0)
    assert truth["board_cutoff_hz"] < fs / 2


def _pool(kind: str, configs) -> list[tuple[dict, dict]]:
    out = []
    for cfg in configs:
        _, truth = simulate(cfg)
        out += [(e, truth) for e in truth["events"] if e["kind"] == kind]
    return out


def test_twitch_durations():
    configs = [SynthConfig(minutes=3, fs=fs, seed=s, twitch_rate=40.0) for fs in RATES for s in (21, 22)]
    twitches = _pool("twitch", configs)
    assert len(twitches) > 300
    doublets = 0
    for e, truth in twitches:
        d = e["end_s"] - e["start_s"]
        if e.get("doublet"):
            doublets += 1
            # two potentials of 3-25 ms with an 8-30 ms gap between them
            assert 2 * 0.003 + 0.008 - TOL_S <= d <= 2 * 0.025 + 0.030 + TOL_S, e
        elif d > 0.025 + TOL_S:
            # The weaker copy of a doublet on a neighbouring channel is not flagged as a
            # doublet in the truth; it must start with a flagged doublet next door.
            assert d <= 0.080 + TOL_S, e
            assert any(o.get("doublet") and abs(o["channel"] - e["channel"]) == 1 and o["start_s"] == e["start_s"]
                       for o in truth["events"]), e
        else:
            assert d >= 0.003 - TOL_S, e
    assert doublets > 0


def test_spasm_durations():
    configs = [SynthConfig(minutes=3, fs=fs, seed=s, spasm_rate=2.0) for fs in (125.0, 1000.0) for s in (31, 32)]
    spasms = _pool("spasm", configs)
    assert len(spasms) > 10
    for e, _ in spasms:
        assert 0.5 - TOL_S <= e["end_s"] - e["start_s"] <= 30.0 + TOL_S, e


@pytest.mark.parametrize("seed", range(6))
def test_a_contraction_of_few_units_is_a_train_of_separate_potentials(seed):
    """A weak brief contraction recruits a few units, whose potentials stand apart (a fast
    board resolves them into spikes of their own, which the model must learn are not
    twitches); a spasm's many units fill the time between them."""
    def quiet_share(units):
        x = np.abs(_interference(np.random.default_rng(seed), 20000.0, 0.3, 0.15, units=units))
        w = 100  # 5 ms windows
        peaks = x[: x.size // w * w].reshape(-1, w).max(axis=1)
        return np.mean(peaks < 0.1 * peaks.max())

    assert quiet_share((BRIEF_UNITS[0], BRIEF_UNITS[0] + 1)) > 0.4  # the fewest a brief contraction has
    assert quiet_share(SPASM_UNITS) < 0.25


def _noise_estimate(x: np.ndarray, fs: float, mains: float) -> np.ndarray:
    """Per-channel rms of what is left of a quiet recording once DC and wander are
    high-passed away (2 Hz, zero phase, edges dropped) and the mains line and its
    harmonics are fitted and subtracted (least squares at the known frequencies).
    The high-pass also takes the noise below 2 Hz: a few percent of a band that
    reaches 50-450 Hz."""
    sos = signal.butter(4, 2.0, "highpass", fs=fs, output="sos")
    y = signal.sosfiltfilt(sos, x.astype(np.float64), axis=1)
    edge = int(5 * fs)
    y = y[:, edge:-edge]
    t = np.arange(y.shape[1]) / fs
    cols = [np.ones_like(t)]
    h = 1
    while h * mains < fs / 2 - 1:
        cols += [np.sin(2 * np.pi * h * mains * t), np.cos(2 * np.pi * h * mains * t)]
        h += 1
    a = np.column_stack(cols)
    coef, *_ = np.linalg.lstsq(a, y.T, rcond=None)
    return (y.T - a @ coef).std(axis=0)


@pytest.mark.parametrize("fs", RATES)
@pytest.mark.parametrize("seed,noise_uv", [(41, None), (42, None), (43, 2.5)])
def test_noise_rms_matches_truth(fs, seed, noise_uv):
    rec, truth = simulate(SynthConfig(minutes=2, fs=fs, seed=seed, noise_uv=noise_uv, **QUIET))
    assert truth["events"] == []
    expected = np.array(truth["noise_rms_uv"])
    if noise_uv is not None:
        assert np.allclose(expected, noise_uv)
    else:
        assert ((expected > 0.5) & (expected < 15)).all()  # 1-10 uV, +-20% per channel
    measured = _noise_estimate(rec.data, fs, truth["mains_runs_hz"])
    np.testing.assert_allclose(measured, expected, rtol=0.15)


def _psd(x: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    x = x.astype(np.float64)
    return signal.welch(x - x.mean(axis=1, keepdims=True), fs=fs, nperseg=int(10 * fs), axis=1)


def _off_lines(f: np.ndarray, mains: float, width: float = 2.0) -> np.ndarray:
    near = np.zeros_like(f, dtype=bool)
    for h in range(1, 12):
        near |= np.abs(f - h * mains) <= width
    return ~near


@pytest.mark.parametrize("seed", [51, 52, 53])
def test_band_limited_at_the_board_cutoff(seed):
    rec, truth = simulate(SynthConfig(minutes=2, fs=250.0, seed=seed, **QUIET))
    assert truth["board_cutoff_hz"] == 65.0
    f, p = _psd(rec.data, 250.0)
    ok = _off_lines(f, truth["mains_hz"])
    below = p[:, (f > 20) & (f < 65) & ok].sum(axis=1)
    above = p[:, (f > 65) & ok].sum(axis=1)
    assert (above < 0.2 * below).all(), above / below
    # density well past the cutoff against the pass band: a 4th-order low-pass is ~-15 dB at 100 Hz
    ratio = p[:, (f > 95) & (f < 120) & ok].mean(axis=1) / p[:, (f > 20) & (f < 45) & ok].mean(axis=1)
    assert (ratio < 0.1).all(), ratio

    # the same bands at 1000 Hz (cut-off 450 Hz) are both flat: the test sees the filter
    rec_k, truth_k = simulate(SynthConfig(minutes=2, fs=1000.0, seed=seed, **QUIET))
    f, p = _psd(rec_k.data, 1000.0)
    ok = _off_lines(f, truth_k["mains_hz"])
    ratio = p[:, (f > 95) & (f < 120) & ok].mean(axis=1) / p[:, (f > 20) & (f < 45) & ok].mean(axis=1)
    assert ((ratio > 0.5) & (ratio < 2.0)).all(), ratio


@pytest.mark.parametrize("fs", RATES)
@pytest.mark.parametrize("seed,mains", [(61, None), (62, 50.0), (63, 60.0)])
def test_mains_line_stands_out(fs, seed, mains):
    rec, truth = simulate(SynthConfig(minutes=2, fs=fs, seed=seed, mains_hz=mains, **QUIET))
    line = truth["mains_hz"]
    if mains is not None:
        assert line == mains
    f, p = _psd(rec.data, fs)
    ref_band = (f > 30) & (f < min(80, fs / 2 - 2)) & (np.abs(f - 50) > 2) & (np.abs(f - 60) > 2)
    ref = np.median(p[:, ref_band], axis=1)
    at_line = p[:, np.argmin(np.abs(f - line))]
    assert (at_line > 50 * ref).all(), at_line / ref
    other = 110.0 - line  # the other candidate (50 <-> 60) holds no line
    near_other = p[:, np.abs(f - other) <= 0.5].max(axis=1)
    assert (near_other < 4 * ref).all(), near_other / ref


@pytest.mark.parametrize("fs", (200.0, 1000.0))
def test_the_hums_level_swings_in_some_recordings_and_nothing_else_moves(fs):
    """``hum_swings``: in about three recordings of ten the hum's level swings; the
    difference it makes is the hum alone (power within 3 Hz of the mains harmonics), and
    the others are sample for sample as with the level held still."""
    swung = 0
    for seed in range(20):
        cfg = dict(minutes=0.5, fs=fs, seed=seed, n_channels=2)
        held = simulate(SynthConfig(hum_swings=False, **cfg))[0].data.astype(np.float64)
        rec, truth = simulate(SynthConfig(**cfg))
        diff = rec.data.astype(np.float64) - held
        if not diff.any():
            continue
        swung += 1
        f, p = _psd(diff, fs)
        harmonics = truth["mains_runs_hz"] * np.arange(1, 4)
        near = (np.abs(f[:, None] - harmonics[None, :]) <= 3.0).any(axis=1)
        assert (p[:, near].sum(axis=1) > 0.99 * p.sum(axis=1)).all(), (seed, p[:, near].sum(axis=1) / p.sum(axis=1))
    assert 2 <= swung <= 12, swung


@pytest.mark.parametrize("fs", (200.0, 1000.0))
def test_held_weak_contractions_are_labelled_spasm_and_sized_against_the_noise(fs):
    """A held weak contraction (``source: held``) is a spasm in the truth, lasts 1-20 s and
    peaks 6-40 x its channel's noise rms (peak-to-peak, after the board filter)."""
    held = []
    for seed in range(12):
        _, truth = simulate(SynthConfig(minutes=3, fs=fs, seed=seed, **dict(QUIET, spasm_rate=3.0)))
        held += [(e, truth["noise_rms_uv"][e["channel"]]) for e in truth["events"] if e.get("source") == "held"]
    assert len(held) >= 5
    for e, noise in held:
        assert e["kind"] == "spasm"
        assert 1.0 - TOL_S <= e["end_s"] - e["start_s"] <= 20.0 + TOL_S, e
        assert 5.0 <= e["peak_uv"] / noise <= 45.0, e


@pytest.mark.parametrize("seed", range(6))
def test_a_held_weak_contraction_is_a_steady_train_of_separate_potentials(seed):
    """1-4 units at 6-14 Hz each: 4-60 loud stretches a second (potentials closer than a
    window merge), most of the time between them quiet (unlike a spasm's interference
    pattern), and the whole train 1 peak-to-peak."""
    fs_hi, dur = 20000.0, 4.0
    train = _held(np.random.default_rng(seed), fs_hi, dur)
    assert np.isclose(np.ptp(train), 1.0)
    x = np.abs(train)
    w = 100  # 5 ms windows
    peaks = x[: x.size // w * w].reshape(-1, w).max(axis=1)
    loud = peaks > 0.15 * peaks.max()
    starts = np.flatnonzero(np.diff(loud.astype(np.int8)) == 1).size
    assert 4.0 <= starts / dur <= 60.0, starts / dur
    assert np.mean(~loud) > 0.4
