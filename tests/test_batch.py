"""Batch analysis of many recordings: one by one, --jobs N local processes, and Dask
(--scheduler local, and a LocalCluster started here whose address is passed). All modes
must write the same events JSONs, summary.csv and episode log; failures are reported and
the rest go on. One LocalCluster is shared by the module (Dask start-up is slow)."""
from __future__ import annotations

import csv
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from twitchwatch.batch import Batch, Options, analyze_one
from twitchwatch.formats import write_recording
from twitchwatch.synth import SynthConfig, simulate

N_RECORDINGS = 20


@pytest.fixture(scope="module")
def recs(tmp_path_factory) -> Path:
    """20 short synthetic recordings: 250 and 1000 Hz, 2-4 channels, 20-30 s, BDF+ and EDF+."""
    d = tmp_path_factory.mktemp("batch") / "recs"
    d.mkdir()
    for k in range(N_RECORDINGS):
        rec, truth = simulate(SynthConfig(minutes=(20 + k % 11) / 60, fs=(250.0, 1000.0)[k % 2], seed=100 + k,
                                          n_channels=2 + k % 3, twitch_rate=30))
        notes = [(e["start_s"], e["end_s"] - e["start_s"], e["kind"]) for e in truth["events"]]
        write_recording(d / f"r{k:02d}.{'edf' if k % 5 == 4 else 'bdf'}", rec, notes)
    return d


@pytest.fixture(scope="module")
def cluster():
    """A real Dask LocalCluster, 2 worker processes of 1 thread; its scheduler address."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as c:
        yield c.scheduler_address


def _analyze(runs: dict[str, tuple], inputs: list, tmp: Path) -> dict[str, subprocess.CompletedProcess]:
    """``twitchwatch analyze INPUTS --json tmp/NAME/events --db tmp/NAME/log.sqlite OPTIONS`` for
    each NAME: OPTIONS of ``runs``, all at once (child processes; they wait on each other's start-up)."""
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    procs = {}
    for name, options in runs.items():
        out = tmp / name
        out.mkdir()
        args = ["analyze", *inputs, "--json", out / "events", "--db", out / "log.sqlite", "--quiet", *options]
        procs[name] = subprocess.Popen([sys.executable, "-m", "twitchwatch.cli", *map(str, args)], text=True,
                                       env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE)
    done = {}
    for name, p in procs.items():
        stdout, stderr = p.communicate(timeout=600)
        done[name] = subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr)
    return done


def _summary(out: Path) -> list[dict]:
    """summary.csv rows, the events_json column reduced to its file name (the folders differ)."""
    rows = list(csv.DictReader((out / "events" / "summary.csv").open(newline="")))
    for r in rows:
        r["events_json"] = Path(r["events_json"]).name if r["events_json"] else ""
    return rows


def _events(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "events").glob("*.json"))}


def _log(out: Path) -> tuple[list, list]:
    """The episode log's sessions and episodes, all columns but the time they were logged."""
    with sqlite3.connect(out / "log.sqlite") as db:
        sessions = db.execute("SELECT id, source_key, source, start, duration_s, fs, channels, regions "
                              "FROM sessions ORDER BY id").fetchall()
        episodes = db.execute("SELECT * FROM episodes ORDER BY id").fetchall()
    return sessions, episodes


def test_serial_jobs_and_dask_give_the_same_outputs(recs, cluster, tmp_path):
    runs = {"serial": (), "jobs": ("--jobs", "2"), "local": ("--scheduler", "local"),
            "address": ("--scheduler", cluster)}
    procs = _analyze(runs, [recs], tmp_path)
    for name, proc in procs.items():
        assert proc.returncode == 0 and proc.stderr == "", (name, proc.stderr)

    serial = tmp_path / "serial"
    rows = _summary(serial)
    assert [r["file"] for r in rows] == [str(p) for p in sorted(recs.iterdir())]
    assert all(r["status"] == "ok" for r in rows)
    assert sorted({r["fs"] for r in rows}) == ["1000", "250"] and {r["channels"] for r in rows} == {"2", "3", "4"}
    events = _events(serial)
    assert len(events) == N_RECORDINGS
    sessions, episodes = _log(serial)
    assert len(sessions) == N_RECORDINGS and len(episodes) == sum(int(r["twitches"]) + int(r["spasms"]) +
                                                                  int(r["artifacts"]) for r in rows) > 0
    for name in ("jobs", "local", "address"):
        out = tmp_path / name
        assert _summary(out) == rows, name
        assert _events(out) == events, name
        assert _log(out) == (sessions, episodes), name


def test_one_by_one_in_process_matches_the_cluster(recs, cluster):
    """The Batch API: results come back in input order, the same as analyze_one one by one."""
    from distributed import Client, get_task_stream

    paths = [str(p) for p in sorted(recs.iterdir())[:6]]
    options = Options()
    alone = [analyze_one(p, options) for p in paths]
    with Client(cluster) as client, get_task_stream(client) as tasks:
        with Batch(scheduler=cluster) as batch:
            seen = list(batch.run(paths, options))
        workers = set(client.scheduler_info()["workers"])
    ran = [t for t in tasks.data if t["key"].startswith("analyze_one")]
    assert len(ran) == len(paths) and {t["worker"] for t in ran} <= workers  # on the cluster's workers
    assert [r.path for r in seen] == paths
    assert all(r.error == "" for r in seen)
    assert [r.doc for r in seen] == [r.doc for r in alone]
    assert [r.waveforms for r in seen] == [r.waveforms for r in alone]


