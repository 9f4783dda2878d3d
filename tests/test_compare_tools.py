"""Smoke test of scripts/compare_tools.py's core function: each tool on one short simulated
recording (30 s, 4 channels, 250 Hz) gives a row with the expected keys and sane numbers.
Needs the ``bench`` extra (neurokit2, biosppy); skipped without it. About 5 s."""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

pytest.importorskip("neurokit2")
pytest.importorskip("biosppy")

from twitchwatch.synth import SynthConfig, simulate  # noqa: E402

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "compare_tools.py"


@pytest.fixture(scope="module")
def compare_tools():
    spec = importlib.util.spec_from_file_location("compare_tools", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def short_recording():
    return simulate(SynthConfig(minutes=0.5, fs=250.0, n_channels=4, seed=1000, twitch_rate=30.0, spasm_rate=2.0))


@pytest.mark.parametrize("tool", ["twitchwatch", "neurokit2", "neurokit2-process", "biosppy"])
def test_each_tool_gives_a_scored_row(compare_tools, short_recording, tool):
    rec, truth = short_recording
    row = compare_tools.evaluate_recording(tool, rec, truth)
    for key in ("tool", "fs", "band", "error", "twitch_f1", "spasm_f1", "artifact_as_twitch", "seconds",
                "channel_samples", "channel_samples_per_s", "n_events", "score", "twitch_hit_any_kind"):
        assert key in row, key
    assert row["error"] is None, row["error"]
    assert row["tool"] == tool and row["fs"] == 250.0
    for key in ("twitch_f1", "spasm_f1", "artifact_as_twitch"):
        assert math.isfinite(row[key]) and 0.0 <= row[key] <= 1.0, (key, row[key])
    assert math.isfinite(row["seconds"]) and row["seconds"] > 0
    assert math.isfinite(row["channel_samples_per_s"]) and row["channel_samples_per_s"] > 0
    assert row["channel_samples"] == 4 * rec.n_samples


def test_events_follow_the_kind_rule(compare_tools, short_recording):
    rec, _ = short_recording
    events, seconds, cpu_seconds = compare_tools.run_tool("biosppy", rec)
    assert seconds > 0 and cpu_seconds > 0
    assert events, "biosppy found nothing on a recording with spasms"
    for e in events:
        assert e["kind"] in ("twitch", "spasm")
        assert (e["end_s"] - e["start_s"] < compare_tools.TWITCH_MAX_S) == (e["kind"] == "twitch")
        assert 0 <= e["channel"] < rec.n_channels
    assert [e["start_s"] for e in events] == sorted(e["start_s"] for e in events)


def test_fallback_band_below_200_hz(compare_tools):
    rec, truth = simulate(SynthConfig(minutes=0.25, fs=200.0, n_channels=2, seed=1001))
    row = compare_tools.evaluate_recording("biosppy", rec, truth)
    assert row["error"] is None and row["band"].startswith("FALLBACK")


def test_score_events_scores_a_found_doc_against_the_truth(compare_tools, short_recording):
    rec, truth = short_recording
    kinds = {e["kind"] for e in truth["events"]}
    assert {"twitch", "spasm"} <= kinds
    perfect, s = compare_tools.score_events(truth, compare_tools.found_doc(rec, list(truth["events"])))
    assert perfect["twitch_f1"] == 1.0 and perfect["spasm_f1"] == 1.0 and perfect["twitch_hit_any_kind"] == 1.0
    assert perfect["n_events"] == len(truth["events"]) and s.kinds["twitch"].fp == 0
    nothing, s0 = compare_tools.score_events(truth, compare_tools.found_doc(rec, []))
    assert nothing["twitch_f1"] == 0.0 and nothing["spasm_f1"] == 0.0 and nothing["n_events"] == 0
    assert s0.kinds["twitch"].fn == s.kinds["twitch"].tp > 0
