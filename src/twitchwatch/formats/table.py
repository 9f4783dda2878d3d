"""Fast parsing of delimited numeric text (shared by the text-based formats).

The line structure is worked out with vectorised byte arithmetic (no per-line Python loop)
and the numbers are parsed by numpy's C reader (``np.loadtxt``), a block of a few MiB at a
time, so that reading takes memory for a block, not for the file. A file of up to
``IN_MEMORY_BYTES`` keeps its rows in memory; a larger one writes them, as float32, to a
temporary file that its Recording reads on demand.
"""
from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator, Sequence

import numpy as np

from ..types import Samples
from .checks import FileSamples, fail
from .edf import _TempCopy

HEAD_BYTES = 1 << 22  # the head of a text file that is sniffed and holds its header
BLOCK_BYTES = 1 << 21  # text parsed at a time after the head
IN_MEMORY_BYTES = 1 << 26  # files up to this size keep their rows in memory; larger ones a temp file

_IS_SPACE = np.zeros(256, bool)
_IS_SPACE[np.frombuffer(b" \t\r\n\f\v", np.uint8)] = True


def text_blocks(f: BinaryIO, size: int) -> Iterator[bytes]:
    """The rest of the open file ``f`` in pieces of about ``size`` bytes, each ending after a
    newline (a line longer than ``size`` makes its piece longer; the last piece ends at the
    end of the file)."""
    pieces: list[bytes] = []
    while data := f.read(size):
        cut = data.rfind(b"\n") + 1
        if not cut:
            pieces.append(data)
            continue
        yield b"".join([*pieces, data[:cut]])
        pieces = [data[cut:]]
    if any(pieces):
        yield b"".join(pieces)


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
        """How many bytes of each line are set in ``mask`` (from the positions of the set
        bytes: a few of each line's, not a count for every byte of the block)."""
        pos = np.flatnonzero(mask)
        return np.searchsorted(pos, self.ends) - np.searchsorted(pos, self.starts)

    def text(self, i: int) -> str:
        return self.raw[self.starts[i]:self.ends[i]].decode("latin-1")

    def first_char(self) -> np.ndarray:
        """Each line's first non-blank byte after leading spaces (0 for a blank line)."""
        out = np.zeros(len(self), np.uint8)
        nonempty = self.ends > self.starts
        out[nonempty] = self.a[self.starts[nonempty]]
        return out

    def blank(self) -> np.ndarray:
        """Lines of nothing but whitespace (each line's bytes up to the next one's start:
        its CR/LF are whitespace too)."""
        if not self.a.size:
            return np.ones(len(self), bool)
        return ~np.logical_or.reduceat(~_IS_SPACE[self.a], self.starts)

    def fields(self, delimiter: str | None) -> np.ndarray:
        """Number of fields per line (delimiter None: whitespace-separated tokens)."""
        if delimiter is not None:
            return self.per_line(self.a == ord(delimiter)) + 1
        sp = _IS_SPACE[self.a]
        prev = np.concatenate(([True], sp[:-1]))
        return self.per_line(~sp & prev)


class RowSamples(FileSamples):
    """Some columns of the float32 rows in a table's temporary file, read on demand as
    channels x samples (the ``Samples`` of a large text recording).

    Every ``read`` and ``blocks`` opens the file and closes it when done, so that no handle
    outlives its use; holding ``copy`` keeps the file until the recording goes.
    """

    def __init__(self, source: Path, copy: _TempCopy, n_rows: int, n_cols: int, cols: Sequence[int]) -> None:
        self.source, self.copy, self.n_cols, self.cols = source, copy, n_cols, list(cols)
        self.n_channels, self.n_samples = len(self.cols), n_rows

    def _open(self) -> BinaryIO:
        try:
            return self.copy.path.open("rb")
        except OSError as exc:
            raise fail(self.source, f"its temporary copy {self.copy.path} could not be read ({exc.strerror}); "
                                    "was it removed while open?") from None

    def _fill(self, f: BinaryIO, start: int, stop: int) -> np.ndarray:
        if not 0 <= start <= stop <= self.n_samples:
            raise ValueError(f"samples {start}:{stop} outside 0:{self.n_samples}")
        width = 4 * self.n_cols
        f.seek(start * width)
        raw = f.read((stop - start) * width)
        if len(raw) != (stop - start) * width:
            raise fail(self.source, f"its temporary copy {self.copy.path} was cut short while open; open it again")
        rows = np.frombuffer(raw, np.float32).reshape(stop - start, self.n_cols)
        return np.ascontiguousarray(rows[:, self.cols].T)


