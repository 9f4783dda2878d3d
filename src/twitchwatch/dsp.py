"""Streaming filters: the EMG band, the mains notch and the low band, state in and out.

The EMG band is chosen for the sampling rate, because the textbook 20-450 Hz band does
not exist below 900 Hz: it is 20 Hz up to 0.45 x fs (capped at 450 Hz), so 20-56 Hz at
125 Hz, 20-90 Hz at 200 Hz, 20-112 Hz at 250 Hz and 20-450 Hz at 1000 Hz. The low band
(3-15 Hz) carries what motion, electrode pops and ECG leave, for artifact features.

The mains frequency, when not given, is read from the first second of the stream: the
preprocessor holds that second back, looks for a line at 50 or 60 Hz and for which of
its harmonics stand out, designs its filters and then lets everything through. So the
answer never depends on chunking. Where a mains period is a whole number of samples
(50 Hz at 1000 Hz) one comb filter notches every harmonic at once; elsewhere each
harmonic found gets its own notch.

Samples lost in transit (a chunk's ``lost``) are bridged for the filters only: the hole
is filled with the mean of the last ~0.2 s folded on a whole number of mains periods,
so that the mains phase and the DC level run on, the filters see no step and no noise
is made periodic (a notch would ring on it); the fill itself is never passed on.
A hole longer than ``MAX_BRIDGE_S`` restarts the filters at the next sample instead.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from . import filters
from .types import Chunk

try:
    from . import _kernels  # single passes for the low band's group sums and the hum guard's block peaks
except ImportError:  # not built: numpy makes the same values
    _kernels = None

HIGHPASS_HZ = 20.0
LOW_BAND_HZ = (3.0, 15.0)
MAINS_PROBE_S = 1.0
NOTCH_Q = 50.0  # about 1 Hz wide: narrow, so that a twitch does not set it ringing much
MAX_BRIDGE_S = 10.0
RECHECK_S = 10.0  # the notched output looked at once, this long after the probe, for a folded harmonic left
RECHECK_RATIO = 20.0  # ... a line this many times the power around it
RETUNE_SPAN = 1.2e-3  # ... and the fundamental fitted again within this share of the first second's estimate
BESIDE_MAX = 6  # ... among harmonics up to this one folded beside a notched one (higher ones are weak)
BRIDGE_AVERAGE_S = 0.2
LEAD_IN = 3  # seconds of the first second's hum that the filters start in (see Preprocessor._lead_in)
HUM_BLOCK_S = 0.1  # the hum is predicted a block at a time ...
HUM_FIT_BLOCKS = 3  # ... from a least-squares fit to this many blocks before it
HUM_GRID = 1024.0  # ... rounded to 1/HUM_GRID uV
HUM_TAIL_S = 0.025  # a twitch's samples after one past the hum are clipped too
CLIP_HISTORY = 8  # what stands off it by CLIP_K times the median sigma of the last
CLIP_K = 4.0  # CLIP_HISTORY blocks of the residual goes around the notches ...
GATE_K = 2.0  # ... in the HUM_TAIL_S from a sample this many times as far on


# OpenBCI boards: sampling rate -> the board's own low-pass (the ADS1299's digital filter
# is -3 dB at 0.262 x its data rate; the Daisy's 125 Hz stream is decimated from 250 Hz).
BOARD_RATES = {"cyton": 250.0, "ganglion": 200.0, "cyton-daisy": 125.0}
_BOARD_CUTOFF = {250.0: 65.0, 200.0: 80.0, 125.0: 50.0}


def board_cutoff(fs: float) -> float:
    """The low-pass a board applies before us: OpenBCI rates get their board's, others 0.45 fs."""
    return _BOARD_CUTOFF.get(float(fs), min(0.45 * fs, 500.0))


def emg_band(fs: float) -> tuple[float, float]:
    """The detection band for a sampling rate (Hz)."""
    return HIGHPASS_HZ, min(450.0, 0.45 * fs)


