"""The episode log: a SQLite file of sessions, episodes and context tags.

WAL mode with a busy timeout, so that several processes (a live stream, an analysis, a
`twitchwatch log` from another terminal) can write at once without losing anything; each
write is one transaction, synced to the disk before it returns (synchronous=FULL), so a
crash or power loss keeps every acknowledged write and none of a half-done one. The schema is versioned (``PRAGMA user_version``) and migrated
forward on open; a file that is not a twitchwatch database, or is damaged, is refused
with a one-line error and left untouched.

Times are stored as ISO-8601 UTC strings. A session is keyed by where it came from (a
recording's content fingerprint, or a stream's board and start), so analysing the same
recording again replaces its episodes instead of adding them twice.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Iterable, Sequence

from .errors import UserError
from .types import Episode

SCHEMA_VERSION = 1
# (version, statements): applied in order to bring a database up to SCHEMA_VERSION
MIGRATIONS: list[tuple[int, list[str]]] = [
    (1, [
        """CREATE TABLE sessions (
            id INTEGER PRIMARY KEY,
            source_key TEXT NOT NULL UNIQUE,
            source TEXT NOT NULL,
            start TEXT NOT NULL,
            duration_s REAL NOT NULL,
            fs REAL NOT NULL,
            channels TEXT NOT NULL,
            regions TEXT NOT NULL,
            logged TEXT NOT NULL)""",
        """CREATE TABLE episodes (
            id INTEGER PRIMARY KEY,
            session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            channel INTEGER NOT NULL,
            channel_name TEXT NOT NULL,
            region TEXT,
            time TEXT NOT NULL,
            start_s REAL NOT NULL,
            end_s REAL NOT NULL,
            kind TEXT NOT NULL,
            peak_uv REAL NOT NULL,
            confidence REAL NOT NULL,
            features TEXT NOT NULL,
            waveform TEXT)""",
        "CREATE INDEX episodes_time ON episodes(time)",
        "CREATE INDEX episodes_session ON episodes(session_id)",
        """CREATE TABLE tags (
            id INTEGER PRIMARY KEY,
            tag TEXT NOT NULL,
            value REAL,
            unit TEXT,
            text TEXT,
            at TEXT NOT NULL,
            start TEXT NOT NULL,
            end TEXT NOT NULL,
            note TEXT,
            flag TEXT,
            logged TEXT NOT NULL)""",
        "CREATE INDEX tags_start ON tags(start)",
    ]),
]

BODY_REGIONS = ("eyelid", "face", "jaw", "neck", "shoulder", "arm", "forearm", "hand", "chest", "back",
                "abdomen", "thigh", "calf", "foot", "other")


def default_db() -> Path:
    """``$TWITCHWATCH_DB``, else ``twitchwatch/episodes.sqlite`` in the user's data folder."""
    if os.environ.get("TWITCHWATCH_DB"):
        return Path(os.environ["TWITCHWATCH_DB"])
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "twitchwatch" / "episodes.sqlite"


def utc_iso(t: _dt.datetime) -> str:
    """ISO-8601 UTC; a naive time is taken as local wall-clock time."""
    if t.tzinfo is None:
        t = t.astimezone()
    return t.astimezone(_dt.timezone.utc).isoformat(timespec="milliseconds")


def fingerprint(path: Path) -> str:
    """A recording's identity for de-duplication: size plus a hash of its first and last
    MiB (cheap on a day-long file, and the same wherever the file is moved)."""
    h = hashlib.sha256()
    size = path.stat().st_size
    with path.open("rb") as f:
        h.update(f.read(1 << 20))
        if size > 2 << 20:
            f.seek(-(1 << 20), os.SEEK_END)
            h.update(f.read())
    return f"file:{size}:{h.hexdigest()}"


def session_start(path: Path, info) -> tuple[_dt.datetime, str]:
    """Where a recording goes in the log's time line, and a note when the file gives no start
    (``info``: the Recording, or a batch worker's RecordingInfo)."""
    if info.start_time is not None:
        return info.start_time, ""
    end = _dt.datetime.fromtimestamp(path.stat().st_mtime)
    return end - _dt.timedelta(seconds=info.duration_s), \
        " (the file gives no start time: placed to end at its modification time)"


