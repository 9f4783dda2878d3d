"""The events JSON (DESIGN.md, "Events JSON"): build it, write it, load and check it.

The check here is structural (what the shared JSON Schema requires, plus that event
channels exist); the tests validate the output against the schema itself.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Iterable

from .errors import UserError
from .types import KINDS, Episode, Recording


def events_doc(rec: Recording, episodes: Iterable[Episode]) -> dict:
    """A recording's episodes as an events-JSON document, events sorted by start_s."""
    events = sorted((e.to_event() for e in episodes), key=lambda e: (e["start_s"], e["channel"]))
    return {"source": str(rec.source), "fs": float(rec.fs), "channels": [str(c) for c in rec.channels],
            "duration_s": round(float(rec.duration_s), 6), "events": events}


def dumps(doc: dict) -> str:
    """``doc`` as JSON text, a top-level key per line and each item of a list of objects
    (the events) on a line of its own: readable and diffable, and written by the json
    module's C encoder (``indent`` switches to its pure-Python one, ten times slower)."""
    def value(v: object) -> str:
        if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            return "[\n" + ",\n".join("  " + json.dumps(x, allow_nan=False) for x in v) + "\n ]"
        return json.dumps(v, allow_nan=False)
    return "{\n" + ",\n".join(f" {json.dumps(str(k))}: {value(v)}" for k, v in doc.items()) + "\n}\n"


def write_json(path: str | Path, doc: dict) -> None:
    """Write ``doc`` as JSON, atomically (a temporary file in the same folder, then rename)."""
    p = Path(path)
    text = dumps(doc)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent if str(p.parent) else ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_events(doc: object, where: str) -> dict:
    """``doc`` if it has the events-JSON structure, else a UserError naming ``where``."""
    def bad(msg: str) -> UserError:
        return UserError(f"{where}: {msg}; expected an events JSON file (see DESIGN.md)")

    if not isinstance(doc, dict):
        raise bad(f"holds a JSON {type(doc).__name__}, not an object")
    missing = [k for k in ("source", "fs", "channels", "duration_s", "events") if k not in doc]
    if missing:
        raise bad(f"lacks the key{'s' if len(missing) > 1 else ''} {', '.join(repr(k) for k in missing)}")
    if not _number(doc["fs"]) or doc["fs"] <= 0:
        raise bad(f"'fs' is {doc['fs']!r}, not a positive number")
    chans = doc["channels"]
    if not isinstance(chans, list) or not chans or not all(isinstance(c, str) for c in chans):
        raise bad("'channels' is not a non-empty list of names")
    if not _number(doc["duration_s"]) or doc["duration_s"] < 0:
        raise bad(f"'duration_s' is {doc['duration_s']!r}, not a number >= 0")
    if not isinstance(doc["events"], list):
        raise bad("'events' is not a list")
    for i, e in enumerate(doc["events"]):
        if not isinstance(e, dict):
            raise bad(f"event {i} is not an object")
        ch = e.get("channel")
        if not isinstance(ch, int) or isinstance(ch, bool) or not 0 <= ch < len(chans):
            raise bad(f"event {i} has channel {ch!r}, not a channel number 0-{len(chans) - 1}")
        for key in ("start_s", "end_s"):
            if not _number(e.get(key)) or e[key] < 0:
                raise bad(f"event {i} has {key} {e.get(key)!r}, not a number >= 0")
        if e.get("kind") not in KINDS:
            raise bad(f"event {i} has kind {e.get('kind')!r}, not one of {', '.join(KINDS)}")
        if "peak_uv" in e and (not _number(e["peak_uv"]) or e["peak_uv"] < 0):
            raise bad(f"event {i} has peak_uv {e['peak_uv']!r}, not a number >= 0")
    noise = doc.get("noise_rms_uv")
    if noise is not None and (not isinstance(noise, list) or len(noise) < len(chans)
                              or not all(_number(v) and v >= 0 for v in noise)):
        raise bad("'noise_rms_uv' is not a list of one noise level (uV) per channel")
    return doc


def load_events(path: str | Path, option: str) -> dict:
    """Read and check an events (or truth) JSON file named by ``option``."""
    p = Path(path)
    where = f"{option} {p}"
    if not p.exists():
        raise UserError(f"{where}: no such file; check the path")
    if p.is_dir():
        raise UserError(f"{where}: is a folder; name an events JSON file")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{where}: is not JSON (not even UTF-8 text)") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{where}: is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    return check_events(doc, where)
