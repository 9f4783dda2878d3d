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


# Without --board, the layouts of the common boards by their column count (the 32-row
# synthetic board and the Cyton+Daisy share theirs), and their nominal rates.
LAYOUTS = {15: ("ganglion", (200.0, 1600.0)), 24: ("cyton", (250.0, 1000.0)),
           32: ("synthetic", (250.0, 125.0, 1000.0))}
CLOCK_MIN_S = 10.0  # timestamps over at least this long can overrule a board's nominal rate ...
CLOCK_OFF = 0.1  # ... when they are this far from it (host timestamps drift by a percent at most)


def clock_rate(first: float, last: float, n: int, falls: int) -> tuple[float | None, float]:
    """The rate the timestamp column says and its span in s; (None, 0) when it says
    nothing: not unix seconds, or not running forward all through (``falls``)."""
    span = float(last) - float(first)
    if n < 2 or falls or not np.isfinite(span) or span <= 0 or not 1e8 < float(first) < 1e10:
        return None, 0.0
    return (n - 1) / span, span


def read(path: Path, lines: Lines, board: str | int | None, fs: float | None,
         picks: list[int] | None, fs_from: str) -> Recording:
    """Read the EMG rows (microvolts, as BrainFlow gives them) of a BrainFlow CSV file.

    Without ``board`` the layout is the common board with the file's column count, and
    the rate (without ``fs``) is what its timestamps say, snapped to one of that board's
    rates when within 5 %. With ``board`` and no ``fs``, the board's rate, unless ten
    seconds or more of timestamps say otherwise by over 10 % (a file written at another
    rate in that board's layout); a warning says which was taken."""
    keep = data_mask(lines, 0)
    idx = np.flatnonzero(keep)
    found = len(split_fields(lines.text(int(idx[0])), "\t")) if idx.size else 0
    warns: list[str] = []
    guessed = board is None
    if board is None:
        if found not in LAYOUTS:
            raise fail(path, "looks like a BrainFlow CSV; name its board with --board")
        board = LAYOUTS[found][0]
        warns.append(f"no --board: read in the {board} board's layout ({found} columns)")
    try:
        bid, descr = describe(board)
    except RecordingError as exc:
        raise fail(path, str(exc)) from None
    rows = descr.get("emg_channels") or descr.get("exg_channels") or descr.get("eeg_channels")
    if not rows:
        raise fail(path, f"--board {board}: BrainFlow lists no EMG/EXG rows for this board")
    n_rows = int(descr["num_rows"])
    ts = descr.get("timestamp_channel")
    if idx.size and found != n_rows:
        raise fail(path, f"has {found} tab-separated columns but a BrainFlow CSV of board "
                         f"{descr.get('name', board)} (--board {board}) has {n_rows}; "
                         "check --board")
    usecols = list(rows) + ([int(ts)] if ts is not None else [])
    table = read_table(path, lines, keep, "\t", usecols)
    start = None
    if ts is not None and np.isfinite(table.first_row[-1]) and 1e8 < table.first_row[-1] < 1e10:
        start = _dt.datetime.fromtimestamp(float(table.first_row[-1]), tz=_dt.timezone.utc)
    warns += list(table.warnings)
    nominal = float(descr["sampling_rate"])
    said, span = (clock_rate(table.first_row[-1], table.last_row[-1], table.n_rows, int(table.falls[-1]))
                  if ts is not None else (None, 0.0))
    if fs is not None:
        rate, where = float(fs), fs_from
        if rate != nominal:
            warns.append(f"{fs_from} {rate:g} overrides the board's {nominal:g} Hz")
    elif guessed:
        rates = LAYOUTS[found][1]
        near = [r for r in rates if said is not None and span >= 1.0 and abs(said / r - 1) <= 0.05]
        if near:
            rate, where = near[0], "its timestamps"
        elif said is not None and span >= 1.0:
            rate, where = float(round(said)), "its timestamps"
        else:
            rate, where = rates[0], f"the {board} board"
        warns.append(f"no --fs: {rate:g} Hz from {where}; give --board and --fs if that is wrong")
    elif said is not None and span >= CLOCK_MIN_S and abs(said / nominal - 1) > CLOCK_OFF:
        rate, where = float(round(said)), "its timestamps"
        warns.append(f"its timestamps say {said:.1f} Hz over {span:.0f} s, not the {nominal:g} Hz of "
                     f"--board {board}: read at {rate:g} Hz (give --fs to override)")
    else:
        rate, where = nominal, f"--board {board}"
        if said is None:  # nothing to check the board's rate against: a file at another rate goes unseen
            warns.append(f"its timestamps give no rate: read at the {nominal:g} Hz of --board {board} "
                         "(give --fs if it was recorded at another)")
    chosen = picked(path, len(rows), picks)
    meta = {"warnings": warns, "units": "uV", "board": descr.get("name", str(board)),
            "board_id": bid, "rows": list(rows), "nonfinite": table.nonfinite(chosen)}
    return finish(path, table.channels(chosen), rate, [f"EXG{k}" for k in chosen], "brainflow-csv",
                  fs_where=where, start_time=start, meta=meta)
