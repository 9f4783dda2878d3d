"""Smoke tests of scripts/bench.py (and scripts/ab_pipeline.py, last), run as a user would
(real child processes, real files).

- the quick end-to-end run (5 minutes of 8 x 1000 Hz, one repeat, no comparison) exits 0
  and prints its table; about 10 s;
- the side-by-side run on a tiny input (6 s x 2 channels per rate, one seed, one pass; needs
  the bench extra) gives a row per tool and rate with positive throughput, a ratio that is
  twitchwatch's throughput over the tool's, its own peak RSS and F1 in [0, 1]; about 30 s.
No timing thresholds: the machine is shared.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "scripts" / "bench.py"
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="bench.py pins cores (Linux only)")


def run_bench(*args: str, timeout: float) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    src = str(REPO / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["COLUMNS"] = "200"
    return subprocess.run([sys.executable, str(BENCH), *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)


@linux_only
def test_bench_quick_runs_and_prints_the_table(tmp_path):
    proc = run_bench("--quick", "--no-compare", "--repeats", "1", "--out", str(tmp_path),
                     "--json", str(tmp_path / "r.json"), timeout=90)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "twitchwatch analyze benchmark" in out  # the rich table's title
    assert "| measure | value | target / note |" in out  # the markdown table's header
    for row in ("| throughput |", "| peak RSS (child) |", "| read (open_recording) |", "| pipeline (analyze) |",
                "| in-process end-to-end (no interpreter start-up) |", "| start-up (interpreter + imports) |"):
        assert row in out, row
    assert "command: " in out and "machine: " in out
    assert list(tmp_path.glob("bench-5min-8ch-1000Hz-seed0.bdf"))  # the cached recording
    r = json.loads((tmp_path / "r.json").read_text())
    cs = r["recording"]["channel_samples"]
    assert cs == 5 * 60 * 1000 * 8
    assert r["rate"] == pytest.approx(cs / r["e2e_s"])
    assert r["peak_mib"] > 0 and r["inprocess"]["total_s"] > 0
    assert r["targets"]["rate_ok"] == (r["rate"] >= 20e6)
    assert "compare" not in r


@linux_only
@pytest.mark.skipif(importlib.util.find_spec("neurokit2") is None or importlib.util.find_spec("biosppy") is None,
                    reason="needs the bench extra (neurokit2, biosppy)")
def test_side_by_side_has_a_row_per_tool_with_consistent_ratios(tmp_path):
    proc = run_bench("--compare", "--compare-minutes", "0.1", "--compare-seeds", "1", "--compare-channels", "2",
                     "--repeats", "1", "--out", str(tmp_path), "--json", str(tmp_path / "c.json"), timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    c = json.loads((tmp_path / "c.json").read_text())["compare"]
    tools = ("twitchwatch", "neurokit2", "neurokit2-process", "biosppy")
    rows = {(r["tool"], r["fs"]): r for r in c["rows"]}
    assert set(rows) == {(t, fs) for t in tools for fs in (1000.0, 250.0)}
    for (tool, fs), r in rows.items():
        tw = rows[("twitchwatch", fs)]
        assert r["channel_samples"] == 2 * 6 * int(fs)  # 2 channels x 6 s, the same input for every tool
        assert r["rate"] > 0 and r["rate"] == pytest.approx(r["channel_samples"] / r["seconds"])
        assert r["twitchwatch_over_tool"] == pytest.approx(tw["rate"] / r["rate"])
        assert r["cpu_s"] > 0 and r["twitchwatch_over_tool_cpu"] == pytest.approx(tw["cpu_rate"] / r["cpu_rate"])
        assert r["peak_mib"] > 0 and r["passes"] == 1
        assert 0.0 <= r["twitch_f1"] <= 1.0 and 0.0 <= r["spasm_f1"] <= 1.0
        # the table shows the row: tool, rate, band, throughput, ratio
        line = (f"| {tool} | {fs:g} Hz | {r['band']} | {r['rate'] / 1e6:.3f} | "
                f"{r['twitchwatch_over_tool']:.1f} |")
        assert line in proc.stdout, line
    assert rows[("neurokit2", 250.0)]["band"] == "default HP 100 Hz"
    # the '>= 500 x NeuroKit2' rows use the same-run ratio
    for tool in ("neurokit2", "neurokit2-process"):
        assert f"| twitchwatch / {tool}, same recordings (1000 Hz) | " \
               f"{rows[('twitchwatch', 1000.0)]['rate'] / rows[(tool, 1000.0)]['rate']:.0f} x " in proc.stdout


@linux_only
def test_latency_mode_reports_the_real_time_run_and_the_waits_over_eight_recordings(tmp_path):
    """``--latency 3``: 3 s streamed in real time, then the stream-time wait of every twitch
    over seeds 1-8 at 250 and 1000 Hz: a row per rate, and in the JSON one wait per
    twitch, none negative (a twitch cannot come out before its last sample)."""
    proc = run_bench("--latency", "3", "--json", str(tmp_path / "r.json"), timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for row in ("| latency 95th percentile |", "| stream-time wait, seeds 1-8, 250 Hz (median / p95 / max) |",
                "| stream-time wait, seeds 1-8, 1000 Hz (median / p95 / max) |"):
        assert row in proc.stdout, row
    waits = json.loads((tmp_path / "r.json").read_text())["stream_waits_s"]
    assert set(waits) == {"250", "1000"}
    for w in waits.values():
        assert w and min(w) >= 0.0
        assert f"{len(w)} twitches" in proc.stdout


@linux_only
def test_ab_pipeline_against_head_times_the_same_code_with_the_same_extensions(tmp_path):
    """scripts/ab_pipeline.py HEAD FILE: a worktree of HEAD against the working tree. Both
    sides find the same events, and the other side has the same C extensions (copied when
    the C sources match): no warning, one ratio line. Without them it timed numpy's
    fallbacks against the compiled code."""
    from twitchwatch.formats import write_recording
    from twitchwatch.synth import SynthConfig, simulate

    rec, _ = simulate(SynthConfig(minutes=0.25, fs=250.0, seed=3, n_channels=2))
    path = tmp_path / "r.bdf"
    write_recording(path, rec)
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "ab_pipeline.py"), "HEAD", str(path), "--repeats", "1"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "warning" not in proc.stderr, proc.stderr
    lines = proc.stdout.strip().splitlines()
    ours = sorted(f.name.split(".")[0] for f in (REPO / "src" / "twitchwatch").glob("*.so"))
    assert lines[0] == f"C extensions on both sides: {', '.join(ours) or 'none'}", lines
    events = [line.split(", ")[-1] for line in lines if "median" in line]
    assert len(events) == 2 and events[0] == events[1] and events[0].endswith(" events"), lines
    assert lines[-1].startswith("ratio HEAD / working tree: "), lines
