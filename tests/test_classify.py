"""The learned classifier: scikit-learn conventions, deterministic training, skops files
that are refused when they hold anything untrusted, calibration of the shipped model, and
the train / --model command line."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from sklearn.base import clone

from twitchwatch.classify import (DEFAULT_MODEL, LONG_MOVEMENT_S, SPASM_SURE, TWITCH_SURE, reported, FEATURE_VERSION, FEATURES, MODEL_CLASSES, ModelClassifier, RuleClassifier,
                                  TreeEnsemble, feature_matrix, load_model, load_predictor, make_classifier, save_model)
from twitchwatch.estimator import EpisodeClassifier
from twitchwatch.errors import UserError
from twitchwatch.evaluate import MIN_TWITCH_SNR, label_events
from twitchwatch.pipeline import detect
from twitchwatch.synth import SynthConfig, simulate
from twitchwatch.train import (ASIDE, EVAL_SEEDS, HELD_ONSET_S, OTHER_BOARDS, TWITCH_MAX_S, _synthetic_job, board_band,
                               build_examples, fit, outer, synthetic_jobs, synthetic_labels)
from twitchwatch.types import Burst

from conftest import run_cli as _tw

ROOT = Path(__file__).resolve().parents[1]


def _tiny_examples(seed: int = 3, jobs: int = 1):
    return build_examples(seed=seed, per_rate=1, minutes=0.5, jobs=jobs)


@pytest.fixture(scope="module")
def tiny():
    return _tiny_examples()


def test_estimator_follows_scikit_learn_conventions(tiny):
    est = EpisodeClassifier(max_iter=20, random_state=1)
    assert clone(est).get_params() == est.get_params()
    assert not any(k.endswith("_") for k in vars(est)), "nothing learned before fit"
    assert est.fit(tiny.X, tiny.y.astype(str)) is est
    learned = [k for k in vars(est) if k.endswith("_")]
    assert {"classes_", "n_features_in_", "trees_", "baseline_"} <= set(learned)
    assert est.n_features_in_ == len(FEATURES)
    p = est.predict_proba(tiny.X)
    assert p.shape == (len(tiny.y), len(est.classes_))
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert set(est.predict(tiny.X)) <= set(est.classes_)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_flat_trees_give_scikit_learns_probabilities(tiny, n_classes):
    """The vectorized walk over the flattened trees must give exactly what the fitted
    HistGradientBoostingClassifier gives, missing values included."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    y = tiny.y.astype(str)
    keep = np.isin(y, sorted(set(y))[:n_classes])
    X, y = tiny.X[keep].copy(), y[keep]
    X[::5, 3] = np.nan  # some missing values in training, so both branches exist
    est = EpisodeClassifier(max_iter=30, random_state=2).fit(X, y)
    ref = HistGradientBoostingClassifier(max_iter=30, learning_rate=0.08, max_leaf_nodes=15, l2_regularization=1.0,
                                         early_stopping=False, random_state=2).fit(X, y)
    probe = np.vstack([X, np.random.default_rng(0).normal(size=(50, X.shape[1])) * 3])
    probe[::7, 0] = np.nan
    np.testing.assert_allclose(est.predict_proba(probe), ref.predict_proba(probe), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(est.predict(probe), ref.predict(probe))
    assert est.predict_proba(probe[:0]).shape == (0, len(est.classes_)) == (0, len(set(y)))


def test_training_is_deterministic_from_its_seed():
    a, b = _tiny_examples(seed=5, jobs=1), _tiny_examples(seed=5, jobs=2)  # processes do not change it
    np.testing.assert_array_equal(a.X, b.X)
    assert list(a.y) == list(b.y) and a.source == b.source
    pa = fit(a, seed=5).predict_proba(a.X)
    pb = fit(b, seed=5).predict_proba(b.X)
    np.testing.assert_array_equal(pa, pb)
    other = _tiny_examples(seed=6)
    assert other.source != a.source, "another seed, other recordings"


def test_training_never_uses_the_held_out_seeds():
    jobs = synthetic_jobs(seed=0, per_rate=200, minutes=1.0)
    used = {s for _, s, _ in jobs}
    assert not used & set(EVAL_SEEDS)
    assert {fs for fs, _, _ in jobs} == {125.0, 200.0, 250.0, 500.0, 1000.0}


def test_spikes_inside_a_long_burst_are_reported_only_as_twitches_or_spasms_on_raised_noise():
    fs = 1000.0
    noise_stretch, contraction = Burst(0, 1000, 9000, fs), Burst(1, 1000, 9000, fs)
    movement = Burst(2, 1000, 1000 + int(LONG_MOVEMENT_S * fs) - 10, fs)  # just short of a long one
    long_movement = Burst(3, 1000, 1000 + int(LONG_MOVEMENT_S * fs), fs)
    spike = lambda ch, a: Burst(ch, a, a + 20, fs, {"inner": 1.0})  # noqa: E731
    bursts = [noise_stretch, spike(0, 2000), spike(0, 3000), spike(0, 4000), contraction, spike(1, 2000),
              spike(1, 3000), movement, spike(2, 2000), spike(2, 3000), spike(0, 9500), long_movement,
              spike(3, 2000), spike(3, 3000), spike(3, 2500)]
    kinds = ["noise", "twitch", "artifact", "spasm", "spasm", "twitch", "spasm", "artifact", "twitch", "spasm",
             "twitch", "artifact", "twitch", "artifact", "spasm"]
    # the stretch of noise is not reported, the twitch and the spasm on it are (a
    # contraction it hid), its "artifact" is not; a spike inside a contraction or a
    # movement is part of it, unless the movement's burst is as long as no movement
    # (noise it ran into); a spike outside them all (no long burst of its own in the
    # batch) is not reported either
    assert reported(bursts, kinds) == [False, True, False, True, True, False, False, True, False, False, False,
                                       True, True, False, True]


def test_a_twitch_the_recordings_start_cuts_is_not_reported():
    fs = 200.0
    first, next_one, later = Burst(0, 0, 4, fs), Burst(1, 1, 5, fs), Burst(0, 400, 404, fs)
    assert reported([first, next_one, later], ["twitch"] * 3) == [False, True, True]
    # only a twitch: a contraction or an artifact under way when the recording starts is reported
    assert reported([first, Burst(1, 0, 400, fs)], ["artifact", "spasm"]) == [True, True]
    # a spike at the first sample inside a stretch of noise is no exception
    noise, spike = Burst(2, 0, 800, fs), Burst(2, 0, 4, fs, {"inner": 1.0})
    assert reported([noise, spike, Burst(2, 200, 204, fs, {"inner": 1.0})], ["noise", "twitch", "twitch"]) == [
        False, False, True]


@pytest.mark.parametrize("fs", [200.0, 250.0, 1000.0])
def test_training_boards_vary_their_low_pass(fs):
    """Part of the training recordings get another board's low-pass (0.25-0.45 fs), the
    same one for a seed every time; the rest the rate's usual one (None)."""
    bands = [board_band(fs, seed) for seed in range(400)]
    other = [b for b in bands if b is not None]
    assert abs(len(other) / len(bands) - OTHER_BOARDS) < 0.1
    assert all(0.25 * fs <= b <= 0.45 * fs for b in other) and np.ptp(other) > 0.15 * fs
    assert [board_band(fs, seed) for seed in range(400)] == bands


def test_a_long_burst_holding_a_twitch_is_not_taught_as_a_twitch():
    fs = 1000.0
    truth = [{"channel": 0, "start_s": 2.0, "end_s": 2.012, "kind": "twitch"},
             {"channel": 1, "start_s": 5.0, "end_s": 9.0, "kind": "spasm"}]
    short = Burst(0, 1995, 2020, fs)  # the twitch itself
    long = Burst(0, 1500, 1500 + int((TWITCH_MAX_S + 0.5) * fs), fs)  # a stretch it fell in
    spasm = Burst(1, 5100, 8900, fs)
    assert synthetic_labels([short, spasm], truth) == ["twitch", "spasm"]
    assert synthetic_labels([long, spasm], truth) == ["noise", "spasm"]


def test_a_held_contractions_first_potentials_are_left_out_of_training():
    """The first HELD_ONSET_S of a held weak contraction (``source: held``) is set aside:
    its first potentials have nothing before them to tell them from twitches. After it,
    the held contraction is taught as the spasm it is; a spasm of no source keeps its
    onset."""
    fs = 1000.0
    truth = [{"channel": 0, "start_s": 10.0, "end_s": 20.0, "kind": "spasm", "source": "held"},
             {"channel": 1, "start_s": 10.0, "end_s": 20.0, "kind": "spasm"}]
    first = Burst(0, 10000, 10000 + int(0.5 * HELD_ONSET_S * fs), fs)
    later = Burst(0, 10000 + int(2 * HELD_ONSET_S * fs), 12000, fs)
    plain_onset = Burst(1, 10000, 10000 + int(0.5 * HELD_ONSET_S * fs), fs)
    assert synthetic_labels([first, later, plain_onset], truth) == [ASIDE, "spasm", "spasm"]


def test_features_do_not_depend_on_what_a_burst_lacks():
    rows = feature_matrix([{"duration_s": 0.01, "snr": 10.0, "peak_uv": 50.0, "rms_uv": 12.0}], 250.0)
    assert rows.shape == (1, len(FEATURES)) and np.isfinite(rows).all()
    assert feature_matrix([], 250.0).shape == (0, len(FEATURES))


def test_model_round_trip_through_skops(tiny, tmp_path):
    model = fit(tiny, seed=0)
    path = tmp_path / "m.skops"
    save_model(model, path, {"note": "test"})
    again = load_model(path)
    assert isinstance(again, EpisodeClassifier)
    np.testing.assert_array_equal(again.predict_proba(tiny.X), model.predict_proba(tiny.X))
    assert json.loads(path.with_suffix(".json").read_text()) == {"note": "test"}
    trees = load_predictor(path)  # read without skops: the same probabilities
    assert type(trees) is TreeEnsemble
    np.testing.assert_array_equal(trees.predict_proba(tiny.X), model.predict_proba(tiny.X))
    np.testing.assert_array_equal(trees.classes_, model.classes_)


def test_analysing_does_not_import_scikit_learn_or_skops():
    """Start-up: the pipeline reads the shipped model's trees without scikit-learn or
    skops (together more than a second of every command's start-up)."""
    code = ("import sys; import numpy as np; from twitchwatch.classify import make_classifier; "
            "from twitchwatch.pipeline import analyze; from twitchwatch.synth import SynthConfig, simulate; "
            "rec, truth = simulate(SynthConfig(minutes=0.2, fs=250.0, seed=1)); "
            "eps = analyze(rec, classifier=make_classifier(None, rec.fs)); assert eps; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'skops')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


LOADERS = [load_model, load_predictor]


@pytest.mark.parametrize("load", LOADERS, ids=lambda f: f.__name__)
def test_a_model_holding_untrusted_types_is_refused(tmp_path, load):
    """A file that would run os.system on load (or any type outside the trusted list)
    is refused before anything in it is constructed."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    hostile = EpisodeClassifier()
    hostile.trees_ = make_pipeline(FunctionTransformer(os.system))
    hostile.feature_version_ = FEATURE_VERSION
    path = tmp_path / "hostile.skops"
    sio.dump(hostile, path)
    with pytest.raises(UserError, match="refused"):
        load(path)


@pytest.mark.parametrize("load", LOADERS, ids=lambda f: f.__name__)
def test_a_model_for_other_features_is_refused(tiny, tmp_path, load):
    model = fit(tiny, seed=0)
    model.feature_version_ = "0"
    path = tmp_path / "old.skops"
    sio.dump(model, path)
    with pytest.raises(UserError, match="features version 0"):
        load(path)


@pytest.mark.parametrize("load", LOADERS, ids=lambda f: f.__name__)
def test_a_model_whose_trees_point_outside_is_refused(tiny, tmp_path, load):
    """A damaged file fails on loading, in one line, not in the middle of an analysis."""
    model = fit(tiny, seed=0)
    model.trees_["left"][0] = model.trees_["left"].size + 5
    path = tmp_path / "damaged.skops"
    save_model(model, path)
    with pytest.raises(UserError, match="do not hold together"):
        load(path)


def test_shipped_model_matches_its_card_and_metadata():
    model = load_model()
    meta = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text())
    assert meta["features"] == list(FEATURES) and sorted(meta["classes"]) == sorted(MODEL_CLASSES)
    assert sorted(model.classes_) == sorted(MODEL_CLASSES)
    assert (ROOT / "models" / "MODEL_CARD.md").is_file()


@pytest.mark.parametrize("fs", [200.0, 1000.0])
def test_shipped_model_is_calibrated_on_held_out_recordings(fs, synth):
    """Expected calibration error of the reported confidence, over every burst the
    detector finds in three held-out recordings: under 0.05."""
    model = load_model()
    conf, right = [], []
    for seed in list(EVAL_SEEDS)[:3]:
        rec, truth = synth(minutes=3.0, fs=fs, seed=seed)
        bursts = detect(rec)
        labels = label_events([{"channel": b.channel, "start_s": b.start_s, "end_s": b.end_s} for b in bursts],
                              truth["events"])
        p = model.predict_proba(feature_matrix([b.features for b in bursts], fs))
        conf += list(p.max(axis=1))
        right += list(model.classes_[p.argmax(axis=1)] == np.array(labels))
    conf, right = np.array(conf), np.array(right, dtype=float)
    assert len(conf) >= 100
    bins = np.minimum((conf * 10).astype(int), 9)
    ece = sum(abs(right[bins == k].mean() - conf[bins == k].mean()) * np.mean(bins == k)
              for k in range(10) if np.any(bins == k))
    assert ece < 0.05, ece


def test_noise_bursts_are_not_reported(tiny):
    """A burst is dropped exactly when the model makes it noise: noise first, or an
    unsure twitch or spasm (under TWITCH_SURE, SPASM_SURE) that it ranks noise over
    artifact."""
    model = fit(tiny, seed=0)
    cls = ModelClassifier(model, 250.0)
    # the detector's own bursts of two simulated minutes (the spikes inside long bursts,
    # reported by a rule of their own, left out)
    bursts = [b for seed in (1, 2) for b in outer(detect(simulate(SynthConfig(minutes=1.0, fs=250.0, seed=seed))[0]))]
    classes = list(model.classes_)
    expected = []
    for p in model.predict_proba(feature_matrix([b.features for b in bursts], 250.0)):
        kind = classes[int(np.argmax(p))]
        if p[classes.index(kind)] < {"twitch": TWITCH_SURE, "spasm": SPASM_SURE}.get(kind, 0.0):
            kind = max(("artifact", "noise"), key=lambda c: p[classes.index(c)])
        expected.append(kind)
    assert "noise" in expected and set(expected) - {"noise"}, expected  # both cases are exercised
    got = cls.classify(bursts, ("a", "b", "c", "d"))
    assert [(e.start_s, e.kind) for e in got] == [(b.start_s, k) for b, k in zip(bursts, expected) if k != "noise"]
    for e in got:
        assert 0.25 <= e.confidence <= 1.0


def test_train_then_analyze_with_the_model(tmp_path):
    model = tmp_path / "mine.skops"
    proc = _tw("train", "--out", str(model), "--per-rate", "1", "--minutes", "0.5", "--seed", "2", "--quiet")
    assert proc.returncode == 0, proc.stderr
    meta = json.loads(model.with_suffix(".json").read_text())
    assert meta["seed"] == 2 and meta["synthetic_per_rate"] == 1
    sample = ROOT / "recordings" / "sim-cyton-250hz.bdf"
    out = {}
    for name in (str(model), "rules"):
        target = tmp_path / f"{Path(name).stem}.json"
        proc = _tw("analyze", str(sample), "--model", name, "--json", str(target), "--quiet")
        assert proc.returncode == 0, proc.stderr
        out[name] = json.loads(target.read_text())["events"]
    assert out[str(model)] and out["rules"]
    assert all(0.0 <= e["confidence"] <= 1.0 for e in out[str(model)])


@pytest.mark.parametrize("args,needle", [
    (("train", "--out", "/nonexistent/dir/m.skops"), "does not exist"),
    (("train", "--out", "m.pickle"), ".skops"),
    (("train", "--out", "m.skops", "--per-rate", "0"), "--per-rate"),
    (("analyze", str(ROOT / "recordings" / "sim-cyton-250hz.bdf"), "--model", "/nonexistent.skops"), "no such model"),
])
def test_bad_model_options_are_one_line_errors(args, needle):
    proc = _tw(*args)
    assert proc.returncode == 2 and needle in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0


def test_rule_baseline_stays_available():
    assert RuleClassifier().kind({"duration_s": 0.01, "lf_ratio": 0.1, "centroid_hz": 80.0})[0] == "twitch"


def test_a_twitch_too_small_to_tell_from_the_noise_is_left_out_of_training():
    """A twitch under MIN_TWITCH_SNR x its channel's noise rms (peak-to-peak) is set aside,
    neither twitch (the model would learn to call blips of the noise twitches) nor noise
    (it would learn to call the twitches just over the line noise); the job's examples
    hold no such label."""
    fs = 1000.0
    truth = [{"channel": 0, "start_s": 2.0, "end_s": 2.012, "kind": "twitch", "peak_uv": 50.0},
             {"channel": 1, "start_s": 3.0, "end_s": 3.012, "kind": "twitch", "peak_uv": 50.0}]
    bursts = [Burst(0, 1995, 2020, fs), Burst(1, 2995, 3020, fs)]
    noise = [50.0 / (MIN_TWITCH_SNR + 0.5), 50.0 / (MIN_TWITCH_SNR - 0.5)]  # channel 1's twitch is under it
    assert synthetic_labels(bursts, truth, noise) == ["twitch", ASIDE]
    assert synthetic_labels(bursts, truth) == ["twitch", "twitch"]  # no noise figures: kinds as they are
    seed = 20001  # a training-like minute at 250 Hz in which the detector finds such twitches
    rec, sim = simulate(SynthConfig(minutes=1.0, fs=250.0, seed=seed, cutoff_hz=board_band(250.0, seed)))
    labels = synthetic_labels(outer(detect(rec)), sim["events"], sim["noise_rms_uv"])
    X, y, _, _ = _synthetic_job((250.0, seed, 1.0))
    assert labels.count(ASIDE) >= 1 and ASIDE not in y
    assert len(y) == len(X) == len(labels) - labels.count(ASIDE)


@pytest.mark.parametrize("fs", [200.0, 250.0, 1000.0])
@pytest.mark.parametrize("kind,least,busy", [("twitch", TWITCH_SURE, {"twitch_rate": 40.0, "artifact_rate": 6.0}),
                                             ("spasm", SPASM_SURE, {"spasm_rate": 3.0, "artifact_rate": 10.0})])
def test_a_burst_the_model_is_unsure_of_is_what_it_ranks_next(fs, kind, least, busy, synth):
    """With the shipped model on busy recordings (six seeds or more): every burst the model
    ranks twitch (spasm) first at TWITCH_SURE (SPASM_SURE) or more is reported as such with
    that probability; one it ranks so below that is reported as an artifact, or not at
    all when the model ranks noise above artifact; no twitch (spasm) is reported below
    it. (A spasm's confidence may change when pieces are joined, so spasms are checked
    before the pipeline joins them.)"""
    clf = make_classifier(None, fs)
    classes = list(clf.model.classes_)
    unsure = 0
    for seed in range(11, 31):
        # six recordings at least, then on until one holds an unsure burst: at 1000 Hz the
        # model is rarely unsure of a spasm (one recording in 14 of this round's model)
        if seed > 16 and unsure:
            break
        rec, _ = synth(minutes=3.0, fs=fs, seed=seed, **busy)
        bursts = [b for b in detect(rec) if not b.features.get("inner", 0.0)]
        proba = clf.model.predict_proba(feature_matrix([b.features for b in bursts], fs))
        episodes = {(e.channel, round(e.start_s, 6)): e for e in clf.classify(bursts, rec.channels)}
        for b, p in zip(bursts, proba):
            order = np.argsort(-p)
            if classes[order[0]] != kind:
                continue
            e = episodes.get((b.channel, round(b.start_s, 6)))
            if p[order[0]] >= least:
                assert e is not None and e.kind == kind and e.confidence == pytest.approx(p[order[0]])
            else:
                unsure += 1
                nxt = max(("artifact", "noise"), key=lambda k: p[classes.index(k)])
                assert (e is None) if nxt == "noise" else \
                    (e.kind == "artifact" and e.confidence == pytest.approx(p[classes.index("artifact")]))
        assert all(e.confidence >= least for e in episodes.values() if e.kind == kind)
    assert unsure >= 1, f"no unsure {kind} in the recordings: the test checks nothing"


_FEATURES_CHILD = """
import sys
{first}
import numpy as np
from twitchwatch.train import _one_blas_thread, _synthetic_job
{init}
np.save(sys.argv[1], _synthetic_job((500.0, 527377, 3.0))[0])
"""


def test_training_examples_do_not_depend_on_the_blas_threads(tmp_path):
    """A training recording's features, computed as the command line does (twitchwatch
    imported first: one BLAS thread) and by a caller that imported numpy first with two
    BLAS threads (the training workers hold it to one): the same to the bit. With two
    threads the hum guard's products summed in another order, and a model trained on two
    cores differed from one trained on one (this recording's features by 6e-14)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")}
    env["PYTHONPATH"] = str(ROOT / "src")
    runs = {"cli": ("import twitchwatch", "", {}),
            "numpy first": ("", "_one_blas_thread()", {"OPENBLAS_NUM_THREADS": "2"})}
    out = {}
    for name, (first, init, extra) in runs.items():
        path = tmp_path / f"{name.replace(' ', '_')}.npy"
        code = _FEATURES_CHILD.format(first=first, init=init)
        proc = subprocess.run([sys.executable, "-c", code, str(path)], env={**env, **extra}, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        out[name] = np.load(path)
    assert out["cli"].shape == out["numpy first"].shape and np.array_equal(out["cli"], out["numpy first"])
