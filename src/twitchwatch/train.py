"""Training data and training for the learned classifier (``twitchwatch train``).

Every example is a burst the detector really found, with the features it really
computed, labelled by what was there:
- synthetic recordings (``synth.simulate`` across sampling rates, board low-pass
  filters, noise levels and mains): the truth event the burst overlaps most (twitch,
  spasm or artifact), or ``noise`` where there was none, or where a "twitch" burst lasts
  over ``TWITCH_MAX_S``;
- real recordings with known activity (``REAL_LABELS``): bursts inside a sustained
  contraction are ``spasm`` (a contraction is reported as spasm-or-contraction), every
  other burst, and every burst of a rest recording, is ``artifact`` (not a twitch).

Deterministic from a seed: the synthetic seeds are drawn from it, the model's own
randomness is seeded with it, and the work is split over processes without changing
the result.
"""
from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .classify import FEATURE_VERSION, FEATURES, MODEL_CLASSES, feature_matrix
from .estimator import EpisodeClassifier
from .evaluate import MIN_TWITCH_SNR, label_events
from .pipeline import detect
from .synth import SynthConfig, simulate
from .types import Burst

TRAIN_RATES = (125.0, 200.0, 250.0, 500.0, 1000.0)
# A burst longer than this that holds a twitch is not that twitch found (a fasciculation
# lasts milliseconds; a cluster of them, well under a second) but a stretch of noise or
# movement it fell in: labelled ``noise``, so that no long burst is taught as a twitch.
TWITCH_MAX_S = 1.0
ASIDE = "aside"  # the label of a burst training leaves out (see ``synthetic_labels``)
HELD_ONSET_S = 0.4  # a held weak contraction's first potentials are set aside (see ``synthetic_labels``)
OTHER_BOARDS = 0.5  # share of training recordings with a board low-pass other than the rate's usual one
EVAL_SEEDS = range(1000, 1010)  # held out: the accuracy tests and the model card use these
TUNE_SEEDS = range(100, 112)  # the detector was tuned on these

# Real recordings with activity we can label (see ../shared/recordings/real/README.md):
# file -> (open_recording options, contraction intervals in s, or "label-column", or None for rest)
REAL_LABELS: dict[str, tuple[dict, object]] = {
    "OpenBCI-RAW-S05_S1REST.txt": ({}, None),
    "myo-readings_12345-1_0.txt": ({"fs": 200, "columns": "0-7"}, None),
    "myo-readings_12345-1_7.txt": ({"fs": 200, "columns": "0-7"}, "label-column"),
    "OpenBCI-RAW-S05_S1R0.txt": ({}, [(10.0, 11.5), (33, 38.5), (55, 60.5), (73, 79.5), (84, 88.5), (112, 116.5)]),
    "emg_1.txt": ({}, [(1.3, 2.3), (15.3, 17.3), (25.3, 27.3)]),
    "OpenBCI_GUI-v6-blinks-jawClench-alpha.txt": ({}, [(7.8, 9.3), (9.8, 10.4), (10.8, 12.3), (12.8, 13.4), (81.8, 89.3)]),
}


@dataclass
class Examples:
    """Feature rows, labels and where each came from (rate, source)."""

    X: np.ndarray = field(default_factory=lambda: np.zeros((0, len(FEATURES))))
    y: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    fs: np.ndarray = field(default_factory=lambda: np.zeros(0))
    source: list[str] = field(default_factory=list)

    def extend(self, X: np.ndarray, y: list[str], fs: float, source: str) -> None:
        self.X = np.vstack([self.X, X])
        self.y = np.concatenate([self.y, np.asarray(y, dtype=object)])
        self.fs = np.concatenate([self.fs, np.full(len(y), float(fs))])
        self.source += [source] * len(y)

    def select(self, keep: np.ndarray) -> "Examples":
        """The examples where ``keep`` is true."""
        keep = np.asarray(keep, dtype=bool)
        return Examples(self.X[keep], self.y[keep], self.fs[keep], [s for s, k in zip(self.source, keep) if k])

    def merge(self, other: "Examples") -> None:
        self.X = np.vstack([self.X, other.X])
        self.y = np.concatenate([self.y, other.y])
        self.fs = np.concatenate([self.fs, other.fs])
        self.source += other.source


