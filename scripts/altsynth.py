"""An independent synthetic surface-EMG generator with ground truth, for evaluation only.

Written apart from twitchwatch.synth (whose internals it does not share) so that the
pipeline can be measured on a signal family it was not built or trained on. Never train
on it. Its modelling choices:
- board front end per recording: events and noise drawn at about 9 kHz, then an
  anti-alias low-pass (2nd/3rd order Bessel or Chebyshev-I at 0.3-0.45 fs, or a sinc^3
  sigma-delta decimation filter) and decimation to the board's rate;
- noise: white, pink (1/f above a 5-15 Hz corner) and electrode noise (1-150 Hz,
  slowly varying level), 0.8-12 uV rms after the board filter, per channel; baseline
  wander (a 0.05-1 Hz random walk) and a DC offset; mains hum at 50/60 Hz with 2-4
  harmonics, slowly modulated (computed through the board's response), on most recordings;
- twitches: a few fasciculating motor units per recording, each a fixed motor-unit action
  potential (Hermite-Rodriguez mixture or a bipolar view of a tripole moving along fibres),
  Poisson or in clusters, sometimes seen on a neighbour channel, sometimes doublets;
- spasms: 10-60 motor units firing jittered trains at 8-30 Hz, recruited over 0.2-1.5 s and
  derecruited at the end, on 1-3 adjacent channels, peak 8-40 x the noise rms;
- artifacts: motion swings, electrode pops, ECG complexes, brief voluntary contractions and
  cable taps.
The truth follows the events-JSON schema plus ``noise_rms_uv``; ``peak_uv`` is each event's
own peak-to-peak as sampled after the board filter, its start/end where it exceeds 5 % of
its peak magnitude.

    PYTHONPATH=src .venv/bin/python scripts/altsynth.py OUT_DIR --seeds 0 1 --rates 200 1000 \
        --minutes 3 [--channels 4] [--format edf|csv] [--score] [--resample-to HZ]

``--score`` runs the pipeline in memory (the shipped model or ``--model``, and the rule baseline) instead of
writing files and prints the scores per rate. ``--resample-to HZ`` draws each recording at its
rate and resamples it to HZ: the same recordings at a rate the model was not trained at.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable

import numpy as np
from numpy.polynomial import hermite
from scipy import signal

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from twitchwatch.errors import UserError  # noqa: E402
from twitchwatch.types import Recording  # noqa: E402

HI_RATE = 9000.0  # events and noise are drawn at about this rate
PARTS = frozenset({"noise", "mains", "wander", "events"})
EXTENT = 0.05  # an event lasts while it exceeds this share of its peak magnitude
TAIL_S = 0.15  # filter settling kept after each event's waveform
EDGE_S = 0.3  # no event starts or ends closer than this to the recording's ends
GAP_S, SPASM_GAP_S = 0.3, 1.0  # least time between events on a channel (spasms: 1 s)


def _loguniform(rng: np.random.Generator, lo: float, hi: float, size=None):
    return np.exp(rng.uniform(np.log(lo), np.log(hi), size))


def _colored(rng: np.random.Generator, n: int, fs: float, lo: float, hi: float, alpha: float,
             corner: float = 0.0) -> np.ndarray:
    """Gaussian noise of unit std, amplitude spectrum f^(-alpha/2) in [lo, hi] (flat below ``corner``)."""
    f = np.fft.rfftfreq(n, 1.0 / fs)
    gain = np.where((f >= lo) & (f <= hi) & (f > 0), np.maximum(f, max(corner, 1e-9)) ** (-alpha / 2), 0.0)
    spec = (rng.standard_normal(f.size) + 1j * rng.standard_normal(f.size)) * gain
    x = np.fft.irfft(spec, n)
    sd = x.std()
    return x / sd if sd > 0 else x


def _slow(rng: np.random.Generator, n: int, knots: int = 24) -> np.ndarray:
    """A smooth random curve of about unit std over ``n`` samples (a few swings per recording)."""
    return np.interp(np.arange(n), np.linspace(0, n, knots), _colored(rng, knots, 1.0, 0.0, 0.25, 0.0))


# ---------------------------------------------------------------- board front end

@dataclass(frozen=True)
class Board:
    """The board's anti-alias filter at ``fh`` = fs x factor, and its decimation to ``fs``."""

    fs: float
    factor: int
    kind: str
    order: int
    cutoff_hz: float
    sos: np.ndarray | None = None
    fir: np.ndarray | None = None

    @property
    def fh(self) -> float:
        return self.fs * self.factor

    def sample(self, x: np.ndarray) -> np.ndarray:
        """``x`` (hi rate, starting on a board sample, zero state before) as the board samples it."""
        y = signal.sosfilt(self.sos, x, axis=-1) if self.sos is not None else signal.lfilter(self.fir, 1.0, x, axis=-1)
        return y[..., ::self.factor]

    def response(self, f: np.ndarray) -> np.ndarray:
        """Complex gain at frequencies ``f`` (Hz)."""
        if self.sos is not None:
            return signal.sosfreqz(self.sos, worN=f, fs=self.fh)[1]
        return signal.freqz(self.fir, 1.0, worN=f, fs=self.fh)[1]

    def describe(self) -> dict:
        return {"filter": self.kind, "order": self.order, "cutoff_hz": round(self.cutoff_hz, 3),
                "hi_rate_hz": self.fh}


