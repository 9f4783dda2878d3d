"""BrainFlow CSV as ``DataFilter.write_file`` writes it: tab-separated, one line per sample,
one column per board row, no header. The board's description says which rows are EMG."""
from __future__ import annotations

import datetime as _dt
from pathlib import Path

import numpy as np

from ..errors import RecordingError
from ..types import Recording
from .checks import fail, finish, picked
from .table import Lines, data_mask, is_number, read_table, split_fields

ALIASES = {"synthetic": "SYNTHETIC_BOARD", "cyton": "CYTON_BOARD",
           "cyton-daisy": "CYTON_DAISY_BOARD", "ganglion": "GANGLION_BOARD"}


def board_id(board: str | int) -> int:
    """A BrainFlow board id from a short name, a BoardIds name (any case) or an integer."""
    from brainflow.board_shim import BoardIds

    text = str(board).strip()
    try:
        value = int(text)
    except ValueError:
        key = ALIASES.get(text.lower(), text.upper().replace("-", "_"))
        member = BoardIds.__members__.get(key)
        if member is None:  # (not `or`: CYTON_BOARD == 0 is falsy)
            member = BoardIds.__members__.get(key + "_BOARD")
        if member is None:
            raise RecordingError(f"--board {board}: unknown board; use synthetic, cyton, "
                                 "cyton-daisy, ganglion, a BrainFlow BoardIds name or its number") from None
        return int(member.value)
    if value not in {int(m.value) for m in BoardIds}:
        raise RecordingError(f"--board {board}: no BrainFlow board has this id")
    return value


def describe(board: str | int) -> tuple[int, dict]:
    """The board id and BrainFlow's description of its rows."""
    from brainflow.board_shim import BoardShim
    from brainflow.exit_codes import BrainFlowError

    bid = board_id(board)
    try:
        return bid, BoardShim.get_board_descr(bid)
    except BrainFlowError as exc:
        raise RecordingError(f"--board {board}: BrainFlow has no description of this board ({exc})") from None


def looks_like(lines: Lines, keep: np.ndarray) -> bool:
    """Tab-separated numbers, no header, and a column holding unix-seconds timestamps."""
    idx = np.flatnonzero(keep)
    if not idx.size or idx[0] != np.flatnonzero(~lines.blank())[0]:
        return False
    tokens = split_fields(lines.text(int(idx[0])), "\t")
    if len(tokens) < 5 or not all(is_number(t) for t in tokens):
        return False
    return any(1e9 <= abs(float(t)) < 1e10 for t in tokens)


def read(path: Path, lines: Lines, board: str | int, fs: float | None,
         picks: list[int] | None) -> Recording:
    """Read the EMG rows (microvolts, as BrainFlow gives them) of a BrainFlow CSV file."""
    try:
        bid, descr = describe(board)
    except RecordingError as exc:
        raise fail(path, str(exc)) from None
    rows = descr.get("emg_channels") or descr.get("exg_channels") or descr.get("eeg_channels")
    if not rows:
        raise fail(path, f"--board {board}: BrainFlow lists no EMG/EXG rows for this board")
    n_rows = int(descr["num_rows"])
    keep = data_mask(lines, 0)
    ts = descr.get("timestamp_channel")
    idx = np.flatnonzero(keep)
    if idx.size:
        found = len(split_fields(lines.text(int(idx[0])), "\t"))
        if found != n_rows:
            raise fail(path, f"has {found} tab-separated columns but a BrainFlow CSV of board "
                             f"{descr.get('name', board)} (--board {board}) has {n_rows}; "
                             "check --board")
    usecols = list(rows) + ([int(ts)] if ts is not None else [])
    table = read_table(path, lines, keep, "\t", usecols)
    start = None
    if ts is not None and np.isfinite(table.first_row[-1]) and 1e8 < table.first_row[-1] < 1e10:
        start = _dt.datetime.fromtimestamp(float(table.first_row[-1]), tz=_dt.timezone.utc)
    warns = list(table.warnings)
    if fs is not None and float(fs) != float(descr["sampling_rate"]):
        warns.append(f"--fs {float(fs):g} overrides the board's {descr['sampling_rate']} Hz")
    rate, where = (fs, "--fs") if fs is not None else (descr["sampling_rate"], f"--board {board}")
    chosen = picked(path, len(rows), picks)
    meta = {"warnings": warns, "units": "uV", "board": descr.get("name", str(board)),
            "board_id": bid, "rows": list(rows), "nonfinite": table.nonfinite(chosen)}
    return finish(path, table.channels(chosen), rate, [f"EXG{k}" for k in chosen], "brainflow-csv",
                  fs_where=where, start_time=start, meta=meta)
