"""The `twitchwatch` command, run for real in a subprocess (python -m twitchwatch.cli)."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SCHEMA = SHARED / "contracts" / "events.schema.json"
REAL = SHARED / "recordings" / "real"
needs_schema = pytest.mark.skipif(not SCHEMA.is_file(), reason=f"shared schema not found at {SCHEMA}")
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason=f"shared real recordings not found at {REAL}")


def _env() -> dict:
    env = dict(os.environ)
    src = str(REPO / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["COLUMNS"] = "120"
    return env


def tw(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "twitchwatch.cli", *map(str, args)], cwd=cwd,
                          env=_env(), capture_output=True, text=True, timeout=120)


def err_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.strip()]


def assert_one_line_error(proc: subprocess.CompletedProcess, *names: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = err_lines(proc)
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("twitchwatch: error: "), lines[0]
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


def validate(doc: dict) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    if not SCHEMA.is_file():
        pytest.skip(f"shared schema not found at {SCHEMA}")
    jsonschema.validate(doc, json.loads(SCHEMA.read_text()))


@pytest.fixture(scope="module")
def simulated(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """A 30-second synthetic recording and its truth, made by the command."""
    d = tmp_path_factory.mktemp("sim")
    proc = tw("simulate", d / "rec.bdf", "--minutes", 0.5, "--seed", 3, "--twitch-rate", 30)
    assert proc.returncode == 0, proc.stderr
    return d / "rec.bdf", d / "rec.truth.json", proc


@pytest.fixture(scope="module")
def analysed(simulated, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    rec, _, _ = simulated
    out = tmp_path_factory.mktemp("ana") / "rec.events.json"
    proc = tw("analyze", rec, "--json", out)
    assert proc.returncode == 0, proc.stderr
    return out, proc


# ---------------------------------------------------------------- the happy paths

def test_version_and_help():
    proc = tw("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("twitchwatch ")
    proc = tw("--help")
    assert proc.returncode == 0
    for cmd in ("simulate", "analyze", "evaluate", "stream", "train", "log", "report"):
        assert cmd in proc.stdout
    for cmd in ("simulate", "analyze", "evaluate"):
        assert tw(cmd, "--help").returncode == 0


def test_simulate_writes_recording_and_truth(simulated):
    rec_path, truth_path, proc = simulated
    assert rec_path.is_file() and truth_path.is_file()
    assert proc.stdout.count("\n") == 1 and str(rec_path) in proc.stdout and "truth.json" in proc.stdout
    truth = json.loads(truth_path.read_text())
    validate(truth)
    kinds = [e["kind"] for e in truth["events"]]
    assert kinds.count("twitch") > 0
    for k in ("twitch", "spasm", "artifact"):
        assert f"{kinds.count(k)} {k}" in proc.stdout
    from twitchwatch.formats import open_recording
    rec = open_recording(rec_path)
    assert rec.fs == 250.0 and rec.n_channels == 4 and rec.duration_s == pytest.approx(30.0)
    assert sorted(a[2] for a in rec.annotations) == sorted(kinds)


def test_simulate_board_and_extension(tmp_path):
    proc = tw("simulate", tmp_path / "g.edf", "--minutes", 0.1, "--board", "ganglion", "--channels", 2,
              "--noise", 3, "--mains", 60, "--seed", 1)
    assert proc.returncode == 0, proc.stderr
    truth = json.loads((tmp_path / "g.truth.json").read_text())
    assert truth["fs"] == 200.0 and len(truth["channels"]) == 2 and truth["mains_hz"] == 60.0
    proc = tw("simulate", tmp_path / "noext", "--minutes", 0.1)  # no extension: BDF+
    assert proc.returncode == 0 and (tmp_path / "noext.bdf").is_file() and (tmp_path / "noext.truth.json").is_file()
    assert_one_line_error(tw("simulate", tmp_path / "c.bdf", "--board", "cyton", "--fs", 500), "--fs", "--board")


def test_analyze_json_valid_and_sorted(simulated, analysed):
    rec_path, _, _ = simulated
    out, proc = analysed
    doc = json.loads(out.read_text())
    validate(doc)
    assert doc["source"] == str(rec_path) and doc["fs"] == 250.0 and doc["duration_s"] == pytest.approx(30.0)
    starts = [e["start_s"] for e in doc["events"]]
    assert starts == sorted(starts) and doc["events"]
    assert "twitches/min" in proc.stdout and "EMG1" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_evaluate_table_and_json(simulated, analysed, tmp_path):
    _, truth, _ = simulated
    events, _ = analysed
    out = tmp_path / "score.json"
    proc = tw("evaluate", "--truth", truth, "--events", events, "--json", out)
    assert proc.returncode == 0, proc.stderr
    for word in ("precision", "recall", "F1", "twitch", "spasm", "artifact", "set aside", "called twitch"):
        assert word in proc.stdout
    score = json.loads(out.read_text())
    for k in ("twitch", "spasm", "artifact"):
        c = score["kinds"][k]
        assert all(0.0 <= c[m] <= 1.0 for m in ("precision", "recall", "f1"))
        assert all(isinstance(c[n], int) and c[n] >= 0 for n in ("tp", "fp", "fn"))
    assert 0.0 <= score["artifact_as_twitch_rate"] <= 1.0
    assert score["set_aside_low_snr"] >= 0
    # --min-snr 0 sets nothing aside
    proc = tw("evaluate", "--truth", truth, "--events", events, "--min-snr", 0, "--json", out)
    assert proc.returncode == 0 and json.loads(out.read_text())["set_aside_low_snr"] == 0


def test_evaluate_errors_lists_the_misses_and_false_alarms_it_counted(simulated, analysed, tmp_path):
    rec, truth, _ = simulated
    events, _ = analysed
    out, errors = tmp_path / "score.json", tmp_path / "errors.csv"
    # (counting every twitch, however small: this recording has misses then)
    proc = tw("evaluate", "--truth", truth, "--events", events, "--min-snr", 0, "--json", out, "--errors", errors)
    assert proc.returncode == 0, proc.stderr
    kinds = json.loads(out.read_text())["kinds"]
    with open(errors, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for kind in ("twitch", "spasm"):
        for mistake, count in (("missed", "fn"), ("false", "fp")):
            assert sum(r["kind"] == kind and r["mistake"] == mistake for r in rows) == kinds[kind][count]
    assert rows and all(r["recording"] == events.name and float(r["end_s"]) >= float(r["start_s"]) for r in rows)
    assert_one_line_error(tw("evaluate", "--truth", truth, "--events", events, "--errors", tmp_path / "no" / "e.csv"),
                          "--errors", "does not exist")
    # a folder where a file is to go: said before any work, for a folder of recordings too
    assert_one_line_error(tw("evaluate", "--truth", truth, "--events", events, "--errors", tmp_path),
                          "--errors", "is a folder")
    assert_one_line_error(tw("evaluate", rec, "--json", tmp_path), "--json", "is a folder")


@needs_real
@pytest.mark.parametrize("name,options", [("emg_1.txt", []),
                                          ("myo-readings_12345-1_0.txt", ["--fs", "200", "--columns", "0-7"])])
def test_analyze_real_files(name, options, tmp_path):
    out = tmp_path / "e.json"
    proc = tw("analyze", REAL / name, *options, "--json", out)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    validate(json.loads(out.read_text()))


def test_folder_mode_goes_on_past_a_broken_file(simulated, tmp_path):
    rec_path, _, _ = simulated
    other = tmp_path / "other.edf"
    assert tw("simulate", other, "--minutes", 0.2, "--seed", 7).returncode == 0
    broken = tmp_path / "broken.bdf"
    broken.write_bytes(b"0       not really a BDF file" * 10)
    out = tmp_path / "out"
    proc = tw("analyze", rec_path, broken, other, "--json", out, "--quiet")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert any("broken.bdf" in line for line in err_lines(proc))
    assert (out / "rec.json").is_file() and (out / "other.json").is_file()
    for f in ("rec.json", "other.json"):
        validate(json.loads((out / f).read_text()))
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [Path(r["file"]).name for r in rows] == ["rec.bdf", "broken.bdf", "other.edf"]
    assert [r["status"] for r in rows] == ["ok", "failed", "ok"]
    assert "broken.bdf" in rows[1]["error"]
    assert rows[0]["fs"] == "250" and rows[0]["channels"] == "4" and float(rows[0]["duration_s"]) == 30.0
    assert int(rows[0]["twitches"]) >= 0 and float(rows[0]["twitches_per_min"]) >= 0


def test_directory_input(simulated, tmp_path):
    rec_path, truth_path, _ = simulated
    d = tmp_path / "recs"
    d.mkdir()
    (d / "a.bdf").write_bytes(rec_path.read_bytes())
    (d / "a.truth.json").write_bytes(truth_path.read_bytes())  # *.json is not a recording: skipped quietly
    (d / "notes.bin").write_bytes(np.random.default_rng(0).bytes(3000))  # junk: skipped with a warning
    out = tmp_path / "out"
    proc = tw("analyze", d, "--json", out)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.json", "summary.csv"]
    assert any(line.startswith("warning:") and "notes.bin" in line for line in err_lines(proc))
    rows = {Path(r["file"]).name: r for r in csv.DictReader((out / "summary.csv").open())}
    assert rows["a.bdf"]["status"] == "ok" and rows["notes.bin"]["status"] == "skipped"
    assert "a.truth.json" not in rows


# ---------------------------------------------------------------- warnings

def _csv(path: Path, x: np.ndarray) -> Path:
    np.savetxt(path, x.T, delimiter=",", fmt="%.4f")
    return path


def test_nan_in_csv_warns(tmp_path):
    x = np.random.default_rng(1).normal(0, 10, (2, 2500))
    x[1, 700:703] = np.nan
    p = _csv(tmp_path / "nan.csv", x)
    proc = tw("analyze", p, "--fs", 250)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in err_lines(proc) if line.startswith("warning:")]
    assert len(warnings) == 1, proc.stderr
    assert "3 NaN/inf samples" in warnings[0] and "nan.csv" in warnings[0] and "channel 1" in warnings[0]


def test_flat_and_clipped_channels_warn(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(0, 20, (3, 5000))
    x[1] = 5.0  # flat
    x[2] = np.clip(x[2] * 5, -60, 60)  # clipped at +-60
    p = _csv(tmp_path / "bad.csv", x)
    proc = tw("analyze", p, "--fs", 500, "--quiet")
    assert proc.returncode == 0, proc.stderr
    lines = err_lines(proc)
    assert any(l.startswith("warning:") and "channel 1" in l and "flat" in l for l in lines), lines
    assert any(l.startswith("warning:") and "channel 2" in l and "clipped" in l for l in lines), lines
    assert not any("channel 0" in l for l in lines), lines
    assert proc.stdout == ""  # --quiet


def test_flat_rows_at_one_value_are_one_warning():
    """The rows a board's file holds with no electrode (twelve of a BrainFlow CSV's 16,
    say) are named in one line per value, as runs, not a line each."""
    from twitchwatch.quality import check_recording
    from twitchwatch.types import Recording

    x = np.random.default_rng(4).normal(0, 20, (7, 2000))
    x[2:5] = 0.0
    x[6] = 0.0
    x[5] = 7.0
    warns = check_recording(Recording(x, 250.0, tuple("abcdefg")), "f.csv")
    assert warns == ["f.csv channels 2-4, 6 (c to e, g) are flat (constant 0 uV): unconnected or dead; "
                     "they will show no events",
                     "f.csv channel 5 (f) is flat (constant 7 uV): unconnected or dead; it will show no events"]


def test_quantized_signal_is_not_called_clipped(tmp_path):
    x = np.round(np.random.default_rng(3).normal(0, 1.5, (1, 5000)))  # a few integer levels, no clipping
    proc = tw("analyze", _csv(tmp_path / "q.csv", x), "--fs", 500, "--quiet")
    assert proc.returncode == 0 and "clipped" not in proc.stderr


# ---------------------------------------------------------------- errors: one line, exit 2

def test_error_missing_file(tmp_path):
    assert_one_line_error(tw("analyze", tmp_path / "nope.bdf"), "nope.bdf")


def test_error_folder_of_nothing_readable(tmp_path):
    d = tmp_path / "junk"
    d.mkdir()
    (d / "a.bin").write_bytes(np.random.default_rng(0).bytes(2000))
    (d / "b.txt").write_text("")
    (d / "c.txt").write_text("hello\nworld\n")
    assert_one_line_error(tw("analyze", d), str(d))
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(tw("analyze", empty), str(empty))


def test_error_bad_options(simulated):
    rec, _, _ = simulated
    assert_one_line_error(tw("analyze", rec, "--fs", "-5"), "--fs")
    assert_one_line_error(tw("analyze", rec, "--fs=abc"), "--fs")
    assert_one_line_error(tw("analyze", rec, "--fs", "1e9"), "--fs")
    assert_one_line_error(tw("analyze", rec, "--columns", "x-y"), "--columns")
    assert_one_line_error(tw("analyze", rec, "--columns", "5-2"), "--columns")
    assert_one_line_error(tw("analyze", rec, "--columns", "9"), "--columns")
    assert_one_line_error(tw("analyze", rec, "--board", "nosuchboard"), "--board")
    assert_one_line_error(tw("analyze", rec, "--mains", "55"), "--mains")
    assert_one_line_error(tw("analyze", rec, "--bogus"), "--bogus")
    assert_one_line_error(tw("analyze"), "PATH")
    assert_one_line_error(tw("simulate", "x.bdf", "--minutes", "0"), "--minutes")
    assert_one_line_error(tw("simulate", "x.bdf", "--channels", "0"), "--channels")
    assert_one_line_error(tw("nosuchcommand"), "nosuchcommand")


def test_error_output_paths(simulated, tmp_path):
    rec, truth, _ = simulated
    assert_one_line_error(tw("simulate", tmp_path / "no" / "dir" / "x.bdf", "--minutes", 0.1), "x.bdf")
    assert_one_line_error(tw("simulate", tmp_path / "x.csv", "--minutes", 0.1), "x.csv")
    assert_one_line_error(tw("analyze", rec, "--json", tmp_path / "no" / "e.json"), "--json")
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    assert_one_line_error(tw("analyze", rec, rec, "--json", a_file), "--json")


def test_error_truth_not_json(analysed, tmp_path):
    events, _ = analysed
    bad = tmp_path / "t.json"
    bad.write_text("{not json")
    assert_one_line_error(tw("evaluate", "--truth", bad, "--events", events), "--truth", "t.json")
    assert_one_line_error(tw("evaluate", "--truth", tmp_path / "none.json", "--events", events), "none.json")
    wrong = tmp_path / "w.json"
    wrong.write_text(json.dumps({"source": "x", "fs": 250, "channels": ["a"], "duration_s": 1,
                                 "events": [{"channel": 0, "start_s": 0, "end_s": 1, "kind": "cramp"}]}))
    assert_one_line_error(tw("evaluate", "--truth", wrong, "--events", events), "w.json", "cramp")
    assert_one_line_error(tw("evaluate", "--truth", bad), "--events")


def test_error_random_bytes_and_empty_file(tmp_path):
    rnd = tmp_path / "random.dat"
    rnd.write_bytes(np.random.default_rng(5).bytes(4096))
    assert_one_line_error(tw("analyze", rnd), "random.dat")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert_one_line_error(tw("analyze", empty), "empty.csv")
    fake = tmp_path / "fake.bdf"
    fake.write_bytes(np.random.default_rng(6).bytes(4096))
    assert_one_line_error(tw("analyze", fake), "fake.bdf")


def test_structural_check_agrees_with_schema(analysed, simulated):
    """The built-in check accepts what the schema accepts (for our own outputs)."""
    from twitchwatch.report_json import check_events
    events, _ = analysed
    _, truth, _ = simulated
    for p in (events, truth):
        doc = json.loads(p.read_text())
        validate(doc)
        assert check_events(doc, str(p)) is doc


def test_keyboard_interrupt_exits_130(monkeypatch, capsys):
    from twitchwatch import cli

    def boom(args):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "cmd_evaluate", boom)
    assert cli.main(["evaluate", "--truth", "t.json", "--events", "e.json"]) == 130
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
