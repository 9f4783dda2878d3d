"""The episode log: real SQLite files, sessions without duplicates, two writers at once,
tags checked before they are stored, and damaged or foreign databases refused untouched."""
from __future__ import annotations

import csv
import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from twitchwatch.episodes import SCHEMA_VERSION, EpisodeStore
from twitchwatch.errors import UserError
from twitchwatch.types import Episode

from conftest import run_cli as tw

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "recordings" / "sim-cyton-250hz.bdf"



def _episode(k: int) -> Episode:
    return Episode(k % 2, f"EMG{k % 2}", k * 1.0, k * 1.0 + 0.01, "twitch", 50.0, 0.9, {"snr": 10.0})


def test_a_session_is_logged_once_however_often_it_is_analysed(tmp_path):
    db = tmp_path / "log.sqlite"
    for _ in range(2):
        proc = tw("analyze", str(SAMPLE), "--db", str(db), "--regions", "calf", "--quiet")
        assert proc.returncode == 0, proc.stderr
    with EpisodeStore(db) as store:
        sessions, episodes = store.sessions(), store.episodes()
    assert len(sessions) == 1 and sessions[0]["regions"] == ["calf"] * len(sessions[0]["channels"])
    json_out = tmp_path / "e.json"
    tw("analyze", str(SAMPLE), "--no-log", "--json", str(json_out), "--quiet")
    events = json.loads(json_out.read_text())["events"]
    assert len(episodes) == len(events) > 0
    # placed in time by the recording's start
    start = dt.datetime.fromisoformat(sessions[0]["start"])
    first = min(episodes, key=lambda e: e["time"])
    assert dt.datetime.fromisoformat(first["time"]) == start + dt.timedelta(seconds=first["start_s"])


def test_no_log_writes_nothing(tmp_path):
    db = tmp_path / "none.sqlite"
    proc = tw("analyze", str(SAMPLE), "--db", str(db), "--no-log", "--quiet")
    assert proc.returncode == 0 and not db.exists()


WRITER = textwrap.dedent("""
    import datetime as dt, sys
    from twitchwatch.episodes import EpisodeStore
    from twitchwatch.types import Episode
    db, who = sys.argv[1], sys.argv[2]
    t = dt.datetime(2026, 11, 20, tzinfo=dt.timezone.utc)
    for k in range(40):
        with EpisodeStore(db) as s:
            s.log_session(source_key=f"{who}-{k}", source=who, start=t, duration_s=60.0, fs=250.0,
                          channels=["a"], regions=[None],
                          episodes=[Episode(0, "a", j * 0.5, j * 0.5 + 0.01, "twitch", 40.0, 0.9, {}) for j in range(25)])
            s.add_tag("caffeine", at=t, start=t, end=t + dt.timedelta(days=1), value=float(k), unit="mg")
""")


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    db = tmp_path / "shared.sqlite"
    EpisodeStore(db).close()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(db), who], env=env, stderr=subprocess.PIPE, text=True)
             for who in ("one", "two")]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    with EpisodeStore(db) as store:
        assert len(store.sessions()) == 80
        assert len(store.episodes()) == 80 * 25
        assert len(store.tags()) == 80
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize("args,needle", [
    (("log", "sleep", "30h"), "makes no sense"),
    (("log", "potassium", "50"), "makes no sense"),
    (("log", "caffeine", "lots"), "caffeine"),
    (("log", "bogus"), "unknown tag"),
    (("log", "caffeine", "200mg", "--at", "yesterday"), "--at"),
    (("log", "caffeine", "--from", "2026-11-20"), "--to"),
    (("log", "delete", "999"), "no such tag"),
])
def test_bad_tags_are_one_line_errors_and_change_nothing(args, needle, tmp_path):
    db = tmp_path / "log.sqlite"
    assert tw("log", "caffeine", "100mg", "--at", "2026-11-19T08:00", "--db", str(db)).returncode == 0
    before = EpisodeStore(db).tags()
    proc = tw(*args, "--db", str(db))
    assert proc.returncode == 2 and needle in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0
    assert EpisodeStore(db).tags() == before


