"""The burst detector: runs of activity above an adaptive noise floor, on all channels at once.

How a burst is found, per channel, on the band-passed signal x:
- noise floor: every 0.25 s block gives a robust sigma, median(|x|) / 0.6745; the floor
  for a block is a low quantile of the sigmas of the blocks of the last minute before it,
  so that it follows the electrode's noise but not a twitch, nor most of a long spasm,
  divided by where that quantile falls for steady noise (the median's own scatter over
  a block's worth of independent samples), so that the floor is unbiased; and at most
  ``history_rise`` times that figure a minute earlier: a cramp that fills nine tenths of
  the last minute otherwise becomes the floor (every cramp ended at 55 s; now at about
  115 s). A rise of the noise by up to that much is followed within the minute as
  before; a larger one a minute later again, while the envelopes' raised floor (next)
  takes up to 1.5 times more of it;
- the envelopes are judged against that floor raised to the level of the last
  ``local_s`` (a low quantile of its block sigmas, likewise unbiased) where that stands
  ``local_margin`` over it, by ``local_cap`` times at most. Electrode noise that swells
  for seconds otherwise passes the thresholds all through the swell: a movement's burst
  ran on through it for seconds, taking in the twitches there, and a swell read as a
  spasm. Capped, a long contraction still stands over the raised floor; and what
  follows the minute's floor alone (whether sustained activity has ended, its loud
  islands, every feature) is unchanged;
- two centred envelopes (RMS): a fast one (about 12 ms) that times a burst to the sample,
  and a slower one (about 60 ms) that bridges the gaps inside an interference pattern;
- thresholds from false-alarm rates: in noise, an envelope's mean square over w samples
  follows a scaled chi-square whose degrees of freedom are set by the band (the board's
  low-pass and ours); each threshold is the quantile for its false-alarm probability, so
  that a twitch is held to the same standard at 125 Hz as at 1000 Hz;
- hysteresis: a run where either envelope is above its low threshold is kept if the fast
  envelope passes the high threshold somewhere in it; the burst is the part of the run
  where the fast envelope is above its low threshold and within ``rel_extent`` of the
  run's peak (which cuts off the filters' ringing);
- merging: bursts closer than ``merge_s`` merge. Sustained activity (a burst of
  ``long_s`` or more, or one that starts on a raised background) takes in the bursts
  that follow within ``long_merge_s``, and then goes on until a 0.25 s block is back
  near the floor. A merged group of short bursts that is mostly quiet inside
  (``min_duty``) is given back as its separate bursts, also when it began on a raised
  background, unless it lasts ``island_min_s`` (two twitches on a swell of noise are
  two twitches). A long one is cut into its loud islands (``island_*``), so that a
  spasm that a swell of noise ran into is itself;
- spikes inside long bursts: a burst longer than ``split_s`` is also searched, with its
  spectral lines taken out (``without_lines``), for runs past ``k_split`` times its own
  robust sigma, or of fast windows whose mean square noise reaches as rarely against the
  level around them (``_loud``), each given as a burst of its own (flagged ``inner``;
  reported only as a twitch inside a long burst called noise, see ``classify.reported``).
  A stretch of raised noise, or of the hum a notch lets by when its level swings, can
  hold twitches far above it, which as one burst went with it;
- features per burst for the classifier (see ``_features``), including the background
  before it and whether it keeps a heartbeat's steady rhythm.

Window sums are computed in integer arithmetic (squares in fixed point) and every
decision depends on sample positions only, so the result is the same whatever the
chunking. The detector looks ahead by half the slow window; a short burst is emitted
``merge_s`` after it ends.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np

from . import filters
from .dsp import board_cutoff, design_filters, emg_band
from .types import Burst, Chunk

try:
    from . import _kernels  # one pass for the window sums' squares and running sum
except ImportError:  # not built: numpy makes the same sums
    _kernels = None

_Q = 1024.0  # fixed-point scale of squared microvolts
_CLIP_UV = 1.0e5  # |x| above this is clipped for the envelopes (100 mV: nothing real)
_MAX_STEP = 1 << 16  # samples handled per inner step: bounds memory and integer sums (a minute at 1000 Hz in one)
_FLOOR_EVERY = 8  # a full-history floor is refreshed every this many blocks (2 s)
_DOF_EVERY = 240  # ... and the noise's autocorrelation every this many (60 s)
SPREAD_CAP = 3  # other channels active at once that make a burst as widespread as can be
_RHYTHM_ONSETS = 12  # a burst's rhythm is judged from the bursts before it, this many
_LINE_BINS = 41  # a spectral line stands out of the median power of this many FFT bins around it (``without_lines``)
_BIT_COUNTS = np.array([bin(i).count("1") for i in range(32)])  # the bits set in 0 .. 31


@dataclass
class DetectorParams:
    """Thresholds are multiples of the noise sigma; times are seconds."""

    fast_s: float = 0.012
    slow_s: float = 0.06
    false_seeds_per_hour: float = 10.0  # per channel, in pure noise (the classifier tells them from twitches)
    p_low: float = 0.01  # share of noise samples above the fast envelope's low threshold
    p_slow: float = 1e-3  # ... above the slow envelope's threshold
    board_cutoff_hz: float | None = None  # None: the usual one for the sampling rate
    merge_s: float = 0.02
    long_s: float = 0.15
    long_merge_s: float = 0.3
    min_duty: float = 0.3
    context_s: float = 0.5  # the background before a burst: robust sigma over this long
    lead_s: float = 5.0  # the level before a burst: median block sigma over this long, ...
    lead_skip_s: float = 0.5  # ... ending this long before the burst's block
    k_context: float = 1.5  # ... raised by this factor over the floor: sustained activity
    k_quiet: float = 1.25  # sustained activity has ended when a block's sigma is below this times the floor
    # (or the level before it, ``lead_s``, where higher, by ``local_cap`` at most: ``Detector._closing``)
    island_min_s: float = 2.0  # sustained activity this long is cut into its loud islands: ...
    island_share: float = 0.25  # ... runs of blocks whose sigma over the floor reaches this share of its peak ...
    island_gap_s: float = 1.0  # ... apart by this long or more (the runs between them go on their own)
    rhythm_beats: int = 3  # a heartbeat: this many earlier bursts on one steady beat ...
    rhythm_tolerance: float = 0.12  # ... each within this share of the period
    min_snr: float = 6.0  # a burst's peak-to-peak must reach this many noise sigmas
    rel_extent: float = 0.15  # a burst's edges: where the fast envelope falls below this share of its peak
    block_s: float = 0.25
    history_s: float = 60.0
    history_rise: float | None = 1.5  # the floor is at most this many times the one a history earlier (None: no limit)
    quantile: float = 0.1
    local_s: float = 8.0  # the envelopes' floor follows the level of this long before a block ...
    local_q: float = 0.25  # ... this quantile of its block sigmas ...
    local_margin: float = 1.1  # ... where it stands this far over the minute's floor ...
    local_cap: float = 1.5  # ... up to this many times the minute's floor (0 s: the minute's floor alone)
    min_sigma_uv: float = 0.01
    max_burst_s: float = 120.0
    pad_s: float = 0.05
    split_s: float = 0.25  # a burst longer than this is also searched for spikes inside it ...
    k_split: float = 8.0  # ... this many times its own robust sigma, or as rare over the fast window ...
    line_k: float = 8.0  # ... once the bins this many times the median of those around them are out
    sync_s: float = 0.005  # another channel starts with a burst when it turns active within this of its start ...
    sync_quiet_s: float = 0.05  # ... after this long quiet


@lru_cache(maxsize=64)
def noise_dof(fs: float, w: int, cutoff: float, band: str = "emg") -> float:
    """Effective chi-square degrees of freedom of a w-sample sum of squares of noise that
    passed the board's low-pass (``cutoff``) and our EMG band (or our low band):
    w^2 / sum over lags (w-|k|) rho_k^2. It is also the number of independent samples
    that w samples of such noise are worth. Cached: every recording at a rate shares it."""
    emg, low = design_filters(fs, None)
    impulse = np.zeros(int(2 * fs))
    impulse[0] = 1.0
    h = filters.sosfilt(emg if band == "emg" else low, impulse)
    if cutoff < 0.49 * fs:
        h = filters.sosfilt(filters.butter(4, cutoff, fs=fs), h)
    r = np.correlate(h, h, mode="full")[len(h) - 1: len(h) - 1 + w]
    rho = r / r[0]
    lags = np.arange(w)
    return float(w * w / (w + 2 * np.sum((w - lags[1:]) * rho[1:] ** 2)))


def sorted_quantile(a: np.ndarray, q: float, axis: int = -1, dtype=None, overwrite: bool = False) -> np.ndarray:
    """numpy's default (linear) quantile along ``axis``, by sorting: numpy's SIMD sort is
    several times faster than the partition ``np.quantile`` and ``np.median`` use for a
    quantile that falls between two samples. With ``dtype``, the two samples it falls
    between are taken in that type before they are interpolated (float32 samples sort
    faster; the quantile comes out as that of the same values in float64). With
    ``overwrite``, ``a`` is sorted in place (no copy)."""
    if overwrite:
        a.sort(axis=axis)
    s = a if overwrite else np.sort(a, axis=axis)
    pos = (s.shape[axis] - 1) * q
    lo = math.floor(pos)  # (math's: numpy's costs a microsecond a call, and bursts make thousands)
    lead = (slice(None),) * (axis % s.ndim)

    def at(i: int):  # (a view by basic indexing: several times faster than np.take's copy)
        v = s[lead + (i,)]
        return v if dtype is None else v.astype(dtype, copy=False)

    below = at(lo)
    if pos == lo:
        return below
    return below + (pos - lo) * (at(lo + 1) - below)


def chi2_threshold(p: float, dof):
    """Mean square (in units of sigma^2) exceeded with probability p by noise of ``dof``
    (a number or an array of them)."""
    return filters.gammainccinv(np.asarray(dof) / 2.0, p) * 2.0 / np.asarray(dof)


def _distinct(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(a, return_inverse=True)`` of an ascending ``a``, without the sort."""
    new = np.empty(a.size, dtype=bool)
    new[0] = True
    np.not_equal(a[1:], a[:-1], out=new[1:])
    return a[new], np.cumsum(new) - 1