def test_failures_are_reported_and_the_rest_go_on(recs, cluster, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for name in ("r00.bdf", "r01.bdf"):
        (folder / name).write_bytes((recs / name).read_bytes())
    (folder / "notes.bin").write_bytes(os.urandom(3000))  # in a folder: not a recording, skipped
    broken = tmp_path / "broken.bdf"  # named on the command line: failed
    broken.write_bytes(b"0       not really a BDF file" * 10)
    pattern = str(recs / "**" / "r1[0-2].bdf")  # a recursive glob, expanded by twitchwatch
    inputs = [folder, broken, pattern]
    summaries = []
    for name, proc in _analyze({"serial": (), "dask": ("--scheduler", cluster)}, inputs, tmp_path).items():
        out = tmp_path / name
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        errors = [line for line in proc.stderr.splitlines() if line.startswith("twitchwatch: error:")]
        assert len(errors) == 2 and "broken.bdf" in errors[0] and "1 of 6 recording(s) failed" in errors[1]
        assert any(line.startswith("warning: skipped") and "notes.bin" in line for line in proc.stderr.splitlines())
        rows = _summary(out)
        assert [(Path(r["file"]).name, r["status"]) for r in rows] == [
            ("notes.bin", "skipped"), ("r00.bdf", "ok"), ("r01.bdf", "ok"), ("broken.bdf", "failed"),
            ("r10.bdf", "ok"), ("r11.bdf", "ok"), ("r12.bdf", "ok")]
        assert sorted(_events(out)) == ["r00.json", "r01.json", "r10.json", "r11.json", "r12.json"]
        summaries.append(rows)
    assert summaries[0] == summaries[1]


def _on_a_terminal(*args: object) -> tuple[int, str]:
    """``twitchwatch ARGS`` with stdout and stderr on a real pseudo-terminal: exit status, all it wrote."""
    import select

    master, slave = os.openpty()
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), TERM="xterm", COLUMNS="100")
    p = subprocess.Popen([sys.executable, "-m", "twitchwatch.cli", *map(str, args)], stdin=subprocess.DEVNULL,
                         stdout=slave, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    try:
        while select.select([master], [], [], 300)[0]:
            try:
                data = os.read(master, 1 << 16)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
    return p.wait(timeout=60), b"".join(chunks).decode(errors="replace")


def test_one_progress_bar_on_a_terminal_only(recs):
    paths = [recs / f"r{k:02d}.bdf" for k in (0, 1, 2)]
    status, shown = _on_a_terminal("analyze", *paths, "--no-log")
    assert status == 0, shown
    assert "analysing" in shown and "3/3" in shown
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)  # without the terminal's colour codes
    at = [plain.index(f"{p}  bdf") for p in paths]  # each recording's line, in input order
    assert at == sorted(at)
    status, shown = _on_a_terminal("analyze", *paths, "--quiet", "--no-log")
    assert status == 0 and "analysing" not in shown and "r00.bdf" not in shown, shown


def _dies_on_r01(path: str, options: Options):
    """A worker that really dies (the process exits) on one recording."""
    if path.endswith("r01.bdf"):
        os._exit(3)
    return analyze_one(path, options)


def test_a_worker_process_that_dies_fails_one_recording(recs):
    paths = [str(recs / f"r{k:02d}.bdf") for k in (0, 1, 2, 3)]
    options = Options(model="rules", waveforms=False)  # the rule classifier: no model to load in each new pool
    with Batch(jobs=2, work=_dies_on_r01) as batch:
        results = list(batch.run(paths, options))
    assert [r.path for r in results] == paths
    assert "r01.bdf" in results[1].error and "died" in results[1].error
    for k in (0, 2, 3):
        assert results[k].error == "" and results[k].doc == analyze_one(paths[k], options).doc


def test_errors_are_one_line_and_exit_2(recs, tmp_path, capsys):
    """Bad --scheduler/--jobs and a glob that matches nothing (cli.main in this process)."""
    from twitchwatch.cli import main

    def one_line(argv, *names):
        assert main(["analyze", *map(str, argv), "--no-log", "--quiet"]) == 2
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("twitchwatch: error:"), err
        for name in names:
            assert name in lines[0], (name, lines[0])

    out = tmp_path / "out"
    one_line([recs, "--scheduler", "tcp://127.0.0.1:9", "--json", out], "--scheduler tcp://127.0.0.1:9")  # no one there
    assert not out.exists()  # it fails before writing anything
    one_line([recs, "--scheduler", "no-port-here"], "--scheduler no-port-here")
    one_line([recs, "--scheduler", "tcp://127.0.0.1:9", "--jobs", "2"], "--jobs")
    one_line([recs, "--jobs", "0"], "--jobs")
    nothing = str(tmp_path / "*.bdf")
    one_line([nothing], nothing, "matches no files")
