"""scripts/altsynth.py, the independent evaluation generator: the truth's contract (times,
channels, peak_uv, noise_rms_uv) and files that twitchwatch reads back (its determinism:
tests/test_plainsynth.py, with the plain generator's)."""
from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, run_cli
from twitchwatch.formats import open_recording
from twitchwatch.report_json import check_events

_spec = importlib.util.spec_from_file_location("altsynth", REPO / "scripts" / "altsynth.py")
altsynth = sys.modules["altsynth"] = importlib.util.module_from_spec(_spec)  # dataclasses look it up
_spec.loader.exec_module(altsynth)

RATES = (125.0, 200.0, 250.0, 500.0, 1000.0)


@pytest.mark.parametrize("fs", RATES)
@pytest.mark.parametrize("n_channels", [4, 8])
def test_truth_lies_in_the_recording(fs, n_channels):
    rec, truth = altsynth.generate(11, fs, 1.0, n_channels)
    check_events(truth, "truth")
    assert rec.data.dtype == np.float32 and rec.data.shape == (n_channels, int(60 * fs))
    assert np.isfinite(rec.data).all()
    assert truth["channels"] == list(rec.channels) == [f"EMG{k + 1}" for k in range(n_channels)]
    assert len(truth["noise_rms_uv"]) == n_channels
    assert all(0.8 <= v <= 12.0 for v in truth["noise_rms_uv"])
    assert truth["events"]
    for e in truth["events"]:
        assert 0 <= e["channel"] < n_channels and e["channel_name"] == rec.channels[e["channel"]]
        assert 0 <= e["start_s"] < e["end_s"] <= truth["duration_s"]
        assert e["peak_uv"] > 0


@pytest.mark.parametrize("seed", range(4))
def test_events_on_a_channel_keep_apart(seed):
    _, truth = altsynth.generate(seed, 250.0, 1.5, 4)
    for ch in range(4):
        evs = sorted((e for e in truth["events"] if e["channel"] == ch), key=lambda e: e["start_s"])
        for a, b in zip(evs, evs[1:]):
            gap = 1.0 if "spasm" in (a["kind"], b["kind"]) else 0.3
            assert b["start_s"] - a["end_s"] >= gap - 1e-6, (a, b)


@pytest.mark.parametrize("fs", RATES)
def test_twitch_peak_is_its_ptp_after_the_board_filter(fs):
    """With only the events drawn, each twitch's samples have the truth's peak-to-peak."""
    checked = 0
    for seed in range(5):
        rec, truth = altsynth.generate(seed, fs, 1.0, parts={"events"})
        for e in truth["events"]:
            if e["kind"] != "twitch":
                continue
            a, b = int(e["start_s"] * fs) - 2, int(np.ceil(e["end_s"] * fs)) + 2
            x = rec.data[e["channel"], max(a, 0):b].astype(float)
            assert np.ptp(x) == pytest.approx(e["peak_uv"], rel=0.01)
            checked += 1
    assert checked >= 5


@pytest.mark.parametrize("fs", RATES)
def test_noise_rms_is_the_noise_only_recording_rms(fs):
    rec, truth = altsynth.generate(2, fs, 0.5, 6, parts={"noise"})
    rms = np.sqrt(np.mean(rec.data.astype(float) ** 2, axis=1))
    assert rms == pytest.approx(truth["noise_rms_uv"], rel=0.1)
    full, full_truth = altsynth.generate(2, fs, 0.5, 6)
    assert full_truth == truth  # what is drawn does not change the truth
    assert not np.allclose(full.data, rec.data)


