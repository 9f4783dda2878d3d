"""The accuracy bars of the classifier issue, on simulated recordings, and the real ones.

Bar, per sampling rate, pooled over the held-out seeds 1000-1009 (3 minutes each, default
SynthConfig otherwise; the model never trains on them): twitch F1 >= 0.95 and spasm F1 >=
0.95 at 200, 250 and 1000 Hz, and fewer than 2% of the truth's artifacts called twitch.
125 and 500 Hz are held to a floor only (0.75), so that they cannot silently regress.
Pairs that fall short are marked xfail with the value measured when the mark was set
(not strict: they turn into passes when the detector and model get there).
Run ``python tests/test_accuracy.py`` to print the current table.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import REAL
from twitchwatch.evaluate import Score, score
from twitchwatch.pipeline import SPASM_MIN_S, analyze
from twitchwatch.report_json import events_doc
from twitchwatch.types import KINDS

RATES = (125.0, 200.0, 250.0, 500.0, 1000.0)
SEEDS = tuple(range(1000, 1010))
MINUTES = 3.0
BAR = {125.0: 0.75, 200.0: 0.95, 250.0: 0.95, 500.0: 0.75, 1000.0: 0.95}
MAX_ARTIFACT_AS_TWITCH = 0.02

# What fell short when these marks were set, pooled over SEEDS (python tests/test_accuracy.py).
SHORT = {
    (200.0, "twitch_f1"): "twitch F1 0.919 (tp 153, fp 3, fn 24): 17 misses are in the 4 recordings whose hum "
                          "swings (8 inside a burst of the sidebands the notch lets by: not found inside it, or "
                          "called spasm; 7 make no burst, at 6-14 x the noise); the other 6 give 87 / 3 / 7",
    (200.0, "spasm_f1"): "spasm F1 0.909 (tp 25, fp 1, fn 4): the misses are weak spasms (5-8 x the noise ptp) read "
                         "as noise, and one run through by ECG complexes",
    (250.0, "twitch_f1"): "twitch F1 0.906 (tp 139, fp 4, fn 25): most misses are in the 4 recordings whose "
                          "hum swings; the others are 6-9 x the noise, or in stretches of raised noise",
    (250.0, "spasm_f1"): "spasm F1 0.857 (tp 24, fp 3, fn 5): the misses are weak spasms (4-9 x the noise), or "
                         "run through by ECG complexes; the false alarms are a run of ECG, a stretch of noise "
                         "and a brief contraction",
    (1000.0, "spasm_f1"): "spasm F1 0.949 (tp 28, fp 2, fn 1): one call short of 0.95 (29 spasms); the miss is "
                          "a weak spasm (15 x the noise peak-to-peak) reported as artifacts, the false alarms a "
                          "run of ECG and a stretch of noise in a recording whose hum swings",
}


def pooled_score(analyzed, fs: float) -> Score:
    total = Score()
    for seed in SEEDS:
        rec, truth, episodes = analyzed(minutes=MINUTES, fs=fs, seed=seed)
        total.add(score(truth, events_doc(rec, episodes)))
    return total


def _cases():
    for fs in RATES:
        for metric in ("twitch_f1", "spasm_f1", "artifact_as_twitch"):
            reason = SHORT.get((fs, metric))
            marks = [pytest.mark.xfail(strict=False, reason=reason)] if reason else []
            yield pytest.param(fs, metric, marks=marks, id=f"{int(fs)}Hz-{metric}")


@pytest.mark.parametrize("fs,metric", list(_cases()))
def test_accuracy_bar(fs, metric, analyzed):
    s = pooled_score(analyzed, fs)
    if metric == "artifact_as_twitch":
        assert s.artifacts >= 20, "too few truth artifacts for the rate to mean anything"
        rate = s.artifact_as_twitch_rate
        assert rate < MAX_ARTIFACT_AS_TWITCH, f"{rate:.3f} of {s.artifacts} truth artifacts called twitch"
        return
    kind = metric.split("_")[0]
    c = s.kinds[kind]
    assert c.tp + c.fn >= 10, f"too few scorable truth {kind}es to judge"
    assert c.f1 >= BAR[fs], f"{kind} F1 {c.f1:.3f} (tp {c.tp}, fp {c.fp}, fn {c.fn}) at {fs:g} Hz"


# -- real recordings -----------------------------------------------------------------

REAL_FILES = sorted(p.name for p in REAL.glob("*.txt") if p.name != "README.md") if REAL.is_dir() else []
REST = {
    "OpenBCI-RAW-S05_S1REST.txt": None,
    "myo-readings_12345-1_0.txt": None,
}
_real_cache: dict = {}


def real_analysis(name: str):
    if name not in _real_cache:
        from twitchwatch.formats import open_recording
        options = {"fs": 200, "columns": "0-7"} if name.startswith("myo") else {}
        rec = open_recording(REAL / name, **options)
        _real_cache[name] = (rec, analyze(rec))
    return _real_cache[name]


needs_real = pytest.mark.skipif(not REAL_FILES, reason=f"shared real recordings not found at {REAL}")


@needs_real
@pytest.mark.parametrize("name", REAL_FILES)
def test_real_recording_is_analysed(name, schema):
    jsonschema = pytest.importorskip("jsonschema")
    rec, episodes = real_analysis(name)
    assert rec.n_samples > 0
    for e in episodes:
        assert 0 <= e.channel < rec.n_channels
        assert e.channel_name == rec.channels[e.channel]
        assert 0.0 <= e.start_s < e.end_s <= rec.duration_s + 1e-9, (e.start_s, e.end_s, rec.duration_s)
        assert e.kind in KINDS
        assert 0.0 <= e.confidence <= 1.0
        assert np.isfinite(e.peak_uv) and e.peak_uv >= 0
    doc = events_doc(rec, episodes)
    jsonschema.validate(json.loads(json.dumps(doc)), schema)


def _rest_cases():
    for name, reason in REST.items():
        marks = [pytest.mark.xfail(strict=False, reason=reason)] if reason else []
        yield pytest.param(name, marks=marks, id=name)


@needs_real
@pytest.mark.parametrize("name", list(_rest_cases()))
def test_rest_recording_has_few_twitches(name):
    if name not in REAL_FILES:
        pytest.skip(f"{name} not among the shared recordings")
    rec, episodes = real_analysis(name)
    twitches = sum(e.kind == "twitch" for e in episodes)
    per_minute = twitches / (rec.duration_s / 60)  # all channels together
    assert per_minute < 2.0, f"{twitches} twitches in {rec.duration_s:.1f} s: {per_minute:.1f} per minute"


# Known contractions that are brief as the detector sees them (under pipeline.SPASM_MIN_S):
# reported as a brief contraction (artifact), not as spasm; (file, interval index) -> what
# they look like.
BRIEF_CONTRACTIONS = {
    ("OpenBCI-RAW-S05_S1R0.txt", 0): "the 'short one at about 10.5 s' (the recordings' README) is one 85 ms "
                                     "burst on two channels",
    ("emg_1.txt", 0): "one 0.35 s burst at 1.45-1.8 s, 15 x the noise; the file's other two are 1.4 s and "
                      "two 0.2 s bursts 0.7 s apart (joined into one spasm)",
}


def _contraction_cases():
    from twitchwatch.train import REAL_LABELS

    for name, (options, labels) in REAL_LABELS.items():
        if labels is not None:
            yield pytest.param(name, options, labels, id=name)


@needs_real
@pytest.mark.parametrize("name,options,labels", list(_contraction_cases()))
def test_real_contractions_are_reported_as_spasm_not_twitches(name, options, labels):
    """Each known contraction (the recordings' README; the Myo file's label column) is
    reported as spasm on some channel, or when it is brief (BRIEF_CONTRACTIONS) as a brief
    contraction (artifact); never as a run of twitches. These recordings are in the
    model's training data (see models/MODEL_CARD.md for the leave-one-recording-out
    figures)."""
    from twitchwatch.formats import open_recording
    from twitchwatch.train import label_column_intervals

    if name not in REAL_FILES:
        pytest.skip(f"{name} not among the shared recordings")
    rec = open_recording(REAL / name, **options)
    episodes = analyze(rec)
    intervals = label_column_intervals(REAL / name, rec.fs) if labels == "label-column" else labels
    for k, (a, b) in enumerate(intervals):
        inside = [e for e in episodes if e.start_s < b and e.end_s > a]
        if (name, k) in BRIEF_CONTRACTIONS:
            assert any(e.kind == "artifact" and e.end_s - e.start_s < SPASM_MIN_S for e in inside), \
                f"no brief contraction in {a}-{b} s"
        else:
            assert any(e.kind == "spasm" for e in inside), f"nothing reported as spasm in {a}-{b} s"
        assert sum(e.kind == "twitch" for e in inside) <= 1, f"a run of twitches in {a}-{b} s"


if __name__ == "__main__":  # the table behind SHORT and REST
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from twitchwatch.synth import SynthConfig, simulate

    for fs in RATES:
        total = Score()
        for seed in SEEDS:
            rec, truth = simulate(SynthConfig(minutes=MINUTES, fs=fs, seed=seed))
            total.add(score(truth, events_doc(rec, analyze(rec))))
        d = total.as_dict()
        row = "  ".join(f"{k} tp {v['tp']} fp {v['fp']} fn {v['fn']} F1 {v['f1']:.3f}" for k, v in d["kinds"].items())
        print(f"{fs:6g} Hz  {row}  artifacts->twitch {d['artifacts_called_twitch']}/{d['artifacts']} "
              f"= {d['artifact_as_twitch_rate']:.4f}  (set aside {d['set_aside_low_snr']})")
    for name in REST:
        if name in REAL_FILES:
            rec, episodes = real_analysis(name)
            n = sum(e.kind == "twitch" for e in episodes)
            print(f"{name}: {n} twitches in {rec.duration_s:.1f} s = {n / rec.duration_s * 60:.2f}/min "
                  f"({n / rec.duration_s * 60 / rec.n_channels:.2f} per channel-minute)")
