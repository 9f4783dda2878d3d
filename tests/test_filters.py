"""twitchwatch.filters against scipy.signal and scipy.special themselves: the designs the
analysis makes, the recursion (our compiled kernel, scipy's kernel loaded on its own, and
the fallback to scipy.signal.sosfilt), and that analysing a file imports neither
scipy.signal, nor scipy.special, nor scipy.stats."""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import types

import numpy as np
import pytest
from scipy import signal, special

from conftest import REPO
from twitchwatch import dsp, filters
from twitchwatch.formats import write_recording
from twitchwatch.synth import SynthConfig, simulate

RATES = (125.0, 200.0, 250.0, 500.0, 1000.0, 16000.0)


def assert_close(ours, ref):
    ref = np.asarray(ref)
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12 * np.abs(ref).max())


def scipy_design(fs: float, mains_hz: float | None) -> tuple[np.ndarray, np.ndarray]:
    """dsp.design_filters' EMG and low band, made by scipy.signal."""
    lo, hi = dsp.emg_band(fs)
    parts = [signal.butter(4 if hi / lo >= 10 else 2, [lo, hi], btype="bandpass", fs=fs, output="sos")]
    if mains_hz and dsp.mains_comb(fs, mains_hz) is None:
        for k in dsp._candidates(fs, mains_hz, folded=False):
            f0 = dsp.harmonic_hz(k, mains_hz, fs)
            parts.append(signal.tf2sos(*signal.iirnotch(f0, Q=dsp.NOTCH_Q * f0 / mains_hz, fs=fs)))
    return np.vstack(parts), signal.butter(2, dsp.LOW_BAND_HZ, btype="bandpass", fs=fs, output="sos")


@pytest.mark.parametrize("fs", RATES)
@pytest.mark.parametrize("mains_hz", [None, 50.0, 60.0])
def test_the_designed_filters_are_scipys(fs, mains_hz):
    """The EMG band with its notches (or comb), the low band and their step states."""
    emg, low = dsp.design_filters(fs, mains_hz)
    ref_emg, ref_low = scipy_design(fs, mains_hz)
    assert emg.shape == ref_emg.shape
    assert_close(emg, ref_emg)
    assert_close(low, ref_low)
    for sos in (emg, low):
        assert_close(filters.sosfilt_zi(sos), signal.sosfilt_zi(sos))
    comb = dsp.mains_comb(fs, mains_hz)
    if comb is not None:
        b, a = signal.iircomb(mains_hz, dsp.NOTCH_Q, ftype="notch", fs=fs)
        assert (comb.period, comb.b0, comb.a) == pytest.approx((len(a) - 1, b[0], -a[-1]), rel=1e-12)


@pytest.mark.parametrize("fs", RATES)
def test_the_other_butterworths_are_scipys(fs):
    """The decimated low band, the board low-pass noise_dof applies, and a high-pass."""
    step = dsp.low_band(fs).step
    assert_close(dsp.low_band(fs).sos,
                 signal.butter(2, dsp.LOW_BAND_HZ, btype="bandpass", fs=fs / step, output="sos"))
    cutoff = dsp.board_cutoff(fs)
    for order in (2, 4):
        assert_close(filters.butter(order, cutoff, fs=fs), signal.butter(order, cutoff, fs=fs, output="sos"))
        assert_close(filters.butter(order, 20.0, "highpass", fs=fs),
                     signal.butter(order, 20.0, btype="highpass", fs=fs, output="sos"))
    with pytest.raises(ValueError):
        filters.butter(2, [20.0, fs], "bandpass", fs=fs)