def draw_board(rng: np.random.Generator, fs: float) -> Board:
    """One of: Bessel or Chebyshev-I (order 2-3, -3 dB / ripple edge at 0.3-0.45 fs), or sinc^3."""
    factor = max(1, int(round(HI_RATE / fs)))
    fh = fs * factor
    kind = rng.choice(["bessel", "cheby1", "sinc3"], p=[0.4, 0.35, 0.25])
    if kind == "sinc3" and factor > 1:
        box = np.ones(factor) / factor
        fir = np.convolve(np.convolve(box, box), box)
        return Board(fs, factor, "sinc3", 3, 0.262 * fs, fir=fir)
    order = int(rng.integers(2, 4))
    fc = float(rng.uniform(0.3, 0.45) * fs)
    if kind == "cheby1":
        sos = signal.cheby1(order, float(rng.uniform(0.5, 2.0)), fc, fs=fh, output="sos")
    else:
        sos = signal.bessel(order, fc, norm="mag", fs=fh, output="sos")
        kind = "bessel"
    return Board(fs, factor, str(kind), order, fc, sos=sos)


# ---------------------------------------------------------------- background

def _noise(rng: np.random.Generator, board: Board, n_out: int, sigma: float) -> np.ndarray:
    """White + pink + electrode noise of one channel, ``sigma`` uV rms after the board filter."""
    n_hi = n_out * board.factor
    share = rng.dirichlet([1.5, 1.0, 0.7])
    white = rng.standard_normal(n_hi)
    pink = _colored(rng, n_hi, board.fh, 0.0, np.inf, 1.0, corner=float(rng.uniform(5, 15)))
    level = 1.0 + float(rng.uniform(0, 0.6)) * _slow(rng, n_hi)
    electrode = _colored(rng, n_hi, board.fh, 1.0, 150.0, 1.0) * np.clip(level, 0.2, None)
    mix = np.sqrt(share[0]) * white + np.sqrt(share[1]) * pink + np.sqrt(share[2]) * electrode
    y = board.sample(mix)
    y -= y.mean()
    return y * (sigma / y.std())


def _mains(rng: np.random.Generator, board: Board, n_out: int, n_ch: int) -> tuple[np.ndarray, float | None]:
    """Hum at 50/60 Hz (slightly off) with 2-4 harmonics, slowly modulated, through the board."""
    if rng.random() < 0.2:
        return np.zeros((n_ch, n_out)), None
    f0 = float(rng.choice([50.0, 60.0])) * (1 + rng.uniform(-0.002, 0.002))
    k = np.arange(1, 2 + int(rng.integers(2, 5)))
    amp = _loguniform(rng, 1.0, 150.0) * np.r_[1.0, rng.uniform(0.03, 0.5, k.size - 1)]
    h = board.response(k * f0)
    t = np.arange(n_out) / board.fs
    env = 1 + rng.uniform(0, 0.4) * _slow(rng, n_out)
    out = np.empty((n_ch, n_out))
    for c in range(n_ch):
        ph = rng.uniform(0, 2 * np.pi, k.size)
        wave = (amp * np.abs(h))[:, None] * np.sin(2 * np.pi * (k * f0)[:, None] * t + (ph + np.angle(h))[:, None])
        out[c] = rng.uniform(0.4, 1.5) * env * wave.sum(axis=0)
    return out, f0


def _wander(rng: np.random.Generator, fs: float, n_out: int) -> np.ndarray:
    """A 0.05-1 Hz random walk of tens to hundreds of uV, plus a DC offset."""
    return (_loguniform(rng, 15, 300) * _colored(rng, n_out, fs, 0.05, 1.0, 2.0, corner=0.05)
            + rng.uniform(-800, 800))


# ---------------------------------------------------------------- waveforms (hi rate)

