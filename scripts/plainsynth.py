"""A third, deliberately plain synthetic generator, for evaluation only: the textbook
models a test author would reach for first, unlike both twitchwatch.synth and altsynth.

- twitches: a Gaussian's first or second derivative (a biphasic or triphasic surface
  motor-unit potential), width sigma 1.3-4 ms, peak-to-peak 6-40 x the noise rms, 5-20 per
  minute per channel;
- spasms: Gaussian noise band-passed to 20-150 Hz (or to 0.45 fs) under a Tukey window,
  1-10 s, rms 3-10 x the noise rms (``--spasm-rms LO HI`` to measure weaker ones), on one channel;
- artifacts: motion (a 1-4 Hz sine under a Hann window, 50-300 uV, 0.3-1 s) and electrode
  pops (a step of 100-500 uV decaying over 50-300 ms);
- background: white noise (1.5-8 uV rms per channel) and mains hum at 50 or 60 Hz (2-40 uV);
- the board: everything drawn at 8 x the rate, then no filter (point sampling: a narrow
  potential lands on one or two samples), or a 2nd- or 4th-order Butterworth low-pass at
  0.4 fs, then decimated. The truth's peak-to-peak and extent (above 5 % of the peak) are
  measured after that, and ``noise_rms_uv`` is the noise's rms after it.

    PYTHONPATH=src .venv/bin/python scripts/plainsynth.py OUT_DIR --seeds 0 1 --rates 200 1000 --score

The command line, files and scores are ``scripts/altsynth.py``'s (its ``arguments`` and
``run``); ``--board none|2|4`` fixes the board filter instead of drawing it per recording.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy import signal

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import altsynth  # noqa: E402  (puts src/ on the path)
from twitchwatch.errors import UserError  # noqa: E402
from twitchwatch.types import Recording  # noqa: E402

UP = 8  # events and noise are drawn at this many times the rate
BOARDS = ("none", "2", "4")
EDGE_S = 1.0  # no event within this of the recording's ends
GAP_S = 0.5  # least time between events on a channel
LEAST_S = 12.0  # the shortest recording
SPASM_RMS = (3.0, 10.0)  # a spasm's rms over the noise rms, drawn in this range


def _board(order: str, fs: float):
    """The board's filter at the high rate (None: point sampling)."""
    return None if order == "none" else signal.butter(int(order), 0.4 * fs, fs=UP * fs, output="sos")


def _sample(y: np.ndarray, sos, phase: int) -> np.ndarray:
    return (y if sos is None else signal.sosfilt(sos, y))[phase::UP]


