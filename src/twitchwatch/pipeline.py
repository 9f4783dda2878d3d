"""The stages wired together: preprocess -> detect -> classify -> join, for stream and batch.

Batch analysis is the stream path fed a recording's chunks as fast as they run, so the
two give the same episodes. The last stage joins spasm episodes on one channel that are
less than ``SPASM_JOIN_S`` apart (a cramp waxes and wanes; its quieter moments split the
detector's bursts); a joined spasm shorter than ``SPASM_MIN_S`` is reported as a brief
contraction (artifact): a spasm or cramp is sustained, a brief voluntary contraction
lasts 0.1-0.45 s, and the model alone called such bursts spasm with confidence over 0.9
(on the independent generator, and in real recordings' contractions). So a real
recording's brief contraction (``emg_1``'s first, 0.33 s as the detector sees it) is
reported as a contraction, not as a spasm and not as twitches. A spasm is
held until the detector's horizon shows that nothing can join it any more, so the result
never depends on chunking; twitches are not held (stream latency). When a stream or a
recording ends, the twitches on a spasm's channel in the ``ONSET_S`` before it starts,
or inside it, are folded into it (``fold_onsets``): a cramp recruits single units before
its interference pattern builds up, and those first potentials look like twitches; and
a run of ``RUN_LEAST`` or more twitches on a channel, each within ``RUN_GAP_S`` of the one
before, is reported as an artifact (``runs_as_artifacts``): a contraction resolved into
its units' potentials, not fasciculations; so is a pair of twitches ``DOUBLET_S`` to
``LEAD_S`` apart (two of its potentials), and a twitch that starts less than ``LEAD_S``
before a brief artifact (``leads_as_artifacts``: its first potential).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Iterable

import numpy as np

from .classify import LONG_MOVEMENT_S, make_classifier
from .detect import Detector, DetectorParams
from .dsp import Preprocessor
from .types import Burst, Chunk, Episode, Recording

BATCH_CHUNK_S = 60.0
MAINS = {"auto": "auto", "none": None, "50": 50.0, "60": 60.0}  # --mains -> analyze's mains_hz
SPASM_JOIN_S = 1.0
SPASM_MIN_S = 0.5  # a shorter spasm, even joined, is reported as a brief contraction (artifact)
ONSET_S = 0.5  # twitches this close before a spasm on its channel are its first potentials
RUN_GAP_S = 0.2  # twitches on a channel that follow each other this closely ...
RUN_LEAST = 3  # ... this many or more in a row: a contraction's potentials (artifact)
LEAD_S = 0.125  # a twitch starting this little before a brief artifact on its channel is its first potential
DOUBLET_S = 0.05  # ... and two twitches starting DOUBLET_S to LEAD_S apart are a contraction's (closer: a doublet)


class SpasmJoiner:
    """Joins spasm episodes on one channel less than ``gap_s`` apart; state in, state out."""

    def __init__(self, n_channels: int, gap_s: float = SPASM_JOIN_S):
        self.gap_s = float(gap_s)
        self.held: list[Episode | None] = [None] * n_channels

    def push(self, episodes: list[Episode], horizon_s: np.ndarray | None) -> list[Episode]:
        """Episodes to pass on now; ``horizon_s`` per channel (None: the stream ended)."""
        out = []
        for e in sorted(episodes, key=lambda e: (e.start_s, e.channel)):
            held = self.held[e.channel]
            if e.kind != "spasm":
                out.append(e)
            elif held is not None and e.start_s - held.end_s < self.gap_s:
                self.held[e.channel] = _joined(held, e)
            else:
                if held is not None:
                    out.append(_settled(held))
                self.held[e.channel] = e
        for ch, held in enumerate(self.held):
            if held is not None and (horizon_s is None or horizon_s[ch] >= held.end_s + self.gap_s):
                out.append(_settled(held))
                self.held[ch] = None
        return out


def _settled(spasm: Episode) -> Episode:
    """A spasm that nothing can join any more: if short, a brief contraction."""
    return replace(spasm, kind="artifact") if spasm.end_s - spasm.start_s < SPASM_MIN_S else spasm


def _joined(a: Episode, b: Episode) -> Episode:
    start, end = min(a.start_s, b.start_s), max(a.end_s, b.end_s)
    main = a if a.end_s - a.start_s >= b.end_s - b.start_s else b
    features = dict(main.features, duration_s=end - start)
    return Episode(a.channel, a.channel_name, start, end, "spasm", max(a.peak_uv, b.peak_uv),
                   max(a.confidence, b.confidence), features)


class Pipeline:
    """One stream's stages. ``process(chunk)`` returns the episodes completed so far."""

    def __init__(self, fs: float, channels: tuple[str, ...], mains_hz: float | None | str = "auto",
                 params: DetectorParams | None = None, classifier=None):
        self.fs, self.channels = float(fs), tuple(channels)
        self.pre = Preprocessor(fs, len(channels), mains_hz)
        self.det = Detector(fs, len(channels), params)
        self.cls = classifier if classifier is not None else make_classifier(None, fs)
        self.join = SpasmJoiner(len(channels))

    def process(self, chunk: Chunk) -> list[Episode]:
        bursts = []
        for filtered in self.pre.process(chunk):
            bursts += self.det.process(filtered)
        return self.join.push(self.cls.classify(bursts, self.channels), self.det.horizon() / self.fs)

    def flush(self) -> list[Episode]:
        bursts = []
        for filtered in self.pre.flush():
            bursts += self.det.process(filtered)
        bursts += self.det.flush()
        return self.join.push(self.cls.classify(bursts, self.channels), None)

    def run(self, chunks: Iterable[Chunk], progress: Callable[[int], None] | None = None) -> list[Episode]:
        """All episodes of a finite stream, sorted by onset then channel."""
        episodes: list[Episode] = []
        for chunk in chunks:
            episodes += self.process(chunk)
            if progress is not None:
                progress(chunk.n_samples)
        episodes += self.flush()
        return finished(episodes)


