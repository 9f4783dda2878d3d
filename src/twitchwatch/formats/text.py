"""Plain delimited numbers (comma, tab, semicolon or whitespace), optional '#' header lines.

BioSPPy's header (``# Sampling Rate (Hz):= 1000.00``, ``# Labels:= EMG``,
``# Resolution:= 12``) gives the rate and names; otherwise ``--fs`` must.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..types import Recording
from .checks import fail, finish
from .table import Lines, data_mask, is_number, read_table, split_fields

_KEY = re.compile(r"^#\s*([^:=]*[^:=\s])\s*:?=\s*(.*)$")  # (no lazy group: linear on long lines)


def delimiter_of(line: str) -> str | None:
    """The separator of a data line: ';', tab, ',' or None (whitespace)."""
    for d in (";", "\t", ","):
        if d in line:
            return d
    return None


def header(lines: Lines) -> dict[str, str]:
    """``key:= value`` pairs from the leading '#' lines (keys lower-case)."""
    out: dict[str, str] = {}
    for i in range(min(len(lines), 100)):
        t = lines.text(i).strip()
        if t and not t.startswith("#"):
            break
        m = _KEY.match(t)
        if m:
            out[m.group(1).strip().lower()] = m.group(2).strip()
    return out


def read(path: Path, lines: Lines, fs: float | None, columns: list[int] | None,
         fs_from: str) -> Recording:
    """Read delimited numbers; ``columns`` picks the signal columns (default: all numeric)."""
    meta_head = header(lines)
    keep = data_mask(lines, 0, comments=b"#")
    idx = np.flatnonzero(keep)
    if not idx.size:
        raise fail(path, "holds no samples (no data lines); record some data first")
    row = int(idx[0])
    first = lines.text(row)
    delim = delimiter_of(first)
    decimal_comma = delim == ";" and "," in first
    col_names: list[str] | None = None
    tokens = split_fields(first.replace(",", ".") if decimal_comma else first, delim)
    if not any(is_number(t) for t in tokens) and idx.size > 1:  # a column-name row
        col_names = tokens
        keep[idx[0]] = False
        row = int(idx[1])
        first = lines.text(row)
        tokens = split_fields(first.replace(",", ".") if decimal_comma else first, delim)
    if columns is None:
        columns = [i for i, t in enumerate(tokens) if is_number(t)]
        if not columns:
            raise fail(path, f"line {row + 1} holds no numbers; not a recording format "
                             "twitchwatch reads (EDF/BDF, BrainFlow CSV, OpenBCI txt, delimited numbers)")
    table = read_table(path, lines, keep, delim, columns, decimal_comma, comments=b"#")
    labels = re.split(r"[\t,;]+|\s+", meta_head.get("labels", "").strip())
    if col_names is not None and len(col_names) == table.n_fields:
        names = [col_names[c] or f"ch{c}" for c in columns]
    elif meta_head.get("labels") and len(labels) == table.n_fields:
        names = [labels[c] for c in columns]
    else:
        names = [f"ch{c}" for c in columns]
    if len(set(names)) != len(names):
        names = [f"{n}_{c}" for n, c in zip(names, columns)]
    warns = list(table.warnings)
    head_fs = _number(meta_head.get("sampling rate (hz)") or meta_head.get("sampling rate"))
    if fs is not None:
        if head_fs is not None and float(fs) != head_fs:
            warns.append(f"{fs_from} {float(fs):g} overrides the header's {head_fs:g} Hz")
        where = fs_from
    elif head_fs is not None:
        fs, where = head_fs, "its '# Sampling Rate' header line"
    else:
        raise fail(path, "does not say its sampling rate; pass it with --fs HZ")
    units = "counts" if "resolution" in meta_head else "unknown (assumed uV)"
    every = range(len(columns))
    meta = {"warnings": warns, "units": units, "header": meta_head, "columns": list(columns),
            "delimiter": delim or "whitespace", "nonfinite": table.nonfinite(every)}
    return finish(path, table.channels(every), fs, names, "text", fs_where=where, meta=meta)


def _number(text: str | None) -> float | None:
    if not text:
        return None
    m = re.match(r"[-+0-9.eE]+", text)
    return float(m.group(0)) if m and is_number(m.group(0)) else None
