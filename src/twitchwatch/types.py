"""The values that flow between stages: Chunk, Burst, Episode, Recording.

Samples are microvolts, channels x samples. Times are seconds from the first sample of
the recording or stream; inside the pipeline, positions are integer sample indices on
the stream's sample clock (lost samples included), so that timing is exact to the sample.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Iterator

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


@dataclass
class Recording:
    """A recording opened from a file (or made by synth): one type for every format.

    ``data`` is channels x samples in microvolts. ``annotations`` are (onset_s,
    duration_s, text). ``start_time`` is the wall-clock time of the first sample when the
    file says it.
    """

    data: np.ndarray
    fs: float
    channels: tuple[str, ...]
    source: str = ""
    start_time: _dt.datetime | None = None
    annotations: list[tuple[float, float, str]] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    @property
    def n_channels(self) -> int:
        return int(self.data.shape[0])

    @property
    def n_samples(self) -> int:
        return int(self.data.shape[1])

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.fs

    def chunks(self, size: int) -> Iterator[Chunk]:
        """The recording as consecutive chunks of ``size`` samples (the last may be shorter)."""
        if size < 1:
            raise ValueError("chunk size must be at least 1 sample")
        for i in range(0, self.n_samples, size):
            yield Chunk(self.data[:, i:i + size], self.fs, self.channels, start=i)
