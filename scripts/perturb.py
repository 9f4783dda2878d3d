"""How the pipeline holds up when the independent generator's recordings are changed in
ways a real recording, or another generator, may differ from them.

    PYTHONPATH=src .venv/bin/python scripts/perturb.py [--seeds 0 1 ... 9] [--rates 200 250 1000]
        [--only off hum ...] [--minutes 3]

Each perturbation changes the recordings of ``scripts/altsynth.py`` (seeds x rates, 4
channels), which are then scored against their truth as ``altsynth.py --score`` scores
them (the shipped model; truth twitches under 6 x the noise rms set aside). The table
gives twitch and spasm F1 per perturbation and rate, the unperturbed recordings first:
- offset: 30 mV of DC on every channel (a Cyton's raw offset);
- gain: every sample x 0.25 (another amplifier gain; the truth's amplitudes with it);
- quantised: samples in 0.5 uV steps;
- flat: channel 4 railed at 187.5 mV (its truth left out);
- off: channel 4's electrode off, 300 uV of noise (its truth left out);
- hum: 800 uV of hum at the recording's mains (50 Hz where it has none), with 3rd and
  5th harmonics of 150 and 60 uV;
- start: a 300 uV contraction on every channel for the first 1.2 s (nothing in the first
  2 s scored);
- wander: 5 mV of baseline wander at 0.2 Hz;
- unused: twelve rows of zeros beside the four channels (a board's file with rows that
  no electrode feeds: the synthetic board's BrainFlow CSV has 16).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import altsynth  # noqa: E402  (puts src/ on the path)
from twitchwatch.classify import make_classifier  # noqa: E402
from twitchwatch.evaluate import Tally  # noqa: E402
from twitchwatch.pipeline import analyze  # noqa: E402
from twitchwatch.report_json import events_doc  # noqa: E402
from twitchwatch.types import Recording  # noqa: E402

RAIL_UV = 187500.0  # a Cyton channel railed
START_S = 2.0  # with "start", nothing before this is scored
UNUSED_ROWS = 12  # with "unused", rows of zeros added


def _without_channel(truth: dict, ch: int) -> dict:
    return dict(truth, events=[e for e in truth["events"] if e["channel"] != ch])


def _offset(x, truth, t, rng):
    return x + 30000.0, truth


def _gain(x, truth, t, rng):
    events = [dict(e, peak_uv=e["peak_uv"] * 0.25) for e in truth["events"]]
    return x * 0.25, dict(truth, events=events, noise_rms_uv=[v * 0.25 for v in truth["noise_rms_uv"]])


def _quantised(x, truth, t, rng):
    return np.round(x / 0.5) * 0.5, truth


def _flat(x, truth, t, rng):
    x = x.copy()
    x[3] = RAIL_UV
    return x, _without_channel(truth, 3)


def _off(x, truth, t, rng):
    x = x.copy()
    x[3] = 300.0 * rng.standard_normal(x.shape[1])
    return x, _without_channel(truth, 3)


def _hum(x, truth, t, rng):
    mains = truth.get("mains_hz") or 50.0
    hum = sum(a * np.sin(2 * np.pi * k * mains * t + rng.uniform(0, 2 * np.pi)) for k, a in ((1, 800.0), (3, 150.0), (5, 60.0)))
    return x + hum[None, :], truth


def _start(x, truth, t, rng):
    x = x.copy()
    n = int((t < 1.2).sum())
    x[:, :n] += 300.0 * rng.standard_normal((x.shape[0], n))
    return x, truth


def _wander(x, truth, t, rng):
    return x + 5000.0 * np.sin(2 * np.pi * 0.2 * t)[None, :] * rng.uniform(0.5, 1.0, (x.shape[0], 1)), truth


def _unused(x, truth, t, rng):
    return np.vstack([x, np.zeros((UNUSED_ROWS, x.shape[1]))]), truth


PERTURBATIONS: dict[str, Callable] = {"offset": _offset, "gain": _gain, "quantised": _quantised, "flat": _flat,
                                      "off": _off, "hum": _hum, "start": _start, "wander": _wander,
                                      "unused": _unused}


def _scored(doc: dict, name: str) -> dict:
    """Events of ``doc`` that are scored under perturbation ``name``."""
    if name != "start":
        return doc
    return dict(doc, events=[e for e in doc["events"] if e["start_s"] > START_S])


def score(seeds: list[int], rates: list[float], minutes: float, names: list[str]) -> dict[str, Tally]:
    """A Tally per perturbation ("none" first) over the generator's recordings. "none" is
    scored like each perturbation it is set beside (with "start", also from 2 s on)."""
    tallies = {name: Tally() for name in ["none"] + names + (["none from 2 s"] if "start" in names else [])}
    for fs in rates:
        classifier = make_classifier(None, fs)
        for seed in seeds:
            rec, truth = altsynth.generate(seed, fs, minutes, 4)
            x = np.asarray(rec.data, dtype=np.float64)
            t = np.arange(x.shape[1]) / fs
            found = events_doc(rec, analyze(rec, classifier=classifier))
            tallies["none"].add(fs, truth, found)
            if "start" in names:
                tallies["none from 2 s"].add(fs, _scored(truth, "start"), _scored(found, "start"))
            for name in names:
                y, their = PERTURBATIONS[name](x, truth, t, np.random.default_rng(seed))
                rows = rec.channels + tuple(f"unused{k}" for k in range(len(x), len(y)))
                changed = Recording(y, fs, rows, f"{rec.source} ({name})")
                doc = events_doc(changed, analyze(changed, classifier=classifier))
                tallies[name].add(fs, _scored(their, name), _scored(doc, name))
            print(f"  seed {seed} at {fs:g} Hz", file=sys.stderr, flush=True)
    return tallies


def table(tallies: dict[str, Tally]) -> str:
    """Markdown: a row per perturbation, twitch / spasm F1 per rate."""
    rates = sorted(tallies["none"].by_rate)
    lines = ["| perturbation | " + " | ".join(f"{fs:g} Hz twitch / spasm F1" for fs in rates) + " |",
             "|---|" + "---|" * len(rates)]
    for name, tally in tallies.items():
        cells = [f"{tally.by_rate[fs].kinds['twitch'].f1:.3f} / {tally.by_rate[fs].kinds['spasm'].f1:.3f}"
                 for fs in rates]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    ap.add_argument("--rates", type=float, nargs="+", default=[200.0, 250.0, 1000.0])
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--only", nargs="+", choices=sorted(PERTURBATIONS), metavar="NAME",
                    help=f"these perturbations only (of {', '.join(PERTURBATIONS)})")
    args = ap.parse_args(argv)
    names = args.only or list(PERTURBATIONS)
    tallies = score(args.seeds, args.rates, args.minutes, names)
    print(f"{len(args.seeds)} seeds x {len(args.rates)} rates, {args.minutes:g} min, 4 channels of scripts/altsynth.py\n")
    print(table(tallies))
    return 0


if __name__ == "__main__":
    sys.exit(main())
