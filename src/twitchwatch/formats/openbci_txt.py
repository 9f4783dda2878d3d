"""OpenBCI GUI text recordings: the old format and the GUI v5/v6 format (header row)."""
from __future__ import annotations

import datetime as _dt
import re
from pathlib import Path

import numpy as np

from ..types import Recording
from .checks import fail, finish, picked
from .table import Lines, data_mask, is_number, read_table, split_fields

_RATE = re.compile(r"sample\s*rate\s*=\s*([0-9.eE+-]+)", re.I)
_NCH = re.compile(r"number\s+of\s+channels\s*=\s*(\d+)", re.I)
_BOARD = re.compile(r"board\s*=\s*(.+)", re.I)
_EXG = re.compile(r"^(?:EXG|EEG)\s*Channel\s*(\d+)$", re.I)
N_ACCEL = 3


def sniff(lines: Lines) -> bool:
    """Whether the text starts like an OpenBCI GUI recording."""
    idx = np.flatnonzero(~lines.blank())
    if not idx.size:
        return False
    first = lines.text(int(idx[0])).lstrip()
    return first.startswith("%") or first.lower().startswith("sample index")


def read(path: Path, lines: Lines, fs: float | None, picks: list[int] | None,
         fs_from: str) -> Recording:
    """Read the EXG channels (microvolts) of an OpenBCI GUI text file."""
    header, row = _header(lines)
    warns: list[str] = []
    rate = _RATE.search(header)
    file_fs = float(rate.group(1)) if rate and is_number(rate.group(1)) else None
    nch = _NCH.search(header)
    board = _BOARD.search(header)
    names_row = row is not None and lines.text(row).strip().lower().startswith("sample index")
    first = row + 1 if names_row else (row if row is not None else len(lines))
    keep = data_mask(lines, first, comments=b"%")
    if not keep.any():
        raise fail(path, "holds an OpenBCI header but no samples; record some data first")
    first_data = lines.text(int(np.flatnonzero(keep)[0]))
    n_fields = len(split_fields(first_data, ","))
    ts_col = None
    if names_row:
        cols = split_fields(lines.text(row), ",")
        exg = [(i, m.group(1).lstrip("0") or "0") for i, c in enumerate(cols) if (m := _EXG.match(c))]
        if not exg and nch:
            n = _count(nch.group(1))
            if n + 1 > n_fields:
                raise fail(path, f"says it has {nch.group(1)[:12]} channels but its lines have "
                                 f"{n_fields} columns; the header or the file is damaged")
            exg = [(i, str(i - 1)) for i in range(1, 1 + n)]
        if not exg:
            raise fail(path, "has a column-name row without EXG channel columns; not an OpenBCI EXG recording")
        usecols = [i for i, _ in exg]
        names = [f"EXG{k}" for _, k in exg]
        ts_col = next((i for i, c in enumerate(cols) if c.lower() == "timestamp"), None)
    else:
        timed = ":" in first_data.rsplit(",", 1)[-1]
        n = _count(nch.group(1)) if nch else n_fields - 1 - N_ACCEL - int(timed)
        if n < 1 or n + 1 > n_fields:
            raise fail(path, f"has {n_fields} columns, too few for an OpenBCI recording "
                             "(sample index, channels, accelerometer)")
        usecols, names = list(range(1, n + 1)), [f"EXG{k}" for k in range(n)]
    table = read_table(path, lines, keep, ",", usecols + ([ts_col] if ts_col is not None else []),
                       comments=b"%")
    warns += table.warnings
    start = _epoch(table.first_row[-1]) if ts_col is not None else None
    if fs is not None:
        if file_fs is not None and float(fs) != file_fs:
            warns.append(f"{fs_from} {float(fs):g} overrides the header's {file_fs:g} Hz")
        where = fs_from
    else:
        fs, where = file_fs, "its '%Sample Rate' header line"
    chosen = picked(path, len(usecols), picks)
    meta = {"warnings": warns, "units": "uV", "variant": "gui-v5/v6" if names_row else "old",
            "board": board.group(1).strip() if board else None, "nonfinite": table.nonfinite(chosen)}
    if not names_row:
        meta["clock_start"] = first_data.rsplit(",", 1)[-1].strip() if ":" in first_data else None
    return finish(path, table.channels(chosen), fs, [names[i] for i in chosen], "openbci-txt",
                  fs_where=where, start_time=start, meta=meta)


def _count(digits: str) -> int:
    """A channel count from the header's digits; absurdly long ones stay absurd, without
    converting thousands of digits (Python refuses more than 4300)."""
    return int(digits) if len(digits) <= 9 else 10**9


def _header(lines: Lines) -> tuple[str, int | None]:
    """The '%' header text and the index of the first line after it."""
    head = []
    for i in range(min(len(lines), 200)):  # the header is a handful of lines
        t = lines.text(i).strip()
        if not t:
            continue
        if not t.startswith("%"):
            return "\n".join(head), i
        head.append(t.lstrip("%"))
    return "\n".join(head), None


def _epoch(value: float) -> _dt.datetime | None:
    """A UTC datetime from an epoch timestamp in ms (or s), if plausible."""
    if not np.isfinite(value):
        return None
    seconds = value / 1000.0 if value > 1e11 else value
    if not 1e8 < seconds < 1e10:
        return None
    return _dt.datetime.fromtimestamp(seconds, tz=_dt.timezone.utc)
