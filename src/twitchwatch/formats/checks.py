"""Validation shared by every reader: paths, sampling rates, and the final Recording."""
from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np

from ..errors import RecordingError
from ..types import Recording, Samples

FS_MIN = 50.0
FS_MAX = 100_000.0
FORMATS = ("edf", "bdf", "brainflow-csv", "openbci-txt", "text")


def fail(path: str | Path, message: str) -> RecordingError:
    """A RecordingError whose one-line message starts with the file name."""
    return RecordingError(f"{path}: {message}".replace("\n", " "))


def check_path(path: str | Path) -> Path:
    """The path as a Path, if it names a readable, non-empty file."""
    p = Path(path)
    if not p.exists():
        raise fail(p, "no such file; check the path")
    if p.is_dir():
        raise fail(p, "is a folder, not a recording; name a file inside it")
    if not p.is_file():
        raise fail(p, "is not a regular file; name a recording file")
    try:
        size = p.stat().st_size
        with p.open("rb"):
            pass
    except OSError as exc:
        raise fail(p, f"cannot be read ({exc.strerror or exc}); check its permissions") from None
    if size == 0:
        raise fail(p, "is empty (0 bytes); it holds no samples")
    return p


def check_fs(fs: float | None, path: str | Path, where: str) -> float:
    """A plausible EMG sampling rate, else a RecordingError naming ``where`` (an option or the file)."""
    if fs is None:
        raise fail(path, "does not say its sampling rate; pass it with --fs HZ")
    try:
        value = float(fs)
    except (TypeError, ValueError):
        raise fail(path, f"sampling rate {fs!r} from {where} is not a number") from None
    if not np.isfinite(value) or value <= 0:
        raise fail(path, f"sampling rate {fs!r} Hz from {where} must be a positive number of Hz")
    if value < FS_MIN or value > FS_MAX:
        raise fail(path, f"sampling rate {value:g} Hz from {where} is implausible for EMG "
                         f"(expected {FS_MIN:g} Hz to {FS_MAX:g} Hz); check {where}")
    return value


def check_picks(path: str | Path, n_channels: int, picks: list[int]) -> None:
    """A RecordingError unless every channel number in ``picks`` (from --columns) exists."""
    bad = [i for i in picks if i < 0 or i >= n_channels]
    if bad:
        raise fail(path, f"--columns names channel {bad[0]}, but the recording has channels "
                         f"0-{n_channels - 1}; fix --columns")


def picked(path: str | Path, n_channels: int, picks: list[int] | None) -> list[int]:
    """The channels to keep: those numbered in ``picks`` (from --columns), in that order, else all."""
    if picks is None:
        return list(range(n_channels))
    check_picks(path, n_channels, picks)
    return list(picks)


def finish(path: str | Path, data: np.ndarray | Samples, fs: float, channels: list[str] | tuple[str, ...],
           fmt: str, *, fs_where: str, start_time: _dt.datetime | None = None,
           annotations: list[tuple[float, float, str]] | None = None,
           meta: dict | None = None) -> Recording:
    """Check and package a reader's result: float32 C-contiguous channels x samples, or
    ``Samples`` read on demand (a lazy Recording; its reader sets ``meta['nonfinite']``)."""
    assert fmt in FORMATS, fmt
    fs = check_fs(fs, path, fs_where)
    lazy = not isinstance(data, np.ndarray)
    shape = (data.n_channels, data.n_samples) if lazy else np.shape(data)  # type: ignore[union-attr]
    if len(shape) != 2 or shape[0] == 0:
        raise fail(path, "holds no signal channels; nothing to analyse")
    if shape[1] == 0:
        raise fail(path, "holds no samples (only a header?); record some data first")
    if len(channels) != shape[0]:
        raise ValueError("channel names do not match the data")  # a bug, not the user's
    meta = dict(meta or {})
    meta["format"] = fmt
    meta.setdefault("warnings", [])
    names = tuple(str(c) for c in channels)
    common = dict(source=str(path), start_time=start_time, annotations=list(annotations or []), meta=meta)
    if lazy:
        assert "nonfinite" in meta, "a lazy reader must say how many samples are not finite"
        return Recording(None, fs, names, samples=data, **common)  # type: ignore[arg-type]
    out = np.ascontiguousarray(data, dtype=np.float32)
    meta["nonfinite"] = int(out.size - np.count_nonzero(np.isfinite(out)))
    return Recording(out, fs, names, **common)  # type: ignore[arg-type]


class FileSamples:
    """``Samples`` kept in a file: every ``read`` and ``blocks`` opens it (``_open``) and
    closes it when done, so that no handle outlives its use; a subclass gives ``_open``
    and ``_fill(f, start, stop)`` (channels x samples, float32 microvolts)."""

    n_samples: int

    def read(self, start: int, stop: int) -> np.ndarray:
        with self._open() as f:
            return self._fill(f, start, stop)

    def blocks(self, size: int) -> Iterator[tuple[int, np.ndarray]]:
        with self._open() as f:
            for at in range(0, self.n_samples, size):
                yield at, self._fill(f, at, min(at + size, self.n_samples))

    def _open(self) -> BinaryIO:
        raise NotImplementedError

    def _fill(self, f: BinaryIO, start: int, stop: int) -> np.ndarray:
        raise NotImplementedError