@dataclass
class Table:
    """The rows of numbers of a file (the used columns): the first and last rows in float64
    (a unix timestamp in float32 would be ~100 s off), and all rows as float32, in memory
    (``rows``) or in a temporary file (``copy``)."""

    source: Path
    first_row: np.ndarray
    last_row: np.ndarray
    n_rows: int
    n_fields: int
    counts: np.ndarray  # samples that are not finite, per column
    falls: np.ndarray  # rows whose value is below the row before's (in float64), per column
    rows: np.ndarray | None = None
    copy: _TempCopy | None = None
    warnings: list[str] = field(default_factory=list)

    def channels(self, cols: Sequence[int]) -> np.ndarray | Samples:
        """Columns ``cols`` (of the used ones) as channels x samples, float32: an array, or
        ``Samples`` read from the temporary file on demand."""
        if self.rows is not None:
            return np.ascontiguousarray(self.rows[:, list(cols)].T)
        assert self.copy is not None
        return RowSamples(self.source, self.copy, self.n_rows, self.counts.size, cols)

    def nonfinite(self, cols: Sequence[int]) -> int:
        """How many samples of columns ``cols`` are NaN or infinite (as float32)."""
        return int(self.counts[list(cols)].sum())


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
               usecols: list[int] | None = None, decimal_comma: bool = False,
               comments: bytes = b"#%") -> Table:
    """Parse the rows of numbers of a file: the lines of its head ``lines`` flagged in ``keep``,
    then, block by block, every later line that is neither blank nor starts with one of
    ``comments``.

    Every row must have as many fields as the first one; a short or unparseable *last*
    row is dropped with a warning (a file cut off mid-write), anywhere else it is an error
    naming the line.
    """
    p = Path(path)
    with p.open("rb") as f:
        spill = os.fstat(f.fileno()).st_size > IN_MEMORY_BYTES
        parser = _Parser(p, delimiter, usecols, decimal_comma, _Spill(p) if spill else None)
        try:
            parser.add(lines, keep, 0)
            f.seek(len(lines.raw))
            base = len(lines)
            for block in text_blocks(f, BLOCK_BYTES):
                more = Lines.of(block)
                parser.add(more, data_mask(more, 0, comments), base)
                base += len(more)
            return parser.table()
        except BaseException:
            parser.discard()
            raise


class _Spill:
    """The temporary file a large table's float32 rows go to."""

    def __init__(self, source: Path) -> None:
        self.source = source
        self.copy: _TempCopy | None = None
        self.file: BinaryIO | None = None
        try:
            self.copy = _TempCopy(".f32")
            self.file = self.copy.path.open("wb")
        except OSError as exc:
            raise self._no_room(exc) from None

    def add(self, rows: np.ndarray) -> None:
        assert self.file is not None
        try:
            self.file.write(rows.data)
        except OSError as exc:
            raise self._no_room(exc) from None

    def close(self) -> _TempCopy:
        assert self.file is not None and self.copy is not None
        try:
            self.file.close()
        except OSError as exc:
            raise self._no_room(exc) from None
        return self.copy

    def discard(self) -> None:
        try:
            if self.file is not None:
                self.file.close()
        except OSError:
            pass  # (the disk is full: the file goes anyway)
        if self.copy is not None:
            self.copy.remove()

    def _no_room(self, exc: OSError):
        self.discard()
        return fail(self.source, f"could not keep its samples in a temporary file in {tempfile.gettempdir()} "
                                 f"({exc.strerror or exc}); set TMPDIR to a disk with room")