@dataclass
class MotorUnit:
    """One motor unit's action potential: a Hermite-Rodriguez mixture or a moving tripole."""

    kind: str
    params: dict

    @classmethod
    def draw(cls, rng: np.random.Generator, dur_ms: tuple[float, float]) -> "MotorUnit":
        dur = float(rng.uniform(*dur_ms)) / 1000
        if rng.random() < 0.5:
            return cls("hermite", {"lam": dur / 5, "w": rng.normal(0, 1, 3) * [1.0, 0.8, 0.5]})
        v = rng.uniform(3.0, 5.0)  # m/s = mm/ms
        e = rng.uniform(10, 20)  # electrode spacing, mm
        n_f = int(rng.integers(5, 16))
        return cls("tripole", {"v": v, "e": e, "d": max(1.5, (dur * 1000 * v - e) / 6),
                               "r": rng.uniform(0.3, 1.0), "s": rng.uniform([1, 3], [3, 8]),
                               "dj": rng.normal(0, 0.12, n_f), "tj": rng.normal(0, 0.3, n_f)})

    def wave(self, fh: float, blur: float = 1.0) -> np.ndarray:
        """The potential at ``fh`` Hz, largest magnitude 1; ``blur`` > 1 as seen from further away."""
        p = self.params
        if self.kind == "hermite":
            lam = p["lam"] * blur
            x = np.arange(-3.5 * lam, 3.5 * lam, 1 / fh) / lam
            y = hermite.hermval(x, np.r_[0.0, p["w"]] / [1, 2, 4, 8]) * np.exp(-x * x)
        else:
            d = p["d"] * blur * (1 + p["dj"])[:, None]
            span = (p["e"] + 6 * d.max()) / p["v"]  # ms
            t = np.arange(-span, span, 1000 / fh)
            z = p["v"] * (t[None, :] - p["tj"][:, None])
            q, x0 = np.r_[1.0, -1 - p["r"], p["r"]], np.r_[0.0, np.cumsum(p["s"])]

            def phi(at: float) -> np.ndarray:
                return sum(qi / np.sqrt(d ** 2 + (z + xi - at) ** 2) for qi, xi in zip(q, x0)).sum(axis=0)

            y = phi(-p["e"] / 2) - phi(p["e"] / 2)
            keep = np.flatnonzero(np.abs(y) >= 1e-3 * np.abs(y).max())
            y = y[keep[0]:keep[-1] + 1]
        return y / np.abs(y).max()


def _interference(rng: np.random.Generator, fh: float, n_mu: int, length_s: float, onset_s: float,
                  offset_s: float, rates: tuple[float, float], gains: np.ndarray) -> np.ndarray:
    """Motor units firing jittered trains, recruited over ``onset_s`` (small first) and
    derecruited over ``offset_s`` (large first); one row per channel of ``gains``."""
    size = np.sort(_loguniform(rng, 0.3, 3.0, n_mu))
    u = np.arange(n_mu) / n_mu
    gamma = rng.uniform(0.7, 1.5)
    t_on, t_off = onset_s * u ** gamma, length_s - offset_s * u ** gamma
    grid = np.arange(0.0, length_s, 1e-3)
    out = np.zeros((gains.size, int(round((length_s + 0.03) * fh))))
    for k in range(n_mu):
        r0, rise = rng.uniform(rates[0], rates[0] + 4), rng.uniform(0.2, 1.0)
        rpk = rng.uniform(max(r0, 0.6 * rates[1]), rates[1])
        rate = r0 + (rpk - r0) * np.clip((grid - t_on[k]) / rise, 0, 1) * np.clip((t_off[k] - grid) / 0.3, 0.3, 1)
        phase = np.cumsum(rate) * 1e-3
        jitter = np.clip(1 + rng.uniform(0.08, 0.2) * rng.standard_normal(int(1.2 * phase[-1]) + 5), 0.3, None)
        beats = np.interp(t_on[k], grid, phase) + np.r_[0.0, np.cumsum(jitter)]  # first discharge at t_on
        times = np.interp(beats[beats < phase[-1]], phase, grid)
        times = times[(times >= t_on[k] - 1e-3) & (times < t_off[k])]
        train = np.bincount(np.round(times * fh).astype(int), minlength=out.shape[1])[:out.shape[1]]
        mu = signal.oaconvolve(train.astype(float), MotorUnit.draw(rng, (5, 15)).wave(fh))[:out.shape[1]]
        out += (size[k] * gains * _loguniform(rng, 0.6, 1.6, gains.size))[:, None] * mu
    return out


# ---------------------------------------------------------------- layout

