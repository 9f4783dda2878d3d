"""Scoring detected events against truth: precision, recall and F1 per kind.

Matching is one to one and per channel:
- twitch: the intervals overlap, or the onsets are within 50 ms; closest onsets first;
- spasm: time intersection-over-union of at least 0.3; best overlap first;
- artifact: as twitch, but any overlap counts.
Truth twitches whose peak-to-peak is below ``min_snr`` times their channel's noise rms
(the truth's ``noise_rms_uv``) are set aside: neither a miss nor, if found, a false alarm.
The twitches counted are also tallied by that size (``SIZES``): where the misses are.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .types import KINDS

TWITCH_ONSET_S = 0.05
SPASM_IOU = 0.3
MIN_TWITCH_SNR = 6.0  # a twitch under this peak-to-peak over the noise rms is set aside (the bar)
SIZES = (6.0, 7.0, 8.0, 10.0, 15.0)  # twitches counted, by peak-to-peak over the noise rms: 6-7, ..., 15 and over
SIZE_OUTCOMES = ("twitch", "other kind", "nothing")  # found as a twitch; under an event of another kind; neither


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def add(self, other: "Counts") -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn

    def as_dict(self) -> dict:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "precision": round(self.precision, 4),
                "recall": round(self.recall, 4), "f1": round(self.f1, 4)}


@dataclass
class Score:
    kinds: dict[str, Counts] = field(default_factory=lambda: {k: Counts() for k in KINDS})
    artifacts: int = 0
    artifacts_called_twitch: int = 0
    set_aside: int = 0
    # the twitches counted, by size (``SIZES``) x outcome (``SIZE_OUTCOMES``); none when
    # the truth gives no noise rms
    by_size: np.ndarray = field(default_factory=lambda: np.zeros((len(SIZES), len(SIZE_OUTCOMES)), np.int64))

    @property
    def artifact_as_twitch_rate(self) -> float:
        return self.artifacts_called_twitch / self.artifacts if self.artifacts else 0.0

    def add(self, other: "Score") -> None:
        for k in KINDS:
            self.kinds[k].add(other.kinds[k])
        self.artifacts += other.artifacts
        self.artifacts_called_twitch += other.artifacts_called_twitch
        self.set_aside += other.set_aside
        self.by_size += other.by_size

    def as_dict(self) -> dict:
        return {"kinds": {k: c.as_dict() for k, c in self.kinds.items()},
                "artifacts": self.artifacts, "artifacts_called_twitch": self.artifacts_called_twitch,
                "artifact_as_twitch_rate": round(self.artifact_as_twitch_rate, 4),
                "set_aside_low_snr": self.set_aside,
                "twitches_by_size": {f"{lo:g}-{hi:g}" if hi else f"{lo:g}+": dict(zip(SIZE_OUTCOMES, row.tolist()))
                                     for lo, hi, row in zip(SIZES, SIZES[1:] + (None,), self.by_size)}}


def _pairs(truth: list[dict], found: list[dict], kind: str) -> list[tuple[float, int, int]]:
    """Candidate (cost, truth index, found index) pairs on the same channel."""
    out = []
    for i, t in enumerate(truth):
        for j, f in enumerate(found):
            if t["channel"] != f["channel"]:
                continue
            inter = min(t["end_s"], f["end_s"]) - max(t["start_s"], f["start_s"])
            if kind == "spasm":
                union = max(t["end_s"], f["end_s"]) - min(t["start_s"], f["start_s"])
                iou = inter / union if union > 0 else 0.0
                if iou >= SPASM_IOU:
                    out.append((-iou, i, j))
            else:
                d = abs(t["start_s"] - f["start_s"])
                if inter >= 0 or (kind == "twitch" and d <= TWITCH_ONSET_S):
                    out.append((d, i, j))
    return sorted(out)


def _match(truth: list[dict], found: list[dict], kind: str) -> list[tuple[int, int]]:
    used_t, used_f, pairs = set(), set(), []
    for _, i, j in _pairs(truth, found, kind):
        if i not in used_t and j not in used_f:
            used_t.add(i)
            used_f.add(j)
            pairs.append((i, j))
    return pairs


def _counted(truth: dict, found: dict, kind: str, min_snr: float):
    """The truth and found events of ``kind``, their one-to-one matches (truth index,
    found index), and which truth events are set aside (twitches under ``min_snr``)."""
    noise = truth.get("noise_rms_uv")
    t = [e for e in truth["events"] if e["kind"] == kind]
    f = [e for e in found["events"] if e["kind"] == kind]
    aside = np.zeros(len(t), bool)
    if kind == "twitch" and noise is not None:
        aside = np.array([e.get("peak_uv", np.inf) < min_snr * noise[e["channel"]] for e in t], bool)
    return t, f, _match(t, f, kind), aside


def score(truth: dict, found: dict, min_snr: float = MIN_TWITCH_SNR) -> Score:
    """Score one recording's events (events-JSON dicts) against its truth."""
    noise = truth.get("noise_rms_uv")
    s = Score()
    for kind in KINDS:
        t, f, pairs, aside = _counted(truth, found, kind, min_snr)
        matched_t = {i for i, _ in pairs}
        matched_f = {j for _, j in pairs}
        c = s.kinds[kind]
        c.tp = sum(1 for i, _ in pairs if not aside[i])
        c.fp = len(f) - len(matched_f)
        c.fn = sum(1 for i in range(len(t)) if i not in matched_t and not aside[i])
        if kind == "twitch":
            s.set_aside = int(aside.sum())
            if noise is not None:
                s.by_size = _by_size(t, aside, matched_t, found["events"], noise)
    arts = [e for e in truth["events"] if e["kind"] == "artifact"]
    twitches = [e for e in found["events"] if e["kind"] == "twitch"]
    s.artifacts = len(arts)
    s.artifacts_called_twitch = sum(
        1 for a in arts if any(f["channel"] == a["channel"] and f["start_s"] < a["end_s"] and f["end_s"] > a["start_s"]
                               for f in twitches))
    return s


