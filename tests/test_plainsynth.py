"""scripts/plainsynth.py, the plain third generator: determinism (and altsynth's), the
truth's contract, files twitchwatch reads back, and a floor under the pipeline's scores on it."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO
from twitchwatch.formats import open_recording
from twitchwatch.report_json import check_events

_spec = importlib.util.spec_from_file_location("plainsynth", REPO / "scripts" / "plainsynth.py")
plainsynth = sys.modules["plainsynth"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(plainsynth)


@pytest.mark.parametrize("fs", [200.0, 1000.0])
@pytest.mark.parametrize("generator", ["altsynth", "plainsynth"])
def test_generators_are_deterministic_per_seed_and_differ_between_seeds(generator, fs):
    generate = (plainsynth if generator == "plainsynth" else plainsynth.altsynth).generate
    a, ta = generate(5, fs, 0.5)
    b, tb = generate(5, fs, 0.5)
    c, tc = generate(6, fs, 0.5)
    assert np.array_equal(a.data, b.data) and ta == tb
    assert a.data.shape == c.data.shape and not np.allclose(a.data, c.data)
    assert ta["events"] != tc["events"]


@pytest.mark.parametrize("board", plainsynth.BOARDS)
@pytest.mark.parametrize("fs", [125.0, 250.0, 1000.0])
def test_truth_lies_in_the_recording_and_twitches_stand_6_x_over_the_noise(fs, board):
    rec, truth = plainsynth.generate(3, fs, 1.0, 4, board)
    check_events(truth, "truth")
    assert truth["board"] == board and rec.data.shape == (4, int(60 * fs))
    kinds = {e["kind"] for e in truth["events"]}
    assert "twitch" in kinds and kinds <= {"twitch", "spasm", "artifact"}
    for e in truth["events"]:
        assert 0 <= e["start_s"] < e["end_s"] <= truth["duration_s"]
        if e["kind"] == "twitch":  # drawn at 6-40 x, measured after the board: at most a little under
            assert e["peak_uv"] >= 5.0 * truth["noise_rms_uv"][e["channel"]]


def test_csv_reopens_as_brainflow_with_its_truth(tmp_path):
    assert plainsynth.main([str(tmp_path), "--seeds", "2", "--rates", "250", "--minutes", "0.25",
                            "--format", "csv", "--board", "4"]) == 0
    path = tmp_path / "plain_s2_250hz.csv"
    rec, truth = plainsynth.generate(2, 250.0, 0.25, 4, "4")
    back = open_recording(path, board="synthetic", fs=250.0)
    assert np.allclose(back.data[:4], rec.data, atol=1e-5)
    assert json.loads((tmp_path / "plain_s2_250hz.truth.json").read_text())["events"] == truth["events"]


def test_spasm_rms_scales_the_spasms_and_nothing_else():
    """--spasm-rms draws the same recording with only the spasms' size changed, by the
    ratio of the ranges (1.5-2 over 3-10: 0.2-0.5)."""
    a, ta = plainsynth.generate(2, 250.0, 1.0, 4, "2")
    b, tb = plainsynth.generate(2, 250.0, 1.0, 4, "2", spasm_rms=(1.5, 2.0))
    key = [(e["kind"], e["channel"], e["start_s"], e["end_s"]) for e in ta["events"]]
    assert key == [(e["kind"], e["channel"], e["start_s"], e["end_s"]) for e in tb["events"]]
    spasms = [i for i, e in enumerate(ta["events"]) if e["kind"] == "spasm"]
    assert spasms
    for i, (ea, eb) in enumerate(zip(ta["events"], tb["events"])):
        ratio = eb["peak_uv"] / ea["peak_uv"]
        assert (0.2 - 1e-3 <= ratio <= 0.5 + 1e-3) if i in spasms else ratio == 1.0
    inside = np.zeros(a.data.shape, bool)  # a spasm's extent (above 5 % of its peak) and its faint edges
    for i in spasms:
        e, edge = ta["events"][i], plainsynth.GAP_S
        inside[e["channel"], int((e["start_s"] - edge) * 250): int((e["end_s"] + edge) * 250)] = True
    assert np.array_equal(a.data[~inside], b.data[~inside]) and not np.allclose(a.data[inside], b.data[inside])


@pytest.mark.parametrize("option", [["--minutes", "0"], ["--spasm-rms", "3", "2"], ["--spasm-rms", "0", "2"]])
def test_bad_option_is_a_one_line_error(tmp_path, option):
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "plainsynth.py"), str(tmp_path), *option],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0 and option[0] in proc.stderr


@pytest.mark.parametrize("fs", [200.0, 1000.0])
def test_scores_on_a_generator_never_trained_on(fs):
    """Four seeds, board filter drawn: a floor under twitch and spasm F1 (0.88; these four
    seeds measured 0.93 / 1.00 at 200 Hz and 0.99 / 1.00 at 1000 Hz, ten seeds 0.94 and
    0.99 for twitches: those missed are mostly 6-10 x the noise rms, which no energy
    detector holding false alarms to a few an hour finds reliably) and no artifact called
    twitch beyond the bar's 2 %."""
    tallies = plainsynth.altsynth.score([0, 1, 2, 3], [fs], 3.0, 4, None, plainsynth.generate)
    s = tallies["model"].by_rate[fs]
    for kind in ("twitch", "spasm"):
        c = s.kinds[kind]
        assert c.tp + c.fn >= 5 and c.f1 >= 0.88, (kind, c.as_dict())
    assert s.artifacts >= 10 and s.artifact_as_twitch_rate < 0.02
    # the misses are the small ones: over 15 x the noise, nine in ten or more are found
    big = s.by_size[-1]
    assert s.by_size.sum() == s.kinds["twitch"].tp + s.kinds["twitch"].fn and big[0] >= 0.9 * big.sum(), big