def median(a: np.ndarray, axis: int = -1) -> np.ndarray:
    """``np.median(a, axis)`` to the bit (the middle value, or the mean of the middle two
    as np.mean makes it), without np.median's NaN check: that imports numpy.ma, 10 ms of
    every analysis' start-up. NaN where ``a`` holds one, as np.median gives."""
    a = np.asarray(a)
    s = np.sort(a, axis=axis)
    n = s.shape[axis]
    mid = np.take(s, n // 2, axis=axis)
    out = mid if n % 2 else (np.take(s, n // 2 - 1, axis=axis) + mid) / 2
    return np.where(np.isnan(a).any(axis=axis), np.nan, out) if a.dtype.kind == "f" else out


LOUD_CHANNEL = 10.0  # a channel with over this many times the median channel's noise power is not heard on the hum


DEAD = 1e-12  # a channel whose power (uV^2) or step (uV) is at most this is flat (``live``)


def live(level: np.ndarray) -> np.ndarray:
    """Which channels of a per-channel ``level`` (the power, or the largest median step, in
    uV) carry signal: not flat (an unconnected row of a board's file is all zeros or one
    value: its level is 0, or a rounding error's) nor NaN; nothing recorded is that small. A
    median over channels is taken over these: over flat ones it was 0 when they were the
    most, as in a BrainFlow file of 16 rows with four electrodes, and the channels with
    signal lost their say on the hum."""
    return np.nan_to_num(np.asarray(level, dtype=np.float64), nan=0.0) > DEAD


def _heard(spec: np.ndarray) -> np.ndarray:
    """Which channels of Welch ``spec`` (channels x freqs) have a say on the hum: the
    ``live`` ones but one whose median power (its noise; lines of hum do not move it) is
    over ``LOUD_CHANNEL`` times the median live channel's. Summed over channels, one whose
    electrode was off (hundreds of microvolts of noise) buried the hum that the others
    share: no mains found, no notch, and the hum then passed the detector's thresholds on
    every channel. (With two channels, neither is over ten times the median.)"""
    level = median(spec[:, 1:], axis=1)
    on = live(spec[:, 1:].sum(axis=1))  # (not the median: a pure tone's is next to nothing)
    return on & (level <= LOUD_CHANNEL * median(level[on])) if on.any() else on


def heard(x: np.ndarray, fs: float) -> np.ndarray:
    """The channels of ``x`` (channels x samples) that have a say on the hum (``_heard``)."""
    return _heard(filters.welch(x, fs, int(fs // 2), axis=1)[1])


def hum_spectrum(x: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Welch's averaged spectrum of ``x`` (half-second segments, so that 50 and 60 Hz fall
    on bins), summed over the channels that have a say (``_heard``): (freqs, power)."""
    freqs, spec = filters.welch(x, fs, int(fs // 2), axis=1)
    return freqs, spec[_heard(spec)].sum(axis=0)


def detect_mains(x: np.ndarray, fs: float, min_ratio: float = 4.0) -> float | None:
    """50 or 60 when one of them stands out of the spectrum of ``x`` (channels x samples).

    ``hum_spectrum`` (summed over channels): the power at each candidate against the
    median power of 30-80 Hz. None when neither stands out by ``min_ratio``."""
    n = x.shape[1]
    if n < int(0.5 * fs) or fs < 110:
        return None
    freqs, spec = hum_spectrum(x, fs)
    ref_band = (freqs > 30) & (freqs < min(80, fs / 2 - 2))
    ref = median(spec[ref_band]) + 1e-30
    best, best_ratio = None, min_ratio
    for f0 in (50.0, 60.0):
        near = np.abs(freqs - f0) <= fs / (fs // 2) / 2 + 1e-9
        if f0 >= fs / 2 - 1 or not near.any():
            continue
        ratio = spec[near].max() / ref
        if ratio > best_ratio:
            best, best_ratio = f0, ratio
    return best


MAX_HARMONIC = 10  # mains harmonics looked for (above Nyquist too: a weak anti-alias filter folds them back)


def harmonic_hz(k: int, mains_hz: float, fs: float) -> float:
    """Where the k-th harmonic of the mains shows at ``fs``: folded back below Nyquist."""
    f = (k * mains_hz) % fs
    return float(min(f, fs - f))


HUM_APART_HZ = 1.0  # harmonics folded closer than this share a notch (and a sinusoid in the hum fits)


def _candidates(fs: float, mains_hz: float, folded: bool) -> list[int]:
    """Harmonic numbers whose (folded) frequency lies inside (1 Hz, Nyquist - 1 Hz), each
    place once (the lowest harmonic that lands within ``HUM_APART_HZ``). Folded ones below
    our band count too: the band-pass takes only a few tens of dB off a strong one (at
    250 Hz, 60 Hz mains fold their fourth harmonic to 10 Hz).

    A grid off nominal moves a folded harmonic a fraction of a hertz off the one it lands
    on at nominal (at 200 Hz, 50.1 Hz mains fold their third harmonic to 49.7 Hz), where
    the 1 Hz notch lets most of it through. A second's probe cannot tell whether it is
    there, and notching every such place where it is not cost a tenth of the twitches at
    125-200 Hz on our simulator: they share the notch."""
    out: list[int] = []
    for k in range(1, (MAX_HARMONIC if folded else int(fs / 2 // mains_hz)) + 1):
        f = harmonic_hz(k, mains_hz, fs)
        if k * mains_hz >= fs / 2 and not folded:
            continue  # above Nyquist: looked for only when folding
        if 1.0 < f < fs / 2 - 1.0 and all(abs(f - harmonic_hz(j, mains_hz, fs)) > HUM_APART_HZ for j in out):
            out.append(k)
    return out


def mains_harmonics(x: np.ndarray, fs: float, mains_hz: float, min_ratio: float = 4.0) -> tuple[int, ...]:
    """The harmonics of ``mains_hz`` (1 = the fundamental, always kept) that stand out of
    ``x`` (channels x samples) where they show at ``fs`` (harmonics above Nyquist fold
    back when a board's anti-alias filter is weak): power at the harmonic's bin against
    the median of the 40 Hz around it (``hum_spectrum``, summed over channels), by
    ``min_ratio``. Notching only those keeps a filter (and its ringing on every twitch)
    off frequencies where there is no hum."""
    if x.shape[1] < int(0.5 * fs):
        return tuple(_candidates(fs, mains_hz, folded=False))
    freqs, spec = hum_spectrum(x, fs)
    keep = [1]
    for k in _candidates(fs, mains_hz, folded=True)[1:]:
        f0 = harmonic_hz(k, mains_hz, fs)
        at = np.abs(freqs - f0) <= 1.0 + 1e-9
        near = (np.abs(freqs - f0) <= 20.0) & ~(np.abs(freqs - f0) <= 3.0)
        if at.any() and near.any() and spec[at].max() > min_ratio * (median(spec[near]) + 1e-30):
            keep.append(k)
    return tuple(keep)


def tones(at: np.ndarray | int, freqs: np.ndarray, fs: float) -> np.ndarray:
    """exp(2j pi f t) for each of ``freqs`` at sample numbers ``at`` (whole numbers, t =
    at / fs; a number n: 0 .. n - 1, taken without a gather): freqs x samples. By angle
    addition: the exponentials at the multiples of a step of about sqrt(samples) times
    those within one step. As accurate as np.exp of each angle (whose own rounding is
    1e-11 at 10 s of 500 Hz), with a fiftieth of the exponentials over 10,000 samples (a
    complex exponential costs 25-30 ns)."""
    if not isinstance(at, int):
        at = np.asarray(at, dtype=np.int64)
    end = at if isinstance(at, int) else int(at.max(initial=0)) + 1
    step = max(1, math.isqrt(end))
    turn = 2j * np.pi * np.asarray(freqs, dtype=np.float64)[:, None] / fs  # per sample
    coarse, fine = np.exp(np.arange(0, end, step) * turn), np.exp(np.arange(step) * turn)
    every = (coarse[:, :, None] * fine[:, None, :]).reshape(turn.size, -1)
    return every[:, :end] if isinstance(at, int) else every[:, at]


MAINS_DRIFT = 0.005  # grids keep within +-0.5 % of 50/60 Hz (most within +-0.1 %)
MAINS_EXACT = 2e-5  # closer to nominal than this is nominal (the comb's whole-sample period holds). At
# 2e-4, 800 uV of hum at 49.996 Hz went through the comb at 50 Hz as 6 uV: a third of the twitches lost


def _sharing(k: int, mains_hz: float, fs: float, within: float, upto: int) -> list[int]:
    """The harmonics up to ``upto``, other than ``k``, that show within ``within`` Hz of
    where the k-th does at ``fs`` (folded where they fold)."""
    f = harmonic_hz(k, mains_hz, fs)
    return [j for j in range(1, upto + 1) if j != k and abs(harmonic_hz(j, mains_hz, fs) - f) <= within]


def _unshared(harmonics: tuple[int, ...], mains_hz: float, fs: float) -> tuple[int, ...]:
    """The fundamental, and those of ``harmonics`` whose place no other harmonic (up to
    ``MAX_HARMONIC``) folds within ``HUM_APART_HZ`` of. A second cannot tell which of the
    harmonics sharing a place holds its line, and they move apart as the mains run off
    nominal: at 250 Hz, 49.99 Hz mains put their 2nd harmonic at 99.97 Hz and their 3rd,
    folded, at 100.04 Hz. Read as the 2nd, a 3rd pulled the measured mains to 50.00 Hz,
    whose notch let hundreds of microvolts of hum through (odd harmonics are the strong
    ones)."""
    return tuple(k for k in harmonics if k == 1 or not _sharing(k, mains_hz, fs, HUM_APART_HZ, MAX_HARMONIC))


def measure_mains(x: np.ndarray, fs: float, nominal: float, harmonics: tuple[int, ...],
                  at: np.ndarray | None = None) -> float:
    """The mains fundamental as it runs in ``x`` (channels x samples, taken at sample
    numbers ``at``: holes where samples were lost), within ``MAINS_DRIFT`` of ``nominal``:
    a grid 0.1 % off puts the 5th harmonic 0.3 Hz beside a 1 Hz-wide notch, which then lets
    a fifth of the hum through. The Hann-windowed power at ``harmonics`` (those whose
    place is their own, ``_unshared``; folded where they fold: a sampled sine at f is one
    at its alias) summed over the channels ``heard``, on
    a grid of fundamentals, its peak refined by a parabola; nominal when the peak is at
    the grid's edge (no hum there to measure)."""
    n = x.shape[1]
    if n < int(0.5 * fs):
        return nominal
    harmonics = _unshared(harmonics, nominal, fs)
    x = x[heard(x, fs)]
    xw = (x - x.mean(axis=1, keepdims=True)) * np.hanning(n)
    grid = nominal * (1.0 + np.linspace(-MAINS_DRIFT, MAINS_DRIFT, 81))
    f = np.multiply.outer(np.asarray(harmonics, dtype=np.float64), grid).ravel()
    power = (np.abs(xw @ tones(n if at is None else at, -f, fs).T) ** 2).sum(axis=0)
    power = power.reshape(len(harmonics), grid.size).sum(axis=0)
    i = int(power.argmax())
    if i in (0, grid.size - 1):
        return nominal
    a, b, c = power[i - 1: i + 2]
    shift = 0.5 * (a - c) / (a - 2 * b + c) if a - 2 * b + c < 0 else 0.0
    best = float(grid[i] + np.clip(shift, -1.0, 1.0) * (grid[1] - grid[0]))
    return nominal if abs(best / nominal - 1.0) < MAINS_EXACT else best


def design_band(fs: float) -> np.ndarray:
    """Second-order sections of the EMG band."""
    lo, hi = emg_band(fs)
    # A narrow band rings: at 125-250 Hz a 4th-order band-pass smears a 10 ms twitch over
    # 50-90 ms, a 2nd-order one over 20-40 ms. Wide bands (a decade or more) keep 4th order.
    order = 4 if hi / lo >= 10 else 2
    return filters.butter(order, [lo, hi], "bandpass", fs=fs)


def design_notches(fs: float, mains_hz: float | None, harmonics: tuple[int, ...] | None = None) -> np.ndarray:
    """Second-order sections of a notch where each of ``harmonics`` of the mains shows (by
    default every one below Nyquist), none when ``mains_comb`` covers them all."""
    parts = [np.zeros((0, 6))]
    if mains_hz and mains_comb(fs, mains_hz) is None:
        if harmonics is None:
            harmonics = tuple(_candidates(fs, mains_hz, folded=False))
        for f0 in [harmonic_hz(k, mains_hz, fs) for k in harmonics] + twins(fs, mains_hz, harmonics):
            b, a = filters.iirnotch(f0, NOTCH_Q * f0 / mains_hz, fs)  # the same width at each harmonic
            parts.append(filters.tf2sos(b, a))
    return np.vstack(parts)


def twins(fs: float, mains_hz: float, harmonics: tuple[int, ...]) -> list[float]:
    """Where the harmonics that show within the re-check's resolution (0.1 Hz: ten seconds
    cannot tell them apart; further off, the re-check finds them) of one of ``harmonics``
    show, when the mains run off nominal: harmonics up to ``BESIDE_MAX`` and below ``fs``
    (one folded from further up came through the whole of the board's stop band). At 250
    Hz, 49.99 Hz mains fold their 3rd harmonic to 100.04 Hz, beside the 2nd's notch at
    99.97 Hz, which takes only 17 dB off it: of a strong 3rd harmonic (odd harmonics are
    the strong ones), tens of microvolts passed."""
    nominal = 50.0 if abs(mains_hz - 50.0) < abs(mains_hz - 60.0) else 60.0
    if abs(mains_hz / nominal - 1.0) < MAINS_EXACT:
        return []
    return [harmonic_hz(j, mains_hz, fs) for k in harmonics
            for j in _sharing(k, mains_hz, fs, 1.0 / RECHECK_S, BESIDE_MAX)
            if j * nominal < fs and j not in harmonics]


def design_filters(fs: float, mains_hz: float | None,
                   harmonics: tuple[int, ...] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Second-order sections of the EMG band followed by its notches (``design_notches``),
    and of the low band."""
    emg = np.vstack([design_band(fs), design_notches(fs, mains_hz, harmonics)])
    return emg, filters.butter(2, LOW_BAND_HZ, "bandpass", fs=fs)


@dataclass(frozen=True)
class Comb:
    """A notch at every harmonic of the mains at once, when a mains period is a whole
    number of samples (50 Hz at 1000 Hz: 20): y[n] = b0 (x[n] - x[n-N]) + a y[n-N].
    Each notch is as wide as the single notches (f0 / NOTCH_Q), and it costs one
    first-order recursion instead of a biquad per harmonic."""

    period: int
    b0: float
    a: float

    def filter(self, x: np.ndarray, state: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, tuple]:
        """Filter ``x`` (channels x samples); ``state`` is the last period of input and
        of output. Every sample is computed by the same expression whatever the chunking.

        The recursion only reaches back a whole period, so the stream is folded into rows
        of one period and filtered down the rows (a first-order filter per phase)."""
        x_prev, y_prev = state
        n, per = x.shape[1], self.period
        if n == 0:
            return x.copy(), state
        rows = -(-(n + per) // per)
        ext = np.zeros((x.shape[0], rows * per))
        ext[:, :per], ext[:, per:per + n] = x_prev, x
        ext = ext.reshape(x.shape[0], rows, per)
        v = self.b0 * (ext[:, 1:] - ext[:, :-1])
        zi = np.zeros((1, x.shape[0], 2, per))  # y[n] = v[n] + a y[n-1] down the rows: one section
        zi[0, :, 0] = self.a * y_prev
        y, _ = filters.sosfilt([[1.0, 0.0, 0.0, 1.0, -self.a, 0.0]], v, axis=1, zi=zi)
        y = y.reshape(x.shape[0], -1)[:, :n]
        both = np.concatenate([y_prev, y], axis=1) if n < per else y
        xs = np.concatenate([x_prev, x], axis=1) if n < per else x
        return y, (xs[:, -per:].copy(), both[:, -per:].copy())

    def rest(self, n_channels: int) -> tuple[np.ndarray, np.ndarray]:
        """The state after a constant input (the comb notches DC: the output is zero)."""
        return np.zeros((n_channels, self.period)), np.zeros((n_channels, self.period))


@dataclass(frozen=True)
class LowBand:
    """The low band (3-15 Hz) at a fraction of the rate: the stream is averaged over groups
    of ``step`` samples (on the stream's own clock), the groups are band-passed, and each
    sample gets the output of the last group completed before its own (a delay under two
    groups, 10 ms at 1000 Hz: nothing on a 15 Hz band). A full-rate filter of the same
    band costs as much as the whole EMG band-pass; this costs two passes over the data.
    State: (the samples of the unfinished group, the filter's state, the last output).
    The output is float32."""

    step: int
    sos: np.ndarray = field(repr=False)

    def filter(self, x: np.ndarray, state: tuple) -> tuple[np.ndarray, tuple]:
        partial, zi, last = state
        buf = np.concatenate([partial, x], axis=1) if partial.shape[1] else x
        groups = buf.shape[1] // self.step
        means = np.zeros((buf.shape[0], 0))
        if groups:  # (no group complete yet: nothing to filter)
            means, zi = filters.sosfilt(self.sos, self._sums(buf[:, :groups * self.step]) / self.step, axis=1, zi=zi)
        held = np.concatenate([last[:, None], means], axis=1)
        first = partial.shape[1]
        # (float32, as the detector takes it: repeated after the rounding, at half the bytes)
        low = np.repeat(held.astype(np.float32), self.step, axis=1)[:, first: first + x.shape[1]]
        return low, (buf[:, groups * self.step:].copy(), zi, held[:, -1].copy())

    def _sums(self, x: np.ndarray) -> np.ndarray:
        """The sum of each group of ``x`` (whole groups), as ``np.add.reduceat`` makes it:
        the first sample plus the sum of the rest, which numpy adds one after another when
        they are fewer than 8. Written out so for such groups (fs < 1800 Hz): several
        times faster than reduceat, and the same to the bit."""
        step = self.step
        if step > 8:
            return np.add.reduceat(x, np.arange(0, x.shape[1], step), axis=1)
        if step == 1:
            return x
        if _kernels is not None and x.dtype == np.float64 and x.strides[-1] == 8:  # the passes below in one
            out = np.empty((x.shape[0], x.shape[1] // step))
            _kernels.group_sums(x, step, out)
            return out
        g = x.reshape(x.shape[0], -1, step)
        rest = g[:, :, 1].copy()
        for j in range(2, step):
            rest += g[:, :, j]
        return np.add(g[:, :, 0], rest, out=rest)

    def rest(self, x0: np.ndarray) -> tuple:
        """The state after a constant input ``x0`` (per channel): the band passes no DC."""
        zi = filters.sosfilt_zi(self.sos)[:, None, :] * x0[None, :, None]
        return np.zeros((x0.size, 0)), zi, np.zeros(x0.size)


def low_band(fs: float) -> LowBand:
    """The low band for ``fs``: groups of fs // 200 samples (at least one)."""
    step = max(1, int(fs // 200))
    return LowBand(step, filters.butter(2, LOW_BAND_HZ, "bandpass", fs=fs / step))


def mains_comb(fs: float, mains_hz: float | None) -> Comb | None:
    """The mains comb for ``fs``, or None when a mains period is not a whole number of samples."""
    if not mains_hz:
        return None
    per = fs / mains_hz
    if abs(per - round(per)) > 1e-9 or round(per) < 3:
        return None
    b, a = filters.iircomb(mains_hz, NOTCH_Q, fs)
    return Comb(int(round(per)), float(b[0]), float(-a[-1]))


# the comparators of Knuth's 19-comparator network sorting 8 values (pairs of positions:
# the smaller value to the first) that the middle two (positions 3 and 4) depend on
_MIDDLE_OF_8 = ((0, 2), (1, 3), (4, 6), (5, 7), (0, 4), (1, 5), (2, 6), (3, 7), (0, 1), (2, 3), (4, 5), (6, 7),
                (2, 4), (3, 5), (1, 4), (3, 6), (3, 4))


def _window_middles(hist: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The middle two values, in order, of each window of CLIP_HISTORY (8) consecutive
    values of the rows of ``hist``, for the first ``n`` windows: what sorting the windows
    gives there, by a comparator network on whole columns (34 elementwise passes instead
    of a few thousand sorts of 8 values). With NaN (which np.minimum spreads and a sort
    puts last), by sorting."""
    if np.isnan(hist).any():
        s = np.sort(np.lib.stride_tricks.sliding_window_view(hist, CLIP_HISTORY, axis=1)[:, :n], axis=2)
        return s[:, :, CLIP_HISTORY // 2 - 1], s[:, :, CLIP_HISTORY // 2]
    v = [hist[:, i: i + n] for i in range(CLIP_HISTORY)]
    for i, j in _MIDDLE_OF_8:
        v[i], v[j] = np.minimum(v[i], v[j]), np.maximum(v[i], v[j])
    return v[3], v[4]


def hum_offsets(y: np.ndarray, coef: np.ndarray, ahead: np.ndarray) -> np.ndarray:
    """How far each sample of blocks ``y`` (... x block) stands off the hum that the block's
    fit ``coef`` (... x 2K) predicts through ``ahead`` (2K x block), the prediction on the
    HUM_GRID. The sum over the sinusoids goes in a fixed order, not BLAS's, so that the C
    kernel (``_kernels.hum_offsets``) gives the same bits."""
    h = coef[..., 0, None] * ahead[0]
    for i in range(1, ahead.shape[0]):
        h += coef[..., i, None] * ahead[i]
    h *= HUM_GRID
    np.rint(h, out=h)
    h *= 1.0 / HUM_GRID
    h -= y
    return np.abs(h, out=h)


class HumGuard:
    """What of the band-passed signal goes around the mains notches: a twitch's (or a
    pop's) excess over the hum. A narrow notch is a long resonator: fed a large twitch
    whole, it rings at the mains frequency for a few tenths of a second (several times the
    noise after a twitch a hundred times it), which draws the twitch's burst out and joins
    it to the next twitch of a cluster.

    The hum (``freqs``: the harmonics notched, at the measured frequency) is fitted by
    least squares a block at a time to the ``HUM_FIT_BLOCKS`` blocks before it and carried
    on. Where a sample stands off the predicted hum by ``GATE_K`` times the clip level
    (``CLIP_K`` times the median MAD sigma of the residual over the last ``CLIP_HISTORY``
    blocks), it and the ``HUM_TAIL_S`` after it are clipped to the clip level around the
    predicted hum, and what stands beyond goes around the notches; a block whose fit window
    holds clipped samples is fitted to the clipped signal, so that the twitch does not
    throw the hum after it off. Hum and noise go through the notches as before. (The test
    is how far a sample stands off the hum, not how far it reaches: a twitch smaller than
    the hum, on a quiet channel, reaches no further than the hum does, and fed to a notch
    at a harmonic folded low, at 200 Hz, it rang for 0.3 s at five times the noise.)

    The fit never multiplies a sample more than once: each block is projected once on
    its own sinusoids (phase from its own start), and a window's fit is a fixed
    combination of its blocks' projections (each turned to the window's phase, then
    through the pseudo-inverse of the window's Gram matrix: the least-squares normal
    equations), so it costs 2K multiplications a sample, not HUM_FIT_BLOCKS x 2K.

    Chunking does not change the answer: every decision is per sample or per block, with
    blocks counted from the start of the stream, from the signal as it came (the clip level
    too); and fits and predictions are rounded to a fixed grid, since BLAS rounds
    differently for different numbers of blocks at once (the offsets' predictions are
    summed in a fixed order instead, ``hum_offsets``)."""

    def __init__(self, fs: float, freqs: list[float], n_channels: int):
        self.block = b = max(4, int(round(HUM_BLOCK_S * fs)))
        self.tail = max(1, int(round(HUM_TAIL_S * fs)))
        k, n_freqs = HUM_FIT_BLOCKS, len(freqs)
        w = 2 * np.pi * np.asarray(freqs, dtype=np.float64) / fs

        def basis(t: np.ndarray) -> np.ndarray:
            return np.concatenate([np.cos(np.multiply.outer(t, w)), np.sin(np.multiply.outer(t, w))], axis=1)

        self._basis = basis(np.arange(b, dtype=np.float64))  # block samples x 2K
        # block j of a window starts j*b samples in: basis(j b + t) = basis(t) @ turn_j
        phase, i = np.multiply.outer(np.arange(k) * b, w), np.arange(n_freqs)
        c, s = np.cos(phase), np.sin(phase)
        turn = np.zeros((k, 2 * n_freqs, 2 * n_freqs))
        turn[:, i, i], turn[:, i, n_freqs + i], turn[:, n_freqs + i, i], turn[:, n_freqs + i, n_freqs + i] = c, s, -s, c
        pinv = np.linalg.pinv(basis(np.arange(k * b, dtype=np.float64)))  # 2K x window samples
        self._combine = (turn @ (pinv @ pinv.T)).reshape(k * 2 * n_freqs, 2 * n_freqs)  # projections -> fit
        self._ahead = np.ascontiguousarray(basis(np.arange(k * b, (k + 1) * b, dtype=np.float64)).T)  # 2K x block
        self._stride = max(1, b // 25)  # a block's sigma from 25 of its samples is enough
        self._before = np.zeros((n_channels, self.tail))  # the residual just before the block in progress
        self._partial = np.zeros((n_channels, 0))  # ... and those of it so far
        self._proj = np.zeros((n_channels, k, 2 * n_freqs))  # projections of the k blocks before it
        self._clean = np.zeros((n_channels, k, 2 * n_freqs))  # ... of them clipped
        self._dirty = np.zeros((n_channels, k), dtype=bool)  # ... which of them were clipped
        self._coef = np.zeros((n_channels, 2 * n_freqs))  # the fit of the block in progress
        self._level = np.full(n_channels, np.inf)  # the clip level of the block before it
        self._sigmas = np.full((n_channels, CLIP_HISTORY), np.inf)  # no level before any block

    def _round(self, a: np.ndarray) -> np.ndarray:
        a *= HUM_GRID
        np.rint(a, out=a)
        a /= HUM_GRID
        return a

    def _fit(self, proj: np.ndarray) -> np.ndarray:
        """The fits of windows from the projections of their k blocks (... x k x 2K)."""
        return self._round(proj.reshape(*proj.shape[:-2], proj.shape[-2] * proj.shape[-1]) @ self._combine)

    def _offsets(self, yb: np.ndarray, coef: np.ndarray, total: int, ch: np.ndarray, at: np.ndarray,
                 j0: int, j1: int) -> np.ndarray:
        """``hum_offsets`` of samples j0:j1 of block ``at[i]`` of channel ``ch[i]`` of blocks
        ``yb`` (fits ``coef``), zero past the ``total`` samples present."""
        off = hum_offsets(yb[ch, at, j0:j1], coef[ch, at], self._ahead[:, j0:j1])
        off[at[:, None] * self.block + np.arange(j0, j1) >= total] = 0.0
        return off

    def _beyond(self, y: np.ndarray, fit: np.ndarray, level, gate: np.ndarray) -> np.ndarray:
        """What of blocks ``y`` stands beyond ``level`` around the hum that ``fit`` predicts
        for them, where ``gate`` holds (a block or ... x blocks)."""
        r = y - self._round(fit @ self._ahead)
        level = np.asarray(level)[..., None]
        return np.where(gate, np.maximum(r - level, 0.0) + np.minimum(r + level, 0.0), 0.0)

    def excess(self, y: np.ndarray) -> np.ndarray | None:
        """The part of ``y`` (channels x samples, the next in the stream) that goes around
        the notches: zero but where a twitch reaches past the hum (None: zero throughout)."""
        spans = self.around(y)
        if not spans:
            return None
        out = np.zeros_like(y, dtype=np.float64)
        for c, a, e in spans:
            out[c, a: a + e.size] = e
        return out

    def around(self, y: np.ndarray) -> list[tuple[int, int, np.ndarray]]:
        """``excess`` as spans: (channel, first sample in ``y``, values), in time order per
        channel; outside them nothing goes around."""
        C, n = y.shape
        if n == 0:
            return []
        b, k, tail, p = self.block, HUM_FIT_BLOCKS, self.tail, self._partial.shape[1]
        total = p + n
        done, blocks = total // b, -(-total // b)  # blocks completed; blocks touched
        if p == 0 and n == blocks * b and y.dtype == np.float64 and y.flags.c_contiguous:
            body = y  # whole blocks (as a batch's chunks come): no copy
        else:  # the block in progress, then y, then zeros to the end of the last block touched
            body = np.empty((C, blocks * b))
            body[:, :p], body[:, p: total] = self._partial, y
            body[:, total:] = 0.0
        yb = body.reshape(C, blocks, b)
        # each block's projection, then block m's fit: the k blocks before it
        proj = np.concatenate([self._proj, yb[:, :done] @ self._basis], axis=1)
        coef = np.empty((C, blocks, self._coef.shape[1]))
        coef[:, 0] = self._coef
        coef[:, 1:] = self._fit(np.stack([proj[:, j + 1: j + blocks] for j in range(k)], axis=2))
        # the farthest any sample of a block stands off the hum its fit predicts, and every
        # stride-th sample's offset (for the clip level)
        if _kernels is not None:
            sub, peak = np.empty((C, blocks, -(-b // self._stride))), np.empty((C, blocks))
            _kernels.hum_offsets(body, b, coef.reshape(C, -1), self._ahead, HUM_GRID, self._stride,
                                 sub.reshape(C, -1), peak)
        else:
            off = hum_offsets(yb, coef, self._ahead)
            sub, peak = off[:, :, ::self._stride], off.max(axis=2)
        if total < blocks * b:  # the block in progress: its samples so far
            peak[:, -1] = self._offsets(yb, coef, total, np.arange(C), np.full(C, blocks - 1), 0, b).max(axis=1)
        # the clip level, from the residual's sigma in the blocks completed
        res = sub[:, :done].copy()
        mid = res.shape[2] // 2  # (the median's one sample, selected in place: no sort)
        res.partition(mid, axis=2)
        hist = np.concatenate([self._sigmas, res[:, :, mid] / 0.6745], axis=1)
        below, above = _window_middles(hist, blocks)
        level = CLIP_K * 0.5 * (below + above)
        # the blocks holding a sample past the level around the hum, and the block after each
        opens = GATE_K * level
        over = peak > opens
        touched = over.copy()
        touched[:, 1:] |= over[:, :-1]
        touched[:, 0] |= (self._before > GATE_K * self._level[:, None]).any(axis=1)  # a tail
        opens_before = np.concatenate([GATE_K * self._level[:, None], opens], axis=1)
        # in the blocks touched, the samples gated: a sample past the level within the tail before
        ch, at = np.nonzero(touched)  # in time order per channel
        seen = np.empty((ch.size, tail + b))
        first = at == 0
        seen[first, :tail] = self._before[ch[first]]
        seen[~first, :tail] = self._offsets(yb, coef, total, ch[~first], at[~first] - 1, b - tail, b)
        seen[:, tail:] = self._offsets(yb, coef, total, ch, at, 0, b)
        limit = np.where(np.arange(tail + b) < tail, opens_before[ch, at][:, None], opens_before[ch, at + 1][:, None])
        hits = np.zeros((ch.size, tail + b + 1), dtype=np.int32)
        np.cumsum(seen > limit, axis=1, out=hits[:, 1:])
        gates = hits[:, tail + 1:] > hits[:, :b]
        gated = gates.any(axis=1)
        ch, at, gates = ch[gated], at[gated], gates[gated]
        # what goes around, from each window's fit as it came; in time order, a block whose
        # window holds clipped blocks is done again from the fit to them clipped
        excess = self._beyond(yb[ch, at], coef[ch, at], level[ch, at], gates)
        clipped = excess.any(axis=1)
        clean = np.concatenate([self._clean, proj[:, k:]], axis=1)
        dirty = np.concatenate([self._dirty, np.zeros((C, blocks), dtype=bool)], axis=1)
        spans = []
        for i, (c, m) in enumerate(zip(ch.tolist(), at.tolist())):
            if dirty[c, m: m + k].any():
                excess[i] = self._beyond(yb[c, m], self._fit(clean[c, m: m + k]), level[c, m], gates[i])
                clipped[i] = excess[i].any()
            if not clipped[i]:
                continue
            dirty[c, k + m] = True
            if m < done:  # a block completed: its windows are fitted to it clipped
                clean[c, k + m] = (yb[c, m] - excess[i]) @ self._basis
            a = max(m * b - p, 0)
            spans.append((c, a, excess[i, a + p - m * b: min(total - m * b, b)]))
        if done:
            self._before = self._offsets(yb, coef, total, np.arange(C), np.full(C, done - 1), b - tail, b)
            self._level = level[:, done - 1]
        self._partial = body[:, done * b: total].copy()
        self._proj, self._clean = proj[:, done: done + k], clean[:, done: done + k]
        self._dirty = dirty[:, done: done + k]
        self._coef = coef[:, done] if done < blocks else self._fit(proj[:, done: done + k])
        self._sigmas = hist[:, -CLIP_HISTORY:]
        return [s for s in spans if s[2].size]


@dataclass
class _State:
    band_zi: np.ndarray
    notch_zi: np.ndarray
    comb: tuple[np.ndarray, np.ndarray] | None
    guard: HumGuard | None
    low: tuple
    last: np.ndarray  # last finite value per channel, to hold over NaN/inf
    recent: np.ndarray  # the last BRIDGE_AVERAGE_S of (cleaned) input, to fit the hum of a hole to


LOUD_START = 4.0  # a first second this many times the quietest one's level (``quiet_seconds``) is not looked at for the hum
QUIET_RUN = 1.5  # seconds within this factor of the quietest one's level are as quiet (``quiet_seconds``)


def quiet_seconds(chunks: list[Chunk], fs: float, within_s: float = MAINS_PROBE_S + RECHECK_S) -> np.ndarray | None:
    """The run of quiet whole seconds of the first ``within_s`` of ``chunks`` (channels x
    samples, as recorded; however they are chunked), when the first second's level is over
    ``LOUD_START`` times the quietest one's: each second's level is the median over
    ``live`` channels of the median step from one sample to the next (what a contraction or a pop
    raises, and baseline wander, a brief twitch or the hum do not, much). The run is the
    quietest second and the seconds next to it, on either side, within ``QUIET_RUN`` of its
    level, less the one beside a loud second (its median step misses a loud fifth of a
    second, whose power swamps a spectrum of ten). One second resolves the hum to a hertz:
    measured on one, the mains came out 0.15 Hz off, with harmonics that were not there
    (their notches cost twitches and left the hum's own harmonics through: four false
    spasms in 3 minutes at 250 Hz). None otherwise, or with under two whole seconds."""
    per = max(1, int(fs))
    x = np.concatenate([np.asarray(c.data, dtype=np.float64) for c in chunks], axis=1) if chunks else np.zeros((0, 0))
    x = x[:, :int(within_s * fs)]
    blocks = x.shape[1] // per if x.size else 0
    if blocks < 2:
        return None
    steps = np.abs(np.diff(x[:, :blocks * per].reshape(len(x), blocks, per), axis=2))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (a second of NaN: no level)
        each = np.nanmedian(steps, axis=2)  # channels x seconds
        on = live(np.nanmax(each, axis=1))
        level = np.nanmedian(each[on], axis=0) if on.any() else np.full(blocks, np.nan)
    level = np.where(np.isfinite(level), level, np.inf)
    best = int(np.argmin(level))
    if not level[0] > LOUD_START * level[best] or not np.isfinite(level[best]):
        return None
    loud = np.flatnonzero(level > QUIET_RUN * level[best])
    first = int(loud[loud < best].max(initial=-1)) + 2  # (a second beside a loud one may hold its
    last = int(loud[loud > best].min(initial=blocks + 1)) - 1  # tail, which its median step misses)
    first, last = min(first, best), max(last, best + 1)
    run = x[:, first * per:last * per]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (a channel of NaN: held at 0)
        held = np.nan_to_num(np.nanmedian(run, axis=1, keepdims=True))
    return np.where(np.isfinite(run), run, held)


class Preprocessor:
    """Band-pass + notch (and the low band) for a stream, one chunk at a time.

    ``process(chunk)`` returns the filtered chunks, with ``low`` filled in: none while it
    holds back the first second (to find the mains frequency unless given, and each
    channel's first good value to start the filters from), then all that was held.
    ``flush()`` returns what is held back at the end of a stream. Non-finite samples are
    held at the last finite value (counted in ``nonfinite``), so that one NaN cannot
    poison the filters.
    """

    def __init__(self, fs: float, n_channels: int, mains_hz: float | None | str = "auto"):
        self.fs = float(fs)
        self.n_channels = int(n_channels)
        self.mains_arg = mains_hz
        self.mains_hz: float | None = None
        self.harmonics: tuple[int, ...] = ()  # the mains harmonics notched (found in the first second)
        self.nonfinite = np.zeros(self.n_channels, dtype=np.int64)
        self._held: list[Chunk] = []
        self._sos: np.ndarray | None = None  # the EMG band (the low band is self._low)
        self._notches = np.zeros((0, 6))  # the mains notches after it (or the comb)
        self._comb: Comb | None = None
        self._low = low_band(self.fs)
        self._state: _State | None = None
        self._unbridged = 0  # lost samples not yet bridged
        self._recheck_left = 0  # samples of notched output until the re-check (0: none pending)
        self._rechecked: list[np.ndarray] = []  # the notched output gathered for it
        self.added: tuple[float, ...] = ()  # notches the re-check added (Hz)
        self._tuned: tuple[float | None, tuple[int, ...], tuple[float, ...]] | None = None  # see ``tune``
        self._look: np.ndarray | None = None  # the seconds the hum is found on, when not the first (``tune``)

    def tune(self, head: Iterable[Chunk]) -> None:
        """Tune the notches on a recording's first seconds before filtering any of it: a
        recording, unlike a live stream, can be looked into first. A preprocessor of its
        own runs over ``head`` (the first ``MAINS_PROBE_S`` + ``RECHECK_S`` are enough) and
        this one starts with what it found, the mains, the harmonics and the notches its
        re-check added, so that the first seconds are filtered as the rest. A harmonic
        folded beside a notched one (at 200 Hz, the 3rd of 50.1 Hz mains lands at 49.7 Hz)
        otherwise raises the noise there several times until the re-check: a tenth of the
        independent generator's missed twitches at 200 Hz were in the first 11 s.

        When the first second is far louder than the quietest second of the head
        (``quiet_seconds``: a contraction or a movement as the recording starts), the hum
        is found, measured and its harmonics chosen on the quiet seconds instead: over a
        contraction on every channel the first second showed no hum at all, and the whole
        recording went without a notch (on the independent generator, a 1.2 s contraction
        at the start cost two thirds of the twitches at 1000 Hz)."""
        seen: list[Chunk] = []
        for chunk in head:  # (the probe needs no more than these)
            seen.append(chunk)
            if sum(c.n_samples for c in seen) >= (MAINS_PROBE_S + RECHECK_S) * self.fs:
                break
        probe = self._probe(seen, quiet_seconds(seen, self.fs))
        if probe is not None:
            self._tuned = (probe.mains_hz, probe.harmonics, probe.added)

    def _probe(self, head: list[Chunk], look: np.ndarray | None) -> Preprocessor | None:
        """A preprocessor of our settings run over ``head`` until its re-check is done,
        finding the hum on ``look`` if given."""
        probe = Preprocessor(self.fs, self.n_channels, self.mains_arg)
        probe._look = look
        for chunk in head:
            probe.process(chunk)
            if probe._sos is not None and not probe._recheck_left:
                break
        if probe._sos is None:
            probe.flush()
        return probe if probe._sos is not None else None

    def _clean(self, data: np.ndarray) -> np.ndarray:
        """float64 copy with non-finite samples held at the last finite value."""
        x = np.asarray(data, dtype=np.float64)
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf: NaN, as wanted
            if np.isfinite(x.sum()):  # NaN and inf would show in the sum (one pass, no mask)
                return x
        bad = ~np.isfinite(x)
        if not bad.any():  # (finite values so large that their sum overflows)
            return x
        self.nonfinite += bad.sum(axis=1)
        idx = np.where(bad, 0, np.arange(x.shape[1])[None, :])
        np.maximum.accumulate(idx, axis=1, out=idx)
        filled = np.take_along_axis(x, idx, axis=1)
        lead = bad & (np.cumsum(~bad, axis=1) == 0)  # no finite value yet in this chunk
        filled[lead] = np.broadcast_to(self._state.last[:, None], x.shape)[lead]
        return filled

    def _bridge(self, lost: int, after: np.ndarray) -> None:
        """Run the filters over a hole of ``lost`` samples whose next sample is ``after``
        (per channel): the hum (the mains harmonics notched, fitted by least squares to
        the last BRIDGE_AVERAGE_S and carried on at the measured frequency, which need not
        be a whole number of samples per period), with the level ramped from the last
        sample's to the next one's, so that neither the hum's phase nor a drifting
        baseline leaves a step."""
        st = self._state
        if lost > MAX_BRIDGE_S * self.fs:
            self._restart(after)
            return
        kept = st.recent.shape[1]
        t = np.arange(-kept, lost + 1) / self.fs  # the kept samples, the hole, the next sample
        model = self._level_and_hum(t, slice(None, kept), st.recent)
        d0 = st.recent[:, -1] - model[:, kept - 1]
        d1 = after - model[:, -1]
        ramp = np.arange(1, lost + 1) / (lost + 1)
        fill = model[:, kept:kept + lost] + d0[:, None] + (d1 - d0)[:, None] * ramp
        self._emg(fill)
        _, st.low = self._low.filter(fill, st.low)
        self._remember(fill)

    def _emg(self, x: np.ndarray) -> np.ndarray:
        """The EMG band: band-pass, then the mains notches (what stands off the hum goes
        around them, ``HumGuard``), state carried; the re-check (``_recheck``) falls on
        the same sample however the stream is chunked."""
        if 0 < self._recheck_left < x.shape[1]:
            k = self._recheck_left
            return np.concatenate([self._emg(x[:, :k]), self._emg(x[:, k:])], axis=1)
        st = self._state
        y, st.band_zi = filters.sosfilt(self._sos, x, axis=1, zi=st.band_zi)
        if st.guard is None:
            return y
        spans = st.guard.around(y)
        for c, a, e in spans:  # (y is ours: sosfilt made it)
            y[c, a: a + e.size] -= e
        z = y
        if len(self._notches):
            z, st.notch_zi = filters.sosfilt(self._notches, z, axis=1, zi=st.notch_zi)
        if self._comb is not None:
            z, st.comb = self._comb.filter(z, st.comb)
        for c, a, e in spans:
            z[c, a: a + e.size] += e
        if self._recheck_left:
            self._rechecked.append(z.astype(np.float32))
            self._recheck_left -= z.shape[1]
            if not self._recheck_left:
                self._recheck()
        return z

    def _recheck(self) -> None:
        """Tune the notches on ``RECHECK_S`` of their own output.

        - A harmonic folded beside a notched one: off nominal, one that a weak anti-alias
          filter folds back can land a fraction of a hertz beside another (at 200 Hz the
          3rd harmonic of 50.1 Hz mains lands at 49.7 Hz), where that one's notch lets
          most of it through. The first second cannot tell whether it is there, and a
          notch at every such place where it is not costs twitches; ten seconds show it
          as a line, and it gets a notch of its own.
        - The mains as they run, again: the folded harmonic pulls the first second's
          estimate, a few hundredths of a hertz that at 200 uV of hum leave a line of
          several times the noise beside the fundamental's notch.
        Where lines show, the fundamental is fitted again: on a grid around the estimate,
        sinusoids at every notched place and every place beside them (harmonics up to
        ``BESIDE_MAX``, which move with the fundamental) are fitted to the output by least
        squares, Hann-weighted, and the best fit's fundamental is kept. A place holds a line
        where its power is ``RECHECK_RATIO`` times the median 2-5 Hz around it. The
        notches are then designed again; each keeps its state (the change is a few
        hundredths of a hertz), a new one starts at rest."""
        y = np.concatenate(self._rechecked, axis=1).astype(np.float64)
        self._rechecked = []
        n = y.shape[1]
        w = np.hanning(n)
        y = y[heard(y, self.fs)]
        yw = (y - y.mean(axis=1, keepdims=True)) * w
        around = np.concatenate([[0.0], np.linspace(2.0, 5.0, 7), -np.linspace(2.0, 5.0, 7)])

        def lines(places: list[float]) -> np.ndarray:
            """Which of ``places`` hold a line (power summed over the channels heard)."""
            f = np.asarray(places, dtype=np.float64)[:, None] + around[None, :]
            p = (np.abs(yw @ tones(n, -f.ravel(), self.fs).T) ** 2).sum(axis=0)
            p = p.reshape(f.shape)
            return p[:, 0] > RECHECK_RATIO * median(p[:, 1:], axis=1)

        def places(mains: float) -> tuple[list[float], list[int]]:
            """The notched places at ``mains``, and the harmonics that fold beside them."""
            notched = [harmonic_hz(k, mains, self.fs) for k in self.harmonics]
            beside = [k for k in range(1, BESIDE_MAX + 1)
                      if 1.0 < harmonic_hz(k, mains, self.fs) < self.fs / 2 - 1.0
                      and 1.0 / RECHECK_S < min(abs(harmonic_hz(k, mains, self.fs) - g) for g in notched) <= HUM_APART_HZ]
            return notched, beside

        notched, beside = places(self.mains_hz)
        if not lines(notched + [harmonic_hz(k, self.mains_hz, self.fs) for k in beside]).any():
            return

        def fit(mains: float) -> float:
            """Energy of the output explained by sinusoids at every place at ``mains``
            (the notched ones and those beside them there): R^T G^-1 R, with G the
            weighted basis' Gram matrix and R its products with the output. (A sampled
            sine at k f is one at k f's fold.)"""
            ks = np.array(list(self.harmonics) + places(mains)[1], dtype=np.float64)
            z = tones(n, mains * ks, self.fs)
            basis = np.empty((2 * ks.size, n))  # the cosines, then the sines, weighted
            np.multiply(z.real, w, out=basis[:ks.size])
            np.multiply(z.imag, w, out=basis[ks.size:])
            r = basis @ yw.T
            return float(np.sum(r * np.linalg.lstsq(basis @ basis.T, r, rcond=1e-9)[0]))

        grid = self.mains_hz * (1.0 + np.linspace(-RETUNE_SPAN, RETUNE_SPAN, 49))
        energy = np.array([fit(f) for f in grid])
        best = int(energy.argmax())
        if best in (0, grid.size - 1):  # no peak: no hum line to tune to
            return
        a, b, c = energy[best - 1: best + 2]
        shift = 0.5 * (a - c) / (a - 2 * b + c) if a - 2 * b + c < 0 else 0.0
        mains = float(grid[best] + np.clip(shift, -1.0, 1.0) * (grid[1] - grid[0]))
        beside_places = [harmonic_hz(k, mains, self.fs) for k in places(mains)[1]]
        found = [f for f, hit in zip(beside_places, lines(beside_places)) if hit] if beside_places else []
        self.mains_hz, self.added = mains, tuple(found)
        self._notches = np.vstack([design_notches(self.fs, mains, self.harmonics)] + [self._beside(f) for f in found])
        st = self._state
        kept = len(self.harmonics)  # the harmonics' own notches keep their state; the others start at rest
        st.notch_zi = np.concatenate([st.notch_zi[:kept], np.zeros((len(self._notches) - kept, self.n_channels, 2))])

    def _beside(self, f: float) -> np.ndarray:
        """The notch at ``f`` for a harmonic folded beside a notched one, as wide as theirs."""
        return filters.tf2sos(*filters.iirnotch(f, NOTCH_Q * f / self.mains_hz, self.fs))

    def _restart(self, x0: np.ndarray) -> None:
        """Filters in steady state at ``x0`` (per channel): no transient from the level."""
        kept = max(2, int(round(BRIDGE_AVERAGE_S * self.fs)))
        hum = self._hum_freqs()
        self._state = _State(filters.sosfilt_zi(self._sos)[:, None, :] * x0[None, :, None],
                             np.zeros((len(self._notches), self.n_channels, 2)),  # the band's output rests at 0
                             self._comb.rest(self.n_channels) if self._comb is not None else None,
                             HumGuard(self.fs, hum, self.n_channels) if hum else None,
                             self._low.rest(x0), x0.copy(), np.repeat(x0[:, None], kept, axis=1))

    def _lead_in(self, x: np.ndarray, at: np.ndarray) -> bool:
        """Run the filters over ``LEAD_IN`` seconds before the stream that its first second
        implies: the level and the hum fitted to it (as ``_bridge`` fits them) carried
        back, plus what is left of it once they are taken out, mirrored in time and back
        again, so that it meets the stream without a step (``at``: the samples' places on
        the clock, which counts lost ones). Notches started at rest with hum at the first
        sample rang for a second at many times the noise, hiding the twitches there; a
        1 Hz notch takes three seconds to forget its start. Whether it did (not without hum:
        then the filters are to start in steady state at the first value)."""
        if not self._hum_freqs():  # (the band starts in steady state at the level: nothing rings)
            return False
        n = x.shape[1]
        model = self._level_and_hum(np.concatenate([np.arange(-LEAD_IN * n, 0), at]) / self.fs,
                                    slice(LEAD_IN * n, None), x)
        rest = x - model[:, LEAD_IN * n:]
        lead = np.concatenate([rest[:, ::-1] if (LEAD_IN - i) % 2 else rest for i in range(LEAD_IN)], axis=1)
        lead += model[:, :LEAD_IN * n]
        self._restart(lead[:, 0])
        self._emg(lead)
        _, self._state.low = self._low.filter(lead, self._state.low)
        self._remember(lead)
        return True

    def _level_and_hum(self, t: np.ndarray, fit: slice, x: np.ndarray) -> np.ndarray:
        """The level and the notched harmonics, fitted by least squares to ``x`` (channels x
        samples) at times ``t[fit]`` (s), at every time of ``t`` (channels x len(t))."""
        basis = np.stack([np.ones_like(t)] + [w(2 * np.pi * f * t) for f in self._hum_freqs() for w in (np.cos, np.sin)],
                         axis=1)
        return (basis @ np.linalg.lstsq(basis[fit], x.T, rcond=None)[0]).T

    def _hum_freqs(self) -> list[float]:
        """Where the notched harmonics show (at least ``HUM_APART_HZ`` apart)."""
        return [harmonic_hz(k, self.mains_hz, self.fs) for k in self.harmonics] if self.mains_hz else []

    def _remember(self, x: np.ndarray) -> None:
        st = self._state
        kept = st.recent.shape[1]
        st.recent = x[:, -kept:].copy() if x.shape[1] >= kept else np.concatenate([st.recent, x], axis=1)[:, -kept:]

    def _filter(self, chunk: Chunk, bridge: bool = True) -> Chunk:
        x = self._clean(chunk.data)
        self._unbridged += chunk.lost if bridge else 0
        if self._unbridged and x.shape[1]:  # an empty chunk passes its hole on to the next
            self._bridge(self._unbridged, x[:, 0])
            self._unbridged = 0
        st = self._state
        y = self._emg(x)
        lowy, st.low = self._low.filter(x, st.low)
        if x.shape[1]:
            st.last = x[:, -1].copy()
            self._remember(x)
        return Chunk(y.astype(np.float32), chunk.fs, chunk.channels, chunk.start, chunk.lost,
                     low=lowy)

    def process(self, chunk: Chunk) -> list[Chunk]:
        if self._sos is not None:
            return [self._filter(chunk)]
        self._held.append(chunk)
        if sum(c.n_samples for c in self._held) < int(MAINS_PROBE_S * self.fs):
            return []
        return self._release()

    def flush(self) -> list[Chunk]:
        """What is still held back (a stream shorter than the first second)."""
        return self._release() if self._held else []

    def _release(self) -> list[Chunk]:
        held, self._held = self._held, []
        probe = np.concatenate([c.data for c in held], axis=1)[:, : int(MAINS_PROBE_S * self.fs)]
        at = np.concatenate([c.start + np.arange(c.n_samples) for c in held])[: probe.shape[1]]
        probe = np.asarray(probe, dtype=np.float64)
        good = np.isfinite(probe)
        first = np.where(good.any(axis=1), probe[np.arange(len(probe)), good.argmax(axis=1)], 0.0)
        if self._tuned is not None:
            self.mains_hz, self.harmonics, self.added = self._tuned
        else:
            look, look_at = ((np.where(good, probe, first[:, None]), at - at[0]) if self._look is None
                             else (self._look, np.arange(self._look.shape[1])))
            found = detect_mains(look, self.fs)
            mains = found if self.mains_arg == "auto" else self.mains_arg
            self.mains_hz = float(mains) if mains else None
            if self.mains_hz and found == self.mains_hz:  # hum to measure: where it really runs
                harmonics = mains_harmonics(look, self.fs, self.mains_hz)
                self.mains_hz = measure_mains(look, self.fs, self.mains_hz, harmonics, look_at)
            self.harmonics = mains_harmonics(look, self.fs, self.mains_hz) if self.mains_hz else ()
        self._sos = design_band(self.fs)
        self._notches = np.vstack([design_notches(self.fs, self.mains_hz, self.harmonics)]
                                  + [self._beside(f) for f in self.added])
        self._comb = mains_comb(self.fs, self.mains_hz)
        if not self._lead_in(np.where(good, probe, first[:, None]), at - at[0]):  # start in the hum ...
            self._restart(first)  # ... or, with none, in steady state at the first good value
        if self.mains_hz and self._comb is None and self._tuned is None:  # (a comb notches every place at nominal)
            self._recheck_left = int(RECHECK_S * self.fs)
        return [self._filter(c, bridge=i > 0) for i, c in enumerate(held)]  # nothing before the first