@dataclass
class Shape:
    """One event's waveform on one channel before the board, and its wanted size after it."""

    channel: int
    wave: np.ndarray
    target: float
    measure: str = "ptp"  # or 'peak': largest magnitude


@dataclass
class Planned:
    kind: str
    cause: str  # what made it: twitch, doublet, spasm, ecg, voluntary, motion, pop, tap
    at: int  # hi-rate sample of the waveforms' first value
    shapes: list[Shape]


@dataclass
class Layout:
    """Where events are, per channel, keeping them apart (GAP_S, spasms SPASM_GAP_S)."""

    duration_s: float
    fh: float
    busy: list[list[tuple[float, float, float]]]
    events: list[Planned] = field(default_factory=list)

    def fits(self, t: float, length_s: float, channels: list[int], gap: float) -> bool:
        if t < EDGE_S or t + length_s > self.duration_s - EDGE_S:
            return False
        return all(t + length_s + max(gap, g) <= s or t >= e + max(gap, g)
                   for c in channels for s, e, g in self.busy[c])

    def put(self, kind: str, cause: str, t: float, shapes: list[Shape], gap: float = GAP_S) -> bool:
        """Add the event at ``t`` seconds if it fits on all its channels."""
        length = max(s.wave.size for s in shapes) / self.fh + TAIL_S / 3
        chans = [s.channel for s in shapes]
        if not self.fits(t, length, chans, gap):
            return False
        for c in chans:
            self.busy[c].append((t, t + length, gap))
        self.events.append(Planned(kind, cause, int(round(t * self.fh)), shapes))
        return True

    def put_anywhere(self, rng: np.random.Generator, kind: str, cause: str, shapes: list[Shape],
                     gap: float = GAP_S, tries: int = 60) -> bool:
        for t in rng.uniform(0, self.duration_s, tries):
            if self.put(kind, cause, float(t), shapes, gap):
                return True
        return False


def _ecg(rng: np.random.Generator, lay: Layout, n_ch: int, sigma: np.ndarray) -> None:
    """QRS complexes at 50-100 bpm on one or two adjacent channels; each complex one event."""
    first = int(rng.integers(0, n_ch - 1)) if n_ch > 1 else 0
    chans = [first] if rng.random() < 0.7 or n_ch == 1 else [first, first + 1]
    size = {c: _loguniform(rng, 4, 60) * sigma[c] * (1 if i == 0 else rng.uniform(0.3, 0.8))
            for i, c in enumerate(chans)}
    sq, sr, ss = rng.uniform(0.004, 0.008), rng.uniform(0.006, 0.012), rng.uniform(0.005, 0.010)
    dq, ds = rng.uniform(0.012, 0.025), rng.uniform(0.015, 0.03)
    aq, as_ = rng.uniform(0.05, 0.3), rng.uniform(0.1, 0.6)
    t = np.arange(-0.08, 0.08, 1 / lay.fh)
    qrs = (np.exp(-0.5 * (t / sr) ** 2) - aq * np.exp(-0.5 * ((t + dq) / sq) ** 2)
           - as_ * np.exp(-0.5 * ((t - ds) / ss) ** 2))
    signs = {c: rng.choice([-1.0, 1.0]) for c in chans}
    rr = 60 / rng.uniform(50, 100)
    beat = rng.uniform(0.4, 1.2)
    while beat < lay.duration_s:
        lay.put("artifact", "ecg", beat, [Shape(c, signs[c] * qrs, size[c] * rng.uniform(0.95, 1.05)) for c in chans])
        beat += rr * (1 + rng.normal(0, 0.03))


def _adjacent(rng: np.random.Generator, n_ch: int, most: int) -> list[int]:
    width = int(min(n_ch, rng.integers(1, most + 1)))
    first = int(rng.integers(0, n_ch - width + 1))
    return list(range(first, first + width))


def _spasm(rng: np.random.Generator, lay: Layout, n_ch: int, sigma: np.ndarray) -> None:
    chans = _adjacent(rng, n_ch, 3)
    length = min(float(_loguniform(rng, 1.0, 40.0)), 0.3 * lay.duration_s)
    if length < 1.0:
        return
    gains = np.r_[1.0, rng.uniform(0.5, 1.0, len(chans) - 1)]
    rows = _interference(rng, lay.fh, int(rng.integers(10, 61)), length, rng.uniform(0.2, 1.5),
                         rng.uniform(0.2, 1.0), (8.0, float(rng.uniform(15, 30))), gains)
    k = _loguniform(rng, 8, 40)
    shapes = [Shape(c, row, max(8.0, k * g) * sigma[c], "peak") for c, row, g in zip(chans, rows, gains)]
    lay.put_anywhere(rng, "spasm", "spasm", shapes, SPASM_GAP_S)


