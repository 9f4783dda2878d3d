"""Held-out figures for the model card: per kind and sampling rate, confusion, calibration,
the rule baseline beside the model, and the real recordings (in-sample and left out).

    .venv/bin/python scripts/evaluate.py [--model PATH] [--seeds 1000 ... 1009] [--loo]
                                         [--plot models/confusion.png] [--json OUT] [--errors OUT.csv]

Seeds 1000-1009 are never used in training (twitchwatch.train.EVAL_SEEDS). ``--loo``
also retrains the model once per labelled real recording without it (on the synthetic
set of --loo-per-rate, by default the shipped model's) and reports what the model does on the
recording it never saw.
Prints markdown.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from twitchwatch.classify import ModelClassifier, RuleClassifier, feature_matrix, load_model  # noqa: E402
from twitchwatch.evaluate import (CONFUSION_FOUND, CONFUSION_TRUTH, Tally, label_events, plot_confusion,  # noqa: E402
                                  write_mistakes)
from twitchwatch.pipeline import analyze, detect  # noqa: E402
from twitchwatch.report_json import events_doc  # noqa: E402
from twitchwatch.synth import SynthConfig, simulate  # noqa: E402
from twitchwatch.train import (EVAL_SEEDS, PER_RATE, REAL_LABELS, TRAIN_RATES, Examples, build_examples,  # noqa: E402
                               fit, label_column_intervals, real_examples)

REAL = ROOT.parent / "shared" / "recordings" / "real"


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def synthetic(model, seeds, minutes: float) -> tuple[Tally, Tally, float, int]:
    """Model and rule tallies over the held-out recordings, and the model's expected
    calibration error over every burst the detector found in them."""
    tm, tr = Tally(), Tally()
    conf, right = [], []
    for fs in TRAIN_RATES:
        say(f"held-out recordings at {fs:g} Hz ...")
        for seed in seeds:
            rec, truth = simulate(SynthConfig(minutes=minutes, fs=fs, seed=seed))
            found = events_doc(rec, analyze(rec, classifier=ModelClassifier(model, fs)))
            tm.add(fs, truth, found, name=f"seed {seed}")
            tr.add(fs, truth, events_doc(rec, analyze(rec, classifier=RuleClassifier())))
            bursts = detect(rec)
            labels = label_events([{"channel": b.channel, "start_s": b.start_s, "end_s": b.end_s} for b in bursts],
                                  truth["events"])
            if bursts:
                p = model.predict_proba(feature_matrix([b.features for b in bursts], fs))
                conf += list(p.max(axis=1))
                right += list(model.classes_[p.argmax(axis=1)] == np.array(labels))
    conf_a, right_a = np.array(conf), np.array(right, dtype=float)
    bins = np.minimum((conf_a * 10).astype(int), 9)
    ece = float(sum(abs(right_a[bins == k].mean() - conf_a[bins == k].mean()) * np.mean(bins == k)
                    for k in range(10) if np.any(bins == k)))
    return tm, tr, ece, len(conf)


def real_rows(classifier_for) -> list[dict]:
    """Per labelled real recording: twitches per minute (rest) or how its contractions are
    reported. ``classifier_for(name, fs)`` gives the classifier to use for that file."""
    from twitchwatch.formats import open_recording

    rows = []
    for name, (options, labels) in REAL_LABELS.items():
        path = REAL / name
        if not path.is_file():
            continue
        rec = open_recording(path, **options)
        episodes = analyze(rec, classifier=classifier_for(name, rec.fs))
        twitches = sum(e.kind == "twitch" for e in episodes)
        row = {"file": name, "fs": rec.fs, "channels": rec.n_channels, "minutes": rec.duration_s / 60,
               "twitches_per_min": twitches / (rec.duration_s / 60)}
        if labels is not None:
            intervals = label_column_intervals(path, rec.fs) if labels == "label-column" else labels
            as_spasm = as_artifact = twitch_runs = 0
            for a, b in intervals:
                kinds = [e.kind for e in episodes if e.start_s < b and e.end_s > a]
                as_spasm += "spasm" in kinds
                as_artifact += "spasm" not in kinds and "artifact" in kinds  # a brief contraction, say
                twitch_runs += kinds.count("twitch") > 1
            row.update(contractions=len(intervals), reported_as_spasm=as_spasm, reported_as_artifact=as_artifact,
                       as_twitch_runs=twitch_runs)
        rows.append(row)
    return rows


def table(rows: list[list[str]], head: list[str]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def score_rows(tm: Tally, tr: Tally) -> list[list[str]]:
    rows = []
    for fs in sorted(tm.by_rate):
        m, r = tm.by_rate[fs], tr.by_rate[fs]
        for k in ("twitch", "spasm", "artifact"):
            c = m.kinds[k]
            rows.append([f"{fs:g} Hz", k, f"{c.precision:.3f}", f"{c.recall:.3f}", f"**{c.f1:.3f}**",
                         f"{c.tp}/{c.fp}/{c.fn}", f"{r.kinds[k].f1:.3f}",
                         f"{m.artifact_as_twitch_rate:.2%}" if k == "twitch" else ""])
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="model to evaluate (default: the shipped one)")
    ap.add_argument("--seeds", type=int, nargs="+", default=list(EVAL_SEEDS))
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--plot", default=None, help="write the confusion matrix plot here")
    ap.add_argument("--json", default=None, help="write all figures as JSON here")
    ap.add_argument("--errors", default=None, metavar="OUT.csv",
                    help="write the model's twitches and spasms missed or false here, one a row")
    ap.add_argument("--loo", action="store_true", help="also leave each real recording out of training")
    ap.add_argument("--loo-per-rate", type=int, default=PER_RATE,
                    help=f"synthetic recordings per rate of the left-out models (default {PER_RATE}: as the shipped model's)")
    a = ap.parse_args(argv)
    if any(s not in EVAL_SEEDS for s in a.seeds):
        ap.error(f"evaluate only on held-out seeds ({EVAL_SEEDS.start}-{EVAL_SEEDS.stop - 1})")
    model = load_model(a.model)
    tm, tr, ece, n_bursts = synthetic(model, a.seeds, a.minutes)
    print(f"Held-out synthetic recordings: seeds {a.seeds[0]}-{a.seeds[-1]}, {a.minutes:g} min, 4 channels, "
          f"each rate (tp/fp/fn pooled; rules = the transparent rule baseline on the same bursts).\n")
    print(table(score_rows(tm, tr), ["rate", "kind", "precision", "recall", "F1", "tp/fp/fn", "rules F1",
                                     "artifacts called twitch"]))
    conf = tm.confusion
    print("\nConfusion, all rates (rows: what was there; columns: what was reported):\n")
    print(table([[k] + [str(int(v)) for v in row] for k, row in zip(CONFUSION_TRUTH, conf)], [""] + list(CONFUSION_FOUND)))
    print(f"\nCalibration: expected calibration error of the confidence over {n_bursts} held-out bursts: {ece:.4f}")
    if a.plot:
        plot_confusion(conf, a.plot)
        say(f"wrote {a.plot}")
    if a.errors:
        write_mistakes(a.errors, tm.mistakes)
        say(f"wrote {a.errors}")
    doc = {"model": tm.as_dict(), "rules": tr.as_dict(), "ece": ece, "bursts": n_bursts}
    if REAL.is_dir():
        rows = real_rows(lambda name, fs: ModelClassifier(model, fs))
        doc["real_in_sample"] = rows
        print("\nReal recordings, shipped model (they are in its training data):\n")
        print(_real_table(rows))
        if a.loo:
            synth = build_examples(seed=0, per_rate=a.loo_per_rate, minutes=3.0)
            real = real_examples(REAL)
            models = {}
            for name in REAL_LABELS:
                if (REAL / name).is_file():
                    say(f"leaving {name} out ...")
                    ex = Examples()
                    ex.merge(synth)
                    ex.merge(real.select(np.array([s != f"real:{name}" for s in real.source])))
                    models[name] = fit(ex, seed=0)
            rows = real_rows(lambda name, fs: ModelClassifier(models[name], fs))
            doc["real_left_out"] = rows
            print(f"\nReal recordings, each left out of training (synthetic {a.loo_per_rate} per rate + the other "
                  "real recordings):\n")
            print(_real_table(rows))
    if a.json:
        Path(a.json).write_text(json.dumps(doc, indent=1) + "\n")
    return 0


def _real_table(rows: list[dict]) -> str:
    out = []
    for r in rows:
        contr = (f"{r['reported_as_spasm']} of {r['contractions']} as spasm, {r['reported_as_artifact']} as "
                 f"artifact (brief contraction), {r['as_twitch_runs']} as twitch runs"
                 if "contractions" in r else "rest (no twitches)")
        out.append([r["file"], f"{r['fs']:g}", str(r["channels"]), f"{r['minutes']:.1f}",
                    f"{r['twitches_per_min']:.1f}", contr])
    return table(out, ["recording", "Hz", "ch", "min", "twitches/min (all channels)", "contractions"])


if __name__ == "__main__":
    sys.exit(main())
