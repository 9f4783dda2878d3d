"""Safe models and paths: what a file holds never chooses where twitchwatch writes.

What must hold: a model reached through '..' or a symlink is only read (nothing beside it
or behind it changes); names inside a recording (channels, annotations with '../' or '/')
and odd file names never put an output outside the folder named with --json; an output
name that is already a symlink is replaced, not written through. A model holding untrusted
types is refused: tests/test_classify.py::test_a_model_holding_untrusted_types_is_refused.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from conftest import run_cli as tw
from twitchwatch.formats import write_recording
from twitchwatch.types import Recording

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "recordings" / "sim-cyton-250hz.bdf"
MODEL = ROOT / "models" / "twitchwatch-default.skops"


def _tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder``: relative path -> sha256 of its content (or symlink target)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        key = str(p.relative_to(folder))
        if p.is_symlink():
            out[key] = "-> " + os.readlink(p)
        elif p.is_file():
            out[key] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def test_a_model_behind_dots_or_a_symlink_is_only_read(tmp_path):
    (tmp_path / "models" / "sub").mkdir(parents=True)
    link = tmp_path / "models" / "link.skops"
    link.symlink_to(MODEL)
    before, shipped = _tree(tmp_path), _tree(MODEL.parent)
    out = tmp_path / "e.json"
    proc = tw("analyze", str(SAMPLE), "--model", str(tmp_path / "models" / "sub" / ".." / "link.skops"),
              "--json", str(out), "--no-log", "--quiet")
    assert proc.returncode == 0, proc.stderr
    after = _tree(tmp_path)
    assert set(after) - set(before) == {"e.json"} and all(after[k] == v for k, v in before.items())
    assert _tree(MODEL.parent) == shipped
    assert json.loads(out.read_text())["events"]


def test_names_inside_recordings_and_odd_file_names_stay_inside_the_json_folder(tmp_path):
    """Channel names '../../evil' and '/tmp/abs', an annotation '../../../pwn', files named
    '..bdf' and 'a b;$(x)*.bdf': `analyze FILES --json OUT` writes OUT/<file name>.json and
    OUT/summary.csv, nothing else anywhere; a planted symlink OUT/x.json -> a file outside is
    replaced by the events, and the file outside is untouched."""
    base = tmp_path / "a" / "b" / "c"  # so that '../' names from OUT or the inputs land in tmp_path
    (base / "in").mkdir(parents=True)
    out = base / "OUT"
    out.mkdir()
    outside = base / "outside.txt"
    outside.write_text("keep me\n")
    rng = np.random.default_rng(3)
    rec = Recording(rng.normal(0, 5, (2, 250 * 20)), 250.0, ("../../evil", "/tmp/abs"),
                    annotations=[(1.0, 0.5, "../../../pwn"), (2.0, 0.0, "/etc/x")])
    names = ["..bdf", "a b;$(x)*.bdf", "x.bdf"]
    for name in names:
        write_recording(base / "in" / name, rec)
    (out / "x.json").symlink_to(outside)
    before = _tree(tmp_path)
    proc = tw("analyze", *[str(base / "in" / n) for n in names], "--json", str(out), "--no-log", "--quiet")
    assert proc.returncode == 0, proc.stderr
    after = _tree(tmp_path)
    new = {k for k in after if after.get(k) != before.get(k)}
    prefix = "a/b/c/OUT/"
    assert new == {prefix + n for n in ("..json", "a b;$(x)*.json", "x.json", "summary.csv")}
    assert outside.read_text() == "keep me\n" and not (out / "x.json").is_symlink()
    doc = json.loads((out / "a b;$(x)*.json").read_text())
    assert doc["channels"] == ["../../evil", "/tmp/abs"]