class _NoiseFloor:
    """Per-channel robust sigma per block and the floor each block is judged against.

    With ``thresholds``, it also measures the noise's autocorrelation (up to ``lags``),
    from the power spectra of the quiet blocks (even blocks at or below the floor's
    quantile) of the history, and keeps per block the detector's thresholds that
    ``thresholds`` makes of it (channels x lags -> channels x thresholds): coloured noise
    (electrode noise, a board's own filters) has heavier tails than white noise in the
    band, and thresholds from the band alone would let it through. With ``local`` (blocks,
    quantile, margin, cap), what the envelopes are judged against (``judge``) follows
    the last few seconds' level too (``_follow``).

    Block indices count from the start of the stream; only the blocks from ``k0`` on are
    kept (``trim``), so that memory stays flat however long the stream runs."""

    def __init__(self, n_channels: int, block: int, history: int, quantile: float, min_sigma: float,
                 independent: float, stride: int = 1, lags: int = 0,
                 thresholds: Callable[[np.ndarray | None], np.ndarray] | None = None,
                 local: tuple[int, float, float, float] | None = None, rise: float | None = None):
        self.block, self.history, self.q, self.min_sigma = block, history, quantile, min_sigma
        self.rise = rise
        self.local = local
        self.stride = stride  # every stride-th sample of a block (a slow band needs no more)
        self.lags = lags if thresholds is not None else 0
        independent = min(independent, -(-block // stride))  # what a block of band-limited noise is worth
        self.independent = independent
        self.bias = self._bias(independent)
        self._partial = np.zeros((n_channels, 0), dtype=np.float32)
        self.k0 = 0  # the first block kept
        # sigma of each complete block from k0 (in the samples' type: float32 values sort faster)
        self.sigmas = np.zeros((n_channels, 0), dtype=np.float32)
        self.floors = np.zeros((n_channels, 0))  # floor for block k0 + i (from the blocks before it)
        # with ``rise``: the quantile of the history before block r0 + i (unbiased); the floor
        # is at most ``rise`` times the one ``history`` blocks before it
        self.quants = np.zeros((n_channels, 0))
        self.r0 = 0
        self.judge = self.floors  # what the envelopes are judged against there (``local``: raised)
        # the even blocks as they came, (first, channels x blocks x samples) pieces (blocks
        # first, first + 2, ...): the power spectra of those a figure needs (the quiet ones,
        # a tenth) are taken when it is made, once a minute
        self._even: list[tuple[int, np.ndarray]] = []
        self.thresholds = thresholds
        self.limits = np.zeros((n_channels, 0, 0))  # the thresholds per floor
        # the spectral centroid of the quiet blocks behind each floor, in FFT bins of a
        # block (0: not known): the colour of the channel's own noise
        self.colour = np.zeros((n_channels, 0))
        self._memo: tuple[int, tuple[np.ndarray, np.ndarray]] = (-1, (self.limits, self.colour))
        self._keep_back = history + 2 * (_DOF_EVERY if self.lags else _FLOOR_EVERY)  # blocks a future figure needs

    def _bias(self, independent: np.ndarray | float, q: float | None = None) -> np.ndarray | float:
        """Where the floor's quantile (or the ``q`` quantile) of block sigmas falls, over the
        true sigma, when a block is worth ``independent`` samples: the MAD sigma of n
        independent Gaussian samples scatters by about 1.166 sigma / sqrt(n)."""
        return 1.0 + filters.ndtri(self.q if q is None else q) * 1.166 / np.sqrt(independent)

    @property
    def n_sigmas(self) -> int:
        return self.k0 + self.sigmas.shape[1]

    @property
    def n_floors(self) -> int:
        return self.k0 + self.floors.shape[1]

    def add(self, x: np.ndarray) -> None:
        buf = np.concatenate([self._partial, x], axis=1) if self._partial.size else x
        nb = buf.shape[1] // self.block
        if nb:
            blocks = buf[:, : nb * self.block].reshape(buf.shape[0], nb, self.block)
            self.sigmas = np.concatenate([self.sigmas, sorted_quantile(np.abs(blocks[:, :, ::self.stride]), 0.5,
                                                                       overwrite=True) / 0.6745], axis=1)
            if self.lags:  # even blocks only: enough, at half the cost
                first = self.n_sigmas - nb
                self._even.append((first + first % 2, blocks[:, first % 2::2].copy()))
        self._partial = buf[:, nb * self.block:].copy()
        self._extend_floors()

    def _extend_floors(self) -> None:
        done, have = self.n_floors, self.n_sigmas
        if have == 0 or done > have:
            return
        parts = []
        # floor k needs blocks < k (block 0 judges itself); a short history while it fills
        short = range(done, min(have, self.history) + 1)
        if short:
            parts.append(np.stack([sorted_quantile(self.sigmas[:, max(0, k - self.history): k] if k
                                                   else self.sigmas[:, :1], self.q, axis=1, dtype=np.float64)
                                   for k in short], axis=1))
        lo = max(done, self.history + 1)
        if have >= lo:  # full histories: all at once, refreshed every FLOOR_EVERY blocks
            ks = np.arange(lo, have + 1)
            uniq, where = _distinct(np.maximum(ks - ks % _FLOOR_EVERY, self.history))  # history ends at this block
            # the histories gathered from a view of every window (4 x faster than a 2-d fancy index)
            windows = np.lib.stride_tricks.sliding_window_view(self.sigmas, self.history, axis=1)
            # channels x len(ks)
            parts.append(sorted_quantile(windows[:, uniq - self.history - self.k0], self.q, axis=2, dtype=np.float64,
                                         overwrite=True)[:, where])
        floors = np.maximum(np.concatenate(parts, axis=1) / self.bias, self.min_sigma)
        if self.rise is not None:
            self.quants = np.concatenate([self.quants, floors], axis=1)
            back = np.arange(done, have + 1) - self.history
            ok = back >= self.r0
            floors[:, ok] = np.minimum(floors[:, ok], self.rise * self.quants[:, back[ok] - self.r0])
        self.floors = np.concatenate([self.floors, floors], axis=1)
        self.judge = np.concatenate([self.judge, self._follow(floors, done, have)], axis=1) if self.local else self.floors
        if self.lags:  # the noise's colour changes slowly: measured every DOF_EVERY blocks
            ks = np.arange(done, have + 1)
            # (while the first DOF_EVERY blocks come in: at 1, 2, 4, 8, ... blocks)
            start = 2 ** np.floor(np.log2(np.maximum(ks, 1))).astype(np.int64)
            uniq, where = _distinct(np.where(ks >= _DOF_EVERY, ks - ks % _DOF_EVERY, start))
            figures = [self._limits(int(end)) for end in uniq]
            limits = np.stack([f[0] for f in figures], axis=1)[:, where]
            self.limits = np.concatenate([self.limits, limits], axis=1) if self.limits.shape[1] else limits
            self.colour = np.concatenate([self.colour, np.stack([f[1] for f in figures], axis=1)[:, where]], axis=1)

    def _follow(self, floors: np.ndarray, done: int, have: int) -> np.ndarray:
        """What the envelopes of blocks [done, have] are judged against: their floors
        raised to the level of the ``w`` blocks before each (the ``q`` quantile of their
        sigmas, unbiased as the floor is) where it stands ``margin`` over them, by ``cap``
        times at most."""
        w, q, margin, cap = self.local
        ks = np.arange(max(done, 1), have + 1)
        level = np.zeros_like(floors)
        full = ks[ks >= w + self.k0]
        if full.size:
            windows = np.lib.stride_tricks.sliding_window_view(self.sigmas, w, axis=1)
            level[:, full - done] = sorted_quantile(windows[:, full - w - self.k0], q, axis=2, dtype=np.float64,
                                                  overwrite=True)
        for k in ks[ks < w + self.k0]:  # (the stream's first seconds)
            level[:, k - done] = sorted_quantile(self.sigmas[:, max(self.k0, k - w) - self.k0: k - self.k0], q, axis=1,
                                                 dtype=np.float64)
        level /= self._bias(self.independent, q) * margin
        return np.maximum(floors, np.minimum(level, cap * floors))

    def _limits(self, end: int) -> tuple[np.ndarray, np.ndarray]:
        """The thresholds (channels x thresholds) for the autocorrelation of the noise in
        the quiet blocks among the history that ends at ``end``, and that noise's spectral
        centroid (channels; FFT bins of a block, 0 where no block was quiet). Coloured
        noise also makes the block sigmas scatter more, which puts the floor's quantile
        further below the true sigma than ``bias`` allows for: the thresholds (on sums of
        squares over the floor's square) are raised by that ratio squared."""
        if self._memo[0] == end:
            return self._memo[1]
        a, b = max(0, end - self.history) - self.k0, end - self.k0
        sig = self.sigmas[:, a:b]
        even = (np.arange(a + self.k0, b + self.k0) % 2 == 0) | (b - a == 1)
        level = sorted_quantile(sig[:, even], self.q, axis=1, dtype=np.float64)
        quiet = (sig <= level[:, None]) & even
        # the power spectra of the quiet even blocks (an odd block is quiet only as a lone
        # history, and has no spectrum: zero, as ever)
        ch, at = np.nonzero(quiet & (np.arange(a + self.k0, b + self.k0) % 2 == 0))
        spectra = np.zeros(sig.shape + (self.block // 2 + 1,))
        if ch.size:  # the even blocks from the history's first even one (g0) on, then the quiet ones
            g0 = a + self.k0 + (a + self.k0) % 2
            blocks = np.concatenate([p[:, max(g0 - k, 0) // 2: (b + self.k0 - k + 1) // 2] for k, p in self._even
                                     if k < b + self.k0 and k + 2 * p.shape[1] > g0], axis=1)
            # (float64: numpy's float32 FFT is several times slower)
            quiet_blocks = blocks[ch, (at + a + self.k0 - g0) // 2].astype(np.float64)
            spectra[ch, at] = np.abs(np.fft.rfft(quiet_blocks, axis=1)) ** 2
        power = np.matmul(quiet.astype(np.float64)[:, None, :], spectra)[:, 0]
        # a tone (hum the notches missed) is no Gaussian noise, and as a correlation it
        # would make the tails look enormous: spectral lines are cut to 4 x the median of
        # the 40 Hz around them
        half = 5
        padded = np.concatenate([np.repeat(power[:, :1], half, axis=1), power, np.repeat(power[:, -1:], half, axis=1)],
                                axis=1)
        around = np.sort(np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1, axis=1), axis=2)[:, :, half]
        power = np.minimum(power, 4.0 * around)
        total = power.sum(axis=1)  # (the blocks as they are, no window: a burst's centroid is taken with one)
        colour = (power @ np.arange(power.shape[1], dtype=np.float64)) / np.where(total > 0, total, 1.0)
        # the blocks' circular autocorrelation: up to half a block, the pairs that wrap
        # around are far apart (uncorrelated), so dividing by the pairs that do not gives
        # the autocorrelation without bias; beyond, noise in the band is taken as uncorrelated
        lags = self.block // 2
        r = np.fft.irfft(power, n=self.block, axis=1)[:, :lags] / (self.block - np.arange(lags))
        with np.errstate(invalid="ignore", divide="ignore"):
            rho = r / r[:, :1]
        rho2 = np.square(rho)
        n = self.block
        dof = n * n / (n + 2 * np.sum((n - np.arange(1, lags)) * rho2[:, 1:], axis=1))
        dof = np.where(np.isfinite(dof), np.minimum(dof, self.independent), self.independent)
        scale = np.square(self.bias / self._bias(dof))
        self._memo = (end, (self.thresholds(rho[:, :self.lags]) * scale[:, None], colour))
        return self._memo[1]

    def trim(self, sample: int) -> None:
        """Forget blocks before the one holding ``sample`` that no future floor needs."""
        k = min(sample // self.block, self.n_sigmas - self._keep_back, self.n_floors - 1)
        if k > self.k0:
            self.sigmas, self.floors = self.sigmas[:, k - self.k0:], self.floors[:, k - self.k0:]
            self.judge = self.judge[:, k - self.k0:] if self.local else self.floors
            self.limits, self.colour = self.limits[:, k - self.k0:], self.colour[:, k - self.k0:]
            self._even = [(j, p) for j, p in self._even if j + 2 * p.shape[1] > k]
            self.k0 = k
        r = self.n_floors - self.history - 1  # the earliest quantile a future floor needs
        if self.rise is not None and r > self.r0:
            self.quants, self.r0 = self.quants[:, r - self.r0:], r

    def close(self) -> None:
        """At the end of a stream shorter than one block, judge it by itself."""
        if self.n_sigmas == 0 and self._partial.shape[1]:
            sigma = sorted_quantile(np.abs(self._partial), 0.5, axis=1) / 0.6745
            self.floors = self.judge = np.maximum(sigma, self.min_sigma)[:, None]
            if self.lags:
                self.limits = self.thresholds(None)[:, None] * np.ones((sigma.size, 1, 1))
                self.colour = np.zeros((sigma.size, 1))

    def known_until(self) -> int:
        """Samples (from the start) whose floor is known."""
        return self.n_floors * self.block if self.floors.shape[1] else 0

    def at(self, idx: np.ndarray | int, ch: np.ndarray | int | None = None, colour: bool = False) -> np.ndarray:
        """Floor per channel at sample indices ``idx`` (channels x len(idx), or channels);
        with ``ch``, only channel ``ch[i]``'s at ``idx[i]`` (a number for numbers). With
        ``colour``, the noise's centroid there instead."""
        table = self.colour if colour else self.floors
        if isinstance(idx, int):  # (one burst's: Python's integers, not numpy's slow scalars)
            k = min(idx // self.block, self.n_floors - 1) - self.k0
            return table[:, k] if ch is None else table[ch, k]
        k = np.minimum(idx // self.block, self.n_floors - 1) - self.k0
        return table[:, k] if ch is None else table[ch, k]

    def runs(self, c0: int, c1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The floors that samples [c0, c1) are judged against, one per block (channels x
        blocks), the thresholds there (channels x blocks x thresholds), and how many of
        the samples fall in each block."""
        k = np.arange(c0 // self.block, (c1 - 1) // self.block + 1)
        counts = np.minimum((k + 1) * self.block, c1) - np.maximum(k * self.block, c0)
        k = np.minimum(k, self.n_floors - 1) - self.k0  # past the last floor known: the last one
        return self.judge[:, k], self.limits[:, k], counts

    def sigma_floor(self, ch: int, k0: int, k1: int) -> tuple[np.ndarray, np.ndarray]:
        """Channel ``ch``'s sigmas and floors of blocks [k0, k1) that have both."""
        k1 = min(k1, self.n_sigmas, self.n_floors)
        a, b = max(k0, self.k0) - self.k0, max(k1, k0) - self.k0
        return self.sigmas[ch, a:b], self.floors[ch, a:b]


def without_lines(x: np.ndarray, k: float) -> np.ndarray:
    """``x`` (one stretch, float64) with its spectral lines taken out: the FFT bins whose
    power is over ``k`` times the median of the ``_LINE_BINS`` around them are zeroed.
    When the hum's level swings (a wearer moves), the mains notches let its sidebands by,
    a few lines around each harmonic, and the detector finds them as a burst of seconds
    several times the noise; a twitch's power is spread over the band, and stands out of
    what is left. The same stretch gives the same answer however the stream came."""
    z = np.fft.rfft(x)
    power = z.real * z.real + z.imag * z.imag
    h = _LINE_BINS // 2
    padded = np.concatenate([np.full(h, power[0]), power, np.full(h, power[-1])])
    around = sorted_quantile(np.lib.stride_tricks.sliding_window_view(padded, _LINE_BINS), 0.5, axis=1)
    z[power > k * around] = 0.0
    return np.fft.irfft(z, x.size)


@dataclass
class _Run:
    start: int
    seeded: bool = False


@dataclass
class _Group:
    """Bursts on one channel waiting to be merged or emitted."""

    runs: list[tuple[int, int]]
    background: float  # the background before it, over the floor (``Detector._background``)
    sustained: bool  # it began inside sustained activity (a raised background)
    level: float | None = None  # the level before it, over the floor (``Detector._closing``; None: not taken yet)

    @property
    def start(self) -> int:
        return self.runs[0][0]

    @property
    def stop(self) -> int:
        return self.runs[-1][1]


def _ragged(buf: np.ndarray, rows: np.ndarray, a: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Segments buf[rows[i], a[i]:z[i]] (each at least one sample) laid end to end as
    float64; also the segment each value belongs to and where each segment starts."""
    size = z - a
    first = np.concatenate([[0], np.cumsum(size)[:-1]]).astype(np.intp)
    if _kernels is not None and buf.dtype == np.float32:  # one pass, without index arrays
        n = int(size.sum())
        out, which = np.empty(n), np.empty(n, dtype=np.intp)
        _kernels.ragged(buf, rows.astype(np.int64, copy=False), a.astype(np.int64, copy=False),
                        z.astype(np.int64, copy=False), out, which)
        return out, which, first
    which = np.repeat(np.arange(rows.size), size)
    if buf.flags.c_contiguous:  # (as the buffers are while bursts are finished) a flat take: 2 x faster
        flat = np.arange(which.size) - first[which] + (a + rows * buf.shape[1])[which]
        return buf.ravel().take(flat).astype(np.float64), which, first
    cols = np.arange(which.size) - first[which] + a[which]
    return buf[rows[which], cols].astype(np.float64), which, first


def _any_between(mask: np.ndarray, rows: np.ndarray, a: np.ndarray, z: np.ndarray,
                 on: np.ndarray | None = None) -> np.ndarray:
    """Per segment, whether mask[rows, a:z] holds a True (rows, a and z broadcast
    together): whether a True falls between the segment's ends, among the flat positions
    of the Trues (one pass over the mask, however many segments; none when the caller
    passes them, ``on``: np.flatnonzero(mask), for several calls on one mask)."""
    start = rows * mask.shape[1] + a
    if start.size == 0:  # no segments (most stream chunks): no pass over the mask
        return np.zeros(start.shape, dtype=bool)
    if on is None:
        on = np.flatnonzero(mask)
    return np.searchsorted(on, start + (z - a)) > np.searchsorted(on, start)


def _changes(which: np.ndarray, sign: np.ndarray, n: int) -> np.ndarray:
    """Per segment, how often ``sign`` flips from one value to the next within it."""
    if _kernels is not None:  # the passes below in one
        out = np.zeros(n)
        _kernels.sign_changes(which.astype(np.int64, copy=False), sign, out)
        return out
    flip = (which[1:] == which[:-1]) & (sign[1:] != sign[:-1])
    return np.bincount(which[1:][flip], minlength=n).astype(np.float64)


class Detector:
    """Finds bursts in band-passed chunks; state carried between chunks.

    ``process(chunk)`` takes the preprocessor's chunks (with ``low``) and returns the
    bursts completed so far; ``flush()`` returns the rest at the end of the stream.
    Burst positions are sample indices on the stream's clock (lost samples counted).
    """

    def __init__(self, fs: float, n_channels: int, params: DetectorParams | None = None):
        p = self.params = params or DetectorParams()
        self.fs, self.C = float(fs), int(n_channels)
        self.hf = max(1, int(round(p.fast_s * fs / 2)))
        self.hs = max(2, int(round(p.slow_s * fs / 2)))
        self.merge = max(1, int(round(p.merge_s * fs)))
        self.long = int(round(p.long_s * fs))
        self.long_merge = max(self.merge, int(round(p.long_merge_s * fs)))
        self.context = max(8, int(round(p.context_s * fs)))
        self.pad = max(1, int(round(p.pad_s * fs)))
        self.max_len = int(p.max_burst_s * fs)
        self.island_min = int(round(p.island_min_s * fs))
        wf, ws = 2 * self.hf + 1, 2 * self.hs + 1
        cutoff = p.board_cutoff_hz or board_cutoff(fs)
        lo, hi = emg_band(fs)
        self.band = (lo, min(hi, cutoff))  # what a burst can show: our band under the board's low-pass
        self.wf, self.ws = wf, ws
        self.p_seed = p.false_seeds_per_hour * wf / (3600.0 * fs)
        dof_f, dof_s = noise_dof(fs, wf, cutoff), noise_dof(fs, ws, cutoff)
        # what the band alone implies (white noise through the board's filter and ours)
        self.t_band = np.array([chi2_threshold(self.p_seed, dof_f) * wf, chi2_threshold(p.p_low, dof_f) * wf,
                                chi2_threshold(p.p_slow, dof_s) * ws])
        # a fast window's mean square that noise passes as rarely as one sample passes k_split sigma
        self.t_split = float(chi2_threshold(math.erfc(p.k_split / math.sqrt(2.0)), dof_f))
        block = max(8, int(round(p.block_s * fs)))
        history = max(1, int(p.history_s / p.block_s))
        local = (max(1, int(round(p.local_s / p.block_s))), p.local_q, p.local_margin, p.local_cap) if p.local_s else None
        self.floor = _NoiseFloor(self.C, block, history, p.quantile, p.min_sigma_uv,
                                 noise_dof(fs, block, cutoff), lags=ws, thresholds=self._thresholds, local=local,
                                 rise=p.history_rise)
        self.floor_low = _NoiseFloor(self.C, block, history, p.quantile, p.min_sigma_uv,  # of the low band
                                     noise_dof(fs, block, cutoff, band="low"), stride=max(1, int(fs // 100)))
        self._n = 0  # samples received (internal, contiguous clock)
        self._c0 = 0  # next centre to judge
        self._b0 = 0  # internal index of the first buffered sample
        self._x = np.zeros((self.C, 0), dtype=np.float32)
        self._low = np.zeros((self.C, 0), dtype=np.float32)
        self._strong = np.zeros((self.C, 0), dtype=bool)
        self._fast = np.zeros((self.C, 0), dtype=np.int64)  # fast envelope: the integer window sums
        self._runs: list[_Run | None] = [None] * self.C
        self._pending: list[_Group | None] = [None] * self.C
        self._onsets: list[list[int]] = [[] for _ in range(self.C)]  # of the latest bursts, for rhythm
        self._spans: list[list[tuple[int, int]]] = [[] for _ in range(self.C)]  # the latest bursts' extents
        self._last: list[tuple[int | None, float]] = [(None, 0.0)] * self.C  # (stop, peak) of the last burst
        # bursts awaiting their features: (channel, start, stop, the onsets of the bursts before
        # it on its channel (for rhythm), background)
        self._ready: list[tuple[int, int, int, list[int], float]] = []
        self._clock = [(0, 0)]  # (internal index, stream index) where the mapping changes
        self._started = False

    # -- input ---------------------------------------------------------------------
    def process(self, chunk: Chunk) -> list[Burst]:
        if not self._started:
            self._clock = [(0, chunk.start)]
            self._started = True
        elif chunk.start != self._to_stream(self._n):
            self._clock.append((self._n, chunk.start))
        low = chunk.low if chunk.low is not None else np.zeros_like(chunk.data)
        out: list[Burst] = []
        for i in range(0, chunk.n_samples, _MAX_STEP):
            out += self._step(chunk.data[:, i:i + _MAX_STEP], low[:, i:i + _MAX_STEP], final=False)
        return out

    def flush(self) -> list[Burst]:
        self.floor.close()
        self.floor_low.close()
        empty = np.zeros((self.C, 0), dtype=np.float32)
        return self._step(empty, empty, final=True)

    def horizon(self) -> np.ndarray:
        """Per channel, the stream index before which no burst is still to come: every
        burst found later starts at or after it."""
        out = np.empty(self.C, dtype=np.int64)
        for ch in range(self.C):
            h = self._c0
            for held in (self._pending[ch], self._runs[ch]):
                if held is not None:
                    h = min(h, held.start)
            out[ch] = self._to_stream(h)
        return out

    def level(self, seconds: float = 0.5) -> np.ndarray:
        """RMS of the band-passed signal over the last ``seconds`` received, per channel."""
        tail = self._x[:, -max(1, int(seconds * self.fs)):]
        return np.sqrt(np.mean(np.square(tail, dtype=np.float64), axis=1)) if tail.size else np.zeros(self.C)

    # -- the work ------------------------------------------------------------------
    def _step(self, x: np.ndarray, low: np.ndarray, final: bool) -> list[Burst]:
        x = np.asarray(x, dtype=np.float32)
        self._x = np.concatenate([self._x, x], axis=1)
        self._low = np.concatenate([self._low, np.asarray(low, dtype=np.float32)], axis=1)
        self._n += x.shape[1]
        self.floor.add(x)
        self.floor_low.add(np.asarray(low, dtype=np.float32))
        c1 = self._n if final else self._n - self.hs
        c1 = min(c1, max(self.floor.known_until(), self._n if final else 0))
        if c1 > self._c0:
            self._judge(self._c0, c1)
            self._c0 = c1
        if final:
            self._close_all()
        bursts = self._finish()
        self._trim()
        return sorted(bursts, key=lambda b: (b.start, b.channel)) if final else bursts

    def _running_sums(self, c0: int, c1: int) -> np.ndarray:
        """The running sum (with a lead zero) of the integer squares over [c0 - h, c1 + h],
        h the slow half-width (zeros outside the data): the window sums of centres [c0, c1)
        are differences of it."""
        h = self.hs  # the wider window; the fast one sits inside it
        a, b = c0 - h, c1 + h
        lo, hi = max(a, self._b0), min(b, self._n)
        cs = np.empty((self.C, b - a + 1), dtype=np.int64)  # zeros outside the data, one lead zero
        cs[:, : lo - a + 1] = 0
        if _kernels is not None:  # the passes below in one
            _kernels.square_cumsum(self._x[:, lo - self._b0: hi - self._b0], cs[:, lo - a + 1: hi - a + 1],
                                   _CLIP_UV * _CLIP_UV, _Q)
        else:
            seg = np.square(self._x[:, lo - self._b0: hi - self._b0], dtype=np.float64)  # (exact: float32 squared)
            if seg.size and seg.max() > _CLIP_UV * _CLIP_UV:  # (hardly ever: a pass less)
                np.minimum(seg, _CLIP_UV * _CLIP_UV, out=seg)
            seg *= _Q
            np.cumsum(np.rint(seg, out=seg).astype(np.int64), axis=1, out=cs[:, lo - a + 1: hi - a + 1])
        cs[:, hi - a + 1:] = cs[:, hi - a: hi - a + 1]
        return cs

    def _envelopes(self, cs: np.ndarray, thresholds: np.ndarray, counts: np.ndarray,
                   fast: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The fast window sums (into ``fast``) from the running sums ``cs``, and which
        centres pass the thresholds (channels x blocks x (seed, low, slow)) of their block
        (``counts`` centres each): strong (the fast envelope past its low threshold), seed
        (past the high one) and active (strong, or the slow envelope past its threshold)."""
        strong, seed, active = np.empty((3,) + fast.shape, dtype=bool)
        if _kernels is not None:  # the passes below in one
            _kernels.envelopes(cs, self.hs, self.hf, thresholds.reshape(self.C, -1), counts, fast, strong, seed,
                               active)
            return strong, seed, active
        n, h, d = fast.shape[1], self.hs, self.hs - self.hf
        slow = cs[:, 2 * h + 1: 2 * h + 1 + n] - cs[:, :n]
        np.subtract(cs[:, d + 2 * self.hf + 1: d + 2 * self.hf + 1 + n], cs[:, d: d + n], out=fast)
        t_high, t_low, t_slow = (np.repeat(t, counts, axis=1) for t in thresholds.transpose(2, 0, 1))
        np.greater(fast, t_low, out=strong)
        np.greater(fast, t_high, out=seed)
        np.logical_or(strong, slow > t_slow, out=active)
        return strong, seed, active

    def _judge(self, c0: int, c1: int) -> None:
        """Find the runs among centres [c0, c1) and pass the finished ones on."""
        sigma, limits, counts = self.floor.runs(c0, c1)  # per block of the floor, and how many centres each
        var_q = sigma * (sigma * _Q)
        # an integer window sum exceeds a threshold where it exceeds the threshold's floor
        # (compared as integers: several times faster; no sum comes near 2^62, the cap of a
        # threshold that is beyond reach, inf or NaN)
        thresholds = np.floor(np.fmin(var_q[:, :, None] * limits, 2.0 ** 62)).astype(np.int64)
        kept = self._fast.shape[1]  # the fast sums kept, then these (written in place: no concatenation)
        fast_all = np.empty((self.C, kept + c1 - c0), dtype=np.int64)
        fast_all[:, :kept] = self._fast
        strong, seed, active = self._envelopes(self._running_sums(c0, c1), thresholds, counts, fast_all[:, kept:])
        self._strong = np.concatenate([self._strong, strong], axis=1)
        self._fast = fast_all

        prev = np.array([r is not None for r in self._runs])
        padded = np.concatenate([prev[:, None], active, np.zeros((self.C, 1), bool)], axis=1)
        edges = padded[:, 1:] != padded[:, :-1]
        n = active.shape[1]
        # per channel in time order: +1 opens a run, -1 closes it (flatnonzero: several
        # times faster than a 2-d nonzero)
        rows, cols = np.divmod(np.flatnonzero(edges), n + 1)
        kinds = np.where(padded[rows, cols + 1], 1, -1)
        first = np.ones(rows.size, bool)
        first[1:] = rows[1:] != rows[:-1]
        carried = first & (kinds == -1)  # closes a run opened in an earlier stretch
        opens, closes = ~carried & (kinds == 1), ~carried & (kinds == -1)  # the rest pair up in order
        ch_new, start_new, stop_new = rows[opens], cols[opens], cols[closes]
        seeded = _any_between(seed, ch_new, start_new, stop_new)
        wanted = seeded | (stop_new == n)  # unseeded runs that ended are dropped without a look
        todo = sorted([(ch, pos, -1, False) for ch, pos in zip(rows[carried].tolist(), cols[carried].tolist())]
                      + list(zip(ch_new[wanted].tolist(), start_new[wanted].tolist(), stop_new[wanted].tolist(),
                                 seeded[wanted].tolist())))
        finished = []  # the seeded runs that ended, in order: their bursts' extents all at once
        for ch, pos, stop_pos, is_seeded in todo:
            if 0 <= stop_pos < n:  # a run that opened and ended in this stretch (most): no _Run
                finished.append((ch, c0 + pos, c0 + stop_pos))  # (only seeded ones ending are wanted)
                continue
            if stop_pos >= 0:  # a run that opened in this stretch
                run = _Run(c0 + pos, is_seeded)
                pos = stop_pos
            else:
                run = self._runs[ch]
                run.seeded |= bool(seed[ch, max(run.start, c0) - c0: pos].any())
            self._runs[ch] = run
            if pos == n:  # still active at the end of this stretch: keep it open
                continue
            self._runs[ch] = None
            if run.seeded:
                finished.append((ch, run.start, c0 + pos))
        if finished:
            chs, starts, stops = (np.array(v, dtype=np.int64) for v in zip(*finished))
            for ch, a, z in zip(chs.tolist(), *(v.tolist() for v in self._extents(chs, starts, stops))):
                self._offer(ch, a, z)
        for ch in range(self.C):
            run = self._runs[ch]
            if run is not None and run.start + self.max_len <= c1:  # a very long run: cut it here
                self._runs[ch] = None
                if run.seeded:
                    self._offer(ch, *self._extent(ch, run.start, c1))
            self._settle(ch, c1)

    def _thresholds(self, rho: np.ndarray | None) -> np.ndarray:
        """The window sums (in units of sigma^2) that noise exceeds with the seed's, the low
        and the slow envelope's false-alarm probabilities (channels x 3), for noise of
        autocorrelation ``rho`` (channels x lags; None: the band's alone).

        A window sum of correlated Gaussian noise is a weighted sum of chi-squares (the
        weights: the eigenvalues of the window's correlation matrix); its far tail comes
        from the approximation of Liu, Tang and Zhang (2009), which matches its first four
        cumulants (traces of powers of that matrix, no eigenvalues needed) to a noncentral
        chi-square. Never below the band's own thresholds."""
        if rho is None:
            return np.array([self.t_band])
        rho = np.where(np.isfinite(rho), rho, 0.0)
        rho[:, 0] = 1.0
        out = []
        for w, ps in ((self.wf, (self.p_seed, self.params.p_low)), (self.ws, (self.params.p_slow,))):
            R = rho[:, np.abs(np.subtract.outer(np.arange(w), np.arange(w)))]  # channels x w x w
            R2 = np.matmul(R, R)
            c1, c2 = float(w), np.trace(R2, axis1=1, axis2=2)
            c3, c4 = np.sum(R2 * R, axis=(1, 2)), np.sum(R2 * R2, axis=(1, 2))
            s1, s2 = c3 / c2 ** 1.5, c4 / c2 ** 2
            skewed = s1 * s1 > s2
            a = np.where(skewed, 1.0 / (s1 - np.sqrt(np.maximum(s1 * s1 - s2, 0.0))), 1.0 / s1)
            delta = np.where(skewed, s1 * a ** 3 - a * a, 0.0)
            dof = np.where(skewed, a * a - 2 * delta, 1.0 / (s1 * s1))
            for p in ps:
                q = filters.gammainccinv(dof / 2.0, p) * 2.0
                if np.any(delta > 0):  # (the noncentral quantile is slow, and needed only there)
                    q = np.where(delta > 0, filters.chndtrix(1.0 - p, dof, np.maximum(delta, 1e-300)), q)
                out.append(c1 + np.sqrt(c2) * (q - dof - delta) / a)
        t = np.stack(out, axis=1)
        return np.maximum(np.where(np.isfinite(t), t, 0.0), self.t_band)

    def _extent(self, ch: int, start: int, stop: int) -> tuple[int, int]:
        """The burst inside a run: where the fast envelope is strong and within
        ``rel_extent`` of the run's peak (this trims the filters' ringing)."""
        f = self._fast[ch, start - self._b0: stop - self._b0]
        keep = self._strong[ch, start - self._b0: stop - self._b0] & (f >= f.max() * self.params.rel_extent ** 2)
        idx = np.flatnonzero(keep)
        return start + int(idx[0]), start + int(idx[-1]) + 1

    def _extents(self, ch: np.ndarray, start: np.ndarray, stop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``_extent`` of many runs at once (channels, starts, stops): their samples laid
        end to end, a peak per run, the first and last sample kept in each."""
        if _kernels is not None:  # run by run in one pass each, without laying them end to end
            a, z = np.empty_like(start), np.empty_like(start)
            if _kernels.extents(self._fast, self._strong, ch, start - self._b0, stop - self._b0,
                                self.params.rel_extent ** 2, a, z):
                return a + self._b0, z + self._b0
        size = stop - start
        first = np.concatenate([[0], np.cumsum(size)[:-1]])
        which = np.repeat(np.arange(ch.size), size)
        # flat takes (the buffers are C-contiguous here, just extended): 2 x faster than [rows, cols]
        cols = np.arange(which.size) - first[which] + (start - self._b0)[which]
        f = self._fast.ravel().take(cols + (ch * self._fast.shape[1])[which])
        strong = self._strong.ravel().take(cols + (ch * self._strong.shape[1])[which])
        keep = strong & (f >= (np.maximum.reduceat(f, first) * self.params.rel_extent ** 2)[which])
        on = np.flatnonzero(keep)
        lo, hi = np.searchsorted(on, first), np.searchsorted(on, first + size)
        if np.any(hi == lo):  # a run with nothing kept: as _extent fails on it
            return tuple(np.array(v) for v in zip(*(self._extent(*r) for r in zip(ch.tolist(), start.tolist(),
                                                                                 stop.tolist()))))
        return start + on[lo] - first, start + on[hi - 1] - first + 1

    def _closing(self, ch: int, group: _Group) -> int | None:
        """Where a pending group closes: runs starting before it join the group.

        A short group closes ``merge_s`` after its end. Sustained activity (a long group,
        or one that began on a raised background) closes at the end of the first 0.25 s
        block, at least ``long_merge_s`` after its end, whose sigma is back near the
        minute's floor, and ``max_burst_s`` after its start at the latest. A long group
        that began on a quiet background closes where the sigma is back near the level
        before it (``lead_s``), if that stood higher: a spasm in noise a third over the
        floor (which lags noise that rose) otherwise held the twitches after it for up to
        seconds. (A group that a step up in the noise opens has the old level before it,
        and still waits for the floor to catch up.) Its runs may thin out long before it
        ends: a weak spasm stands little over the envelopes' raised floor (``local_s``),
        and a spasm of 33 s at twice the noise came out as one of 5 s and scattered
        potentials. (Raised noise that a movement ran into is
        cut off it by its loud islands.) None: not known yet."""
        if not (group.sustained or group.stop - group.start >= self.long):
            return group.stop + self.merge
        earliest = group.stop + self.long_merge
        latest = max(group.start + self.max_len, earliest)
        fl = self.floor
        k0 = max(-(-earliest // fl.block) - 1, 0)
        # (a quiet block from the one ending at or after ``latest`` on closes it there anyway)
        k1 = min(fl.n_sigmas, fl.n_floors, -(-latest // fl.block))
        if group.level is None:
            group.level = 1.0  # (a group that began on raised activity: the minute's floor alone)
            if not group.sustained:
                start, chs = np.array([group.start]), np.array([ch])
                lead = float(self._lead(chs, start)[0] / fl.at(start, chs)[0])
                group.level = min(max(lead, 1.0), self.params.local_cap)
        sigmas, floors = fl.sigma_floor(ch, k0, k1)
        quiet = np.flatnonzero(sigmas < self.params.k_quiet * group.level * floors)
        if quiet.size:
            return min(max((k0 + int(quiet[0]) + 1) * fl.block, earliest), latest)
        return latest if k1 * fl.block >= latest else None

    def _background(self, ch: int, start: int) -> float:
        """Robust sigma of the ``context_s`` before ``start``, over the noise floor, leaving
        out the bursts found there (and twice ``pad_s`` after each, their filters' tails):
        the twitches of a cluster, a few tenths of a second apart, are no raised background
        (at 200 Hz a large one fills a fifth of a half-second context). Unless bursts fill
        three quarters of it: that is busy."""
        a = max(start - self.context, self._b0)
        seg = self._x[ch, a - self._b0: start - self._b0]
        cuts = [(max(s0 - a, 0), min(max(s1 + 2 * self.pad - a, 0), seg.size)) for s0, s1 in self._spans[ch]]
        cuts = [(u, v) for u, v in cuts if v > u]
        if cuts:  # (most bursts have none of the latest ones in their context)
            out = np.zeros(seg.size, dtype=bool)
            for u, v in cuts:
                out[u: v] = True
            if np.count_nonzero(~out) >= seg.size // 4:
                seg = seg[~out]
        if seg.size < 8:
            return 1.0
        return float(sorted_quantile(np.abs(seg), 0.5, overwrite=True) / 0.6745 / self.floor.at(start, ch))

    def _offer(self, ch: int, start: int, stop: int) -> None:
        """A finished seeded run: merge it with the pending group or queue it."""
        pend = self._pending[ch]
        closing = self._closing(ch, pend) if pend is not None else None
        if pend is not None and (closing is None or start < closing):
            pend.runs.append((start, stop))
            return
        if pend is not None:
            self._emit(ch)
        background = self._background(ch, start)
        self._pending[ch] = _Group([(start, stop)], background, background >= self.params.k_context)

    def _settle(self, ch: int, c1: int) -> None:
        """Emit the pending group once nothing can merge with it any more."""
        pend = self._pending[ch]
        if pend is None:
            return
        run = self._runs[ch]
        horizon = run.start if run is not None else c1
        closing = self._closing(ch, pend)
        if closing is not None and horizon >= closing:
            self._emit(ch)

    def _islands(self, ch: int, group: _Group) -> list[tuple[int, int]]:
        """A long group of sustained activity as its loud islands (each with the runs that
        overlap it, whole) and the runs between them (each on its own): a spasm or a brief
        contraction that noise swelling for seconds ran into is a burst of its own.
        Loud: a block whose sigma over the floor reaches ``k_context`` and ``island_share``
        of the group's peak; islands closer than ``island_gap_s`` are one."""
        fl, p = self.floor, self.params
        k0 = group.start // fl.block
        sigmas, floors = fl.sigma_floor(ch, k0, -(-group.stop // fl.block))
        ratio = sigmas / np.maximum(floors, p.min_sigma_uv)
        if not ratio.size:
            return [(group.start, group.stop)]
        loud = np.flatnonzero(ratio >= max(p.k_context, p.island_share * float(ratio.max())))
        if not loud.size:
            return [(group.start, group.stop)]
        gap = max(1, int(round(p.island_gap_s * self.fs / fl.block)))
        cuts = np.flatnonzero(np.diff(loud) > gap)
        firsts, lasts = loud[np.r_[0, cuts + 1]], loud[np.r_[cuts, loud.size - 1]]
        islands = [((k0 + f) * fl.block, (k0 + z + 1) * fl.block) for f, z in zip(firsts.tolist(), lasts.tolist())]
        spans, taken = [], [[] for _ in islands]
        for a, b in group.runs:
            i = next((i for i, (u, v) in enumerate(islands) if a < v and b > u), None)
            if i is None:
                spans.append((a, b))
            else:
                taken[i].append((a, b))
        spans += [(min(a for a, _ in t), max(b for _, b in t)) for t in taken if t]
        out: list[tuple[int, int]] = []
        for a, b in sorted(spans):  # (a run over two islands makes them one)
            if out and a < out[-1][1]:
                out[-1] = (out[-1][0], max(out[-1][1], b))
            else:
                out.append((a, b))
        return out

    def _close_all(self) -> None:
        for ch in range(self.C):
            run = self._runs[ch]
            self._runs[ch] = None
            if run is not None and run.seeded:
                self._offer(ch, *self._extent(ch, run.start, self._c0))
            if self._pending[ch] is not None:
                self._emit(ch)

    def _emit(self, ch: int) -> None:
        """Queue the pending group's bursts (the whole group, or its runs when they are
        short and it is mostly quiet inside, and it is no sustained activity of
        ``island_min_s`` or more) for ``_finish``. (A group that a raised background opened,
        kept whole however short, held two twitches 0.2-0.6 s apart on a swell of noise as
        one burst, called artifact.)"""
        group = self._pending[ch]
        self._pending[ch] = None
        start, stop = group.start, group.stop
        lengths = [b - a for a, b in group.runs]
        whole = (group.sustained and stop - start >= self.island_min or max(lengths) >= self.long
                 or sum(lengths) >= self.params.min_duty * (stop - start))
        spans = group.runs if not whole else self._islands(ch, group) if stop - start >= self.island_min else [(start, stop)]
        for a, b in spans:
            background = group.background if a == start else self._background(ch, a)
            onsets = self._onsets[ch]
            self._ready.append((ch, a, b, onsets[-_RHYTHM_ONSETS:], background))
            onsets.append(a)
            del onsets[:-_RHYTHM_ONSETS]
            self._spans[ch] = self._spans[ch][-3:] + [(a, b)]

    def _spikes(self, ready: list[tuple]) -> list[tuple[int, tuple]]:
        """Bursts inside the long ones of ``ready``: runs of samples past ``k_split`` times
        the long burst's own robust sigma, or at the centre of a loud fast window
        (``_loud``), its spectral lines taken out (with 5 ms around each, joined when
        closer than ``merge_s``). A stretch of raised noise, a movement, or the sidebands
        of a swinging hum, can hold twitches far above it; as one burst they would go with
        it. (On our held-out recordings whose hum swings, the twitches found at 200 / 250
        / 1000 Hz went 62 / 60 / 121 -> 66 / 62 / 128, none false, with the lines taken out
        and bursts from 0.25 s searched; 64 / 61 / 125 from 1 s, as before; 62 / 60 / 124
        without the lines taken out.) Each comes with the index of its long burst in
        ``ready``, its background and, as earlier onsets, the earlier ones inside it."""
        out = []
        margin = max(1, int(round(0.005 * self.fs)))
        for i, (c, a, b, before, background) in enumerate(ready):
            if b - a <= self.params.split_s * self.fs:
                continue
            y = without_lines(self._x[c, a - self._b0: b - self._b0].astype(np.float64), self.params.line_k)
            mag = np.abs(y)
            sigma = sorted_quantile(mag, 0.5) / 0.6745
            hits = np.flatnonzero((mag > self.params.k_split * sigma) | self._loud(y, mag, sigma))
            if hits.size == 0:
                continue
            cuts = np.flatnonzero(np.diff(hits) > self.merge + 2 * margin) + 1
            firsts, lasts = hits[np.r_[0, cuts]], hits[np.r_[cuts, hits.size] - 1]
            onsets = list(before)
            for f, l in zip(np.maximum(firsts - margin, 0).tolist(), np.minimum(lasts + margin + 1, b - a).tolist()):
                if l - f >= b - a:  # the whole long burst: nothing inside it
                    continue
                out.append((i, (c, a + f, a + l, onsets[-_RHYTHM_ONSETS:], background)))
                onsets.append(a + f)
        return out

    def _loud(self, y: np.ndarray, mag: np.ndarray, sigma: float) -> np.ndarray:
        """The samples of ``y`` (a long burst, its lines out; ``mag`` = abs(y), ``sigma`` its
        robust sigma) at the centre of a fast window whose mean square passes ``t_split``
        times the level around it: the robust sigma of its 0.25 s block or either
        neighbour, whichever is highest, and never below ``sigma``. At 500-1000 Hz a
        twitch 14 x the noise whose peak stays under ``k_split`` sigma stands out so over
        its 12 ms; the local level keeps a swell of noise inside the burst from doing the
        same. (Independent generator, 20 seeds at 1000 Hz: twitches found 750 -> 759, false
        11 -> 11; our held-out 1000 Hz 280 / 1 false -> 281 / 0, 500 Hz one false more;
        against the burst's sigma alone, 1000 Hz 281 / 10 false: swells of electrode noise.)"""
        n, blk, w = y.size, self.floor.block, self.wf
        out = np.zeros(n, dtype=bool)
        if n < max(w, blk):
            return out
        rows = mag[: n - n % blk].reshape(-1, blk)
        if n % blk:  # the last part: the last whole block's worth
            rows = np.vstack([rows, mag[n - blk:]])
        level = np.maximum(sorted_quantile(rows, 0.5, axis=1) / 0.6745, sigma)
        level = np.maximum(level, np.maximum(np.r_[level[1:], level[-1]], np.r_[level[0], level[:-1]]))
        level = np.repeat(level, blk)[self.hf: self.hf + n - w + 1]
        sums = np.cumsum(np.r_[0.0, y * y])
        out[self.hf: self.hf + n - w + 1] = (sums[w:] - sums[:-w]) > w * self.t_split * level * level
        return out

    def _finish(self) -> list[Burst]:
        """The queued bursts with their features, in the order they were queued (each
        long one followed by the spikes inside it); bursts too small to call are dropped
        here."""
        ready, self._ready = self._ready, []
        if not ready:
            return []
        n_outer = len(ready)
        inner = self._spikes(ready)
        owner = [i for i, _ in inner]  # the long burst each spike is inside
        ready = ready + [burst for _, burst in inner]
        ch, a, b, before, background = zip(*ready)
        a = np.array(a, dtype=np.int64)
        feats = self._features(np.array(ch, dtype=np.intp), a, np.array(b, dtype=np.int64))
        feats["rhythm"] = self._rhythm(a, list(before))
        feats["background"] = np.array(background, dtype=np.float64)
        rows = [dict(zip(feats, values)) for values in zip(*(v.tolist() for v in feats.values()))]
        out, inner_last = [], {}
        for i, ((c, start, stop, _, _), f) in enumerate(zip(ready, rows)):
            if f["snr"] < self.params.min_snr:  # too small to call: noise that met the seed
                continue
            # what came just before on this channel: a small burst soon after a big one is
            # often the filters' ringing (the mains notch rings for ~0.3 s), not a new event
            # (a spike inside a long burst: the spike before it there)
            last_stop, last_peak = self._last[c] if i < n_outer else inner_last.get(owner[i - n_outer], (None, 0.0))
            f["prev_gap_s"] = min((start - last_stop) / self.fs, 10.0) if last_stop is not None else 10.0
            f["prev_ratio"] = last_peak / max(f["peak_uv"], 1e-9)
            if i < n_outer:
                self._last[c] = (stop, f["peak_uv"])
            else:
                inner_last[owner[i - n_outer]] = (stop, f["peak_uv"])
            f["inner"] = float(i >= n_outer)  # a spike inside a long burst (see classify.reported)
            out.append(Burst(c, self._to_stream(start), self._to_stream(start) + (stop - start), self.fs, f))
        return out

    def _rhythm(self, start: np.ndarray, before: list[list[int]]) -> np.ndarray:
        """1.0 for a burst (starting at ``start``, after the bursts at ``before`` on its
        channel) that keeps a steady beat of 0.33-1.5 s: a heartbeat leaking into the EMG,
        not a twitch; else 0.0. The beat may skip (a missed complex) and other bursts may
        fall between: it holds when, for a period P set by one earlier burst (its lag, or
        half of it), at least ``rhythm_beats`` of the earlier bursts fall within
        ``rhythm_tolerance`` x P of start - k P, for distinct k in 1..5. Poisson twitches
        almost never line up so. All bursts at once: bursts x periods x earlier bursts."""
        p, n = self.params, _RHYTHM_ONSETS
        lag = np.ones((start.size, n), dtype=np.int64)  # in samples; the missing earlier bursts
        known = np.zeros((start.size, n), dtype=bool)  # ... (at the front) are left out
        counts = np.array([len(earlier) for earlier in before], dtype=np.int64)
        if counts.any():  # every burst's earlier ones at the end of its row, all at once
            row = np.repeat(np.arange(start.size), counts)
            col = np.arange(row.size) - np.repeat(np.cumsum(counts) - counts, counts) + n - counts[row]
            lag[row, col] = start[row] - np.fromiter(itertools.chain.from_iterable(before), np.int64, row.size)
            known[row, col] = True
        # enough earlier bursts within 5 of the longest periods, and one within two?
        reach = 5 * 1.5 * (1 + p.rhythm_tolerance) * self.fs
        candidate = (((known & (lag <= reach)).sum(axis=1) >= p.rhythm_beats)
                     & known[:, -1] & (lag[:, -1] <= 3.0 * self.fs))
        lags = lag / self.fs  # seconds back to each earlier burst
        periods = (lags[:, :, None] / np.arange(1, 3)).reshape(start.size, -1)  # a lag may span skipped beats
        usable = np.repeat(known, 2, axis=1) & (periods >= 0.33) & (periods <= 1.5)
        with np.errstate(divide="ignore", invalid="ignore"):  # (periods left out may be 0)
            k = np.rint(lags[:, None, :] / periods[:, :, None])  # bursts x periods x earlier bursts
            off = np.abs(lags[:, None, :] - k * periods[:, :, None])
        on_beat = known[:, None, :] & (k >= 1) & (k <= 5) & (off <= p.rhythm_tolerance * periods[:, :, None])
        # distinct k per period: bit k set for each k on the beat, then the bits counted
        seen = np.bitwise_or.reduce(np.left_shift(1, np.where(on_beat, k, 0).astype(np.int8)), axis=2)
        beats = _BIT_COUNTS[seen >> 1]
        return np.where(candidate & (usable & (beats >= p.rhythm_beats)).any(axis=1), 1.0, 0.0)

    # -- features ------------------------------------------------------------------
    def _features(self, ch: np.ndarray, start: np.ndarray, stop: np.ndarray) -> dict[str, np.ndarray]:
        """Features of bursts [start, stop) on channels ``ch`` (internal indices), all at
        once: the bursts' samples are laid end to end and reduced per burst. (``rhythm``
        and ``background`` were found when the bursts were queued.)"""
        b0, fs, n_bursts = self._b0, self.fs, ch.size
        sigma = self.floor.at(start, ch)
        sigma_low = self.floor_low.at(start, ch)
        x, which, first = _ragged(self._x, ch, start - b0, stop - b0)
        n = (stop - start).astype(np.float64)
        ptp = np.maximum.reduceat(x, first) - np.minimum.reduceat(x, first)
        rms = np.sqrt(np.add.reduceat(x * x, first) / n)
        # the burst's body: its robust sigma (the median |x|), which the few large spikes a
        # long stretch of noise may hold leave alone (a partition per burst: linear in its
        # length, where sorting all bursts' samples together cost 0.1 s on the bench's hour)
        mag = np.abs(x)
        body = np.array([np.partition(mag[a:z], (z - a) // 2)[(z - a) // 2]
                         for a, z in zip(first.tolist(), (first + (stop - start)).tolist())]) / 0.6745
        # lobes that stand out of the noise: sign changes from one such sample to the next
        big = np.flatnonzero(mag > 2.0 * sigma[which])
        crossings = _changes(which[big], np.signbit(x[big]), n_bursts)
        # turns: sign changes of the nonzero first differences
        d = np.diff(x)
        inside = np.flatnonzero((which[1:] == which[:-1]) & (d != 0))
        turns = _changes(which[1:][inside], np.signbit(d[inside]), n_bursts)
        m = self.hf + 1  # a margin that is always received when a burst is emitted
        centroid, flatness = self._spectra(ch, np.maximum(start - m, b0) - b0, np.minimum(stop + m, self._n) - b0)
        lo_a, lo_z = np.maximum(start - self.pad, b0) - b0, np.minimum(stop + self.merge + self.hs, self._n) - b0
        low, _, low_first = _ragged(self._low, ch, lo_a, lo_z)
        low_ptp = np.maximum.reduceat(low, low_first) - np.minimum.reduceat(low, low_first)
        strong = np.flatnonzero(self._strong)  # (once for the three looks at it below)
        hit = _any_between(self._strong, np.arange(self.C)[:, None], start - b0, stop - b0, strong)  # channels x bursts
        # how many other channels are active at once, up to SPREAD_CAP (as a share of it):
        # a motor unit shows on its channel and a neighbour or two, however many channels
        # the board has; a movement or a tap reaches more
        others = hit.sum(axis=0) - hit[ch, np.arange(n_bursts)]
        spread = np.minimum(others, SPREAD_CAP) / SPREAD_CAP
        snr = ptp / sigma
        sync = self._sync(ch, start - b0, strong)
        return {
            "lead": self._lead(ch, start) / sigma,
            "duration_s": n / fs,
            "peak_uv": ptp,
            "rms_uv": rms,
            "body_uv": body,
            "sigma_uv": sigma,
            "snr": snr,
            "phases": crossings + 1.0,
            "turns_per_s": turns * fs / n,
            "centroid_hz": centroid,
            "flatness": flatness,
            # the centroid of the channel's quiet noise (0: not known): a swell of the
            # electrode's own noise has its colour, a muscle's potentials their own
            "noise_centroid_hz": self.floor.at(start, ch, colour=True) * (fs / self.floor.block),
            # how far the low band stands out of its noise, against how far the EMG band does
            "lf_ratio": (low_ptp / sigma_low) / np.maximum(snr, 1e-9),
            "spread": spread,
            "sync": sync,
        }

    def _sync(self, ch: np.ndarray, start: np.ndarray, strong: np.ndarray) -> np.ndarray:
        """How many other channels turn active within ``sync_s`` of each burst's start
        (buffer index) after ``sync_quiet_s`` of quiet, up to SPREAD_CAP (as a share of it).
        A cable tap or a knock reaches several channels at the same instant; a motor unit
        shows on its channel and a neighbour or two, and ongoing activity elsewhere did not
        just start. The buffer holds ``context`` (0.5 s) before a burst, so both spans are
        always inside it. ``strong``: np.flatnonzero of the strong mask."""
        p, rows = self.params, np.arange(self.C)[:, None]
        tol = max(1, int(round(p.sync_s * self.fs)))
        quiet = max(1, int(round(p.sync_quiet_s * self.fs)))
        turned = (_any_between(self._strong, rows, start - tol, start + tol + 1, strong)
                  & ~_any_between(self._strong, rows, start - tol - quiet, start - tol, strong))
        others = turned.sum(axis=0) - turned[ch, np.arange(ch.size)]
        return np.minimum(others, SPREAD_CAP) / SPREAD_CAP

    def _lead(self, ch: np.ndarray, start: np.ndarray) -> np.ndarray:
        """The median sigma of the 0.25 s blocks in the ``lead_s`` that end ``lead_skip_s``
        before each burst's block (the ones kept; none: the floor there). Electrode noise
        that swells over seconds is already up there while the floor, a low quantile of
        the last minute, lags it; a spasm rises out of steady noise."""
        fl, p = self.floor, self.params
        skip = max(int(round(p.lead_skip_s / p.block_s)), 1)
        k = start[:, None] // fl.block - skip - np.arange(max(int(round(p.lead_s / p.block_s)), 1))
        have = (k >= fl.k0) & (k < min(fl.n_sigmas, fl.n_floors))
        n = have.sum(axis=1)
        if not n.any():
            return fl.at(start, ch)
        at = np.clip(k - fl.k0, 0, fl.sigmas.shape[1] - 1)
        sig = np.sort(np.where(have, fl.sigmas[ch[:, None], at], np.inf), axis=1)  # the ones kept first
        rows = np.arange(ch.size)
        mid = 0.5 * (sig[rows, np.maximum(n - 1, 0) // 2].astype(np.float64) + sig[rows, n // 2])
        return np.where(n > 0, mid, fl.at(start, ch))

    def _spectra(self, ch: np.ndarray, a: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Spectral centroid (Hz) and flatness of each segment [a, z) of the buffer:
        demeaned, Hann window, zero-padded to a power of two of at least 64, one FFT per
        size. The flatness (geometric over arithmetic mean power, in ``band``) is about
        0.1-0.6 for noise or a muscle's potentials, whose power spreads over the band,
        and under 0.05 when it sits in a few lines: the hum that a notch lets by where
        its level swings faster than the notch is narrow (its sidebands), or a slow wave."""
        x, which, first = _ragged(self._x, ch, a, z)
        size = (z - a).astype(np.int64)
        x -= np.repeat(np.add.reduceat(x, first) / size, size)
        # the Hann window, in place: 0.5 - 0.5 cos(2 pi pos / span), pos the place in the segment
        if _kernels is not None:  # (the angles, and below the frames, each in one pass: no pos)
            pos, window = None, np.empty(x.size)
            _kernels.hann_angles(size, 2.0 * np.pi, window)
        else:
            pos = np.arange(x.size) - np.repeat(first, size)
            window = pos.astype(np.float64)
            window *= 2.0 * np.pi
            window /= np.repeat(np.maximum(size - 1, 1), size)
        np.cos(window, out=window)
        window *= 0.5
        np.subtract(0.5, window, out=window)
        if np.any(size == 1):  # a one-sample segment is left as it is
            window[first[size == 1]] = 1.0
        n_fft = np.maximum(64, 1 << np.ceil(np.log2(np.maximum(size, 1))).astype(np.int64))
        # the frames of all sizes back to back in one buffer, each segment on its row of its
        # size's frame (rows in segment order): one scatter of the samples fills them all
        sizes = sorted(set(n_fft.tolist()))  # (np.unique would import numpy.ma: start-up)
        rows = np.array([np.count_nonzero(n_fft == nf) for nf in sizes], dtype=np.int64)
        offset = np.concatenate([[0], np.cumsum(rows * sizes)])
        group = np.searchsorted(sizes, n_fft)
        row = np.empty(ch.size, dtype=np.int64)
        for g, nf in enumerate(sizes):
            row[n_fft == nf] = np.arange(rows[g])
        frames = np.zeros(int(offset[-1]))
        if pos is None:
            _kernels.into_frames(x, window, size, offset[group] + row * n_fft, frames)
        else:
            x *= window
            frames[np.repeat(offset[group] + row * n_fft, size) + pos] = x
        out, flat = np.zeros(ch.size), np.ones(ch.size)
        lo, hi = self.band
        for g, nf in enumerate(sizes):
            sel = n_fft == nf
            frame = frames[offset[g]: offset[g + 1]].reshape(rows[g], nf)
            spec = np.abs(np.fft.rfft(frame, axis=1)) ** 2
            total = spec.sum(axis=1)
            freqs = np.fft.rfftfreq(nf, 1.0 / self.fs)
            cent = (spec * freqs).sum(axis=1)  # row by row, as one burst alone
            out[sel] = np.where(total > 0, cent / np.where(total > 0, total, 1.0), 0.0)
            i0, i1 = np.searchsorted(freqs, lo), np.searchsorted(freqs, hi, side="right")
            if i1 > i0:  # (a C-ordered copy: each row summed as it would be alone)
                inband = spec[:, i0:i1] + 1e-30
                flat[sel] = np.exp(np.log(inband).mean(axis=1)) / inband.mean(axis=1)
        return out, flat

    # -- bookkeeping ---------------------------------------------------------------
    def _to_stream(self, i: int) -> int:
        base_i, base_s = self._clock[0]
        for ci, cs in self._clock:
            if ci <= i:
                base_i, base_s = ci, cs
        return base_s + (i - base_i)

    def _trim(self) -> None:
        """Drop buffered samples that no future burst or feature can need."""
        keep = self._c0 - max(self.hs + 2 * self.pad, self.context + self.merge)
        for ch in range(self.C):
            if self._runs[ch] is not None:
                keep = min(keep, self._runs[ch].start - max(self.pad, self.context) - 8)
            if self._pending[ch] is not None:
                keep = min(keep, self._pending[ch].start - max(self.pad, self.context) - 8)
        keep = max(keep, self._b0)
        cut = keep - self._b0
        if cut > 0:
            self._x = self._x[:, cut:]
            self._low = self._low[:, cut:]
            self._strong = self._strong[:, cut:]
            self._fast = self._fast[:, cut:]
            self._b0 = keep
        self.floor.trim(keep)
        self.floor_low.trim(keep)