class _Parser:
    """The state of one pass over a file's rows: the first row's field count, the rows so
    far (in memory or spilled), and a short last row held back until the file ends."""

    def __init__(self, path: Path, delimiter: str | None, usecols: list[int] | None, decimal_comma: bool,
                 spill: _Spill | None) -> None:
        self.path, self.delimiter, self.usecols, self.decimal_comma = path, delimiter, usecols, decimal_comma
        self.spill = spill
        self.parts: list[np.ndarray] = []
        self.n_fields = self.first_line = self.n_rows = 0
        self.first_row: np.ndarray | None = None
        self.last_row: np.ndarray | None = None
        self.falls: np.ndarray | None = None
        self.counts: np.ndarray | None = None
        self.short: tuple[int, int] | None = None  # (line, fields) of a short row that may be the last
        self.warnings: list[str] = []

    def add(self, lines: Lines, keep: np.ndarray, base: int) -> None:
        """Check and parse the rows flagged in ``keep`` (``base``: the lines before ``lines``)."""
        idx = np.flatnonzero(keep)
        if not idx.size:
            return
        if self.short is not None:  # rows follow it: it was not the last
            raise self._fields_error(*self.short)
        counts = lines.fields(self.delimiter)[idx]
        if not self.first_line:
            self.n_fields, self.first_line = int(counts[0]), base + int(idx[0]) + 1
        bad = np.flatnonzero(counts != self.n_fields)
        if bad.size and bad[0] == idx.size - 1:
            self.short = (base + int(idx[-1]) + 1, int(counts[-1]))
            idx, bad = idx[:-1], bad[:-1]
        if bad.size:
            raise self._fields_error(base + int(idx[bad[0]]) + 1, int(counts[bad[0]]))
        if self.first_row is None:
            if idx.size == 0:
                raise fail(self.path, "holds no complete data lines; record some data first")
            out = [c for c in self.usecols or () if c >= self.n_fields or c < 0]
            if out:
                raise fail(self.path, f"has {self.n_fields} columns (0-{self.n_fields - 1}) per line, so "
                                      f"column {out[0]} does not exist; fix --columns")
        values = self._parse(lines, idx, base)
        if values is None:
            return
        if self.first_row is None:
            self.first_row = values[0].copy()
            self.counts = np.zeros(values.shape[1], np.int64)
            self.falls = np.zeros(values.shape[1], np.int64)
        else:  # across the blocks' seam
            self.falls += values[0] < self.last_row
        self.falls += np.count_nonzero(np.diff(values, axis=0) < 0, axis=0)
        self.last_row = values[-1].copy()
        rows = values.astype(np.float32)
        del values
        self.counts += np.count_nonzero(~np.isfinite(rows), axis=0)
        self.n_rows += rows.shape[0]
        if self.spill is not None:
            self.spill.add(rows)
        else:
            self.parts.append(rows)

    def _parse(self, lines: Lines, idx: np.ndarray, base: int) -> np.ndarray | None:
        for _ in range(2):
            if not idx.size:
                return None
            try:
                return _parse(lines, idx, self.delimiter, self.usecols, self.decimal_comma)
            except ValueError:
                j = _first_bad_row(lines, idx, self.delimiter, self.usecols, self.decimal_comma)
                last_unterminated = lines.nexts[idx[-1]] == lines.ends[idx[-1]]
                if j == idx.size - 1 and last_unterminated and self.n_rows + idx.size > 1:
                    self.warnings.append(f"dropped the incomplete last line {base + idx[-1] + 1}; "
                                         "the file was probably cut off")
                    idx = idx[:-1]
                    continue
                line = int(idx[j]) if j is not None else int(idx[0])
                snippet = lines.text(line)[:60]
                raise fail(self.path, f"line {base + line + 1} is not all numbers ({snippet!r}); "
                                      "fix or cut that line, or pick numeric columns with --columns")
        raise AssertionError("unreachable")

    def _fields_error(self, line: int, found: int):
        return fail(self.path, f"line {line} has {found} fields but line {self.first_line} has "
                               f"{self.n_fields}; the file is inconsistent or corrupt - fix or cut that line")

    def table(self) -> Table:
        """The rows read, once the file has ended."""
        if not self.first_line:
            raise fail(self.path, "holds no samples (no data lines); record some data first")
        if self.short is not None:
            line, found = self.short
            self.warnings.append(f"dropped the incomplete last line {line} ({found} fields, expected "
                                    f"{self.n_fields}); the file was probably cut off")
        assert self.first_row is not None and self.last_row is not None and self.counts is not None
        assert self.falls is not None
        out = Table(self.path, self.first_row, self.last_row, self.n_rows, self.n_fields, self.counts,
                    self.falls, warnings=self.warnings)
        if self.spill is not None:
            out.copy = self.spill.close()
        else:
            out.rows = self.parts[0] if len(self.parts) == 1 else np.concatenate(self.parts)
        return out

    def discard(self) -> None:
        if self.spill is not None:
            self.spill.discard()


def _parse(lines: Lines, idx: np.ndarray, delimiter: str | None, usecols: list[int] | None,
           decimal_comma: bool) -> np.ndarray:
    if idx.size == len(lines):  # every line is a row (most blocks): no mask to build
        chunk = lines.a
    else:
        keep = np.zeros(len(lines), bool)
        keep[idx] = True
        chunk = lines.a[np.repeat(keep, lines.nexts - lines.starts)]
    if decimal_comma:
        chunk = np.where(chunk == ord(","), np.uint8(ord(".")), chunk)
    text = io.TextIOWrapper(io.BytesIO(chunk.tobytes()), encoding="latin-1", newline="\n")  # (no copy as str)
    values = np.loadtxt(text, delimiter=delimiter, usecols=usecols, dtype=np.float64,
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