@pytest.mark.parametrize("fs", RATES)
def test_welch_is_scipys(fs):
    x = np.random.default_rng(int(fs)).normal(size=(3, int(2.7 * fs))) + 5.0
    x[1] += np.sin(2 * np.pi * 50.0 * np.arange(x.shape[1]) / fs)
    for nperseg in (int(fs // 2), 101):
        freqs, power = filters.welch(x, fs, nperseg, axis=1)
        ref_freqs, ref_power = signal.welch(x, fs=fs, nperseg=nperseg, axis=1)
        np.testing.assert_array_equal(freqs, ref_freqs)
        assert_close(power, ref_power)
        assert_close(filters.welch(x.T, fs, nperseg, axis=0)[1], ref_power.T)


def _filter_cases():
    rng = np.random.default_rng(7)
    sos = dsp.design_filters(250.0, 60.0)[0]
    for dtype in (np.float64, np.float32):
        x = (rng.normal(size=(3, 700)) * 100).astype(dtype)
        yield sos, x[0], -1
        yield sos, x, 1
        yield sos, x.T, 0
        yield sos.astype(dtype), x, -1  # float32 all through: float32 out


@pytest.fixture(params=["ours", "scipy's"])
def kernel(request, monkeypatch):
    """Each test on our compiled kernel (when built) and on scipy's."""
    if request.param == "ours" and filters._biquads() is None:
        pytest.skip("twitchwatch._biquads was not built")
    if request.param == "scipy's":
        monkeypatch.setattr(filters, "_biquads", lambda: None)
    return request.param


@pytest.mark.parametrize("with_zi", [False, True])
def test_sosfilt_is_scipys_to_the_bit(with_zi, kernel):
    """Same kernel, same preparation: the same bits, dtype and state, on any axis."""
    rng = np.random.default_rng(3)
    for sos, x, axis in _filter_cases():
        if not with_zi:
            ours, ref = filters.sosfilt(sos, x, axis=axis), signal.sosfilt(sos, x, axis=axis)
            assert ours.dtype == ref.dtype
            np.testing.assert_array_equal(ours, ref)
            continue
        shape = list(x.shape)
        shape[axis] = 2
        zi = rng.normal(size=[len(sos)] + shape)
        (y, zf), (ref_y, ref_zf) = filters.sosfilt(sos, x, axis=axis, zi=zi), signal.sosfilt(sos, x, axis=axis, zi=zi)
        assert y.dtype == ref_y.dtype and zf.shape == ref_zf.shape
        np.testing.assert_array_equal(y, ref_y)
        np.testing.assert_array_equal(zf, ref_zf)


def test_sosfilt_in_chunks_is_the_whole(kernel):
    """The state carried from chunk to chunk: the same output as one pass, to the bit."""
    sos = dsp.design_filters(1000.0, 60.0)[0]
    x = np.random.default_rng(5).normal(size=(4, 3001))
    zi = filters.sosfilt_zi(sos)[:, None, :] * x[None, :, 0, None]
    whole, whole_zf = signal.sosfilt(sos, x, axis=1, zi=zi)
    parts = []
    for a, b in ((0, 1), (1, 400), (400, 2999), (2999, 3001)):
        y, zi = filters.sosfilt(sos, x[:, a:b], axis=1, zi=zi)
        parts.append(y)
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), whole)
    np.testing.assert_array_equal(zi, whole_zf)


def test_bad_shapes_are_refused():
    sos = dsp.design_filters(250.0, None)[0]
    with pytest.raises(ValueError, match="zi must have shape"):
        filters.sosfilt(sos, np.zeros((2, 10)), axis=1, zi=np.zeros((len(sos), 2, 3)))
    with pytest.raises(ValueError, match="sos must be"):
        filters.sosfilt(sos[:, :5], np.zeros(10))


def test_special_functions_are_scipys():
    dof = np.array([0.7, 1.0, 3.3, 12.0, 80.0])
    for p in (4e-6, 1e-3, 0.3):
        np.testing.assert_array_equal(filters.gammainccinv(dof / 2, p), special.gammainccinv(dof / 2, p))
        np.testing.assert_array_equal(filters.chndtrix(1 - p, dof, dof / 3), special.chndtrix(1 - p, dof, dof / 3))
    assert filters.ndtri(0.1) == special.ndtri(0.1)


@pytest.fixture
def fresh_loads():
    """The cached kernel and ufuncs forgotten before and after the test."""
    for cached in (filters._sosfilt_kernel, filters._special):
        cached.cache_clear()
    yield
    for cached in (filters._sosfilt_kernel, filters._special):
        cached.cache_clear()


def _unavailable(package, name):
    raise ImportError(f"no scipy.{package}.{name} here")


