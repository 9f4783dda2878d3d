"""What a recording's samples say about the setup, and what the episode log keeps of them.

- ``SignalStats``: per-channel figures (non-finite samples, spread, the extremes and how
  many samples sit there) merged block by block, so that they come from the same pass
  that analyses the recording; ``signal_warnings`` turns them into one-line warnings
  about NaN/inf, flat and clipped channels.
- ``snippets``: short band-passed signals of the most confident twitches and spasms,
  read as slices (a lazy recording stays on disk), for the report's sample waveforms.
"""
from __future__ import annotations

import numpy as np

from . import filters
from .types import Recording

try:
    from . import _kernels  # the moments in two passes a row, the extremes in three
except ImportError:  # not built: numpy finds the same
    _kernels = None

CHECK_VALUES = 1 << 16  # values per block of a separate checking pass
SNIPPETS_PER_KIND = 5  # the report shows the most confident one; a few spare


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
        """The figures of a whole recording, read block by block (a pass of its own; the
        analysis gathers them on its way instead, see ``pipeline.analyze(tap=...)``)."""
        stats = cls(rec.n_channels)
        for chunk in rec.chunks(max(1, CHECK_VALUES // max(rec.n_channels, 1))):
            stats.add(chunk.data)
        return stats

    def add(self, block: np.ndarray) -> None:
        """Take in the next channels x samples block: its moments (``_moments``) merged
        into those so far, then its extremes (``_tops``)."""
        x = np.asarray(block)
        nb, mb, m2b, finite = _moments(x)
        self.bad += x.shape[1] - nb
        n = self.n + nb
        delta = mb - self._mean
        share = nb / np.maximum(n, 1)
        self._mean += delta * share
        self._m2 += m2b + delta * delta * self.n * share
        self.n = n
        for side, (vals, counts) in enumerate(self._tops(x, finite)):
            self._merge(side, vals, counts)

    def _tops(self, x: np.ndarray, finite: np.ndarray | None) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per side (the highs of x, then the highs of -x: the lows), a block's two largest
        distinct finite values per channel and the samples at each (channels x 2 each; -inf
        and 0: none); zeros as +0, whichever zero the block held. numpy looks for the
        second value only on channels where the first reaches the highest so far (on the
        benchmark's hour, in 37 of 120 blocks: elsewhere it cannot change the merged
        figures); the kernel, for finite float32 blocks, finds them all in three fast passes."""
        if finite is None and _kernels is not None and x.dtype == np.float32 and x.shape[1]:
            vals, counts = np.empty((2, x.shape[0], 2)), np.empty((2, x.shape[0], 2), dtype=np.int64)
            _kernels.top_two(x, vals, counts)
            return [(vals[0], counts[0]), (vals[1], counts[1])]
        out = []
        for side in (0, 1):
            sign = 1.0 if side == 0 else -1.0
            if finite is None:
                first = (x.max(axis=1) if side == 0 else -x.min(axis=1)) + 0.0  # (+ 0.0: a zero as +0)
            else:
                first = np.where(finite, sign * x, -np.inf).max(axis=1) + 0.0
            counts = _row_counts(x == (sign * first)[:, None])
            second, n_second = np.full_like(first, -np.inf), np.zeros_like(counts)
            rows = np.flatnonzero(first >= self._top[side][:, 0])  # only there can a block's second matter
            if rows.size:
                v = sign * x[rows] if finite is None else np.where(finite[rows], sign * x[rows], -np.inf)
                second[rows] = np.where(v == first[rows, None], -np.inf, v).max(axis=1) + 0.0
                n_second[rows] = _row_counts(v == second[rows, None])
            vals = np.stack([first, second], axis=1)
            # -inf stands for "no finite value": no samples sit there
            out.append((vals, np.stack([counts, n_second], axis=1) * np.isfinite(vals)))
        return out

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
        return 0.0 - self._top[1][:, 0]  # (a zero as +0, as the highs keep it)

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


def _moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Per row of a channels x samples block: how many samples are finite, their mean and
    the sum of their squared deviations from it (float64); and where the samples are
    finite (None: everywhere). The kernel, for float32 blocks, reads each row twice;
    numpy three times or more, with a float64 copy of the block."""
    if _kernels is not None and x.dtype == np.float32:
        nb, total, m2b = np.empty(x.shape[0], np.int64), np.empty(x.shape[0]), np.empty(x.shape[0])
        _kernels.moments(x, nb, total, m2b)
        finite = None if (nb == x.shape[1]).all() else np.isfinite(x)
        return nb, total / np.maximum(nb, 1), m2b, finite
    with np.errstate(invalid="ignore"):  # inf - inf: NaN, as wanted
        total = x.sum(axis=1, dtype=np.float64)
    whole = bool(np.isfinite(total).all())  # NaN and inf would show in the sum
    finite = None if whole else np.isfinite(x)
    if finite is None:
        nb = np.full(x.shape[0], x.shape[1], dtype=np.int64)
    else:
        nb = _row_counts(finite)
        total = np.where(finite, x, 0).sum(axis=1, dtype=np.float64)
    mb = total / np.maximum(nb, 1)
    dev = np.subtract(x, mb[:, None], dtype=np.float64)
    if finite is not None:
        dev[~finite] = 0.0
    return nb, mb, np.einsum("ij,ij->i", dev, dev), finite


def _row_counts(mask: np.ndarray) -> np.ndarray:
    """``np.count_nonzero(mask, axis=1)``, a row at a time: several times faster, as the
    axis form adds up the whole mask cast to integers."""
    return np.array([np.count_nonzero(row) for row in mask], dtype=np.int64)


def signal_warnings(stats: SignalStats, channels: tuple[str, ...], name: str) -> list[str]:
    """One-line warnings about non-finite samples, flat and clipped channels."""
    out: list[str] = []
    st = stats
    flat = [c for c in range(len(channels))
            if st.n[c] and (float(st.high[c]) == float(st.low[c]) or float(st.std[c]) < 1e-6)]
    for c in range(len(channels)):
        label = f"{name} channel {c} ({channels[c]})"
        if st.bad[c]:
            out.append(f"{int(st.bad[c])} NaN/inf samples in {label} were held at the last good value")
        if st.n[c] == 0:
            out.append(f"{label} holds no finite samples at all; it will show no events")
            continue
        lo, hi = float(st.low[c]), float(st.high[c])
        if c in flat:  # the rows of a board's file that no electrode feeds: one line for all at one value
            same = [k for k in flat if float(st.low[k]) == lo]
            if same[0] == c:
                out.append(f"{label} is flat (constant {lo:g} uV): unconnected or dead; it will show no events"
                           if len(same) == 1 else
                           f"{name} channels {_spans(same)} ({_spans(same, channels)}) are flat (constant "
                           f"{lo:g} uV): unconnected or dead; they will show no events")
            continue
        # a pile-up at the edge (more samples than at the next value inward), not just the
        # tail of a coarsely quantized signal
        clipped = [(value, int(n_at)) for value, n_at, n_next in ((lo, st.n_low[c], st.n_next_low[c]),
                                                                   (hi, st.n_high[c], st.n_next_high[c]))
                   if n_at >= 2 and n_at > 0.01 * st.n[c] and n_at > n_next]
        if clipped:
            share = sum(n for _, n in clipped) / st.n[c]
            vals = " and ".join(f"{v:g}" for v, _ in clipped)
            out.append(f"{label} looks clipped: {share:.1%} of its samples sit at {vals} uV; "
                       "check the gain or the electrode contact")
    return out


def _spans(indices: list[int], names: tuple[str, ...] | None = None) -> str:
    """Ascending channel indices as runs ("4-15, 17"), or by their names ("EXG4 to EXG15, EXG17")."""
    runs: list[list[int]] = []
    for k in indices:
        if runs and k == runs[-1][1] + 1:
            runs[-1][1] = k
        else:
            runs.append([k, k])
    if names is None:
        return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)
    return ", ".join(names[a] if a == b else f"{names[a]} to {names[b]}" for a, b in runs)


def check_recording(rec: Recording, name: str) -> list[str]:
    """``signal_warnings`` of a whole recording, in a pass of its own."""
    return signal_warnings(SignalStats.of(rec), rec.channels, name)


def snippets(rec: Recording, episodes: list, per_kind: int = SNIPPETS_PER_KIND) -> dict[int, dict]:
    """Band-passed (20 Hz high-pass, zero phase) signals of the ``per_kind`` most confident
    twitches and spasms, keyed by their index in ``episodes``: {"fs", "uv"}."""
    sos = filters.butter(2, 20.0, "highpass", fs=rec.fs)
    pad = int(0.1 * rec.fs)
    out = {}
    for kind in ("twitch", "spasm"):
        ranked = sorted((k for k, e in enumerate(episodes) if e.kind == kind), key=lambda k: -episodes[k].confidence)
        kept = 0
        for k in ranked:
            if kept == per_kind:
                break
            e = episodes[k]
            a = int(e.start_s * rec.fs) - int(0.03 * rec.fs)
            b = min(int(e.end_s * rec.fs) + int(0.03 * rec.fs), a + int(1.5 * rec.fs))
            lo, hi = max(a - pad, 0), min(b + pad, rec.n_samples)
            seg = np.asarray(rec.read(lo, hi)[e.channel], dtype=np.float64)  # a slice: never the whole file
            if seg.size < 16 or not np.isfinite(seg).all():
                continue
            y = filters.sosfiltfilt(sos, seg - seg.mean())[max(a, 0) - lo: b - lo]
            out[k] = {"fs": rec.fs, "uv": [round(float(v), 1) for v in y]}
            kept += 1
    return dict(sorted(out.items()))
