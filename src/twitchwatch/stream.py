"""Live detection: a source's chunks through the pipeline and into the sinks.

A source is anything with ``fs``, ``channels``, ``chunks()`` (a generator of Chunk),
``stop()``, ``lost_samples`` and ``gaps`` (see sources/). The stream ends when the source
ends, after ``duration_s`` of signal, or on Ctrl-C; in every case the pipeline is flushed
and the sinks closed, so that nothing already received is lost.
"""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

from .pipeline import Pipeline
from .types import Chunk, Episode


class Source(Protocol):
    fs: float
    channels: tuple[str, ...]
    lost_samples: int
    gaps: list[tuple[int, int]]

    def chunks(self): ...

    def stop(self) -> None: ...


class Sink(Protocol):
    def write(self, chunk: Chunk) -> None: ...

    def episodes(self, episodes: list[Episode]) -> None: ...

    def close(self) -> None: ...


class RecorderSink:
    """Raw signal to a Recorder (BDF+/EDF+), each episode as an annotation."""

    def __init__(self, recorder):
        self.recorder = recorder

    def write(self, chunk: Chunk) -> None:
        self.recorder.append(chunk)

    def episodes(self, episodes: list[Episode]) -> None:
        for e in episodes:
            self.recorder.annotate(e.start_s, e.end_s - e.start_s, f"{e.kind} {e.channel_name}")

    def close(self) -> None:
        self.recorder.close()


@dataclass
class StreamResult:
    fs: float
    channels: tuple[str, ...]
    episodes: list[Episode] = field(default_factory=list)
    samples: int = 0  # samples received per channel (lost ones not included)
    lost_samples: int = 0
    gaps: list[tuple[int, int]] = field(default_factory=list)
    latencies_s: list[float] = field(default_factory=list)  # twitch's last sample arrived -> emitted
    chunk_compute_s: list[float] = field(default_factory=list)  # pipeline time per chunk
    interrupted: bool = False

    @property
    def duration_s(self) -> float:
        return (self.samples + self.lost_samples) / self.fs


class _Arrivals:
    """When each sample arrived (by chunk), to time an episode from its last sample."""

    def __init__(self):
        self._chunks: deque[tuple[int, float]] = deque()  # (stop index, arrival time)

    def add(self, stop: int, t: float) -> None:
        self._chunks.append((stop, t))
        while len(self._chunks) > 4096:
            self._chunks.popleft()

    def time_of(self, index: int) -> float | None:
        for stop, t in self._chunks:
            if index < stop:
                return t
        return None


def run_stream(source: Source, *, duration_s: float | None = None, mains_hz: float | None | str = "auto",
               sinks: tuple[Sink, ...] = (), on_update: Callable[[Pipeline, Chunk, list[Episode]], None] | None = None,
               classifier=None) -> StreamResult:
    """Stream ``source`` through the pipeline until it ends, ``duration_s`` or Ctrl-C."""
    pipe = Pipeline(source.fs, tuple(source.channels), mains_hz, classifier=classifier)
    res = StreamResult(source.fs, tuple(source.channels))
    arrivals = _Arrivals()
    limit = None if duration_s is None else int(round(duration_s * source.fs))

    def emit(episodes: list[Episode], now: float) -> None:
        for e in episodes:
            t = arrivals.time_of(int(round(e.end_s * source.fs)) - 1)
            if t is not None and e.kind == "twitch":
                res.latencies_s.append(now - t)
        res.episodes += episodes
        for s in sinks:
            s.episodes(episodes)

    try:
        for chunk in source.chunks():
            if limit is not None and chunk.start + chunk.n_samples > limit:
                keep = max(limit - chunk.start, 0)
                chunk = Chunk(chunk.data[:, :keep], chunk.fs, chunk.channels, chunk.start, chunk.lost)
            arrived = time.monotonic()
            arrivals.add(chunk.stop, arrived)
            res.samples += chunk.n_samples
            for s in sinks:
                s.write(chunk)
            t0 = time.perf_counter()
            episodes = pipe.process(chunk)
            res.chunk_compute_s.append(time.perf_counter() - t0)
            emit(episodes, time.monotonic())
            if on_update is not None:
                on_update(pipe, chunk, episodes)
            if limit is not None and chunk.stop >= limit:
                break
    except KeyboardInterrupt:
        res.interrupted = True
    finally:
        source.stop()
        try:
            emit(pipe.flush(), time.monotonic())
        finally:
            res.lost_samples = int(source.lost_samples)
            res.gaps = list(source.gaps)
            for s in sinks:
                s.close()
    res.episodes.sort(key=lambda e: (e.start_s, e.channel))
    return res


def latency_summary(res: StreamResult) -> dict[str, float]:
    """Median and 95th percentile of twitch latency and of compute per chunk (seconds)."""
    lat = np.asarray(res.latencies_s)
    comp = np.asarray(res.chunk_compute_s)
    pct = lambda a, q: float(np.percentile(a, q)) if a.size else float("nan")  # noqa: E731
    return {"twitches_timed": int(lat.size), "latency_median_s": pct(lat, 50), "latency_p95_s": pct(lat, 95),
            "compute_median_s": pct(comp, 50), "compute_p95_s": pct(comp, 95)}