def test_log_edit_delete_and_lab_flags(tmp_path):
    db = str(tmp_path / "log.sqlite")
    assert tw("log", "potassium", "3.1", "--at", "2026-11-20", "--db", db).returncode == 0
    assert tw("log", "sleep", "5h", "--at", "2026-11-20", "--note", "woke at 4", "--db", db).returncode == 0
    tags = EpisodeStore(db).tags()
    k, s = tags
    assert (k["tag"], k["value"], k["flag"]) == ("potassium", 3.1, "low")
    assert s["start"].startswith("2026-11-2") and s["note"] == "woke at 4"
    assert tw("log", "edit", str(s["id"]), "6.5h", "--db", db).returncode == 0
    assert tw("log", "delete", str(k["id"]), "--db", db).returncode == 0
    (left,) = EpisodeStore(db).tags()
    assert left["value"] == 6.5 and left["note"] == "woke at 4"


def test_diary_import_is_all_or_nothing_and_export_round_trips(tmp_path):
    db = str(tmp_path / "log.sqlite")
    diary = tmp_path / "diary.csv"
    diary.write_text("tag,value,at,from,to,note\ncaffeine,200mg,2026-11-20T08:00,,,coffee\n"
                     "sleep,5h,2026-11-20,,,\nexercise,run,,2026-11-21T07:00,2026-11-21T08:00,\n")
    assert tw("log", "import", str(diary), "--db", db).returncode == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("tag,value,at\ncaffeine,100mg,2026-11-22\nsleep,30h,2026-11-22\n")
    proc = tw("log", "import", str(bad), "--db", db)
    assert proc.returncode == 2 and "line 3" in proc.stderr and "nothing was imported" in proc.stderr
    assert [t["tag"] for t in EpisodeStore(db).tags()] == ["sleep", "caffeine", "exercise"]  # by time
    out = tmp_path / "out"
    assert tw("log", "export", str(out), "--db", db).returncode == 0
    rows = list(csv.DictReader((out / "tags.csv").open()))
    assert [r["tag"] for r in rows] == ["sleep", "caffeine", "exercise"] and rows[1]["note"] == "coffee"
    assert (out / "episodes.csv").read_text().startswith("time,")


def test_a_damaged_database_is_refused_and_left_as_it_was(tmp_path):
    db = tmp_path / "log.sqlite"
    with EpisodeStore(db) as store:
        store.log_session(source_key="k", source="s", start=dt.datetime(2026, 11, 20, tzinfo=dt.timezone.utc),
                          duration_s=10, fs=250, channels=["a", "b"], regions=[None, None],
                          episodes=[_episode(k) for k in range(5)])
    raw = bytearray(db.read_bytes())
    raw[100:4000] = os.urandom(3900)  # the header's tail and the schema page
    db.write_bytes(bytes(raw))
    proc = tw("log", "caffeine", "--db", str(db))
    assert proc.returncode == 2 and "damaged" in proc.stderr and "Traceback" not in proc.stderr
    assert db.read_bytes() == bytes(raw)


def test_foreign_and_newer_databases_are_refused(tmp_path):
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE notes (x)")
    con.commit()
    con.close()
    with pytest.raises(UserError, match="not a twitchwatch database"):
        EpisodeStore(other)
    newer = tmp_path / "newer.sqlite"
    EpisodeStore(newer).close()
    con = sqlite3.connect(newer)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.commit()
    con.close()
    with pytest.raises(UserError, match="newer twitchwatch"):
        EpisodeStore(newer)


def test_stream_logs_its_session_and_tags(tmp_path):
    db = tmp_path / "log.sqlite"
    proc = tw("stream", "--replay", str(SAMPLE), "--speed", "max", "--duration", "20", "--quiet",
              "--tag", "caffeine=200mg", "--tag", "stress=6", "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    with EpisodeStore(db) as store:
        (session,) = store.sessions()
        tags = store.tags()
    assert session["duration_s"] == pytest.approx(20.0)
    assert [(t["tag"], t["value"]) for t in tags] == [("caffeine", 200.0), ("stress", 6.0)]
    assert tags[0]["start"] == session["start"]
