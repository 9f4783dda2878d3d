"""Recording files: ``open_recording`` sniffs the format and dispatches; ``write_recording``
writes EDF+/BDF+.

Formats (``rec.meta['format']``): 'edf', 'bdf' (EDF/EDF+/BDF/BDF+), 'brainflow-csv'
(needs ``board``), 'openbci-txt' (OpenBCI GUI old and v5/v6), 'text' (delimited numbers;
needs ``fs`` unless a BioSPPy header gives it). Every failure is a RecordingError whose
one-line message names the file and says what to do. The text readers are imported when
a text file is opened: an EDF/BDF file needs none of them.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import RecordingError
from ..types import Recording
from . import edf
from .checks import check_fs, check_path, fail
from .edf import EdfWriter

if TYPE_CHECKING:
    from .table import Lines

__all__ = ["open_recording", "write_recording", "parse_columns", "sniff", "EdfWriter"]

_SPEC = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+))?\s*$")
_TEXTLIKE = np.zeros(256, bool)
_TEXTLIKE[[9, 10, 13]] = True
_TEXTLIKE[32:127] = True
_TEXTLIKE[128:] = True  # latin-1 / UTF-8 text in headers


def parse_columns(spec: str) -> list[int]:
    """Column numbers from a spec like "0-7", "1,3,5" or "0-3,6" (0-based, in order)."""
    out: list[int] = []
    for part in str(spec).split(","):
        m = _SPEC.match(part)
        if not m:
            raise RecordingError(f"--columns {spec!r}: use 0-based column numbers and ranges "
                                 "like 0-7, 1,3,5 or 0-3,6")
        a, b = int(m.group(1)), int(m.group(2) if m.group(2) is not None else m.group(1))
        if b < a:
            raise RecordingError(f"--columns {spec!r}: range {a}-{b} runs backwards; write {b}-{a}")
        out.extend(range(a, b + 1))
    if len(set(out)) != len(out):
        raise RecordingError(f"--columns {spec!r}: names a column twice")
    return out


def sniff(path: str | Path, *, board: str | None = None) -> str:
    """The format name ``open_recording`` would use for ``path`` (content first, then extension)."""
    return _sniff(check_path(path), board)[0]


def _sniff(p: Path, board: str | None) -> tuple[str, Lines | None]:
    """The format and, for text, the ``Lines`` of the file's head (``table.HEAD_BYTES``, cut
    after its last newline): the readers take their header and first rows from it and
    ``read_table`` reads the rest of the file in blocks."""
    with p.open("rb") as f:
        kind = edf.sniff(f.read(256))
        if kind:
            return kind, None
        from . import brainflow_csv, openbci_txt, table  # (text only: an EDF/BDF file needs none)

        f.seek(0)
        sample = np.frombuffer(f.read(65536), np.uint8)
        ext = p.suffix.lower()
        if (sample == 0).any() or _TEXTLIKE[sample].mean() < 0.95:
            if ext in (".edf", ".bdf"):
                raise fail(p, f"has a {ext} name but no valid {ext[1:].upper()} header; "
                              "the file is damaged or not EDF/BDF")
            raise fail(p, "is not a recording format twitchwatch reads (EDF/BDF, BrainFlow CSV, "
                          "OpenBCI GUI txt, delimited numbers)")
        f.seek(0)
        lines = table.Lines.of(next(table.text_blocks(f, table.HEAD_BYTES), b""))
    if openbci_txt.sniff(lines):
        return "openbci-txt", lines
    if ext in (".edf", ".bdf"):
        raise fail(p, f"has a {ext} name but holds text, not {ext[1:].upper()}; rename it or re-export it")
    if board is not None:
        return "brainflow-csv", lines
    if brainflow_csv.looks_like(lines, table.data_mask(lines, 0)):
        return "brainflow-csv", lines  # its board from its column count (brainflow_csv.read)
    return "text", lines


def open_recording(path: str | Path, *, board: str | None = None, fs: float | None = None,
                   columns: str | None = None, fs_from: str = "--fs") -> Recording:
    """Open a recording file of any supported format as microvolts, channels x samples.

    EDF/BDF files open lazily (header and annotations now; samples in blocks through
    ``rec.chunks``/``rec.read``, or all at once through ``rec.data``). Text formats are parsed
    in blocks; a large one (over ``table.IN_MEMORY_BYTES``) opens lazily too, its samples kept
    as float32 in a temporary file removed with the recording.

    ``board`` names the BrainFlow board of a BrainFlow CSV; ``fs`` gives (or overrides) the
    sampling rate (``fs_from`` says where it came from, in warnings and errors);
    ``columns`` picks channels (for plain text: file columns).
    """
    p = check_path(path)
    try:
        picks = parse_columns(columns) if columns is not None else None
    except RecordingError as exc:
        raise fail(p, str(exc)) from None
    kind, lines = _sniff(p, board)
    if kind in ("edf", "bdf"):  # lazy: samples are read in blocks when used
        rec = edf.read(p, kind, picks)
        return rec if fs is None else _override_fs(p, rec, fs, fs_from)
    assert lines is not None
    from . import brainflow_csv, openbci_txt, text

    if kind == "openbci-txt":
        return openbci_txt.read(p, lines, fs, picks, fs_from)
    if kind == "brainflow-csv":
        return brainflow_csv.read(p, lines, board, fs, picks, fs_from)
    return text.read(p, lines, fs, picks, fs_from)


def _override_fs(p: Path, rec: Recording, fs: float, fs_from: str) -> Recording:
    value = check_fs(fs, p, fs_from)
    if value != rec.fs:
        rec.meta["warnings"].append(f"{fs_from} {value:g} overrides the header's {rec.fs:g} Hz")
        rec.fs = value
    return rec


def write_recording(path: str | Path, rec: Recording,
                    annotations: list[tuple[float, float, str]] | None = None) -> None:
    """Write ``rec`` as BDF+ (24-bit, '.bdf') or EDF+ (16-bit, '.edf'), in microvolts.

    ``annotations`` (onset_s, duration_s, text) replace ``rec.annotations`` when given.
    """
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in (".edf", ".bdf"):
        raise RecordingError(f"{p}: cannot write {ext or 'files without an extension'}; "
                             "name the file .bdf (BDF+, 24-bit) or .edf (EDF+, 16-bit)")
    if rec.data.ndim != 2 or rec.n_channels == 0 or rec.n_samples == 0:
        raise RecordingError(f"{p}: the recording holds no samples; nothing to write")
    edf.write(p, rec, annotations, bdf=ext == ".bdf")
