"""Live detection: a source's chunks through the pipeline and into the sinks.

A source is anything with ``fs``, ``channels``, ``chunks()`` (a generator of Chunk),
``stop()``, ``lost_samples`` and ``gaps`` (see sources/). The stream ends when the source
ends, after ``duration_s`` of signal, on Ctrl-C, or when the source cannot go on (a
UserError from it: the device changed format, vanished for good); in every case the
pipeline is flushed and the sinks closed, so that nothing already received is lost, and
``StreamResult.error`` says why a source ended early.
"""
from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

from .errors import RecordingError, UserError
from .pipeline import Pipeline, finished
from .types import Chunk, Episode

log = logging.getLogger(__name__)


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
    """Raw signal to a Recorder (BDF+/EDF+), each episode as an annotation.

    When a write fails (disk full, file size limit, drive removed) the recording stops
    with one message to ``on_fail`` and the stream goes on; the complete 1-second records
    already written stay in the file, which opens as an unclosed recording."""

    def __init__(self, recorder, on_fail: Callable[[str], None] | None = None):
        self.recorder = recorder
        self.on_fail = on_fail or (lambda message: log.warning("%s", message))
        self.failed: str | None = None

    def _guard(self, write: Callable[[], None]) -> None:
        if self.failed is not None:
            return
        try:
            write()
        except (OSError, RecordingError) as exc:
            rec = self.recorder
            self.failed = str(exc)
            self.on_fail(f"recording stopped at {rec.n_samples / rec.fs:.1f} s (disk full?), the stream "
                         f"goes on: {exc}")
            try:
                rec.close()  # releases the file; writing its end fails like the rest
            except (OSError, RecordingError):
                pass

    def write(self, chunk: Chunk) -> None:
        self._guard(lambda: self.recorder.append(chunk))

    def episodes(self, episodes: list[Episode]) -> None:
        for e in episodes:
            self._guard(lambda: self.recorder.annotate(e.start_s, e.end_s - e.start_s, f"{e.kind} {e.channel_name}"))

    def close(self) -> None:
        self._guard(self.recorder.close)


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
    error: str | None = None  # why the source ended early (format changed, device gone ...)

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
    head = getattr(source, "head", None)  # a replayed recording can be looked into first; a board cannot
    if head is not None:
        pipe.pre.tune(head())
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

    chunks = source.chunks()
    try:
        while True:
            try:
                chunk = next(chunks)
            except StopIteration:
                break
            except UserError as exc:  # the source cannot go on: keep what came, say why
                res.error = str(exc)
                break
            if limit is not None and chunk.start >= limit:
                break  # a gap carried the clock past the end
            if limit is not None and chunk.start + chunk.n_samples > limit:
                keep = limit - chunk.start
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
        chunks.close()
        try:
            emit(pipe.flush(), time.monotonic())
        finally:
            # what was lost within the stream (a gap may run past its end)
            res.gaps = [(a, n if limit is None else min(n, limit - a)) for a, n in source.gaps
                        if limit is None or a < limit]
            res.lost_samples = int(source.lost_samples) if limit is None else sum(n for _, n in res.gaps)
            for s in sinks:
                s.close()
    res.episodes = finished(res.episodes)
    return res


def latency_summary(res: StreamResult) -> dict[str, float]:
    """Median and 95th percentile of twitch latency and of compute per chunk (seconds)."""
    lat = np.asarray(res.latencies_s)
    comp = np.asarray(res.chunk_compute_s)
    pct = lambda a, q: float(np.percentile(a, q)) if a.size else float("nan")  # noqa: E731
    return {"twitches_timed": int(lat.size), "latency_median_s": pct(lat, 50), "latency_p95_s": pct(lat, 95),
            "compute_median_s": pct(comp, 50), "compute_p95_s": pct(comp, 95)}