def _voluntary(rng: np.random.Generator, lay: Layout, n_ch: int, sigma: np.ndarray) -> None:
    chans = _adjacent(rng, n_ch, 2)
    length = rng.uniform(0.1, 0.4)
    gains = np.r_[1.0, rng.uniform(0.4, 1.0, len(chans) - 1)]
    rows = _interference(rng, lay.fh, int(rng.integers(5, 21)), length, rng.uniform(0.02, 0.06),
                         rng.uniform(0.02, 0.06), (10.0, 25.0), gains)
    if rng.random() < 0.5:  # the limb moves the electrodes as well
        t = np.arange(rows.shape[1]) / lay.fh
        rows = rows + rng.uniform(0.2, 0.6) * np.abs(rows).max() * np.sin(np.pi * t / t[-1]) ** 2
    k = _loguniform(rng, 10, 60)
    shapes = [Shape(c, r, k * g * sigma[c], "peak") for c, r, g in zip(chans, rows, gains)]
    lay.put_anywhere(rng, "artifact", "voluntary", shapes)


def _motion(rng: np.random.Generator, lay: Layout, n_ch: int, sigma: np.ndarray) -> None:
    f = _loguniform(rng, 0.5, 8.0)
    length = max(0.15, rng.uniform(0.5, 2.0) / f)
    t = np.arange(0, length, 1 / lay.fh)
    wave = np.hanning(t.size) * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    ptp = _loguniform(rng, 100, 3000)
    chans = _adjacent(rng, n_ch, n_ch)
    lay.put_anywhere(rng, "artifact", "motion", [Shape(c, rng.choice([-1, 1]) * wave, ptp * rng.uniform(0.3, 1.0))
                                       for c in chans])


def _pop(rng: np.random.Generator, lay: Layout, n_ch: int, sigma: np.ndarray) -> None:
    tau, rise = rng.uniform(0.05, 0.6), rng.uniform(0.0005, 0.003)
    t = np.arange(0, rise + 5 * tau, 1 / lay.fh)
    wave = np.where(t < rise, t / rise, np.exp(-(t - rise) / tau))
    wave -= wave[-1] * t / t[-1]  # ends at zero: no step at the end of the support
    lay.put_anywhere(rng, "artifact", "pop", [Shape(int(rng.integers(0, n_ch)), rng.choice([-1, 1]) * wave,
                                             _loguniform(rng, 200, 5000))])


def _tap(rng: np.random.Generator, lay: Layout, n_ch: int, sigma: np.ndarray) -> None:
    """A cable tap: a spike of a few ms with a slow opposite tail, on most channels at once."""
    t1, t2 = rng.uniform(0.001, 0.003), rng.uniform(0.02, 0.05)
    t = np.arange(0, 8 * t2, 1 / lay.fh)
    wave = (t / t1) * np.exp(1 - t / t1) - rng.uniform(0.1, 0.3) * (t / t2) * np.exp(1 - t / t2)
    ptp = _loguniform(rng, 300, 5000)
    chans = _adjacent(rng, n_ch, n_ch)
    lay.put_anywhere(rng, "artifact", "tap", [Shape(c, rng.choice([-1, 1]) * wave, ptp * rng.uniform(0.4, 1.0))
                                       for c in chans])


def _twitches(rng: np.random.Generator, lay: Layout, n_ch: int, minutes: float) -> None:
    """Fasciculations of a few motor units: Poisson or in clusters of 2-5 within about a second."""
    units = []
    for _ in range(int(rng.integers(2, 9))):
        mu = MotorUnit.draw(rng, (4, 20))
        home = int(rng.integers(0, n_ch))
        side = [c for c in (home - 1, home + 1) if 0 <= c < n_ch]
        neighbour = int(rng.choice(side)) if side and rng.random() < 0.35 else None
        units.append((mu, home, neighbour, float(_loguniform(rng, 15, 600)), rng.uniform(0.3, 0.7),
                      rng.uniform(1.1, 1.6)))
    pick = rng.dirichlet(np.ones(len(units)))
    clustered = rng.random() < 0.4
    n = rng.poisson(_loguniform(rng, 2, 40) * minutes)
    starts: list[tuple[float, int]] = []
    while len(starts) < n:
        t, u = float(rng.uniform(0, lay.duration_s)), int(rng.choice(len(units), p=pick))
        if not clustered:
            starts.append((t, u))
            continue
        same = rng.random() < 0.6
        for _ in range(int(rng.integers(2, 6))):
            starts.append((t, u if same else int(rng.choice(len(units), p=pick))))
            t += rng.uniform(0.31, 0.5) if same else rng.uniform(0.1, 0.3)
    for t, u in starts[:n]:
        mu, home, neighbour, ptp, share, blur = units[u]
        size = ptp * rng.uniform(0.9, 1.1)
        wave, side = mu.wave(lay.fh), mu.wave(lay.fh, blur)
        cause = "doublet" if rng.random() < 0.08 else "twitch"
        if cause == "doublet":  # a doublet: the unit fires again 5-20 ms later
            lag, again = int(rng.uniform(0.005, 0.02) * lay.fh), rng.uniform(0.8, 1.0)
            wave, side = (np.r_[w, np.zeros(lag)] + again * np.r_[np.zeros(lag), w] for w in (wave, side))
        shapes = [Shape(home, wave, size)]
        if neighbour is not None:
            delay = np.zeros(int(rng.uniform(0, 0.002) * lay.fh))
            shapes.append(Shape(neighbour, np.r_[delay, side], size * share))
        lay.put("twitch", cause, t, shapes)