MISTAKE_FIELDS = ("recording", "fs_hz", "channel", "kind", "mistake", "start_s", "end_s", "confidence",
                  "size_x_noise", "overlapping")


def mistakes(truth: dict, found: dict, min_snr: float = MIN_TWITCH_SNR,
             kinds: tuple[str, ...] = ("twitch", "spasm")) -> list[dict]:
    """Every event of ``kinds`` that ``score`` counts as a miss (``missed``: in the truth,
    not found) or a false alarm (``false``: found, not in the truth), by onset, with what
    the other side holds over it on its channel (``overlapping``: kind, cause where the
    truth gives one, and span): the rows to look at when a figure disappoints. A missed
    twitch gives its size (peak-to-peak over its channel's noise rms), a false alarm
    its confidence."""
    noise = truth.get("noise_rms_uv")
    out = []
    for kind in kinds:
        t, f, pairs, aside = _counted(truth, found, kind, min_snr)
        matched_t, matched_f = {i for i, _ in pairs}, {j for _, j in pairs}
        rows = [("missed", e, found["events"]) for i, e in enumerate(t) if i not in matched_t and not aside[i]]
        rows += [("false", e, truth["events"]) for j, e in enumerate(f) if j not in matched_f]
        for mistake, e, other in rows:
            size = (e["peak_uv"] / noise[e["channel"]] if mistake == "missed" and kind == "twitch"
                    and noise is not None and "peak_uv" in e else None)
            over = [o for o in other if o["channel"] == e["channel"] and o["start_s"] < e["end_s"]
                    and o["end_s"] > e["start_s"]]
            out.append({"channel": e["channel"], "kind": kind, "mistake": mistake,
                        "start_s": round(e["start_s"], 4), "end_s": round(e["end_s"], 4),
                        "confidence": e.get("confidence") if mistake == "false" else None,
                        "size_x_noise": None if size is None else round(size, 1),
                        "overlapping": "; ".join(_described(o) for o in over)})
    return sorted(out, key=lambda m: (m["start_s"], m["channel"]))


def _described(e: dict) -> str:
    """'kind (cause) start-end': a truth event's cause (or source) where it gives one."""
    cause = e.get("cause") or e.get("source")
    return f"{e['kind']}{f' ({cause})' if cause else ''} {e['start_s']:.2f}-{e['end_s']:.2f}"


def write_mistakes(path, rows: list[dict]) -> None:
    """``rows`` (``mistakes`` with ``recording`` and ``fs_hz``) as CSV, columns ``MISTAKE_FIELDS``."""
    import csv

    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=MISTAKE_FIELDS)
        w.writeheader()
        w.writerows([{k: ("" if r.get(k) is None else r[k]) for k in MISTAKE_FIELDS} for r in rows])


def _by_size(twitches: list[dict], aside: np.ndarray, matched: set[int], found: list[dict],
             noise: list[float]) -> np.ndarray:
    """The truth twitches counted (not ``aside``), by size x outcome: ``matched`` as a
    twitch, else under a found event of another kind (one that a twitch there would
    have been matched to: ``_pairs``), else nothing. A twitch without a size counts as
    the largest, as ``score`` counts it; one under ``SIZES[0]`` (counted only with a
    lower ``min_snr``) is not sized."""
    others = [f for f in found if f["kind"] != "twitch"]
    under = {i for _, i, _ in _pairs(twitches, others, "twitch")}
    out = np.zeros((len(SIZES), len(SIZE_OUTCOMES)), np.int64)
    for i, t in enumerate(twitches):
        size = int(np.searchsorted(SIZES, t.get("peak_uv", np.inf) / noise[t["channel"]], side="right")) - 1
        if aside[i] or size < 0:
            continue
        out[size, 0 if i in matched else 1 if i in under else 2] += 1
    return out


