"""Stream a recording as Chunks, paced at ``speed`` x real time (None: as fast as possible)."""
from __future__ import annotations

import threading
import time
from typing import Iterator

from ..types import Chunk, Recording


class ReplaySource:
    """A recording played through the live path.

    ``chunks()`` yields consecutive Chunks of about ``chunk_s`` seconds; chunk k is released
    when ``k``'s last sample is due (``stop / fs / speed`` seconds after the first call).
    ``stop()`` (any thread) ends the generator at the next chunk boundary.
    """

    def __init__(self, rec: Recording, speed: float | None = 1.0, chunk_s: float = 0.04) -> None:
        if speed is not None and not speed > 0:
            raise ValueError("speed must be positive (or None for as fast as possible)")
        self.rec = rec
        self.speed = None if speed is None else float(speed)
        self.fs = float(rec.fs)
        self.channels = tuple(rec.channels)
        self.size = max(1, int(round(chunk_s * self.fs)))
        self.lost_samples = 0
        self.gaps: list[tuple[int, int]] = []
        self.status = "idle"
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def head(self) -> Iterator[Chunk]:
        """The recording's chunks from its start, unpaced: a recording, unlike a board, can
        be looked into before it is played (``run_stream`` tunes the notches on it, as
        ``analyze`` does, so that both give the same events)."""
        return self.rec.chunks(self.size)

    def chunks(self) -> Iterator[Chunk]:
        self.status = "streaming"
        t0 = time.monotonic()
        try:
            for chunk in self.rec.chunks(self.size):
                if self.speed is not None:
                    due = t0 + chunk.stop / self.fs / self.speed
                    while not self._stop.is_set():
                        left = due - time.monotonic()
                        if left <= 0:
                            break
                        self._stop.wait(min(left, 0.05))
                if self._stop.is_set():
                    break
                yield chunk
        finally:
            self.status = "stopped"