def test_edf_reopens_and_cli_evaluate_finds_its_truth(tmp_path):
    path = altsynth.write(tmp_path, 3, 250.0, 0.5, 4, "edf")
    rec, truth = altsynth.generate(3, 250.0, 0.5, 4)
    back = open_recording(path)
    assert back.fs == 250.0 and back.n_samples == rec.n_samples
    resolution = (rec.data.max(axis=1) - rec.data.min(axis=1)) * 1.03 / 65535 + 3 / 65535
    assert (np.abs(back.data - rec.data).max(axis=1) <= resolution).all()
    assert json.loads(path.with_name(path.stem + ".truth.json").read_text())["events"] == truth["events"]
    out, errors = tmp_path / "scores.json", tmp_path / "errors.csv"
    proc = run_cli("evaluate", tmp_path, "--json", out, "--errors", errors, "--min-snr", "0", "--quiet")
    assert proc.returncode == 0, proc.stderr
    scores = json.loads(out.read_text())
    assert scores["recordings"] == 1
    with open(errors, newline="") as fh:
        rows = list(csv.DictReader(fh))
    kinds = scores["overall"]["kinds"]
    assert len(rows) == sum(kinds[k][n] for k in ("twitch", "spasm") for n in ("fp", "fn")) > 0
    assert {(r["recording"], r["fs_hz"]) for r in rows} == {(path.name, "250.0")}


def test_csv_reopens_as_brainflow(tmp_path):
    path = altsynth.write(tmp_path, 4, 500.0, 0.25, 4, "csv")
    rec, _ = altsynth.generate(4, 500.0, 0.25, 4)
    back = open_recording(path, board="synthetic", fs=500.0)
    assert back.n_samples == rec.n_samples
    assert np.allclose(back.data[:4], rec.data, atol=1e-5)


def test_cli_evaluate_reads_a_csv_without_a_clock_at_its_truths_rate(tmp_path):
    """A BrainFlow CSV whose timestamps say nothing is read at the rate its truth file
    gives, not at the board's nominal 250 Hz; the scores are those of --fs with that rate."""
    from twitchwatch.formats.brainflow_csv import describe

    path = altsynth.write(tmp_path, 4, 1000.0, 0.25, 4, "csv")
    table = np.loadtxt(path, delimiter="\t")
    table[:, describe("synthetic")[1]["timestamp_channel"]] = 0.0
    np.savetxt(path, table, fmt="%.6f", delimiter="\t")
    scores, errs = {}, {}
    for name, extra in (("truth", ()), ("fs", ("--fs", "1000"))):
        scores[name] = tmp_path / f"{name}.json"
        proc = run_cli("evaluate", path, "--board", "synthetic", "--json", scores[name], "--quiet", *extra)
        assert proc.returncode == 0, proc.stderr
        errs[name] = proc.stderr
    assert f"{path.stem}.truth.json's fs 1000 overrides the board's 250 Hz" in errs["truth"]
    by_truth, by_fs = (json.loads(scores[k].read_text()) for k in ("truth", "fs"))
    assert list(by_truth["by_rate"]) == ["1000"]
    assert by_truth["by_rate"] == by_fs["by_rate"]


@pytest.mark.parametrize("option", [["--minutes", "0"], ["--resample-to", "0"], ["--resample-to", "nan"]])
def test_bad_option_is_a_one_line_error(tmp_path, option):
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "altsynth.py"), str(tmp_path), *option],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and option[0] in proc.stderr


@pytest.mark.parametrize("fs,to", [(1000.0, 960.0), (250.0, 240.0), (200.0, 256.0)])
def test_resampled_recordings_are_the_same_recordings_at_the_new_rate(tmp_path, fs, to):
    """--resample-to: the recording drawn at its rate, resampled; its truth the same events
    at the new rate; written under the new rate's name."""
    rec, truth = altsynth.generate(5, fs, 0.5, 2)
    new, new_truth = altsynth.resampled(altsynth.generate, to)(5, fs, 0.5, 2)
    assert new.fs == to and new_truth["fs"] == to
    assert new.n_samples == round(rec.n_samples * to / fs)
    assert new_truth["events"] == truth["events"] and new_truth["duration_s"] == pytest.approx(truth["duration_s"])
    t = np.arange(new.n_samples) / to  # the same signal at the new sampling times
    back = np.array([np.interp(t, np.arange(rec.n_samples) / fs, x) for x in rec.data.astype(np.float64)])
    inner = slice(int(to), -int(to))
    assert np.corrcoef(back[:, inner].ravel(), new.data[:, inner].ravel())[0, 1] > 0.7
    path = altsynth.write(tmp_path, 5, fs, 0.5, 2, "edf", altsynth.resampled(altsynth.generate, to))
    assert path.name == f"alt_s5_{to:g}hz.edf" and open_recording(path).fs == to


