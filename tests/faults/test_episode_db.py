"""The episode log under concurrent writers and a writer killed mid-transaction (real SQLite
files, real processes).

What must hold: no writer fails ("database is locked", a half-made schema); every session a
writer was told is stored is there; a writer killed inside a transaction leaves a database
that opens, passes ``PRAGMA integrity_check`` and holds all of that session or none of it.
Two writers on an existing database: tests/test_episodes.py::test_two_processes_writing_at_once_lose_nothing.
"""
from __future__ import annotations

import multiprocessing
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

from twitchwatch.episodes import EpisodeStore

ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=str(ROOT / "src"))

WRITER = textwrap.dedent("""
    import datetime as dt, sys
    from twitchwatch.episodes import EpisodeStore
    from twitchwatch.types import Episode
    db, who, n_sessions, n_big = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    t = dt.datetime(2026, 11, 20, tzinfo=dt.timezone.utc)
    def episodes(n):
        return [Episode(0, "a", j * 0.01, j * 0.01 + 0.005, "twitch", 40.0, 0.9, {"snr": 3.0}) for j in range(n)]
    for k in range(n_sessions):
        with EpisodeStore(db) as s:   # a fresh open each time: the schema check races too
            s.log_session(source_key=f"{who}-{k}", source=who, start=t, duration_s=60.0, fs=250.0,
                          channels=["a"], regions=[None], episodes=episodes(10))
        print("acked", k, flush=True)
    if n_big:
        s = EpisodeStore(db)
        print("big", flush=True)
        s.log_session(source_key=f"{who}-big", source=who, start=t, duration_s=60.0, fs=250.0,
                      channels=["a"], regions=[None], episodes=episodes(n_big))
        print("acked big", flush=True)
""")


def _writer(db: Path, who: str, n_sessions: int, n_big: int = 0) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(db), who, str(n_sessions), str(n_big)], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_writers_racing_on_a_new_database_lose_nothing(tmp_path):
    """Four processes create and write one new database at once (as streams started together
    do): the schema is made once, no writer fails, and all their sessions are there."""
    db = tmp_path / "new.sqlite"
    procs = [_writer(db, f"w{i}", 15) for i in range(4)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert "Traceback" not in err and out.count("acked") == 15
    with EpisodeStore(db) as store:
        sessions, episodes = store.sessions(), store.episodes()
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert len(sessions) == 60 and len(episodes) == 600


def _open_at_once(path: str, barrier, results) -> None:
    barrier.wait()
    try:
        with EpisodeStore(path) as store:
            store.sessions()
        results.put("ok")
    except Exception as exc:  # (reported, not raised: the parent asserts on them)
        results.put(repr(exc))


def test_openers_racing_on_a_new_database_all_open_it(tmp_path):
    """Eight processes open one new database at the same moment, a hundred times over: every
    open succeeds. SQLite refuses the switch to write-ahead logging that meets another
    opener's lock at once ("database is locked", whatever the busy timeout), and a schema
    made between two reads looked like a foreign file: before the store handled both, 43
    rounds in 300 had an open fail."""
    ctx = multiprocessing.get_context("fork")
    failures = []
    for r in range(100):
        barrier, results = ctx.Barrier(8), ctx.Queue()
        procs = [ctx.Process(target=_open_at_once, args=(str(tmp_path / f"new{r}.sqlite"), barrier, results))
                 for _ in range(8)]
        for p in procs:
            p.start()
        failures += [x for x in (results.get(timeout=120) for _ in procs) if x != "ok"]
        for p in procs:
            p.join()
    assert failures == []


def test_a_writer_killed_mid_transaction_leaves_all_or_nothing(tmp_path):
    """Power loss, as far as SQLite can tell from one machine: the writer is SIGKILLed while
    it stores a big session (200,000 episodes, one transaction), at moments drawn from a
    seeded generator. The database opens (WAL recovery), passes integrity_check, holds every
    session acknowledged before, and the big one whole or not at all."""
    rng = np.random.default_rng(7)
    outcomes = set()
    for trial, delay in enumerate(rng.uniform(0.05, 1.0, 3)):
        db = tmp_path / f"log{trial}.sqlite"
        p = _writer(db, "w", 3, n_big=200_000)
        acked = []
        for line in p.stdout:
            if line.startswith("acked") and line.split()[1] != "big":
                acked.append(int(line.split()[1]))
            if line.strip() == "big":
                break
        time.sleep(delay)
        p.kill()
        rest, _ = p.communicate(timeout=30)
        big_acked = "acked big" in rest
        with EpisodeStore(db) as store:
            assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            keys = {r[0]: r[1] for r in store.db.execute("SELECT source_key, id FROM sessions")}
            counts = dict(store.db.execute("SELECT session_id, count(*) FROM episodes GROUP BY session_id"))
        assert acked == [0, 1, 2] and all(f"w-{k}" in keys for k in acked)
        assert all(counts[keys[f"w-{k}"]] == 10 for k in acked)
        if "w-big" in keys:
            assert counts[keys["w-big"]] == 200_000
        else:
            assert not big_acked and set(counts) == {keys[f"w-{k}"] for k in acked}
        outcomes.add("w-big" in keys)
        # the database is usable for the next writer
        with sqlite3.connect(db) as con:
            assert con.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    assert False in outcomes, "no kill landed inside the transaction: make the session bigger"