# ---------------------------------------------------------------- the recording

def generate(seed: int, fs: float, minutes: float, n_channels: int = 4,
             parts: frozenset[str] | set[str] = PARTS) -> tuple[Recording, dict]:
    """A recording (float32 uV) and its truth, from ``seed`` (and the rate).

    ``parts`` picks what goes in: noise, mains, wander, events (tests leave some out; the
    events and the truth's noise levels are the same whatever is left out).
    """
    if not (fs > 0 and np.isfinite(fs)):
        raise UserError(f"--rates {fs}: a sampling rate must be a positive number of Hz")
    if not (minutes * 60 >= 1 and np.isfinite(minutes)):
        raise UserError(f"--minutes {minutes}: must be a number of minutes of at least one second")
    if not 1 <= n_channels <= 16:
        raise UserError(f"--channels {n_channels}: must be 1-16")
    if unknown := set(parts) - PARTS:
        raise ValueError(f"unknown parts {sorted(unknown)}")
    root = np.random.SeedSequence([int(seed), int(round(fs * 1000))])
    r_board, r_noise, r_mains, r_wander, r_events = (np.random.default_rng(s) for s in root.spawn(5))
    board = draw_board(r_board, fs)
    n_out = int(round(minutes * 60 * fs))
    duration = n_out / fs
    sigma = np.clip(_loguniform(r_noise, 0.8, 12.0) * r_noise.uniform(0.7, 1.4, n_channels), 0.8, 12.0)
    data = np.zeros((n_channels, n_out))
    if "noise" in parts:
        for c in range(n_channels):
            data[c] += _noise(r_noise, board, n_out, float(sigma[c]))
    hum, mains_hz = _mains(r_mains, board, n_out, n_channels)
    if "mains" in parts:
        data += hum
    if "wander" in parts:
        for c in range(n_channels):
            data[c] += _wander(r_wander, fs, n_out)

    lay = Layout(duration, board.fh, [[] for _ in range(n_channels)])
    rng = r_events
    if rng.random() < 0.3:
        _ecg(rng, lay, n_channels, sigma)
    for make, per_minute in ((_spasm, 0.8), (_voluntary, 2.0), (_motion, 2.0), (_pop, 1.0), (_tap, 1.5)):
        for _ in range(rng.poisson(rng.uniform(0, per_minute) * minutes)):
            make(rng, lay, n_channels, sigma)
    _twitches(rng, lay, n_channels, minutes)

    names = tuple(f"EMG{c + 1}" for c in range(n_channels))
    events = []
    for ev in lay.events:
        i0, pad = divmod(ev.at, board.factor)
        for s in ev.shapes:
            y = board.sample(np.r_[np.zeros(pad), s.wave, np.zeros(int(TAIL_S * board.fh))])
            y *= s.target / (np.ptp(y) if s.measure == "ptp" else np.abs(y).max())
            y = y[:max(0, n_out - i0)]
            if "events" in parts:
                data[s.channel, i0:i0 + y.size] += y
            on = np.flatnonzero(np.abs(y) >= EXTENT * np.abs(y).max())
            events.append({"channel": s.channel, "channel_name": names[s.channel],
                           "start_s": round(float(i0 + on[0]) / fs, 6),
                           "end_s": round(float(i0 + on[-1] + 1) / fs, 6),
                           "kind": ev.kind, "peak_uv": round(float(np.ptp(y)), 3), "cause": ev.cause})
    events.sort(key=lambda e: (e["start_s"], e["channel"]))
    rec = Recording(data.astype(np.float32), float(fs), names, source=f"altsynth seed {seed} at {fs:g} Hz")
    truth = {"source": rec.source, "fs": float(fs), "channels": list(names), "duration_s": round(duration, 6),
             "events": events, "noise_rms_uv": [round(float(v), 4) for v in sigma],
             "generator": "altsynth", "seed": int(seed), "board": board.describe(), "mains_hz": mains_hz}
    return rec, truth


