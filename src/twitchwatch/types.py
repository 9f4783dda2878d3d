"""The values that flow between stages: Chunk, Burst, Episode, Recording.

Samples are microvolts, channels x samples. Times are seconds from the first sample of
the recording or stream; inside the pipeline, positions are integer sample indices on
the stream's sample clock (lost samples included), so that timing is exact to the sample.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Iterator, Protocol

import numpy as np

KINDS = ("twitch", "spasm", "artifact")


@dataclass
class Chunk:
    """A block of samples from a source or a stage.

    ``start`` is the index of the first sample on the stream's sample clock (it counts
    samples known to be lost), ``lost`` the samples known to be missing just before it.
    ``low`` optionally carries the same samples' low band (1-15 Hz), which the
    preprocessor adds for the detector's artifact features.
    """

    data: np.ndarray
    fs: float
    channels: tuple[str, ...]
    start: int = 0
    lost: int = 0
    low: np.ndarray | None = None

    @property
    def t0(self) -> float:
        """Seconds since stream start of the first sample."""
        return self.start / self.fs

    @property
    def n_samples(self) -> int:
        return int(self.data.shape[1])

    @property
    def stop(self) -> int:
        return self.start + self.n_samples


@dataclass
class Burst:
    """A run of activity on one channel found by the detector: samples [start, stop)."""

    channel: int
    start: int
    stop: int
    fs: float
    features: dict[str, float] = field(default_factory=dict)

    @property
    def start_s(self) -> float:
        return self.start / self.fs

    @property
    def end_s(self) -> float:
        return self.stop / self.fs


@dataclass
class Episode:
    """A classified burst: what the wearer's log and the events JSON hold."""

    channel: int
    channel_name: str
    start_s: float
    end_s: float
    kind: str
    peak_uv: float
    confidence: float
    features: dict[str, float] = field(default_factory=dict)

    def to_event(self) -> dict:
        """The events-JSON form (see DESIGN.md)."""
        return {
            "channel": int(self.channel),
            "channel_name": self.channel_name,
            "start_s": round(float(self.start_s), 6),
            "end_s": round(float(self.end_s), 6),
            "kind": self.kind,
            "peak_uv": round(float(self.peak_uv), 3),
            "confidence": round(float(self.confidence), 4),
        }


class Samples(Protocol):
    """Samples kept in a file and read on demand (float32 microvolts, channels x samples)."""

    n_channels: int
    n_samples: int

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples [start, stop) of every channel (0 <= start <= stop <= n_samples)."""

    def blocks(self, size: int) -> Iterator[tuple[int, np.ndarray]]:
        """(start, block) of consecutive ``size``-sample blocks, the file kept open meanwhile."""


READ_VALUES = 1 << 18  # values per block read from a file: 1 MB of float32


class Recording:
    """A recording opened from a file (or made by synth): one type for every format.

    ``data`` is channels x samples in microvolts. A recording opened lazily (EDF/BDF, and a
    text file over 64 MiB, from its float32 temporary copy) holds ``samples`` instead, read in blocks by ``chunks`` and ``read``, so that analysing a long
    recording takes memory for a block, not for the file; ``data`` reads the whole file the
    first time it is used and keeps it. ``annotations`` are (onset_s, duration_s, text).
    ``start_time`` is the wall-clock time of the first sample when the file says it.
    """

    def __init__(self, data: np.ndarray | None, fs: float, channels: tuple[str, ...], source: str = "",
                 start_time: _dt.datetime | None = None,
                 annotations: list[tuple[float, float, str]] | None = None, meta: dict | None = None,
                 *, samples: Samples | None = None) -> None:
        if (data is None) == (samples is None):
            raise ValueError("a Recording needs either data or samples")
        self._data, self.samples = data, samples
        self.fs = fs
        self.channels = channels
        self.source = source
        self.start_time = start_time
        self.annotations = [] if annotations is None else annotations
        self.meta = {} if meta is None else meta

    def __repr__(self) -> str:
        how = "lazy" if self.lazy else "in memory"
        return (f"Recording({self.source!r}, {self.n_channels} ch x {self.n_samples} samples "
                f"at {self.fs:g} Hz, {how})")

    @property
    def lazy(self) -> bool:
        """True while the samples are in the file only (``data`` has not been used)."""
        return self._data is None

    @property
    def data(self) -> np.ndarray:
        """All samples, channels x samples (read from the file on first use, then kept)."""
        if self._data is None:
            assert self.samples is not None
            self._data = self.samples.read(0, self.samples.n_samples)
            self.samples = None
        return self._data

    @data.setter
    def data(self, value: np.ndarray) -> None:
        self._data, self.samples = value, None

    @property
    def n_channels(self) -> int:
        return int(self.samples.n_channels if self._data is None else self._data.shape[0])  # type: ignore[union-attr]

    @property
    def n_samples(self) -> int:
        return int(self.samples.n_samples if self._data is None else self._data.shape[1])  # type: ignore[union-attr]

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.fs

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples [start, stop) of every channel (clipped to the recording), channels x samples."""
        start, stop = max(int(start), 0), min(int(stop), self.n_samples)
        stop = max(start, stop)
        if self._data is not None:
            return self._data[:, start:stop]
        assert self.samples is not None
        return self.samples.read(start, stop)

    def chunks(self, size: int) -> Iterator[Chunk]:
        """The recording as consecutive chunks of ``size`` samples (the last may be shorter).

        A lazy recording is read in blocks of one chunk, or of as many whole chunks as fit
        in ``READ_VALUES`` values, so that small chunks cost no more file calls than large ones.
        """
        if size < 1:
            raise ValueError("chunk size must be at least 1 sample")
        if self._data is not None:
            for i in range(0, self.n_samples, size):
                yield Chunk(self._data[:, i:i + size], self.fs, self.channels, start=i)
            return
        assert self.samples is not None
        per_block = max(1, READ_VALUES // max(self.n_channels, 1))
        step = size * max(1, per_block // size)
        for at, block in self.samples.blocks(step):
            for j in range(0, block.shape[1], size):
                yield Chunk(block[:, j:j + size], self.fs, self.channels, start=at + j)