def label_events(found: list[dict], truth_events: list[dict]) -> list[str]:
    """What each found event really was: the kind of the truth event on its channel that
    it overlaps most (or whose onset is within ``TWITCH_ONSET_S``), else ``noise``."""
    labels = []
    for e in found:
        best, best_key = "noise", None
        for t in truth_events:
            if t["channel"] != e["channel"]:
                continue
            inter = min(t["end_s"], e["end_s"]) - max(t["start_s"], e["start_s"])
            if inter <= 0 and abs(t["start_s"] - e["start_s"]) > TWITCH_ONSET_S:
                continue
            key = (max(inter, 0.0), -abs(t["start_s"] - e["start_s"]))
            if best_key is None or key > best_key:
                best, best_key = t["kind"], key
        labels.append(best)
    return labels


CONFUSION_TRUTH = ("twitch", "spasm", "artifact", "noise")
CONFUSION_FOUND = ("twitch", "spasm", "artifact", "missed")


def confusion(truth: dict, found: dict) -> np.ndarray:
    """Counts, rows CONFUSION_TRUTH (``noise``: nothing was there), columns
    CONFUSION_FOUND (``missed``: no event found over a truth event): every found event
    in the row of what it overlaps most, every truth event that none overlaps as missed."""
    m = np.zeros((len(CONFUSION_TRUTH), len(CONFUSION_FOUND)), dtype=np.int64)
    events = found["events"]
    for e, label in zip(events, label_events(events, truth["events"])):
        m[CONFUSION_TRUTH.index(label), CONFUSION_FOUND.index(e["kind"])] += 1
    for t in truth["events"]:
        if not any(e["channel"] == t["channel"] and e["start_s"] < t["end_s"] and e["end_s"] > t["start_s"]
                   for e in events):
            m[CONFUSION_TRUTH.index(t["kind"]), CONFUSION_FOUND.index("missed")] += 1
    return m


@dataclass
class Tally:
    """Scores and confusion matrices pooled per sampling rate (and over all)."""

    by_rate: dict[float, Score] = field(default_factory=dict)
    confusion_by_rate: dict[float, np.ndarray] = field(default_factory=dict)
    recordings: int = 0
    mistakes: list[dict] = field(default_factory=list)  # twitch and spasm misses and false alarms (``mistakes``)

    def add(self, fs: float, truth: dict, found: dict, min_snr: float = MIN_TWITCH_SNR, name: str = "") -> None:
        """One recording's events (named ``name`` in ``mistakes``) against its truth."""
        fs = float(fs)
        self.by_rate.setdefault(fs, Score()).add(score(truth, found, min_snr))
        m = confusion(truth, found)
        self.confusion_by_rate[fs] = self.confusion_by_rate.get(fs, 0) + m
        self.mistakes += [dict(row, recording=name, fs_hz=fs) for row in mistakes(truth, found, min_snr)]
        self.recordings += 1

    @property
    def overall(self) -> Score:
        total = Score()
        for s in self.by_rate.values():
            total.add(s)
        return total

    @property
    def confusion(self) -> np.ndarray:
        return sum(self.confusion_by_rate.values(), np.zeros((len(CONFUSION_TRUTH), len(CONFUSION_FOUND)), np.int64))

    def as_dict(self) -> dict:
        return {"recordings": self.recordings, "overall": self.overall.as_dict(),
                "by_rate": {f"{fs:g}": s.as_dict() for fs, s in sorted(self.by_rate.items())},
                "confusion": {"rows_truth": list(CONFUSION_TRUTH), "columns_found": list(CONFUSION_FOUND),
                              "all": self.confusion.tolist(),
                              "by_rate": {f"{fs:g}": m.tolist() for fs, m in sorted(self.confusion_by_rate.items())}}}


def plot_confusion(matrix: np.ndarray, path, title: str = "twitchwatch: what was there vs what was reported") -> None:
    """A confusion-matrix heat map (rows: truth, columns: reported), counts in the cells."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = np.asarray(matrix, dtype=float)
    share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6.0, 4.8), dpi=120)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(CONFUSION_FOUND)),
                  ["not\nreported" if k == "missed" else f"reported\n{k}" for k in CONFUSION_FOUND])
    ax.set_yticks(range(len(CONFUSION_TRUTH)),
                  ["nothing there" if k == "noise" else f"truth: {k}" for k in CONFUSION_TRUTH])
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, f"{int(m[i, j])}", ha="center", va="center",
                    color="white" if share[i, j] > 0.6 else "black", fontsize=10)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