# ---------------------------------------------------------------- files and scores

def write_csv(path: Path, rec: Recording) -> None:
    """BrainFlow CSV in the synthetic board's layout (read back with --board synthetic --fs RATE)."""
    from twitchwatch.formats.brainflow_csv import describe

    _, descr = describe("synthetic")
    rows = descr["emg_channels"]
    if rec.n_channels > len(rows):
        raise UserError(f"--channels {rec.n_channels}: the synthetic board's CSV holds at most {len(rows)}")
    table = np.zeros((rec.n_samples, int(descr["num_rows"])))
    table[:, 0] = np.arange(rec.n_samples) % 256
    table[:, rows[:rec.n_channels]] = rec.data.T
    table[:, descr["timestamp_channel"]] = 1.7e9 + np.arange(rec.n_samples) / rec.fs
    np.savetxt(path, table, fmt="%.6f", delimiter="\t")


def write(out: Path, seed: int, fs: float, minutes: float, n_channels: int, fmt: str,
          make: Callable[..., tuple[Recording, dict]] | None = None, stem: str = "alt") -> Path:
    """One recording of ``make`` (default: ``generate``) and its truth file X.truth.json beside it."""
    from twitchwatch.formats import write_recording
    from twitchwatch.report_json import write_json

    rec, truth = (make or generate)(seed, fs, minutes, n_channels)
    path = out / f"{stem}_s{seed}_{rec.fs:g}hz.{fmt}"
    if fmt == "edf":
        write_recording(path, rec, [])
    else:
        write_csv(path, rec)
    write_json(out / f"{stem}_s{seed}_{rec.fs:g}hz.truth.json", truth)
    return path


def score(seeds: list[int], rates: list[float], minutes: float, n_channels: int, model: str | None = None,
          make: Callable[..., tuple[Recording, dict]] | None = None) -> dict:
    """Tallies of the model (``model``, or the shipped one) and of the rule baseline over
    the recordings of ``make`` (default: ``generate``)."""
    from twitchwatch.classify import make_classifier
    from twitchwatch.evaluate import Tally
    from twitchwatch.pipeline import analyze
    from twitchwatch.report_json import events_doc

    tallies = {"model": Tally(), "rules": Tally()}
    for fs in rates:
        for seed in seeds:
            rec, truth = (make or generate)(seed, fs, minutes, n_channels)
            for name, tally in tallies.items():
                cls = make_classifier(model if name == "model" else "rules", rec.fs)
                tally.add(rec.fs, truth, events_doc(rec, analyze(rec, classifier=cls)), name=f"seed {seed}")
            print(f"  scored seed {seed} at {rec.fs:g} Hz", file=sys.stderr, flush=True)
    return tallies


