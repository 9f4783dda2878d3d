"""Fast parsing of delimited numeric text (shared by the text-based formats).

The line structure is worked out with vectorised byte arithmetic (no per-line Python loop)
and the numbers are parsed by numpy's C reader (``np.loadtxt``).
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .checks import fail

_SPACE = np.frombuffer(b" \t\r\n\f\v", np.uint8)


@dataclass
class Lines:
    """Start/end byte offsets of each line (end excludes the CR/LF) of a file's bytes."""

    raw: bytes
    a: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    nexts: np.ndarray  # where the next line starts (end of this one including its newline)

    @classmethod
    def of(cls, raw: bytes) -> "Lines":
        a = np.frombuffer(raw, np.uint8)
        nl = np.flatnonzero(a == 10)
        starts = np.concatenate(([0], nl + 1)).astype(np.int64)
        nexts = np.concatenate((nl + 1, [a.size])).astype(np.int64)
        ends = np.concatenate((nl, [a.size])).astype(np.int64)
        if starts.size > 1 and starts[-1] == a.size:  # nothing after the final newline
            starts, ends, nexts = starts[:-1], ends[:-1], nexts[:-1]
        nonempty = ends > starts
        cr = np.zeros(ends.size, bool)
        cr[nonempty] = a[ends[nonempty] - 1] == 13
        ends = ends - cr
        return cls(raw, a, starts, ends, nexts)

    def __len__(self) -> int:
        return int(self.starts.size)

    def per_line(self, mask: np.ndarray) -> np.ndarray:
        """How many bytes of each line are set in ``mask``."""
        cs = np.concatenate(([0], np.cumsum(mask, dtype=np.int64)))
        return cs[self.ends] - cs[self.starts]

    def text(self, i: int) -> str:
        return self.raw[self.starts[i]:self.ends[i]].decode("latin-1")

    def first_char(self) -> np.ndarray:
        """Each line's first non-blank byte after leading spaces (0 for a blank line)."""
        out = np.zeros(len(self), np.uint8)
        nonempty = self.ends > self.starts
        out[nonempty] = self.a[self.starts[nonempty]]
        return out

    def blank(self) -> np.ndarray:
        return self.per_line(~np.isin(self.a, _SPACE)) == 0

    def fields(self, delimiter: str | None) -> np.ndarray:
        """Number of fields per line (delimiter None: whitespace-separated tokens)."""
        if delimiter is not None:
            return self.per_line(self.a == ord(delimiter)) + 1
        sp = np.isin(self.a, _SPACE)
        prev = np.concatenate(([True], sp[:-1]))
        return self.per_line(~sp & prev)


@dataclass
class Table:
    """Parsed numbers (rows x used columns) with the file line number of each row."""

    values: np.ndarray
    line_numbers: np.ndarray
    n_fields: int
    warnings: list[str] = field(default_factory=list)


def split_fields(line: str, delimiter: str | None) -> list[str]:
    return [t.strip() for t in (line.split(delimiter) if delimiter else line.split())]


def is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def data_mask(lines: Lines, first: int, comments: bytes = b"#%") -> np.ndarray:
    """Lines from ``first`` on that are neither blank nor comments."""
    keep = ~lines.blank() & ~np.isin(lines.first_char(), np.frombuffer(comments, np.uint8))
    keep[:first] = False
    return keep


def read_table(path: str | Path, lines: Lines, keep: np.ndarray, delimiter: str | None,
               usecols: list[int] | None = None, decimal_comma: bool = False) -> Table:
    """Parse the lines flagged in ``keep`` as rows of numbers.

    Every row must have as many fields as the first one; a short or unparseable *last*
    row is dropped with a warning (a file cut off mid-write), anywhere else it is an error
    naming the line.
    """
    warnings: list[str] = []
    idx = np.flatnonzero(keep)
    if idx.size == 0:
        raise fail(path, "holds no samples (no data lines); record some data first")
    counts = lines.fields(delimiter)[idx]
    n_fields = int(counts[0])
    bad = np.flatnonzero(counts != n_fields)
    if bad.size and bad[0] == idx.size - 1:
        warnings.append(f"dropped the incomplete last line {idx[-1] + 1} "
                        f"({counts[-1]} fields, expected {n_fields}); the file was probably cut off")
        idx, bad = idx[:-1], bad[:-1]
    if bad.size:
        i = int(idx[bad[0]])
        raise fail(path, f"line {i + 1} has {counts[bad[0]]} fields but line {idx[0] + 1} has "
                         f"{n_fields}; the file is inconsistent or corrupt - fix or cut that line")
    if idx.size == 0:
        raise fail(path, "holds no complete data lines; record some data first")
    if usecols is not None:
        out = [c for c in usecols if c >= n_fields or c < 0]
        if out:
            raise fail(path, f"has {n_fields} columns (0-{n_fields - 1}) per line, so column "
                             f"{out[0]} does not exist; fix --columns")
    for _ in range(2):
        try:
            values = _parse(lines, idx, delimiter, usecols, decimal_comma)
            return Table(values, idx + 1, n_fields, warnings)
        except ValueError:
            j = _first_bad_row(lines, idx, delimiter, usecols, decimal_comma)
            last_unterminated = lines.nexts[idx[-1]] == lines.ends[idx[-1]]
            if j == idx.size - 1 and last_unterminated and idx.size > 1:
                warnings.append(f"dropped the incomplete last line {idx[-1] + 1}; "
                                "the file was probably cut off")
                idx = idx[:-1]
                continue
            line_no = int(idx[j]) + 1 if j is not None else int(idx[0]) + 1
            snippet = lines.text(line_no - 1)[:60]
            raise fail(path, f"line {line_no} is not all numbers ({snippet!r}); "
                             "fix or cut that line, or pick numeric columns with --columns")
    raise AssertionError("unreachable")


def _parse(lines: Lines, idx: np.ndarray, delimiter: str | None, usecols: list[int] | None,
           decimal_comma: bool) -> np.ndarray:
    lengths = lines.nexts - lines.starts
    keep = np.zeros(len(lines), bool)
    keep[idx] = True
    mask = np.repeat(keep, lengths)
    chunk = lines.a[mask]
    if decimal_comma:
        chunk = np.where(chunk == ord(","), np.uint8(ord(".")), chunk)
    text = chunk.tobytes().decode("latin-1")
    values = np.loadtxt(io.StringIO(text), delimiter=delimiter, usecols=usecols, dtype=np.float64,
                        comments=None, ndmin=2, encoding=None)
    if values.shape[0] != idx.size:
        raise ValueError("row count mismatch")
    return values


def _first_bad_row(lines: Lines, idx: np.ndarray, delimiter: str | None,
                   usecols: list[int] | None, decimal_comma: bool) -> int | None:
    """Index into ``idx`` of the first row that does not parse (error path only)."""
    for j, i in enumerate(idx):
        line = lines.text(int(i))
        if decimal_comma:
            line = line.replace(",", ".")
        tokens = split_fields(line, delimiter)
        cols = usecols if usecols is not None else range(len(tokens))
        if not all(c < len(tokens) and _c_float(tokens[c]) for c in cols):
            return j
    return None


def _c_float(token: str) -> bool:
    """Whether numpy's reader would take ``token`` (approximately: Python float syntax)."""
    return is_number(token) and "_" not in token