class EpisodeStore:
    """One episode log (a SQLite file). Use as a context manager, or call ``close()``."""

    def __init__(self, path: str | Path, option: str = "--db"):
        self.path = Path(path)
        self.option = option
        if self.path.is_dir():
            raise UserError(f"{option} {self.path}: is a folder; name the database file")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
            self.db.execute("PRAGMA busy_timeout = 60000")
            self._wal()
            self.db.execute("PRAGMA foreign_keys = ON")
            # FULL in WAL mode too: a session is on the disk when log_session returns, even if
            # the power fails next (NORMAL may lose the last commits then); writes are rare
            self.db.execute("PRAGMA synchronous = FULL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise UserError(f"{option} {self.path}: not a twitchwatch database or damaged ({exc}); "
                            "nothing was changed; name another file or restore a backup") from None

    def _wal(self, wait_s: float = 60.0) -> None:
        """Write-ahead logging. SQLite answers a switch to it that meets another
        connection's lock with "database is locked" at once, without waiting as the busy
        timeout says (several processes creating one new database together: 15 of 1600
        opens): the switch is tried again, for up to ``wait_s``."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                self.db.execute("PRAGMA journal_mode = WAL").fetchone()
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.005)

    # -- schema ------------------------------------------------------------------
    def _migrate(self) -> None:
        version = self._version()
        if version:
            self.db.execute("PRAGMA quick_check").fetchone()
        if version == SCHEMA_VERSION:
            return
        # Several processes may open a new or old database at once: the version is read
        # again inside the write transaction, so one migrates and the others see it done.
        with self._write():
            version = self._version()
            for target, statements in MIGRATIONS:
                if target <= version:
                    continue
                for sql in statements:
                    self.db.execute(sql)
                self.db.execute(f"PRAGMA user_version = {int(target)}")

    def _version(self) -> int:
        """The schema version; a UserError for a newer schema or a foreign SQLite file."""
        # (one statement, one snapshot: another process may make the schema between two)
        version, tables = self.db.execute("SELECT user_version, (SELECT count(*) FROM sqlite_master "
                                          "WHERE type = 'table') FROM pragma_user_version").fetchone()
        if version > SCHEMA_VERSION:
            raise UserError(f"{self.option} {self.path}: made by a newer twitchwatch (schema {version}, "
                            f"this one knows {SCHEMA_VERSION}); upgrade twitchwatch")
        if version == 0 and tables:
            raise UserError(f"{self.option} {self.path}: is an SQLite file but not a twitchwatch database; "
                            "name another file")
        return version

    def _write(self):
        """A write transaction taken at once (BEGIN IMMEDIATE), so writers queue, not fail."""
        store = self

        class _Tx:
            def __enter__(self):
                store.db.execute("BEGIN IMMEDIATE")
                return store.db

            def __exit__(self, exc_type, *rest):
                store.db.execute("ROLLBACK" if exc_type else "COMMIT")
                return False

        return _Tx()

    # -- sessions and episodes ---------------------------------------------------------
    def log_session(self, *, source_key: str, source: str, start: _dt.datetime, duration_s: float, fs: float,
                    channels: Sequence[str], regions: Sequence[str | None], episodes: Iterable[Episode],
                    waveforms: dict[int, list[float]] | None = None) -> tuple[int, bool]:
        """Store a session and its episodes in one transaction. A session with the same
        ``source_key`` is replaced (its old episodes dropped). Returns (id, replaced)."""
        episodes = list(episodes)
        now = utc_iso(_dt.datetime.now(_dt.timezone.utc))
        start_utc = start if start.tzinfo else start.astimezone()
        with self._write() as db:
            old = db.execute("SELECT id FROM sessions WHERE source_key = ?", (source_key,)).fetchone()
            if old:
                db.execute("DELETE FROM sessions WHERE id = ?", (old[0],))
            cur = db.execute(
                "INSERT INTO sessions (source_key, source, start, duration_s, fs, channels, regions, logged) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (source_key, source, utc_iso(start_utc), float(duration_s), float(fs), json.dumps(list(channels)),
                 json.dumps(list(regions)), now))
            sid = int(cur.lastrowid)
            rows = []
            for k, e in enumerate(episodes):
                wave = (waveforms or {}).get(k)
                rows.append((sid, e.channel, e.channel_name, regions[e.channel] if e.channel < len(regions) else None,
                             utc_iso(start_utc + _dt.timedelta(seconds=e.start_s)), e.start_s, e.end_s, e.kind,
                             float(e.peak_uv), float(e.confidence),
                             json.dumps({k2: float(v) for k2, v in e.features.items()}),
                             json.dumps(wave) if wave is not None else None))
            db.executemany(
                "INSERT INTO episodes (session_id, channel, channel_name, region, time, start_s, end_s, kind, "
                "peak_uv, confidence, features, waveform) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        return sid, bool(old)

    def sessions(self) -> list[dict]:
        cur = self.db.execute("SELECT id, source, start, duration_s, fs, channels, regions FROM sessions "
                              "ORDER BY start")
        return [{"id": r[0], "source": r[1], "start": r[2], "duration_s": r[3], "fs": r[4],
                 "channels": json.loads(r[5]), "regions": json.loads(r[6])} for r in cur]

    def episodes(self, with_waveforms: bool = False) -> list[dict]:
        cur = self.db.execute("SELECT session_id, channel, channel_name, region, time, start_s, end_s, kind, "
                              "peak_uv, confidence, waveform FROM episodes ORDER BY time")
        out = []
        for r in cur:
            e = {"session_id": r[0], "channel": r[1], "channel_name": r[2], "region": r[3], "time": r[4],
                 "start_s": r[5], "end_s": r[6], "kind": r[7], "peak_uv": r[8], "confidence": r[9]}
            if with_waveforms and r[10]:
                e["waveform"] = json.loads(r[10])
            out.append(e)
        return out

    # -- tags ----------------------------------------------------------------------
    def add_tag(self, tag: str, *, at: _dt.datetime, start: _dt.datetime, end: _dt.datetime,
                value: float | None = None, unit: str | None = None, text: str | None = None,
                note: str | None = None, flag: str | None = None) -> int:
        return self.add_tags([dict(tag=tag, at=at, start=start, end=end, value=value, unit=unit, text=text,
                                   note=note, flag=flag)])[0]

    def add_tags(self, rows: list[dict]) -> list[int]:
        """Store tags (dicts of add_tag's arguments) in one transaction: all or none."""
        now = utc_iso(_dt.datetime.now(_dt.timezone.utc))
        ids = []
        with self._write() as db:
            for r in rows:
                cur = db.execute(
                    "INSERT INTO tags (tag, value, unit, text, at, start, end, note, flag, logged) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (r["tag"], r.get("value"), r.get("unit"), r.get("text"), utc_iso(r["at"]), utc_iso(r["start"]),
                     utc_iso(r["end"]), r.get("note"), r.get("flag"), now))
                ids.append(int(cur.lastrowid))
        return ids

    def edit_tag(self, tag_id: int, **fields) -> None:
        allowed = {"value", "unit", "text", "note", "flag", "at", "start", "end"}
        bad = set(fields) - allowed
        if bad:
            raise ValueError(f"cannot edit {sorted(bad)}")
        values = {k: utc_iso(v) if isinstance(v, _dt.datetime) else v for k, v in fields.items()}
        with self._write() as db:
            if not db.execute("SELECT 1 FROM tags WHERE id = ?", (tag_id,)).fetchone():
                raise UserError(f"tag {tag_id}: no such tag; `twitchwatch log list` shows them")
            if values:
                sets = ", ".join(f"{k} = ?" for k in values)
                db.execute(f"UPDATE tags SET {sets} WHERE id = ?", (*values.values(), tag_id))

    def delete_tag(self, tag_id: int) -> None:
        with self._write() as db:
            if db.execute("DELETE FROM tags WHERE id = ?", (tag_id,)).rowcount == 0:
                raise UserError(f"tag {tag_id}: no such tag; `twitchwatch log list` shows them")

    def tags(self) -> list[dict]:
        cur = self.db.execute("SELECT id, tag, value, unit, text, at, start, end, note, flag FROM tags ORDER BY at, id")
        keys = ("id", "tag", "value", "unit", "text", "at", "start", "end", "note", "flag")
        return [dict(zip(keys, r)) for r in cur]

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "EpisodeStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