@pytest.mark.parametrize("fs,seed", [(250.0, 3), (1000.0, 7), (1000.0, 9)])
def test_a_cramps_first_potentials_are_folded_into_it_in_stream_and_analyze(fs, seed):
    """On recordings where a cramp's first single potentials come out of the detector and
    classifier as twitches, the finished list holds none within ONSET_S before a spasm on
    its channel, and a 40 ms stream (at full speed) ends with the same events as analyze."""
    from twitchwatch.pipeline import ONSET_S, Pipeline, analyze
    from twitchwatch.sources.replay import ReplaySource
    from twitchwatch.stream import run_stream

    rec, _ = altsynth.generate(seed, fs, 3.0)

    def key(e):
        return e.channel, e.start_s, e.end_s, e.kind

    def folded(t, episodes):  # a twitch just before, or inside, a spasm on its channel
        return t.kind == "twitch" and any(s.kind == "spasm" and s.channel == t.channel
                                          and s.start_s - ONSET_S < t.start_s <= s.end_s for s in episodes)

    pipe = Pipeline(rec.fs, rec.channels)
    pipe.pre.tune(rec.chunks(int(60 * rec.fs)))  # (as analyze and a replayed stream do: seed 7 has hum)
    raw = [e for chunk in rec.chunks(int(60 * rec.fs)) for e in pipe.process(chunk)] + pipe.flush()
    assert any(folded(t, raw) and t.start_s < s.start_s for t in raw for s in raw
               if s.kind == "spasm" and s.channel == t.channel), "this recording no longer shows the case"
    done = analyze(rec)
    assert sorted(map(key, done)) == sorted(key(e) for e in raw if not folded(e, raw))
    streamed = run_stream(ReplaySource(rec, speed=None)).episodes
    assert list(map(key, streamed)) == list(map(key, done))


def _perturb():
    """scripts/perturb.py as a module (it imports altsynth by name: the one loaded above)."""
    spec = importlib.util.spec_from_file_location("perturb", REPO / "scripts" / "perturb.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("fs,seeds", [(200.0, [2, 3]), (1000.0, [0, 1])])  # recordings with hum
def test_perturbations_a_dc_offset_and_an_electrode_off_change_nothing_else(fs, seeds):
    """scripts/perturb.py on two generated minutes with hum: 30 mV of DC scores as the
    recording itself, and so do twelve rows of zeros beside the four channels; channel 4's
    electrode off (300 uV of noise) scores about as channel 4 railed flat (not exactly: a
    channel loud in the first second, with a contraction in it, is judged against the
    median channel, which the loud one moves); the table has a row per perturbation asked
    for. (Before the loud channel lost its say on the hum it cost far more: ten seeds at
    200 Hz, twitch F1 0.53 against 0.97; before flat rows lost theirs, the zeros cost
    nearly every event.)"""
    perturb = _perturb()
    tallies = perturb.score(seeds, [fs], 1.0, ["offset", "flat", "off", "unused"])
    row = {name: (t.by_rate[fs].kinds["twitch"].as_dict(), t.by_rate[fs].kinds["spasm"].as_dict())
           for name, t in tallies.items()}
    assert row["offset"] == row["none"] == row["unused"]
    assert all(abs(row["off"][k]["f1"] - row["flat"][k]["f1"]) <= 0.03 for k in (0, 1))
    assert row["none"][0]["tp"] > 0
    lines = perturb.table(tallies).splitlines()
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| none", "| offset", "| flat", "| off", "| unused"]


def test_score_writes_the_models_mistakes_beside_its_scores(tmp_path, capsys):
    # (two recordings whose brief contractions the shipped model calls twitches: the list is not empty)
    assert altsynth.main([str(tmp_path), "--seeds", "17", "18", "--rates", "200", "--minutes", "0.5", "--score"]) == 0
    kinds = json.loads((tmp_path / "altsynth-scores.json").read_text())["model"]["overall"]["kinds"]
    with open(tmp_path / "altsynth-errors.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == sum(kinds[k][n] for k in ("twitch", "spasm") for n in ("fp", "fn")) > 0
    assert {r["recording"] for r in rows} <= {"seed 17", "seed 18"} and {r["fs_hz"] for r in rows} == {"200.0"}
    assert "altsynth-errors.csv" in capsys.readouterr().out