def label_by_intervals(bursts: list[Burst], intervals: list[tuple[float, float]]) -> list[str]:
    """``spasm`` for a burst inside a known contraction (any channel), else ``artifact``."""
    return ["spasm" if any(e.start_s < b and e.end_s > a for a, b in intervals) else "artifact" for e in bursts]


def _events(bursts: list[Burst]) -> list[dict]:
    return [{"channel": b.channel, "start_s": b.start_s, "end_s": b.end_s} for b in bursts]


def _one_blas_thread():
    """BLAS on one thread, as twitchwatch's import sets it (see __init__), also when the
    caller imported numpy first: the examples, and so the model, must not depend on the
    number of cores. For the training workers, for good; also a context manager (the
    caller's own limit comes back after it)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="blas")


def _synthetic_job(args: tuple[float, int, float]) -> tuple[np.ndarray, list[str], float, str]:
    fs, seed, minutes = args
    rec, truth = simulate(SynthConfig(minutes=minutes, fs=fs, seed=seed, cutoff_hz=board_band(fs, seed)))
    bursts = outer(detect(rec))
    labels = synthetic_labels(bursts, truth["events"], truth["noise_rms_uv"])
    taught = [b for b, label in zip(bursts, labels) if label != ASIDE]
    return feature_matrix([b.features for b in taught], fs), [label for label in labels if label != ASIDE], fs, \
        f"synth:{fs:g}:{seed}"


def outer(bursts: list[Burst]) -> list[Burst]:
    """The bursts the model learns from: not the spikes the detector found inside long
    bursts (``inner``). Those are classified by the same model, as the short bursts they
    look like, and reported only as twitches; taught as examples of their own, they cost
    real contractions left out of training (5 of 6 Myo fists as spasm -> 1 of 6)."""
    return [b for b in bursts if not b.features.get("inner", 0.0)]


def synthetic_labels(bursts: list[Burst], truth_events: list[dict], noise_rms_uv: list[float] | None = None) -> list[str]:
    """What each burst was (``label_events``), but ``noise`` for a "twitch" burst longer
    than ``TWITCH_MAX_S``, and ``ASIDE`` for the twitches whose peak-to-peak is under
    ``MIN_TWITCH_SNR`` times their channel's noise rms (when ``noise_rms_uv`` is given),
    which training leaves out. Below that a twitch cannot be told from a blip of the
    noise: taught as twitches they teach the model to call such blips twitches, and
    taught as noise (as they were) to call the twitches just over it noise. The bar
    counts them neither way; neither does training. Left out, twitch recall rose on all
    three generators (plainsynth 10 seeds, 200 / 250 / 1000 Hz: 1278 -> 1291, 1455 ->
    1466, 1626 -> 1649 found, 0 -> 1 false), and the Myo rest file left out of training
    went from 4 to 3 twitches a minute (scripts/evaluate.py --loo).

    Likewise the first ``HELD_ONSET_S`` of a held weak contraction (``source: held``):
    its first potentials come with nothing before them to tell them from twitches, and
    taught as spasm they taught the model to doubt every lone potential (plain generator,
    10 seeds x 4 rates: 31 fewer twitches found)."""
    truth_events = [part for t in truth_events for part in (
        (dict(t, kind=ASIDE, end_s=t["start_s"] + HELD_ONSET_S), dict(t, start_s=t["start_s"] + HELD_ONSET_S))
        if t.get("source") == "held" else (t,))]
    if noise_rms_uv is not None:
        truth_events = [dict(t, kind=ASIDE) if t["kind"] == "twitch"
                        and t.get("peak_uv", np.inf) < MIN_TWITCH_SNR * noise_rms_uv[t["channel"]] else t
                        for t in truth_events]
    return [("noise" if kind == "twitch" and b.end_s - b.start_s > TWITCH_MAX_S else kind)
            for b, kind in zip(bursts, label_events(_events(bursts), truth_events))]


def board_band(fs: float, seed: int) -> float | None:
    """The simulated board's low-pass for a training recording: the usual one for the
    rate (None) on half of them, on the other half anywhere in 0.25-0.45 fs (boards and
    their anti-alias filters differ; a model that knew one cut-off per rate took wider
    noise at 250 Hz for muscle)."""
    rng = np.random.default_rng([seed, 3])
    return float(rng.uniform(0.25, 0.45) * fs) if rng.random() < OTHER_BOARDS else None


def synthetic_jobs(seed: int, per_rate: int, minutes: float, rates=TRAIN_RATES) -> list[tuple[float, int, float]]:
    """(rate, recording seed, minutes) for training: seeds drawn from ``seed``, never an
    evaluation or tuning seed."""
    rng = np.random.default_rng(seed)
    banned = set(EVAL_SEEDS) | set(TUNE_SEEDS)
    jobs = []
    for fs in rates:
        picked: list[int] = []
        while len(picked) < per_rate:
            s = int(rng.integers(10_000, 1_000_000))
            if s not in banned and s not in picked:
                picked.append(s)
        jobs += [(float(fs), s, float(minutes)) for s in picked]
    return jobs


def real_examples(folder: Path) -> Examples:
    """Labelled bursts of the real recordings in ``folder`` that are present."""
    from .formats import open_recording

    ex = Examples()
    with _one_blas_thread():
        for name, (options, labels) in REAL_LABELS.items():
            path = folder / name
            if not path.is_file():
                continue
            rec = open_recording(path, **options)
            bursts = outer(detect(rec))
            if labels is None:
                y = ["artifact"] * len(bursts)
            elif labels == "label-column":
                y = label_by_intervals(bursts, label_column_intervals(path, rec.fs))
            else:
                y = label_by_intervals(bursts, labels)  # type: ignore[arg-type]
            ex.extend(feature_matrix([b.features for b in bursts], rec.fs), y, rec.fs, f"real:{name}")
    return ex


def label_column_intervals(path: Path, fs: float) -> list[tuple[float, float]]:
    """Intervals where the last column (a gesture label) is not 0, padded by 0.5 s."""
    labels = np.loadtxt(path, delimiter=",", usecols=-1, ndmin=1)
    active = np.concatenate([[0], (labels != 0).astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(active))
    return [(a / fs - 0.5, b / fs + 0.5) for a, b in zip(edges[::2], edges[1::2])]


def build_examples(seed: int = 0, per_rate: int = 8, minutes: float = 3.0, real_folder: Path | None = None,
                   jobs: int | None = None, progress: Callable[[int, int], None] | None = None) -> Examples:
    """Synthetic (and real, when ``real_folder`` has them) labelled bursts."""
    work = synthetic_jobs(seed, per_rate, minutes)
    ex = Examples()
    workers = max(1, jobs or os.cpu_count() or 1)
    with ProcessPoolExecutor(max_workers=workers, initializer=_one_blas_thread) as pool:
        for k, (X, y, fs, source) in enumerate(pool.map(_synthetic_job, work)):  # in order: deterministic
            ex.extend(X, y, fs, source)
            if progress is not None:
                progress(k + 1, len(work))
    if real_folder is not None:
        ex.merge(real_examples(real_folder))
    return ex


PER_RATE = 360  # synthetic recordings per rate of the shipped model (`twitchwatch train`'s default)
REAL_WEIGHT = 14.0  # a labelled real burst counts this many synthetic ones


def fit(ex: Examples, seed: int = 0, real_weight: float = REAL_WEIGHT) -> EpisodeClassifier:
    """Fit the classifier; real examples weigh ``real_weight`` times a synthetic one."""
    weight = np.where([s.startswith("real:") for s in ex.source], real_weight, 1.0)
    model = EpisodeClassifier(random_state=seed)
    return model.fit(ex.X, ex.y.astype(str), sample_weight=weight)


def metadata(ex: Examples, seed: int, per_rate: int, minutes: float) -> dict:
    """What the model was trained on, stored beside it."""
    counts = {k: int(np.sum(ex.y == k)) for k in MODEL_CLASSES}
    return {"feature_version": FEATURE_VERSION, "features": list(FEATURES), "classes": list(MODEL_CLASSES),
            "seed": seed, "synthetic_per_rate": per_rate, "minutes": minutes,
            "rates": list(TRAIN_RATES), "examples": counts, "real_weight": REAL_WEIGHT,
            "real_sources": sorted({s[5:] for s in ex.source if s.startswith("real:")})}
