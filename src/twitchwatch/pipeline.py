"""The stages wired together: preprocess -> detect -> classify, for stream and batch.

Batch analysis is the stream path fed a recording's chunks as fast as they run, so the
two give the same episodes.
"""
from __future__ import annotations

from typing import Callable, Iterable

from .classify import RuleClassifier
from .detect import Detector, DetectorParams
from .dsp import Preprocessor
from .types import Chunk, Episode, Recording

BATCH_CHUNK_S = 10.0


class Pipeline:
    """One stream's stages. ``process(chunk)`` returns the episodes completed so far."""

    def __init__(self, fs: float, channels: tuple[str, ...], mains_hz: float | None | str = "auto",
                 params: DetectorParams | None = None, classifier=None):
        self.fs, self.channels = float(fs), tuple(channels)
        self.pre = Preprocessor(fs, len(channels), mains_hz)
        self.det = Detector(fs, len(channels), params)
        self.cls = classifier or RuleClassifier()

    def process(self, chunk: Chunk) -> list[Episode]:
        bursts = []
        for filtered in self.pre.process(chunk):
            bursts += self.det.process(filtered)
        return self.cls.classify(bursts, self.channels)

    def flush(self) -> list[Episode]:
        bursts = []
        for filtered in self.pre.flush():
            bursts += self.det.process(filtered)
        bursts += self.det.flush()
        return self.cls.classify(bursts, self.channels)

    def run(self, chunks: Iterable[Chunk], progress: Callable[[int], None] | None = None) -> list[Episode]:
        """All episodes of a finite stream, sorted by onset then channel."""
        episodes: list[Episode] = []
        for chunk in chunks:
            episodes += self.process(chunk)
            if progress is not None:
                progress(chunk.n_samples)
        episodes += self.flush()
        return sorted(episodes, key=lambda e: (e.start_s, e.channel))


def analyze(rec: Recording, chunk_s: float = BATCH_CHUNK_S, mains_hz: float | None | str = "auto",
            progress: Callable[[int], None] | None = None, classifier=None) -> list[Episode]:
    """Episodes of a whole recording."""
    pipe = Pipeline(rec.fs, rec.channels, mains_hz, classifier=classifier)
    return pipe.run(rec.chunks(max(1, int(round(chunk_s * rec.fs)))), progress)
