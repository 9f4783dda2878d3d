"""Synthetic surface EMG with ground truth, varied by seed, for tests, demos and training.

What is in a recording (all drawn from the seed unless given):
- twitches (fasciculation potentials): one motor unit's action potential, 2-5 phases,
  3-25 ms, 20-800 uV peak-to-peak, Poisson in time (1-60 per minute), usually on one
  channel and sometimes seen weaker on a neighbour, occasionally as a doublet, now and
  then fired again 0.15-0.6 s later, up to 3 times (a cluster);
- spasms/cramps: interference patterns of many motor units (12-39) firing at 6-25 Hz under a
  smooth envelope, 0.5-30 s, at 6-15 times the noise rms or more (a cramp is a strong
  contraction), on one channel and often a neighbour (at half to 0.8 of its size); one in
  four is weak instead, at 1.5-6 times the noise rms (a small muscle, or one far from
  the electrode); and for every ten spasms drawn, three held weak contractions on average
  (1-20 s of 1-4 motor units firing steady trains at 6-14 Hz, the largest potential 6-40
  times the noise rms peak-to-peak after the board filter: a muscle not quite relaxed,
  resolved into potentials of its own);
- distractors, labelled ``artifact`` in the truth: motion swings (below 10 Hz), electrode
  pops (step and decay), ECG bleed-through on trunk channels (each QRS one event), brief
  voluntary contractions (0.1-0.45 s; of 3-39 units, so some are a few separate
  potentials), cable taps (a spike, then a damped swing or a slow
  opposite tail, mostly on several channels at once);
- background: amplifier noise (1-10 uV rms after the board filter), on some channels
  mixed with electrode noise crowded into part of the band that swells and fades on its
  own over seconds, all at a level that drifts and sometimes rises for a while; mains
  hum (2-120 uV) up to 0.2 % off 50 or 60 Hz, with harmonics, its level swinging within
  seconds in some recordings; baseline wander and a DC offset;
- the board's band limit: events are drawn at a high rate, low-passed at the board's
  cut-off and decimated, so nothing aliases; noise is low-passed the same way.

The truth lists each event per channel it shows on, in the events-JSON schema. For a
twitch, ``peak_uv`` is its peak-to-peak as sampled after the board filter; the truth's
``noise_rms_uv`` gives each channel's noise after the board filter, so that an evaluator
can set aside twitches below a stated SNR.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import signal

from .dsp import board_cutoff
from .types import Recording

_HI_RATE = 4000.0  # events are drawn at about this rate, then band-limited and decimated
WEAK_SPASM = 0.25  # share of spasms that are weak (1.5-6 x the noise rms)
SPASM_UNITS = (12, 40)  # how many motor units make a spasm (numpy's range: 12-39) ...
BRIEF_UNITS = (3, 40)  # ... and a brief voluntary contraction: a weak one recruits a few
HELD_SHARE = 0.3  # held weak contractions (a few units' resolved trains) per spasm drawn


@dataclass
class SynthConfig:
    """Knobs of one synthetic recording; None means drawn from the seed."""

    minutes: float = 2.0
    fs: float = 250.0
    seed: int = 0
    n_channels: int = 4
    noise_uv: float | None = None
    mains_hz: float | None = None
    twitch_rate: float | None = None  # per minute, whole recording
    spasm_rate: float | None = None  # per minute
    artifact_rate: float | None = None  # motion + pops + voluntary, per minute
    ecg: bool | None = None
    cutoff_hz: float | None = None
    electrode_noise: bool = True  # False: the amplifier's white noise only, at a steady level
    hum_swings: bool = True  # False: the hum's level holds still


class _Canvas:
    """Accumulates events drawn at a high rate into the board-rate signal."""

    def __init__(self, fs: float, n_channels: int, n_samples: int, cutoff: float):
        self.fs = fs
        self.k = max(1, int(math.ceil(_HI_RATE / fs)))
        self.fs_hi = fs * self.k
        self.sos = signal.butter(4, cutoff, fs=self.fs_hi, output="sos")
        self.x = np.zeros((n_channels, n_samples), dtype=np.float64)

    def render(self, wave_hi: np.ndarray, t0_s: float) -> tuple[int, np.ndarray]:
        """Band-limit and decimate a high-rate waveform starting at t0_s.

        Returns the board-rate start index and the decimated waveform (not yet added)."""
        i0_hi = int(round(t0_s * self.fs_hi))
        offset = (-i0_hi) % self.k  # align the decimation grid to the board's samples
        tail = np.zeros(int(0.05 * self.fs_hi) + self.k)
        y = signal.sosfilt(self.sos, np.concatenate([wave_hi, tail]))
        y = y[offset::self.k]
        return (i0_hi + offset) // self.k, y

    def add(self, ch: int, i0: int, y: np.ndarray) -> None:
        n = self.x.shape[1]
        a, b = max(i0, 0), min(i0 + len(y), n)
        if b > a:
            self.x[ch, a:b] += y[a - i0:b - i0]


def _muap(rng: np.random.Generator, fs_hi: float, dur_s: float, phases: int) -> np.ndarray:
    """A motor-unit action potential: ``phases`` lobes under a smooth window, unit peak."""
    n = max(int(round(dur_s * fs_hi)), 8)
    u = (np.arange(n) + 0.5) / n
    skew = rng.uniform(-0.6, 0.6)
    w = np.sin(np.pi * u) ** rng.uniform(0.6, 1.6) * (1.0 + skew * (u - 0.5))
    x = w * np.sin(np.pi * phases * u + rng.uniform(-0.3, 0.3))
    x -= x.mean() * w / w.mean()  # no net area: an action potential has no DC
    return x / np.max(np.abs(x)) * rng.choice([-1.0, 1.0])


def _hum_level(rng: np.random.Generator, n: int, fs: float) -> np.ndarray:
    """The hum's level over the recording (1: as drawn). In some recordings it swings by
    up to +-50 % within 0.5-5 s (the wearer moves and the coupling to the mains changes):
    a notch narrow enough to spare the EMG lets the sidebands of such a swing by, and
    what it lets by is noise, not a muscle."""
    if rng.random() >= 0.3:
        return np.ones(n)
    knots = max(2, int(n / fs / rng.uniform(0.5, 5.0)) + 2)
    curve = np.interp(np.arange(n), np.linspace(0, n - 1, knots), rng.standard_normal(knots))
    return np.maximum(1.0 + rng.uniform(0.05, 0.5) * curve, 0.1)


def _electrode_noise(rng: np.random.Generator, white: np.ndarray, fs: float, cutoff: float) -> np.ndarray:
    """The background at unit rms per channel: the amplifier's white noise and, on some
    channels, electrode noise crowded into part of the band (a random band-pass, or a 1/f
    slope from 10 Hz) that mostly swells and fades on its own, up to about 3 times either
    way over 5-15 s (the skin contact changing); all with a level that drifts by up to
    +-30 % over tens of seconds and, now and then, a stretch of 5-20 s at 1.5-3 times the
    level (a loosening electrode, sweat)."""
    C, n = white.shape
    out = white.copy()
    for c in range(C):
        if rng.random() < 0.5:
            share = rng.uniform(0.2, 0.8)  # of the power
            z = rng.standard_normal(n)
            if rng.random() < 0.5:
                lo = rng.uniform(10.0, 30.0)
                hi = min(rng.uniform(lo + 30.0, lo + 150.0), 0.45 * fs, cutoff)
                z = signal.sosfilt(signal.butter(2, [lo, hi], btype="bandpass", fs=fs, output="sos"), z)
            else:  # falling like 1/f from 10 Hz up to the board's filter
                z = signal.lfilter([1.0], [1.0, -rng.uniform(0.9, 0.99)], z)
                z = signal.sosfilt(signal.butter(2, 10.0, btype="highpass", fs=fs, output="sos"), z)
                if cutoff < 0.49 * fs:
                    z = signal.sosfilt(signal.butter(4, cutoff, fs=fs, output="sos"), z)
            z /= z.std() + 1e-12
            if rng.random() < 0.6:  # the skin contact changes: its noise swells and fades over seconds
                knots = max(2, int(n / fs / rng.uniform(5.0, 15.0)) + 2)
                curve = np.interp(np.arange(n), np.linspace(0, n - 1, knots), rng.standard_normal(knots))
                z *= np.exp(rng.uniform(0.0, 0.8) * curve)
            out[c] = np.sqrt(1.0 - share) * white[c] + np.sqrt(share) * z
    knots = max(2, int(n / fs / 20.0) + 2)  # a drift over about 20 s
    drift = np.array([np.interp(np.arange(n), np.linspace(0, n - 1, knots), rng.uniform(0.7, 1.3, knots))
                      for _ in range(C)])
    for c in range(C):
        if rng.random() < 0.3:
            length = int(rng.uniform(5.0, 20.0) * fs)
            if length < n:
                a = int(rng.integers(0, n - length))
                drift[c, a:a + length] *= rng.uniform(1.5, 3.0) * np.hanning(length) ** 0.25
    out *= drift
    return out / (out.std(axis=1, keepdims=True) + 1e-12)


def _envelope(n: int, rise: int, fall: int) -> np.ndarray:
    """Raised-cosine rise, plateau, raised-cosine fall."""
    env = np.ones(n)
    if rise > 0:
        env[:rise] = 0.5 - 0.5 * np.cos(np.pi * np.arange(rise) / rise)
    if fall > 0:
        env[n - fall:] = 0.5 + 0.5 * np.cos(np.pi * np.arange(fall) / fall)
    return env


def _interference(rng: np.random.Generator, fs_hi: float, dur_s: float, rise_frac: float,
                  units: tuple[int, int] = SPASM_UNITS) -> np.ndarray:
    """Motor units (``units``: the range of their number) firing at 6-25 Hz under a smooth
    envelope (spasm or contraction).

    Units are recruited in order of threshold early in the rise and fire faster as the
    drive grows, and the potentials grow with it (the smooth envelope of the surface
    signal). RMS at full drive is ~1."""
    n = int(round(dur_s * fs_hi))
    rise = int(rise_frac * n * rng.uniform(0.5, 1.0))
    fall = int(rise_frac * n * rng.uniform(0.5, 1.0))
    drive = _envelope(n, rise, fall)
    out = np.zeros(n)
    n_units = int(rng.integers(*units))
    thresholds = np.sort(rng.uniform(0.0, 0.3, n_units))
    for thr in thresholds:
        f_min, f_max = rng.uniform(6, 9), rng.uniform(15, 25)
        amp = rng.uniform(0.3, 1.0) * (0.5 + thr)  # later units are larger
        active = drive > thr
        rate = np.where(active, f_min + (f_max - f_min) * np.clip((drive - thr) / (1 - thr + 1e-9), 0, 1), 0.0)
        # integrate-and-fire with jittered intervals
        phase = np.cumsum(rate) / fs_hi + rng.uniform(0, 1)
        phase += np.cumsum(rng.normal(0, 0.15, n)) * np.sqrt(rate / fs_hi)
        fires = np.flatnonzero(np.diff(np.floor(phase)) > 0) + 1
        fires = fires[active[fires]]
        if len(fires) == 0:
            continue
        spikes = np.zeros(n)
        spikes[fires] = amp
        wave = _muap(rng, fs_hi, rng.uniform(0.006, 0.015), int(rng.integers(2, 5)))
        out += signal.oaconvolve(spikes, wave)[:n]
    out *= drive
    plateau = out[drive > 0.9]
    rms = np.sqrt(np.mean(plateau ** 2)) if plateau.size else np.sqrt(np.mean(out ** 2))
    return out / max(rms, 1e-12)


def _ecg_beat(fs_hi: float) -> np.ndarray:
    """One PQRST complex (unit R peak), about 0.6 s long, R at 0.2 s."""
    t = np.arange(int(0.6 * fs_hi)) / fs_hi
    g = lambda mu, sd, a: a * np.exp(-0.5 * ((t - mu) / sd) ** 2)  # noqa: E731
    return (g(0.10, 0.020, 0.12) + g(0.18, 0.008, -0.12) + g(0.20, 0.010, 1.0)
            + g(0.22, 0.008, -0.25) + g(0.42, 0.040, 0.3))


class _Timeline:
    """Per-channel busy intervals, so that events on one channel do not pile up."""

    def __init__(self, n_channels: int):
        self.busy: list[list[tuple[float, float]]] = [[] for _ in range(n_channels)]

    def free(self, ch: int, a: float, b: float, margin: float) -> bool:
        return all(b + margin <= s or a - margin >= e for s, e in self.busy[ch])

    def take(self, ch: int, a: float, b: float) -> None:
        self.busy[ch].append((a, b))


def _held(rng: np.random.Generator, fs_hi: float, dur_s: float) -> np.ndarray:
    """1-4 motor units firing steady trains at 6-14 Hz (intervals varying 8-25 %) for
    ``dur_s``: the resolved potentials of a weak held contraction, largest peak-to-peak
    about 1."""
    n = int(round(dur_s * fs_hi))
    out = np.zeros(n)
    for _ in range(int(rng.integers(1, 5))):
        mean, cv = 1.0 / rng.uniform(6.0, 14.0), rng.uniform(0.08, 0.25)
        gaps = mean * np.clip(1.0 + cv * rng.standard_normal(int(dur_s / mean * 1.5) + 2), 0.4, None)
        fires = np.round((rng.uniform(0, mean) + np.cumsum(gaps)) * fs_hi).astype(int)
        spikes = np.bincount(fires[fires < n], minlength=n)[:n] * rng.uniform(0.4, 1.0)
        out += signal.oaconvolve(spikes, _muap(rng, fs_hi, rng.uniform(0.005, 0.015), int(rng.integers(2, 5))))[:n]
    return out / max(float(np.ptp(out)), 1e-12)


def simulate(cfg: SynthConfig) -> tuple[Recording, dict]:
    """One synthetic recording and its truth (events-JSON dict with extras)."""
    rng = np.random.default_rng(cfg.seed)
    fs, C = float(cfg.fs), int(cfg.n_channels)
    if C < 1:
        raise ValueError("n_channels must be at least 1")
    duration = float(cfg.minutes) * 60.0
    n = int(round(duration * fs))
    cutoff = cfg.cutoff_hz or board_cutoff(fs)
    canvas = _Canvas(fs, C, n, cutoff)
    fs_hi = canvas.fs_hi
    names = tuple(f"EMG{i + 1}" for i in range(C))
    noise_base = cfg.noise_uv if cfg.noise_uv is not None else float(np.exp(rng.uniform(np.log(1.0), np.log(10.0))))
    noise_rms = noise_base * rng.uniform(0.8, 1.2, C) if cfg.noise_uv is None else np.full(C, noise_base)
    mains = cfg.mains_hz or float(rng.choice([50.0, 60.0]))
    twitch_rate = cfg.twitch_rate if cfg.twitch_rate is not None else float(np.exp(rng.uniform(np.log(3), np.log(60))))
    spasm_rate = cfg.spasm_rate if cfg.spasm_rate is not None else rng.uniform(0.3, 1.5)
    artifact_rate = cfg.artifact_rate if cfg.artifact_rate is not None else rng.uniform(0.5, 3.0)
    has_ecg = cfg.ecg if cfg.ecg is not None else bool(rng.random() < 0.35)
    events: list[dict] = []
    timeline = _Timeline(C)

    def neighbour(ch: int) -> int | None:
        options = [c for c in (ch - 1, ch + 1) if 0 <= c < C]
        return int(rng.choice(options)) if options else None

    def add_event(ch: int, t0: float, wave_hi: np.ndarray, kind: str, truth_span: tuple[float, float] | None = None):
        i0, y = canvas.render(wave_hi, t0)
        canvas.add(ch, i0, y)
        a, b = truth_span or (t0, t0 + len(wave_hi) / fs_hi)
        ev = {"channel": ch, "channel_name": names[ch], "start_s": a, "end_s": b, "kind": kind,
              "peak_uv": float(np.ptp(y)) if y.size else 0.0}
        events.append(ev)
        timeline.take(ch, a, b)
        return ev

    # Spasms and brief voluntary contractions: interference patterns.
    def contraction(kind: str, dur: float, t0: float, ch: int, level: float) -> None:
        # a brief voluntary contraction may be weak: a few units, whose potentials a fast
        # board resolves into spikes of their own
        wave = _interference(rng, fs_hi, dur, rise_frac=0.25 if kind == "spasm" else 0.15,
                             units=SPASM_UNITS if kind == "spasm" else BRIEF_UNITS) * level
        add_event(ch, t0, wave, kind)
        nb = neighbour(ch)
        if nb is not None and rng.random() < 0.5 and timeline.free(nb, t0, t0 + dur, 0.3):
            add_event(nb, t0, wave * rng.uniform(0.5, 0.8) * rng.choice([-1.0, 1.0]), kind)

    def place(dur: float, ch: int, margin: float, tries: int = 20,
              gen: np.random.Generator = rng) -> float | None:
        for _ in range(tries):
            t0 = gen.uniform(0.5, max(duration - dur - 0.5, 0.6))
            if t0 + dur < duration - 0.2 and timeline.free(ch, t0, t0 + dur, margin):
                return t0
        return None

    for _ in range(rng.poisson(spasm_rate * cfg.minutes)):
        dur = float(np.exp(rng.uniform(np.log(0.5), np.log(min(30.0, duration / 4)))))
        ch = int(rng.integers(C))
        t0 = place(dur, ch, 1.0)
        if t0 is not None:
            if rng.random() < WEAK_SPASM:  # barely above the noise: a spasm of a small muscle, or far from the electrode
                contraction("spasm", dur, t0, ch, noise_rms[ch] * float(np.exp(rng.uniform(np.log(1.5), np.log(6)))))
            else:
                level = max(noise_rms[ch] * rng.uniform(6, 15), float(np.exp(rng.uniform(np.log(15), np.log(300)))))
                contraction("spasm", dur, t0, ch, level)

    # Distractors.
    n_art = rng.poisson(artifact_rate * cfg.minutes)
    for _ in range(n_art):
        what = rng.choice(["motion", "pop", "voluntary"], p=[0.4, 0.35, 0.25])
        ch = int(rng.integers(C))
        if what == "voluntary":
            dur = rng.uniform(0.1, 0.45)  # brief: a spasm lasts 0.5 s or more
            t0 = place(dur, ch, 0.5)
            if t0 is not None:
                level = max(noise_rms[ch] * rng.uniform(6, 15), float(np.exp(rng.uniform(np.log(20), np.log(300)))))
                contraction("artifact", dur, t0, ch, level)
        elif what == "pop":
            tau = rng.uniform(0.05, 1.0)
            dur = min(3 * tau, 1.0)
            t0 = place(dur, ch, 0.5)
            if t0 is not None:
                m = int(5 * tau * fs_hi)
                wave = rng.choice([-1.0, 1.0]) * float(np.exp(rng.uniform(np.log(100), np.log(5000)))) * np.exp(-np.arange(m) / (tau * fs_hi))
                add_event(ch, t0, wave, "artifact", truth_span=(t0, t0 + dur))
        else:
            dur = rng.uniform(0.3, 2.0)
            chans = [c for c in range(C) if rng.random() < 0.6] or [ch]
            t0 = place(dur, chans[0], 0.5)
            if t0 is None or not all(timeline.free(c, t0, t0 + dur, 0.5) for c in chans):
                continue
            m = int(dur * fs_hi)
            t = np.arange(m) / fs_hi
            amp = float(np.exp(rng.uniform(np.log(50), np.log(2000))))
            for c in chans:
                swing = sum(rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * rng.uniform(0.5, 8.0) * t + rng.uniform(0, 2 * np.pi)) for _ in range(3))
                add_event(c, t0, amp * rng.uniform(0.3, 1.0) * swing * np.hanning(m), "artifact")

    # ECG bleed-through on one or two 'trunk' channels: every QRS is an artifact event.
    if has_ecg:
        trunk = sorted(set(int(c) for c in rng.choice(C, size=min(C, int(rng.integers(1, 3))), replace=False)))
        beat = _ecg_beat(fs_hi)
        hr = rng.uniform(50, 100) / 60.0
        t = rng.uniform(0.0, 1.0)
        amps = {c: float(np.exp(rng.uniform(np.log(20), np.log(200)))) for c in trunk}
        while t + 0.6 < duration:
            for c in trunk:
                ev = add_event(c, t, beat * amps[c], "artifact", truth_span=(t + 0.14, t + 0.26))
                ev["source"] = "ecg"
            t += (1.0 / hr) * rng.normal(1.0, 0.04)

    # Twitches: Poisson in time, mostly on one channel.
    ch_weights = rng.dirichlet(np.full(C, 2.0))
    clusters = np.random.default_rng([cfg.seed, 4])
    t = 0.0
    while True:
        t += rng.exponential(60.0 / twitch_rate)
        if t > duration - 0.5:
            break
        ch = int(rng.choice(C, p=ch_weights))
        dur = rng.uniform(0.003, 0.025)
        doublet = rng.random() < 0.08
        gap = rng.uniform(0.008, 0.03) if doublet else 0.0
        span = dur * (2 if doublet else 1) + gap
        if t < 0.3 or not timeline.free(ch, t, t + span, 0.3):
            continue
        unit = _muap(rng, fs_hi, dur, int(rng.integers(2, 6)))
        amp = float(np.exp(rng.uniform(np.log(20), np.log(800)))) / 2.0
        wave = unit * amp
        if doublet:
            wave = np.concatenate([wave, np.zeros(int(gap * fs_hi)), unit * amp * rng.uniform(0.9, 1.1)])
        ev = add_event(ch, t, wave, "twitch")
        if doublet:
            ev["doublet"] = True
        nb = neighbour(ch)
        if nb is not None and rng.random() < 0.3 and timeline.free(nb, t, t + span, 0.3):
            add_event(nb, t, wave * rng.uniform(0.15, 0.5), "twitch")
        # now and then the unit fires again 0.15-0.6 s later, up to 3 times (a cluster);
        # from a stream of its own, so that the rest of a recording stays as it was
        if clusters.random() < 0.12:
            t_next = t + span
            for _ in range(int(clusters.integers(1, 4))):
                t_next += clusters.uniform(0.15, 0.6)
                if t_next + span > duration - 0.5 or not timeline.free(ch, t_next, t_next + span, 0.1):
                    break
                again = add_event(ch, t_next, wave * clusters.uniform(0.85, 1.15), "twitch")
                again.update({"cluster": True, **({"doublet": True} if doublet else {})})

    # Cable taps and knocks (artifacts): a sharp spike, then a damped low swing or a slow
    # opposite tail, mostly on several channels at once (common mode, through the shared
    # cable and reference). From their own stream of the seed, so that the rest of a
    # recording does not depend on them.
    taps = np.random.default_rng([cfg.seed, 1])
    for _ in range(taps.poisson(0.3 * artifact_rate * cfg.minutes) if C > 1 else 0):
        tau = taps.uniform(0.03, 0.12)
        dur = 3 * tau
        t0 = taps.uniform(0.5, max(duration - dur - 0.5, 0.6))
        chans = [c for c in range(C) if taps.random() < 0.7 and timeline.free(c, t0, t0 + dur, 0.3)]
        if not chans or t0 + dur > duration - 0.2:
            continue
        t = np.arange(int(dur * fs_hi)) / fs_hi
        if taps.random() < 0.5:  # a damped low swing after the spike
            wave = 0.3 * np.sin(2 * np.pi * taps.uniform(5.0, 25.0) * t) * np.exp(-t / tau)
        else:  # or a slow opposite tail (the amplifier's input recovering)
            t2 = taps.uniform(0.3, 0.6) * tau
            wave = -taps.uniform(0.1, 0.3) * (t / t2) * np.exp(1 - t / t2)
        if taps.random() < 0.5:  # a half-sine spike of 1-4 ms
            m_spike = max(2, int(taps.uniform(0.001, 0.004) * fs_hi))
            wave[:m_spike] += np.sin(np.pi * np.arange(m_spike) / m_spike)
        else:  # or a sharp rise and an exponential fall
            t1 = taps.uniform(0.001, 0.003)
            wave += (t / t1) * np.exp(1 - t / t1)
        wave *= float(np.exp(taps.uniform(np.log(100), np.log(3000)))) * taps.choice([-1.0, 1.0])
        for c in chans:
            ev = add_event(c, t0, wave * taps.uniform(0.4, 1.0) * (1.0 if taps.random() < 0.8 else -1.0), "artifact")
            ev["source"] = "tap"

    # Held weak contractions (labelled spasm: a sustained contraction): a few motor units
    # firing steady trains, each potential standing clear of the noise, as a muscle
    # that is not quite relaxed shows. From their own stream of the seed.
    held = np.random.default_rng([cfg.seed, 5])
    for _ in range(held.poisson(HELD_SHARE * spasm_rate * cfg.minutes)):
        dur = float(np.exp(held.uniform(np.log(1.0), np.log(min(20.0, max(duration / 4, 1.0))))))
        ch = int(held.integers(C))
        t0 = place(dur, ch, 0.5, gen=held)
        if t0 is not None:
            wave = _held(held, fs_hi, dur)
            size = noise_rms[ch] * float(np.exp(held.uniform(np.log(6), np.log(40))))
            wave *= size / np.ptp(canvas.render(wave, t0)[1])  # sized as the board shows it
            add_event(ch, t0, wave, "spasm")["source"] = "held"

    # Background.
    white = rng.standard_normal((C, n))
    lp = signal.butter(4, cutoff, fs=fs, output="sos") if cutoff < 0.49 * fs else None
    if lp is not None:
        white = signal.sosfilt(lp, white, axis=1)
    white /= white.std(axis=1, keepdims=True) + 1e-12
    if cfg.electrode_noise:
        white = _electrode_noise(np.random.default_rng([cfg.seed, 2]), white, fs, cutoff)
    x = canvas.x + white * noise_rms[:, None]
    tt = np.arange(n) / fs
    hum_amp = rng.uniform(2.0, 30.0, C)
    grid = np.random.default_rng([cfg.seed, 3])  # the grid's own stream: the rest stays as it was
    hum_amp *= np.exp(grid.uniform(0.0, np.log(4.0)))
    runs = mains * (1.0 + grid.uniform(-0.002, 0.002))  # grids run a little off 50/60 Hz
    hum = np.sin(2 * np.pi * runs * tt + rng.uniform(0, 2 * np.pi))
    for h, rel in ((2, 0.3), (3, 0.15)):
        if h * mains < min(cutoff, fs / 2 - 1):
            hum = hum + rel * np.sin(2 * np.pi * h * runs * tt + rng.uniform(0, 2 * np.pi))
    if cfg.hum_swings:
        hum *= _hum_level(np.random.default_rng([cfg.seed, 4]), n, fs)
    x += hum_amp[:, None] * hum[None, :]
    for _ in range(3):
        f = rng.uniform(0.05, 0.5)
        x += rng.uniform(5, 60, C)[:, None] * np.sin(2 * np.pi * f * tt + rng.uniform(0, 2 * np.pi))[None, :]
    x += rng.uniform(-500, 500, C)[:, None]

    events.sort(key=lambda e: (e["start_s"], e["channel"]))
    for e in events:
        e["start_s"] = round(e["start_s"], 6)
        e["end_s"] = round(min(e["end_s"], duration), 6)
        e["peak_uv"] = round(e["peak_uv"], 3)
    rec = Recording(x.astype(np.float32), fs, names, source=f"synthetic(seed={cfg.seed})",
                    meta={"format": "synthetic", "mains_hz": mains})
    truth = {"source": rec.source, "fs": fs, "channels": list(names), "duration_s": n / fs,
             "events": events, "noise_rms_uv": [round(float(v), 4) for v in noise_rms],
             "mains_hz": mains, "mains_runs_hz": round(runs, 4), "board_cutoff_hz": cutoff, "seed": cfg.seed}
    return rec, truth
