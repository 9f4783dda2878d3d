"""Validation shared by every reader: paths, sampling rates, and the final Recording."""
from __future__ import annotations

import datetime as _dt
from pathlib import Path

import numpy as np

from ..errors import RecordingError
from ..types import Recording, Samples

FS_MIN = 50.0
FS_MAX = 100_000.0
FORMATS = ("edf", "bdf", "brainflow-csv", "openbci-txt", "text")
CHECK_VALUES = 1 << 16  # values per block of the signal checks (each makes a few float64 copies)


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


def select_channels(path: str | Path, data: np.ndarray, names: list[str],
                    picks: list[int] | None) -> tuple[np.ndarray, list[str]]:
    """Keep the channels numbered in ``picks`` (from --columns), in that order."""
    if picks is None:
        return data, names
    check_picks(path, data.shape[0], picks)
    return data[picks], [names[i] for i in picks]


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


class SignalStats:
    """Per-channel figures for the signal checks, merged block by block so that a long
    recording never has to be in memory; the figures equal those of the whole at once.

    ``bad``: non-finite samples; ``n``: finite ones; ``std``: their spread (mean and sum
    of squares merged by Chan et al.'s parallel update); ``high``/``low``: the finite
    extremes, ``n_high``/``n_low`` the samples sitting there, and ``n_next_high``/
    ``n_next_low`` those at the next distinct value inward (to tell clipping from the tail
    of a coarsely quantized signal).
    """

    def __init__(self, n_channels: int) -> None:
        self.bad = np.zeros(n_channels, np.int64)
        self.n = np.zeros(n_channels, np.int64)
        self._mean = np.zeros(n_channels)
        self._m2 = np.zeros(n_channels)
        # per channel: the two largest distinct finite values (of x, and of -x) and their counts
        self._top = np.full((2, n_channels, 2), -np.inf)
        self._top_n = np.zeros((2, n_channels, 2), np.int64)

    @classmethod
    def of(cls, rec: Recording) -> "SignalStats":
        """The figures of a whole recording, read block by block."""
        stats = cls(rec.n_channels)
        for chunk in rec.chunks(max(1, CHECK_VALUES // max(rec.n_channels, 1))):
            stats.add(chunk.data)
        return stats

    def add(self, block: np.ndarray) -> None:
        """Take in the next channels x samples block (few temporaries: one float64 copy)."""
        x = np.asarray(block)
        finite = np.isfinite(x)
        nb = np.count_nonzero(finite, axis=1)
        self.bad += x.shape[1] - nb
        whole = int(nb.sum()) == x.size  # the usual case: no masking needed
        mb = (x if whole else np.where(finite, x, 0)).sum(axis=1, dtype=np.float64) / np.maximum(nb, 1)
        dev = np.subtract(x, mb[:, None], dtype=np.float64)
        if not whole:
            dev[~finite] = 0.0
        m2b = np.square(dev, out=dev).sum(axis=1)
        del dev
        n = self.n + nb
        delta = mb - self._mean
        share = nb / np.maximum(n, 1)
        self._mean += delta * share
        self._m2 += m2b + delta * delta * self.n * share
        self.n = n
        for side, values in enumerate((x, -x)):
            v = values if whole else np.where(finite, values, -np.inf)
            first = v.max(axis=1)
            at = v == first[:, None]
            second = np.where(at, -np.inf, v).max(axis=1)
            counts = [np.count_nonzero(at, axis=1), np.count_nonzero(v == second[:, None], axis=1)]
            # -inf stands for "no finite value": no samples sit there
            self._merge(side, np.stack([first, second], axis=1),
                        np.stack(counts, axis=1) * np.isfinite(np.stack([first, second], axis=1)))

    def _merge(self, side: int, vals: np.ndarray, counts: np.ndarray) -> None:
        vals = np.concatenate([self._top[side], vals], axis=1)
        counts = np.concatenate([self._top_n[side], counts], axis=1)
        first = vals.max(axis=1)
        second = np.where(vals < first[:, None], vals, -np.inf).max(axis=1)
        for k, value in enumerate((first, second)):
            self._top[side][:, k] = value
            self._top_n[side][:, k] = (counts * (vals == value[:, None])).sum(axis=1)

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self._m2 / np.maximum(self.n, 1))

    @property
    def high(self) -> np.ndarray:
        return self._top[0][:, 0]

    @property
    def low(self) -> np.ndarray:
        return -self._top[1][:, 0]

    @property
    def n_high(self) -> np.ndarray:
        return self._top_n[0][:, 0]

    @property
    def n_low(self) -> np.ndarray:
        return self._top_n[1][:, 0]

    @property
    def n_next_high(self) -> np.ndarray:
        return self._top_n[0][:, 1]

    @property
    def n_next_low(self) -> np.ndarray:
        return self._top_n[1][:, 1]
