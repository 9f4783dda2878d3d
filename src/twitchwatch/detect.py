"""The burst detector: runs of activity above an adaptive noise floor, on all channels at once.

How a burst is found, per channel, on the band-passed signal x:
- noise floor: every 0.25 s block gives a robust sigma, median(|x|) / 0.6745; the floor
  for a block is a low quantile of the sigmas of the blocks of the last minute before it,
  so that it follows the electrode's noise but not a twitch, nor most of a long spasm,
  divided by where that quantile falls for steady noise (the median's own scatter over
  a block's worth of independent samples), so that the floor is unbiased;
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
  (``min_duty``) is given back as its separate bursts;
- features per burst for the classifier (see ``_features``), including the background
  before it and whether it keeps a heartbeat's steady rhythm.

Window sums are computed in integer arithmetic (squares in fixed point) and every
decision depends on sample positions only, so the result is the same whatever the
chunking. The detector looks ahead by half the slow window; a short burst is emitted
``merge_s`` after it ends.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal, special

from .dsp import board_cutoff, design_filters
from .types import Burst, Chunk

_Q = 1024.0  # fixed-point scale of squared microvolts
_CLIP_UV = 1.0e5  # |x| above this is clipped for the envelopes (100 mV: nothing real)
_MAX_STEP = 1 << 15  # samples handled per inner step: bounds memory and integer sums
_FLOOR_EVERY = 4  # a full-history floor is refreshed every this many blocks (1 s)


@dataclass
class DetectorParams:
    """Thresholds are multiples of the noise sigma; times are seconds."""

    fast_s: float = 0.012
    slow_s: float = 0.06
    false_seeds_per_hour: float = 1.0  # per channel, in pure noise
    p_low: float = 0.01  # share of noise samples above the fast envelope's low threshold
    p_slow: float = 1e-3  # ... above the slow envelope's threshold
    board_cutoff_hz: float | None = None  # None: the usual one for the sampling rate
    merge_s: float = 0.02
    long_s: float = 0.15
    long_merge_s: float = 0.3
    min_duty: float = 0.3
    context_s: float = 0.5  # the background before a burst: robust sigma over this long
    k_context: float = 1.5  # ... raised by this factor over the floor: sustained activity
    k_quiet: float = 1.25  # sustained activity has ended when a block's sigma is below this
    max_quiet_s: float = 3.0  # ... or when no burst came for this long
    rhythm_beats: int = 3  # a heartbeat: this many earlier bursts on one steady beat ...
    rhythm_tolerance: float = 0.12  # ... each within this share of the period
    min_snr: float = 6.0  # a burst's peak-to-peak must reach this many noise sigmas
    rel_extent: float = 0.15  # a burst's edges: where the fast envelope falls below this share of its peak
    block_s: float = 0.25
    history_s: float = 60.0
    quantile: float = 0.1
    min_sigma_uv: float = 0.01
    max_burst_s: float = 120.0
    pad_s: float = 0.05


def noise_dof(fs: float, w: int, cutoff: float, band: str = "emg") -> float:
    """Effective chi-square degrees of freedom of a w-sample sum of squares of noise that
    passed the board's low-pass (``cutoff``) and our EMG band (or our low band):
    w^2 / sum over lags (w-|k|) rho_k^2. It is also the number of independent samples
    that w samples of such noise are worth."""
    emg, low = design_filters(fs, None)
    impulse = np.zeros(int(2 * fs))
    impulse[0] = 1.0
    h = signal.sosfilt(emg if band == "emg" else low, impulse)
    if cutoff < 0.49 * fs:
        h = signal.sosfilt(signal.butter(4, cutoff, fs=fs, output="sos"), h)
    r = np.correlate(h, h, mode="full")[len(h) - 1: len(h) - 1 + w]
    rho = r / r[0]
    lags = np.arange(w)
    return float(w * w / (w + 2 * np.sum((w - lags[1:]) * rho[1:] ** 2)))


def chi2_threshold(p: float, dof: float) -> float:
    """Mean square (in units of sigma^2) exceeded with probability p by noise of ``dof``."""
    return float(special.gammainccinv(dof / 2.0, p) * 2.0 / dof)


class _NoiseFloor:
    """Per-channel robust sigma per block and the floor each block is judged against."""

    def __init__(self, n_channels: int, block: int, history: int, quantile: float, min_sigma: float,
                 independent: float):
        self.block, self.history, self.q, self.min_sigma = block, history, quantile, min_sigma
        # the MAD sigma of n independent Gaussian samples scatters by about 1.166 sigma / sqrt(n);
        # a block of band-limited noise is worth ``independent`` such samples
        self.bias = 1.0 + special.ndtri(quantile) * 1.166 / np.sqrt(independent)
        self._partial = np.zeros((n_channels, 0), dtype=np.float32)
        self.sigmas = np.zeros((n_channels, 0))  # sigma of each complete block
        self.floors = np.zeros((n_channels, 0))  # floor for block k (from blocks < k)
        self.first_sigma: np.ndarray | None = None

    def add(self, x: np.ndarray) -> None:
        buf = np.concatenate([self._partial, x], axis=1) if self._partial.size else x
        nb = buf.shape[1] // self.block
        if nb:
            blocks = np.abs(buf[:, : nb * self.block]).reshape(buf.shape[0], nb, self.block)
            self.sigmas = np.concatenate([self.sigmas, np.median(blocks, axis=2) / 0.6745], axis=1)
        self._partial = buf[:, nb * self.block:].copy()
        self._extend_floors()

    def _extend_floors(self) -> None:
        done, have = self.floors.shape[1], self.sigmas.shape[1]
        if have == 0 or done > have:
            return
        new = []
        # floor k needs blocks < k (block 0 judges itself); a short history while it fills
        for k in range(done, min(have, self.history) + 1):
            past = self.sigmas[:, max(0, k - self.history): k] if k else self.sigmas[:, :1]
            new.append(np.quantile(past, self.q, axis=1))
        lo = max(done, self.history + 1)
        if have >= lo:  # full histories: all at once, refreshed every FLOOR_EVERY blocks
            ks = np.arange(lo, have + 1)
            ends = np.maximum(ks - ks % _FLOOR_EVERY, self.history)  # history ends at this block
            uniq, where = np.unique(ends, return_inverse=True)
            idx = uniq[:, None] + np.arange(-self.history, 0)[None, :]
            floors = np.quantile(self.sigmas[:, idx], self.q, axis=2)  # channels x len(uniq)
            new.extend(floors[:, where].T)
        floors = np.maximum(np.stack(new, axis=1) / self.bias, self.min_sigma)
        self.floors = np.concatenate([self.floors, floors], axis=1)

    def close(self) -> None:
        """At the end of a stream shorter than one block, judge it by itself."""
        if self.sigmas.shape[1] == 0 and self._partial.shape[1]:
            sigma = np.median(np.abs(self._partial), axis=1) / 0.6745
            self.floors = np.maximum(sigma, self.min_sigma)[:, None]

    def known_until(self) -> int:
        """Samples (from the start) whose floor is known."""
        return self.floors.shape[1] * self.block if self.floors.shape[1] else 0

    def at(self, idx: np.ndarray) -> np.ndarray:
        """Floor per channel at sample indices ``idx`` (channels x len(idx))."""
        return self.floors[:, np.minimum(idx // self.block, self.floors.shape[1] - 1)]


@dataclass
class _Run:
    start: int
    seeded: bool = False


@dataclass
class _Group:
    """Bursts on one channel waiting to be merged or emitted."""

    runs: list[tuple[int, int]]
    sustained: bool  # it began inside sustained activity (a raised background)

    @property
    def start(self) -> int:
        return self.runs[0][0]

    @property
    def stop(self) -> int:
        return self.runs[-1][1]


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
        self.max_quiet = max(self.long_merge, int(round(p.max_quiet_s * fs)))
        self.pad = max(1, int(round(p.pad_s * fs)))
        self.max_len = int(p.max_burst_s * fs)
        wf, ws = 2 * self.hf + 1, 2 * self.hs + 1
        cutoff = p.board_cutoff_hz or board_cutoff(fs)
        dof_f, dof_s = noise_dof(fs, wf, cutoff), noise_dof(fs, ws, cutoff)
        p_seed = p.false_seeds_per_hour * wf / (3600.0 * fs)
        # sums of squares over each window, in units of sigma^2
        self.t_high = chi2_threshold(p_seed, dof_f) * wf
        self.t_low = chi2_threshold(p.p_low, dof_f) * wf
        self.t_slow = chi2_threshold(p.p_slow, dof_s) * ws
        block = max(8, int(round(p.block_s * fs)))
        history = max(1, int(p.history_s / p.block_s))
        self.floor = _NoiseFloor(self.C, block, history, p.quantile, p.min_sigma_uv,
                                 noise_dof(fs, block, cutoff))
        self.floor_low = _NoiseFloor(self.C, block, history, p.quantile, p.min_sigma_uv,  # of the low band
                                     noise_dof(fs, block, cutoff, band="low"))
        self._n = 0  # samples received (internal, contiguous clock)
        self._c0 = 0  # next centre to judge
        self._b0 = 0  # internal index of the first buffered sample
        self._x = np.zeros((self.C, 0), dtype=np.float32)
        self._low = np.zeros((self.C, 0), dtype=np.float32)
        self._strong = np.zeros((self.C, 0), dtype=bool)
        self._fast = np.zeros((self.C, 0), dtype=np.float32)  # fast envelope, mean square
        self._runs: list[_Run | None] = [None] * self.C
        self._pending: list[_Group | None] = [None] * self.C
        self._onsets: list[list[int]] = [[] for _ in range(self.C)]  # of the latest bursts, for rhythm
        self._last: list[tuple[int | None, float]] = [(None, 0.0)] * self.C  # (stop, peak) of the last burst
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
        bursts: list[Burst] = []
        if c1 > self._c0:
            bursts = self._judge(self._c0, c1)
            self._c0 = c1
        if final:
            bursts += self._close_all()
        self._trim()
        return bursts

    def _window_sums(self, c0: int, c1: int, h: int) -> np.ndarray:
        """Integer sums of squares over [j-h, j+h] for centres j in [c0, c1)."""
        a, b = c0 - h, c1 + h
        lo, hi = max(a, self._b0), min(b, self._n)
        seg = np.clip(self._x[:, lo - self._b0: hi - self._b0], -_CLIP_UV, _CLIP_UV).astype(np.float64)
        sq = np.rint(seg * seg * _Q).astype(np.int64)
        sq = np.pad(sq, ((0, 0), (lo - a + 1, b - hi)))  # zeros outside the data, one lead zero
        cs = np.cumsum(sq, axis=1)
        return cs[:, 2 * h + 1:] - cs[:, : -(2 * h + 1)]

    def _judge(self, c0: int, c1: int) -> list[Burst]:
        sigma = self.floor.at(np.arange(c0, c1))
        var_q = sigma * sigma * _Q
        fast = self._window_sums(c0, c1, self.hf)
        slow = self._window_sums(c0, c1, self.hs)
        wf = 2 * self.hf + 1
        strong = fast > var_q * self.t_low
        seed = fast > var_q * self.t_high
        active = strong | (slow > var_q * self.t_slow)
        self._strong = np.concatenate([self._strong, strong], axis=1)
        self._fast = np.concatenate([self._fast, (fast / (_Q * wf)).astype(np.float32)], axis=1)

        prev = np.array([r is not None for r in self._runs])
        edges = np.diff(np.concatenate([prev[:, None], active, np.zeros((self.C, 1), bool)], axis=1).astype(np.int8), axis=1)
        seed_cs = np.concatenate([np.zeros((self.C, 1), np.int64), np.cumsum(seed, axis=1)], axis=1)
        bursts: list[Burst] = []
        rows, cols = np.nonzero(edges)
        # edges come per channel in time order: +1 opens a run, -1 closes it
        for ch, pos, kind in zip(rows.tolist(), cols.tolist(), edges[rows, cols].tolist()):
            if kind == 1:
                self._runs[ch] = _Run(c0 + pos)
                continue
            run = self._runs[ch]
            a, stop = max(run.start, c0), c0 + pos
            run.seeded |= bool(seed_cs[ch, stop - c0] > seed_cs[ch, a - c0])
            if pos == active.shape[1]:  # still active at the end of this stretch: keep it open
                continue
            self._runs[ch] = None
            if run.seeded:
                bursts += self._offer(ch, *self._extent(ch, run.start, stop))
        for ch in range(self.C):
            run = self._runs[ch]
            if run is not None and run.start + self.max_len <= c1:  # a very long run: cut it here
                self._runs[ch] = None
                if run.seeded:
                    bursts += self._offer(ch, *self._extent(ch, run.start, c1))
            bursts += self._settle(ch, c1)
        return bursts

    def _extent(self, ch: int, start: int, stop: int) -> tuple[int, int]:
        """The burst inside a run: where the fast envelope is strong and within
        ``rel_extent`` of the run's peak (this trims the filters' ringing)."""
        f = self._fast[ch, start - self._b0: stop - self._b0]
        keep = self._strong[ch, start - self._b0: stop - self._b0] & (f >= f.max() * self.params.rel_extent ** 2)
        idx = np.flatnonzero(keep)
        return start + int(idx[0]), start + int(idx[-1]) + 1

    def _closing(self, ch: int, group: _Group) -> int | None:
        """Where a pending group closes: runs starting before it join the group.

        A short group closes ``merge_s`` after its end. Sustained activity (a long group,
        or one that began on a raised background) closes at the end of the first 0.25 s
        block, at least ``long_merge_s`` after its end, whose sigma is back near the floor
        (and at the latest ``max_quiet_s`` after its end). None: not known yet."""
        if not (group.sustained or group.stop - group.start >= self.long):
            return group.stop + self.merge
        earliest, latest = group.stop + self.long_merge, group.stop + self.max_quiet
        fl = self.floor
        k0 = max(-(-earliest // fl.block) - 1, 0)
        k1 = min(fl.sigmas.shape[1], fl.floors.shape[1])
        quiet = np.flatnonzero(fl.sigmas[ch, k0:k1] < self.params.k_quiet * fl.floors[ch, k0:k1])
        if quiet.size:
            return min(max((k0 + int(quiet[0]) + 1) * fl.block, earliest), latest)
        return latest if k1 * fl.block >= latest else None

    def _background(self, ch: int, start: int) -> float:
        """Robust sigma of the ``context_s`` before ``start``, over the noise floor."""
        a = max(start - self.context, self._b0)
        seg = self._x[ch, a - self._b0: start - self._b0]
        if seg.size < 8:
            return 1.0
        floor = float(self.floor.at(np.array([start]))[ch, 0])
        return float(np.median(np.abs(seg)) / 0.6745 / floor)

    def _offer(self, ch: int, start: int, stop: int) -> list[Burst]:
        """A finished seeded run: merge it with the pending group or queue it."""
        pend = self._pending[ch]
        closing = self._closing(ch, pend) if pend is not None else None
        if pend is not None and (closing is None or start < closing):
            pend.runs.append((start, stop))
            return []
        out = self._emit(ch) if pend is not None else []
        self._pending[ch] = _Group([(start, stop)], self._background(ch, start) >= self.params.k_context)
        return out

    def _settle(self, ch: int, c1: int) -> list[Burst]:
        """Emit the pending group once nothing can merge with it any more."""
        pend = self._pending[ch]
        if pend is None:
            return []
        run = self._runs[ch]
        horizon = run.start if run is not None else c1
        closing = self._closing(ch, pend)
        if closing is not None and horizon >= closing:
            return self._emit(ch)
        return []

    def _close_all(self) -> list[Burst]:
        out: list[Burst] = []
        for ch in range(self.C):
            run = self._runs[ch]
            self._runs[ch] = None
            if run is not None and run.seeded:
                out += self._offer(ch, *self._extent(ch, run.start, self._c0))
            if self._pending[ch] is not None:
                out += self._emit(ch)
        return sorted(out, key=lambda b: (b.start, b.channel))

    def _emit(self, ch: int) -> list[Burst]:
        group = self._pending[ch]
        self._pending[ch] = None
        start, stop = group.start, group.stop
        lengths = [b - a for a, b in group.runs]
        whole = group.sustained or max(lengths) >= self.long or sum(lengths) >= self.params.min_duty * (stop - start)
        parts = [(start, stop)] if whole else group.runs
        out = []
        for a, b in parts:
            feats = self._features(ch, a, b)
            feats["rhythm"] = self._rhythm(ch, a)
            if feats["snr"] < self.params.min_snr:  # too small to call: noise that met the seed
                continue
            # what came just before on this channel: a small burst soon after a big one is
            # often the filters' ringing (the mains notch rings for ~0.3 s), not a new event
            last_stop, last_peak = self._last[ch]
            feats["prev_gap_s"] = min((a - last_stop) / self.fs, 10.0) if last_stop is not None else 10.0
            feats["prev_ratio"] = last_peak / max(feats["peak_uv"], 1e-9)
            self._last[ch] = (b, feats["peak_uv"])
            out.append(Burst(ch, self._to_stream(a), self._to_stream(a) + (b - a), self.fs, feats))
        return out

    def _rhythm(self, ch: int, start: int) -> float:
        """1.0 when this burst keeps a steady beat of 0.33-1.5 s on its channel: a heartbeat
        leaking into the EMG, not a twitch. The beat may skip (a missed complex) and other
        bursts may fall between: it holds when, for a period P set by one earlier burst (its
        lag, or half of it), at
        least ``rhythm_beats`` of the earlier bursts fall within ``rhythm_tolerance`` x P
        of start - k P (k = 1..5). Poisson twitches almost never line up so."""
        onsets = self._onsets[ch]
        before = np.array(onsets[-12:], dtype=np.int64)
        onsets.append(start)
        del onsets[:-13]
        p = self.params
        if before.size < p.rhythm_beats:
            return 0.0
        lags = (start - before) / self.fs  # seconds back to each earlier burst
        periods = (lags[:, None] / np.arange(1, 3)[None, :]).ravel()  # a lag may span skipped beats
        for period in periods[(periods >= 0.33) & (periods <= 1.5)]:
            k = np.rint(lags / period)
            on_beat = (k >= 1) & (k <= 5) & (np.abs(lags - k * period) <= p.rhythm_tolerance * period)
            if np.unique(k[on_beat]).size >= p.rhythm_beats:
                return 1.0
        return 0.0

    # -- features ------------------------------------------------------------------
    def _features(self, ch: int, start: int, stop: int) -> dict[str, float]:
        b0, fs = self._b0, self.fs
        x = self._x[ch, start - b0: stop - b0].astype(np.float64)
        a, z = max(start - self.pad, b0), min(stop + self.merge + self.hs, self._n)
        low = self._low[ch, a - b0: z - b0].astype(np.float64)
        sigma = float(self.floor.at(np.array([start]))[ch, 0])
        sigma_low = float(self.floor_low.at(np.array([start]))[ch, 0])
        n = x.size
        ptp = float(np.ptp(x)) if n else 0.0
        rms = float(np.sqrt(np.mean(x * x))) if n else 0.0
        big = x[np.abs(x) > 2.0 * sigma]  # lobes that stand out of the noise
        crossings = int(np.count_nonzero(np.diff(np.signbit(big)))) if big.size > 1 else 0
        d = np.diff(x)
        turns = int(np.count_nonzero(np.diff(np.signbit(d[d != 0])))) if n > 2 else 0
        m = self.hf + 1  # a margin that is always received when a burst is emitted
        seg = self._x[ch, max(start - m, b0) - b0: min(stop + m, self._n) - b0].astype(np.float64)
        spec = np.abs(np.fft.rfft((seg - seg.mean()) * np.hanning(seg.size), n=max(64, seg.size))) ** 2
        freqs = np.fft.rfftfreq(max(64, seg.size), 1.0 / fs)
        centroid = float((spec * freqs).sum() / spec.sum()) if spec.sum() > 0 else 0.0
        s_lo, s_hi = start - self._b0, stop - self._b0
        others = np.delete(self._strong[:, s_lo:s_hi], ch, axis=0)
        spread = float(others.any(axis=1).mean()) if others.size else 0.0
        return {
            "duration_s": n / fs,
            "peak_uv": ptp,
            "rms_uv": rms,
            "sigma_uv": sigma,
            "snr": ptp / sigma,
            "phases": float(crossings + 1),
            "turns_per_s": turns * fs / max(n, 1),
            "centroid_hz": centroid,
            # how far the low band stands out of its noise, against how far the EMG band does
            "lf_ratio": (float(np.ptp(low)) / sigma_low) / max(ptp / sigma, 1e-9) if low.size else 0.0,
            "spread": spread,
            "background": self._background(ch, start),
        }

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