def test_without_the_kernel_scipys_sosfilt_does_the_work(fresh_loads, monkeypatch):
    """Another scipy layout and no kernel of ours: the load fails, scipy.signal.sosfilt
    itself is called."""
    monkeypatch.setattr(filters, "_scipy_compiled", _unavailable)
    monkeypatch.setattr(filters, "_biquads", lambda: None)
    assert filters._sosfilt_kernel() is None
    for sos, x, axis in _filter_cases():
        np.testing.assert_array_equal(filters.sosfilt(sos, x, axis=axis), signal.sosfilt(sos, x, axis=axis))
    assert filters._special() is special
    assert filters.chndtrix(1 - 4e-6, 3.3, 0.7) == special.chndtrix(1 - 4e-6, 3.3, 0.7)


def test_a_kernel_that_fails_its_check_is_not_used(fresh_loads, monkeypatch):
    """A kernel whose signature or meaning changed (here: one that leaves x alone) fails
    the one-pole check and is passed over for scipy.signal.sosfilt."""
    monkeypatch.setattr(filters, "_scipy_compiled",
                        lambda package, name: types.SimpleNamespace(_sosfilt=lambda sos, x, zi: None))
    monkeypatch.setattr(filters, "_biquads", lambda: None)
    assert filters._sosfilt_kernel() is None
    sos, x, axis = next(_filter_cases())
    np.testing.assert_array_equal(filters.sosfilt(sos, x, axis=axis), signal.sosfilt(sos, x, axis=axis))


@pytest.mark.parametrize("log", ["--no-log", "--db"])
def test_analysing_does_not_import_scipy_signal_special_or_stats(log, tmp_path):
    """Start-up: scipy.signal alone costs 0.6 s (it brings scipy.stats, scipy.interpolate,
    scipy.optimize ...), scipy.special 0.15 s. ``analyze`` runs on scipy's compiled kernel
    and ufuncs (or our own kernel, when built) without them, with the episode log (its
    waveform snippets) or without."""
    rec, _ = simulate(SynthConfig(minutes=0.3, fs=1000.0, n_channels=2, seed=11, twitch_rate=20.0))
    path, out = tmp_path / "rec.bdf", tmp_path / "events.json"
    write_recording(path, rec)
    code = ("import sys; from twitchwatch.cli import main; code = main(sys.argv[1:]); "
            "print(sorted(m for m in sys.modules if m.startswith(('scipy.', 'twitchwatch._biquads')))); "
            "sys.exit(code)")
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    args = [log] + ([str(tmp_path / "log.sqlite")] if log == "--db" else [])
    done = subprocess.run([sys.executable, "-c", code, "analyze", str(path), "--json", str(out), *args,
                           "--quiet"], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    loaded = set(ast.literal_eval(done.stdout.strip().splitlines()[-1]))
    assert "scipy.special._ufuncs" in loaded  # the compiled code ran
    ours = filters._biquads() is not None
    assert ("twitchwatch._biquads" if ours else "scipy.signal._sosfilt") in loaded
    assert not loaded & {"scipy.signal", "scipy.special", "scipy.stats"}
    assert json.loads(out.read_text())["events"]


def test_sosfilt_of_nothing_keeps_the_state():
    """An empty chunk (a stream that delivered nothing this time) gives an empty output and
    the state unchanged (scipy.signal.sosfilt raises on it)."""
    sos = dsp.design_filters(250.0, 50.0)[0]
    zi = np.random.default_rng(0).standard_normal((len(sos), 3, 2))
    y, z = filters.sosfilt(sos, np.zeros((3, 0), dtype=np.float32), axis=1, zi=zi)
    assert y.shape == (3, 0) and y.dtype == np.float64
    assert np.array_equal(z, zi)
    with pytest.raises(ValueError):
        signal.sosfilt(sos, np.zeros((3, 0)), axis=1, zi=zi)


@pytest.mark.parametrize("fs", [125.0, 250.0, 1000.0])
def test_sosfiltfilt_is_scipys(fs):
    """The report snippets' zero-phase high-pass, without importing scipy.signal: the same
    as scipy's, for signals from just past the padding to a few seconds long."""
    sos = filters.butter(2, 20.0, "highpass", fs=fs)
    rng = np.random.default_rng(int(fs))
    for n in (10, 31, int(1.5 * fs)):
        x = rng.standard_normal(n).cumsum() + 50.0
        np.testing.assert_allclose(filters.sosfiltfilt(sos, x), signal.sosfiltfilt(sos, x), rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError):
        filters.sosfiltfilt(sos, np.ones(9))