def finished(episodes: list[Episode]) -> list[Episode]:
    """The episodes of a stream or a recording once it has ended, sorted by onset then
    channel: a spasm's first potentials folded into it (``fold_onsets``), and runs of
    twitches and pairs of them, and the twitches that lead a brief artifact, reported as
    artifacts (``runs_as_artifacts``, ``leads_as_artifacts``). Only a finished list: a
    stream shows each twitch at once, since holding twitches for what may follow would
    break the latency bar."""
    runs = runs_as_artifacts(fold_onsets(episodes))
    pairs = runs_as_artifacts(runs, LEAD_S, 2, DOUBLET_S)
    return sorted(leads_as_artifacts(pairs), key=lambda e: (e.start_s, e.channel))


def runs_as_artifacts(episodes: list[Episode], gap_s: float = RUN_GAP_S, least: int = RUN_LEAST,
                      doublet_s: float = 0.0) -> list[Episode]:
    """``episodes`` with each run of ``least`` or more twitches on one channel, each
    starting less than ``gap_s`` (and ``doublet_s`` or more) after the one before,
    reported as artifacts (brief contractions; the confidence stays the model's, as for a
    brief spasm): a unit that fires at 5 Hz or faster is driven, as in a contraction
    resolved into its units' potentials, while fasciculations fire seldom and
    irregularly. On the independent generator (20 seeds, 4 rates) 11 false twitches
    fewer and no true one lost; our held-out set is unchanged. ``finished`` also takes
    pairs (2 twitches ``DOUBLET_S`` to ``LEAD_S`` apart: a contraction's potentials at
    8-20 Hz; a fasciculation may fire again sooner, as a doublet): a third of the false
    twitches that ``leads_as_artifacts`` leaves on the independent generator at 1000 Hz."""
    out = list(episodes)
    for idx in _of_kind(out, "twitch").values():
        idx.sort(key=lambda i: out[i].start_s)
        t = np.array([out[i].start_s for i in idx])
        gap = np.diff(t)
        run = np.concatenate([[0], np.cumsum((gap >= gap_s) | (gap < doublet_s))])  # which run each twitch is in
        for i in np.array(idx)[np.bincount(run)[run] >= least]:
            out[i] = replace(out[i], kind="artifact")
    return out


