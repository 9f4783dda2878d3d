"""Burst -> Episode: what kind of event a burst is (twitch, spasm or artifact).

Provisional, transparent rules on the detector's features until the learned model
(models/) replaces them:
- artifact: the burst's low band (3-15 Hz, where motion swings, electrode pops and ECG
  live) stands out more than its EMG band (``lf_ratio`` above ``lf_max``; a sustained
  burst needs ``lf_max_sustained``), or its spectrum sits below ``centroid_min_hz``;
- twitch: shorter than ``twitch_max_s`` (one motor unit's potential, or a doublet), on a
  quiet background (inside sustained activity, a short burst is part of a spasm);
- spasm: at least ``spasm_min_s`` long (a sustained interference pattern);
- in between: a brief contraction, reported as artifact (not involuntary twitching);
- short bursts in a steady 0.33-1.5 s rhythm (``rhythm``) are ECG: artifact.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .types import Burst, Episode


@dataclass
class RuleClassifier:
    """Kinds from a few thresholds; ``confidence`` grows with the distance from them."""

    twitch_max_s: float = 0.12
    spasm_min_s: float = 0.3
    lf_max: float = 0.9
    lf_max_sustained: float = 3.0
    centroid_min_hz: float = 30.0
    background_max: float = 1.5

    def kind(self, f: dict[str, float]) -> tuple[str, float]:
        dur, lf, cent = f["duration_s"], f["lf_ratio"], f["centroid_hz"]
        low_margin = np.log(max(cent, 1e-3) / self.centroid_min_hz)
        if dur >= self.spasm_min_s:
            margin = min(np.log(self.lf_max_sustained / max(lf, 1e-6)), low_margin)
            if margin < 0:
                return "artifact", _sure(-margin)
            return "spasm", _sure(min(np.log(dur / self.spasm_min_s), margin))
        margin = min(np.log(self.lf_max / max(lf, 1e-6)), low_margin)
        if margin < 0:
            return "artifact", _sure(-margin)
        if f.get("rhythm", 0.0) > 0.5:  # a steady rhythm of short bursts: a heartbeat
            return "artifact", 0.9
        if f.get("background", 1.0) >= self.background_max:
            return "spasm", _sure(np.log(f["background"] / self.background_max) * 4)
        if dur < self.twitch_max_s:
            return "twitch", _sure(min(np.log(self.twitch_max_s / max(dur, 1e-4)), margin))
        mid = np.sqrt(self.twitch_max_s * self.spasm_min_s)
        return "artifact", _sure(np.log(self.spasm_min_s / self.twitch_max_s) / 2 - abs(np.log(dur / mid)))

    def classify(self, bursts: list[Burst], channel_names: tuple[str, ...]) -> list[Episode]:
        out = []
        for b in bursts:
            kind, conf = self.kind(b.features)
            out.append(Episode(b.channel, channel_names[b.channel], b.start_s, b.end_s, kind,
                               b.features.get("peak_uv", 0.0), conf, dict(b.features)))
        return out


def _sure(margin: float) -> float:
    """A confidence in [0.5, 1) from a log-margin past a threshold."""
    return float(0.5 + 0.5 * np.tanh(2.0 * max(margin, 0.0)))