def table(tallies: dict) -> str:
    """Markdown: per rate and classifier, twitch and spasm counts and F1, artifacts called twitch."""
    head = ("| rate | classifier | twitch tp/fp/fn | P | R | F1 | spasm tp/fp/fn | P | R | F1 "
            "| artifacts called twitch |\n|---|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    rates = sorted(next(iter(tallies.values())).by_rate)
    for label, pick in [(f"{fs:g} Hz", fs) for fs in rates] + [("all", None)]:
        for name, tally in tallies.items():
            s = tally.overall if pick is None else tally.by_rate[pick]
            cells = []
            for kind in ("twitch", "spasm"):
                c = s.kinds[kind]
                cells += [f"{c.tp}/{c.fp}/{c.fn}", f"{c.precision:.2f}", f"{c.recall:.2f}", f"{c.f1:.2f}"]
            art = f"{100 * s.artifact_as_twitch_rate:.1f} % of {s.artifacts}"
            lines.append(f"| {label} | {name} | " + " | ".join(cells) + f" | {art} |")
    return "\n".join(lines)


def size_table(tally) -> str:
    """Markdown: per rate, the truth twitches counted by their peak-to-peak over the noise
    rms, as found (a twitch / under an event of another kind / nothing) and the recall."""
    from twitchwatch.evaluate import SIZES

    bins = [f"{lo:g}-{hi:g} x" for lo, hi in zip(SIZES, SIZES[1:])] + [f"{SIZES[-1]:g} x and over"]
    lines = ["| rate | " + " | ".join(bins) + " |", "|---|" + "---|" * len(bins)]
    for fs, s in sorted(tally.by_rate.items()):
        cells = [f"{a} / {b} / {c} ({a / max(a + b + c, 1):.2f})" for a, b, c in s.by_size.tolist()]
        lines.append(f"| {fs:g} Hz | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def arguments(doc: str, name: str) -> argparse.ArgumentParser:
    """The command line a generator script shares with this one (``name``: its scores file)."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("out", metavar="OUT_DIR", help="folder for the recordings and truth files (made if missing)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--rates", type=float, nargs="+", default=[250.0])
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--channels", type=int, default=4)
    ap.add_argument("--format", choices=("edf", "csv"), default="edf")
    ap.add_argument("--model", metavar="PATH", help="with --score: this model instead of the shipped one")
    ap.add_argument("--resample-to", type=float, metavar="HZ",
                    help="draw each recording at its --rates rate, then resample it to HZ (scipy's "
                         "resample_poly): the same recordings at a rate the model was not trained at")
    ap.add_argument("--score", action="store_true",
                    help="score the pipeline (shipped model and rules) on the recordings in memory; "
                         f"writes OUT_DIR/{name}-scores.json (and the model's misses and false alarms, "
                         f"{name}-errors.csv) instead of recordings")
    return ap


def run(args: argparse.Namespace, name: str, stem: str, make: Callable[..., tuple[Recording, dict]] | None = None,
        note: str = "") -> int:
    """Write the recordings of ``make`` (default: ``generate``) as OUT_DIR/STEM_s*, or with
    --score print and save the scores (OUT_DIR/NAME-scores.json) and the model's mistakes
    (OUT_DIR/NAME-errors.csv)."""
    if args.resample_to is not None:
        make = resampled(make or generate, args.resample_to)
        note += f", resampled to {args.resample_to:g} Hz"
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{out}: cannot make the folder ({exc.strerror})") from None
    if args.score:
        from twitchwatch.evaluate import write_mistakes

        tallies = score(args.seeds, args.rates, args.minutes, args.channels, args.model, make)
        print(f"{len(args.seeds)} seeds x {len(args.rates)} rates, {args.minutes:g} min, {args.channels} channels"
              f"{note}; truth twitches below 6 x noise rms set aside\n")
        print(table(tallies))
        print("\nThe model's twitches by size (peak-to-peak over the noise rms): found as a twitch / under an "
              "event of another kind / nothing (recall)\n")
        print(size_table(tallies["model"]))
        (out / f"{name}-scores.json").write_text(json.dumps({k: t.as_dict() for k, t in tallies.items()}, indent=1))
        write_mistakes(out / f"{name}-errors.csv", tallies["model"].mistakes)
        print(f"\nThe model's twitches and spasms missed or false, one a row: {out / f'{name}-errors.csv'}")
        return 0
    for fs in args.rates:
        for seed in args.seeds:
            print(f"wrote {write(out, seed, fs, args.minutes, args.channels, args.format, make, stem)}")
    return 0


def resampled(make: Callable[..., tuple[Recording, dict]], fs_to: float) -> Callable[..., tuple[Recording, dict]]:
    """``make``, its recordings resampled to ``fs_to`` (``resample_poly`` by the nearest
    ratio of whole numbers up to 1000; the truth's times and sizes stay as drawn)."""
    if not (fs_to > 0 and np.isfinite(fs_to)):
        raise UserError(f"--resample-to {fs_to}: a sampling rate must be a positive number of Hz")

    def make_resampled(seed: int, fs: float, minutes: float, n_channels: int) -> tuple[Recording, dict]:
        rec, truth = make(seed, fs, minutes, n_channels)
        ratio = Fraction(fs_to / fs).limit_denominator(1000)
        data = signal.resample_poly(rec.data.astype(np.float64), ratio.numerator, ratio.denominator, axis=1)
        rate = fs * ratio.numerator / ratio.denominator
        source = f"{rec.source}, resampled to {rate:g} Hz"
        return (Recording(data.astype(np.float32), rate, rec.channels, source=source),
                dict(truth, fs=rate, duration_s=round(data.shape[1] / rate, 6)))
    return make_resampled


def cli(main: Callable[[], int], name: str) -> None:
    """Run a generator script's ``main``: bad input is a one-line error and exit status 2."""
    try:
        sys.exit(main())
    except UserError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        sys.exit(2)


def main(argv: list[str] | None = None) -> int:
    return run(arguments(__doc__, "altsynth").parse_args(argv), "altsynth", "alt")


if __name__ == "__main__":
    cli(main, "altsynth")