def leads_as_artifacts(episodes: list[Episode], lead_s: float = LEAD_S) -> list[Episode]:
    """``episodes`` with each twitch that starts less than ``lead_s`` before an artifact
    shorter than ``classify.LONG_MOVEMENT_S`` starts on its channel reported as an
    artifact: a brief contraction's first potential. The detector often finds a brief
    voluntary contraction of few units as a spike and, one discharge later, the rest;
    units in a contraction fire at 8 Hz or more (0.125 s apart), while a fasciculation
    stands alone (our simulator's clusters fire again 0.15-0.6 s later). On the
    independent generator (40 seeds on 4 channels, 30 on 8), with the pairs that
    ``finished`` takes (``runs_as_artifacts``), this is a third to a half of the false
    twitches, and no true one. As ``fold_onsets`` for a spasm, timed onset to onset (a
    burst's end depends on the board's filters); a twitch inside or after a movement is
    reported as it is."""
    out = list(episodes)
    brief: dict[int, list[float]] = {}
    for e in out:
        if e.kind == "artifact" and e.end_s - e.start_s < LONG_MOVEMENT_S:
            brief.setdefault(e.channel, []).append(e.start_s)
    for ch, idx in _of_kind(out, "twitch").items():
        if ch not in brief:
            continue
        t = np.array([out[i].start_s for i in idx])
        for i in np.array(idx)[_soon_before(np.sort(brief[ch]), t, lead_s)[1]]:
            out[i] = replace(out[i], kind="artifact")
    return out


def fold_onsets(episodes: list[Episode], onset_s: float = ONSET_S) -> list[Episode]:
    """``episodes`` without the twitches that start inside a spasm on their channel or
    less than ``onset_s`` before one: a cramp's first single potentials, before its
    interference pattern builds up (on the independent generator, 15 false twitches over
    20 seeds and 4 rates, and no true one). For a finished list (``finished``)."""
    spasms, twitches = _of_kind(episodes, "spasm"), _of_kind(episodes, "twitch")
    drop = set()
    for ch in spasms.keys() & twitches.keys():
        mine = sorted((episodes[i].start_s, episodes[i].end_s) for i in spasms[ch])
        starts, ends = np.array([a for a, _ in mine]), np.maximum.accumulate([z for _, z in mine])
        t = np.array([episodes[i].start_s for i in twitches[ch]])
        after, soon = _soon_before(starts, t, onset_s)
        inside = (after > 0) & (t <= ends[np.maximum(after - 1, 0)])
        drop.update(i for i, d in zip(twitches[ch], soon | inside) if d)
    return [e for i, e in enumerate(episodes) if i not in drop]


def _soon_before(starts: np.ndarray, t: np.ndarray, within: float) -> tuple[np.ndarray, np.ndarray]:
    """For times ``t`` and ascending, non-empty ``starts``: the index of the first start at
    or after each time, and whether that start comes less than ``within`` after it."""
    after = np.searchsorted(starts, t, side="left")
    return after, (after < starts.size) & (starts[np.minimum(after, starts.size - 1)] - t < within)


def _of_kind(episodes: list[Episode], kind: str) -> dict[int, list[int]]:
    """Per channel, the indices of the episodes of ``kind``, in list order."""
    out: dict[int, list[int]] = {}
    for i, e in enumerate(episodes):
        if e.kind == kind:
            out.setdefault(e.channel, []).append(i)
    return out


def analyze(rec: Recording, chunk_s: float = BATCH_CHUNK_S, mains_hz: float | None | str = "auto",
            progress: Callable[[int], None] | None = None, classifier=None,
            tap: Callable[[np.ndarray], None] | None = None) -> list[Episode]:
    """Episodes of a whole recording. ``tap`` sees every chunk's raw samples on the way
    (the signal checks gather their figures so, in the same read of the file)."""
    pipe = Pipeline(rec.fs, rec.channels, mains_hz, classifier=classifier)
    size = max(1, int(round(chunk_s * rec.fs)))
    pipe.pre.tune(rec.chunks(size))
    chunks = rec.chunks(size)
    if tap is not None:
        chunks = _tapped(chunks, tap)
    return pipe.run(chunks, progress)


def _tapped(chunks: Iterable[Chunk], tap: Callable[[np.ndarray], None]) -> Iterable[Chunk]:
    for chunk in chunks:
        tap(chunk.data)
        yield chunk


def detect(rec: Recording, chunk_s: float = BATCH_CHUNK_S, mains_hz: float | None | str = "auto") -> list[Burst]:
    """The detector's bursts of a whole recording, before any classifier (for training)."""
    pre, det = Preprocessor(rec.fs, rec.n_channels, mains_hz), Detector(rec.fs, rec.n_channels)
    size = max(1, int(round(chunk_s * rec.fs)))
    pre.tune(rec.chunks(size))
    bursts: list[Burst] = []
    for chunk in rec.chunks(size):
        for filtered in pre.process(chunk):
            bursts += det.process(filtered)
    for filtered in pre.flush():
        bursts += det.process(filtered)
    return bursts + det.flush()