def generate(seed: int, fs: float, minutes: float, n_channels: int = 4, board: str | None = None,
             spasm_rms: tuple[float, float] = SPASM_RMS) -> tuple[Recording, dict]:
    """A recording (float32 uV) and its truth, from ``seed`` and the rate; spasms at
    ``spasm_rms`` (low, high) times the noise rms (the same draws whatever the range)."""
    if not (fs > 0 and np.isfinite(fs)):
        raise UserError(f"--rates {fs}: a sampling rate must be a positive number of Hz")
    if not minutes * 60 >= LEAST_S:
        raise UserError(f"--minutes {minutes}: must be at least {LEAST_S / 60:.2f} ({LEAST_S:g} s)")
    if not 0 < spasm_rms[0] <= spasm_rms[1] < np.inf:
        raise UserError(f"--spasm-rms {spasm_rms[0]:g} {spasm_rms[1]:g}: give LO HI with 0 < LO <= HI")
    rng = np.random.default_rng([int(seed), int(round(fs * 1000)), 3])
    order = board if board is not None else str(rng.choice(BOARDS))
    sos = _board(order, fs)
    n = int(round(minutes * 60 * fs))
    hi = UP * fs
    sigma = rng.uniform(1.5, 8.0, n_channels)
    data = np.empty((n_channels, n))
    for c in range(n_channels):
        z = _sample(rng.standard_normal(n * UP + 4 * UP), sos, 4 * UP)[:n]
        data[c] = z / z.std() * sigma[c]
    mains = float(rng.choice([50.0, 60.0]))
    data += rng.uniform(2.0, 40.0) * np.sin(2 * np.pi * mains * np.arange(n) / fs + rng.uniform(0, 2 * np.pi))

    busy: list[list[tuple[float, float]]] = [[] for _ in range(n_channels)]
    events = []

    def put(kind: str, c: int, t0: float, wave_hi: np.ndarray, target: float, measure: str) -> None:
        i0 = int(np.floor(t0 * fs))
        phase = int(rng.integers(UP))
        y = _sample(np.r_[wave_hi, np.zeros(int(0.05 * hi))], sos, phase)
        y *= target / (np.ptp(y) if measure == "ptp" else np.sqrt(np.mean(y ** 2)))
        y = y[:n - i0]
        data[c, i0:i0 + y.size] += y
        on = np.flatnonzero(np.abs(y) >= 0.05 * np.abs(y).max())
        a, b = (i0 + on[0]) / fs, (i0 + on[-1] + 1) / fs
        busy[c].append((a, b))
        events.append({"channel": c, "start_s": round(a, 6), "end_s": round(b, 6), "kind": kind,
                       "peak_uv": round(float(np.ptp(y)), 3)})

    def spot(c: int, dur: float) -> float | None:
        for _ in range(20):
            t0 = float(rng.uniform(EDGE_S, n / fs - EDGE_S - dur))
            if all(t0 + dur + GAP_S < a or t0 - GAP_S > b for a, b in busy[c]):
                return t0
        return None

    for _ in range(rng.poisson(0.3 * minutes * n_channels)):  # spasms
        c, dur = int(rng.integers(n_channels)), float(rng.uniform(1.0, 10.0))
        if (t0 := spot(c, dur)) is not None:
            m = int(dur * hi)
            band = signal.butter(4, [20.0, min(150.0, 0.45 * fs)], btype="bandpass", fs=hi, output="sos")
            wave = signal.sosfiltfilt(band, rng.standard_normal(m)) * signal.windows.tukey(m, 0.3)
            put("spasm", c, t0, wave, sigma[c] * rng.uniform(*spasm_rms), "rms")
    for _ in range(rng.poisson(0.5 * minutes * n_channels)):  # motion and pops
        c, dur = int(rng.integers(n_channels)), float(rng.uniform(0.3, 1.0))
        if (t0 := spot(c, dur)) is not None:
            t = np.arange(int(dur * hi)) / hi
            if rng.random() < 0.5:
                wave, size = np.sin(2 * np.pi * rng.uniform(1.0, 4.0) * t) * np.hanning(t.size), rng.uniform(50, 300)
            else:
                wave, size = np.exp(-t / rng.uniform(0.05, 0.3)), rng.uniform(100, 500)
            put("artifact", c, t0, wave * rng.choice([-1.0, 1.0]), size, "ptp")
    for c in range(n_channels):  # twitches
        for _ in range(rng.poisson(rng.uniform(5.0, 20.0) * minutes)):
            s = rng.uniform(0.0013, 0.004)
            if (t0 := spot(c, 6 * s)) is not None:
                u = np.arange(-3 * s, 3 * s, 1 / hi) / s
                g = np.exp(-u * u / 2)
                wave = -u * g if rng.random() < 0.5 else (1 - u * u) * g
                put("twitch", c, t0, wave * rng.choice([-1.0, 1.0]), sigma[c] * rng.uniform(6.0, 40.0), "ptp")

    names = tuple(f"EMG{c + 1}" for c in range(n_channels))
    for e in events:
        e["channel_name"] = names[e["channel"]]
    events.sort(key=lambda e: (e["start_s"], e["channel"]))
    rec = Recording(data.astype(np.float32), float(fs), names, source=f"plainsynth seed {seed} at {fs:g} Hz")
    truth = {"source": rec.source, "fs": float(fs), "channels": list(names), "duration_s": n / fs, "events": events,
             "noise_rms_uv": [round(float(v), 4) for v in sigma], "generator": "plainsynth", "seed": int(seed),
             "board": order, "mains_hz": mains}
    return rec, truth


def main(argv: list[str] | None = None) -> int:
    ap = altsynth.arguments(__doc__, "plainsynth")
    ap.add_argument("--board", choices=BOARDS, default=None, help="the board filter (default: drawn per recording)")
    ap.add_argument("--spasm-rms", type=float, nargs=2, metavar=("LO", "HI"), default=SPASM_RMS,
                    help="spasms' rms over the noise rms, drawn between these (default: %(default)s)")
    args = ap.parse_args(argv)
    spasm_rms = tuple(args.spasm_rms)

    def make(seed, fs, minutes, n_channels):
        return generate(seed, fs, minutes, n_channels, args.board, spasm_rms)

    note = f", board filter {args.board or 'drawn'}, spasms at {spasm_rms[0]:g}-{spasm_rms[1]:g} x the noise rms"
    return altsynth.run(args, "plainsynth", "plain", make, note)


if __name__ == "__main__":
    altsynth.cli(main, "plainsynth")
