#!/usr/bin/env python
"""Side-by-side accuracy and speed: twitchwatch vs NeuroKit2 and BioSPPy EMG onset detection.

Same inputs for every tool:
- simulated recordings from ``twitchwatch.synth.simulate`` (``--minutes``, 4 channels, seeds
  ``--seeds``, rates ``--rates``), scored with ``twitchwatch.evaluate.score`` against the truth
  (twitch F1, spasm F1, share of truth artifacts that a "twitch" overlaps);
- the real recordings in ``--real`` (default ``../shared/recordings/real``): twitches per
  channel-minute on the rest recordings (they have no twitches: fewer is better), and on the
  contraction recordings the share of detected activity time called spasm vs twitch.

Tools (each gets the raw channel in microvolts, one channel at a time, exactly as stored):
- ``twitchwatch``: ``pipeline.analyze(rec)`` (all channels at once), its own kinds.
- ``neurokit2``: ``nk.emg_clean`` (defaults: 4th-order Butterworth high-pass at 100 Hz) then
  ``nk.emg_activation(emg_cleaned=clean, sampling_rate=fs)`` with its defaults, i.e. the
  "threshold" method applied to the cleaned signal itself (threshold = 0.1 x its std).
- ``neurokit2-process``: the path ``nk.emg_process`` takes with its defaults: ``emg_clean``,
  ``emg_amplitude`` (TKEO + linear envelope), then ``emg_activation(emg_amplitude=amp,
  emg_cleaned=clean)`` with the default "threshold" method on that envelope.
- ``biosppy``: ``biosppy.signals.emg.emg(signal, sampling_rate, show=False)`` (4th-order
  Butterworth high-pass at 100 Hz, then ``find_onsets``: a 50 ms boxzen-smoothed rectified
  signal against 1.2 x mean + 2 x std). ``find_onsets`` returns *both* kinds of threshold
  crossing (the sample before each rise and the sample after each fall, merged and sorted), so
  they are paired into (onset, offset) intervals; the state at the first sample is read from the
  same smoothed signal recomputed with the same call. The other BioSPPy detectors (solnik,
  bonato, lidierth, abbink, silva, londral, hodges_bui) have no defaults for their rest segment,
  threshold or durations (they raise TypeError without them), so they are not used here: any
  values would be our tuning, not the tool's.

Where a tool's default band does not exist at the rate (a 100 Hz high-pass needs fs > 200 Hz;
at 200 Hz scipy raises "critical frequencies must be 0 < Wn < 1"), that tool is run with a
4th-order Butterworth band-pass of 20 Hz .. 0.45 fs instead (NeuroKit2: ``nk.signal_filter`` +
the same mean removal ``emg_clean`` does; BioSPPy: ``tools.filter_signal`` + ``find_onsets``),
and the ``band`` column says so. At 250 Hz the default high-pass exists (it leaves 100-125 Hz)
and is used as is.

Kind rule for the onset detectors (ours, not theirs: these tools only find activity onsets and
offsets): an activation shorter than 0.15 s is a "twitch", anything longer a "spasm"; they never
say "artifact". It is the most generous simple rule we could think of: a twitch is 3-25 ms and a
spasm at least 0.5 s, so the cut sits in the gap between them.

Timing: ``time.perf_counter`` around each tool's per-recording processing only (all channels;
not the simulation, file reading, event conversion or scoring). Throughput is channel-samples
per second over all recordings of a rate; threads are held to 1 (OMP/OPENBLAS/MKL) so every
tool runs on one core. That figure is rough (tools share one process, nothing is pinned):
``scripts/bench.py --compare`` measures throughput and memory side by side, each tool in its
own pinned child, with ``run_tool``, ``found_doc`` and ``score_events`` from here.

    PYTHONPATH=src .venv/bin/python scripts/compare_tools.py --seeds 1000 1001 1002 --json out.json

Needs the ``bench`` extra: ``pip install -e .[bench]`` (neurokit2, biosppy, peakutils).
"""
from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

import numpy as np  # noqa: E402

from twitchwatch.evaluate import Score, score  # noqa: E402
from twitchwatch.synth import SynthConfig, simulate  # noqa: E402
from twitchwatch.types import Recording  # noqa: E402

TWITCH_MAX_S = 0.15  # our kind rule for onset detectors: shorter = twitch, longer = spasm
FALLBACK_LO_HZ = 20.0
FALLBACK_HI_FRAC = 0.45
DEFAULT_HP_HZ = 100.0  # NeuroKit2's and BioSPPy's default EMG high-pass
TOOLS = ("twitchwatch", "neurokit2", "neurokit2-process", "biosppy")
KIND_RULE = (f"onset detectors: activation < {TWITCH_MAX_S} s = twitch, longer = spasm (our rule; "
             "the tools only give onsets/offsets and never say artifact)")

# Real recordings: (file, fs override, channels to keep (indices into the opened recording), role)
REAL_FILES = (
    ("OpenBCI-RAW-S05_S1REST.txt", None, [0, 1], "rest"),
    ("myo-readings_12345-1_0.txt", 200.0, list(range(8)), "rest"),
    ("OpenBCI-RAW-S05_S1R0.txt", None, [0, 1], "contraction"),
    ("OpenBCI_GUI-v6-blinks-jawClench-alpha.txt", None, list(range(8)), "contraction"),
    ("emg.txt", None, [0], "contraction"),
    ("emg_1.txt", None, [0], "contraction"),
    ("myo-readings_12345-1_7.txt", 200.0, list(range(8)), "contraction"),
)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the tools

def default_band_exists(fs: float) -> bool:
    return DEFAULT_HP_HZ < fs / 2.0


def fallback_band(fs: float) -> tuple[float, float]:
    return FALLBACK_LO_HZ, FALLBACK_HI_FRAC * fs


def band_label(tool: str, fs: float) -> str:
    if tool == "twitchwatch":
        return "own"
    if default_band_exists(fs):
        return f"default HP {DEFAULT_HP_HZ:g} Hz"
    lo, hi = fallback_band(fs)
    return f"FALLBACK BP {lo:g}-{hi:g} Hz"


def _intervals_to_events(starts, stops, fs: float, ch: int, name: str, clean: np.ndarray) -> list[dict]:
    out = []
    for a, b in zip(starts, stops):
        a, b = int(a), int(b)
        if b <= a:
            continue
        seg = clean[a:b + 1]
        out.append({"channel": ch, "channel_name": name, "start_s": a / fs, "end_s": b / fs,
                    "kind": "twitch" if (b - a) / fs < TWITCH_MAX_S else "spasm",
                    "peak_uv": float(np.ptp(seg)) if seg.size else 0.0, "confidence": 1.0})
    return out


def _nk_clean(nk, x: np.ndarray, fs: float) -> np.ndarray:
    if default_band_exists(fs):
        return np.asarray(nk.emg_clean(x, sampling_rate=fs), float)
    lo, hi = fallback_band(fs)
    y = nk.signal_filter(x, sampling_rate=fs, lowcut=lo, highcut=hi, method="butterworth", order=4)
    return np.asarray(nk.signal_detrend(y, order=0), float)  # as emg_clean does after its filter


def run_neurokit(nk, x: np.ndarray, fs: float, process_path: bool):
    """(onsets, offsets, clean) of one channel, NeuroKit2 defaults (see module doc)."""
    clean = _nk_clean(nk, x, fs)
    if process_path:
        amp = nk.emg_amplitude(clean)
        _, info = nk.emg_activation(emg_amplitude=amp, emg_cleaned=clean, sampling_rate=fs)
    else:
        _, info = nk.emg_activation(emg_cleaned=clean, sampling_rate=fs)
    on = np.asarray(info["EMG_Onsets"], int)
    off = np.asarray(info["EMG_Offsets"], int)
    n = min(len(on), len(off))
    return on[:n], off[:n], clean


def run_biosppy(bemg, st, x: np.ndarray, fs: float):
    """(onsets, offsets, clean) of one channel: BioSPPy's emg() (see module doc)."""
    if default_band_exists(fs):
        out = bemg.emg(signal=x, sampling_rate=fs, show=False)
        clean, cross = np.asarray(out["filtered"], float), np.asarray(out["onsets"], int)
    else:
        lo, hi = fallback_band(fs)
        clean, _, _ = st.filter_signal(signal=x, ftype="butter", band="bandpass", order=4,
                                       frequency=[lo, hi], sampling_rate=fs)
        (cross,) = bemg.find_onsets(signal=clean, sampling_rate=fs)
        cross = np.asarray(cross, int)
    # find_onsets merges rises and falls; which one comes first depends on the state at sample 0
    mvgav, _ = st.smoother(signal=np.abs(clean), kernel="boxzen", size=int(fs * 0.05), mirror=True)
    thr = 1.2 * np.mean(np.abs(mvgav)) + 2.0 * np.std(np.abs(mvgav), ddof=1)
    cross = list(cross)
    if mvgav[0] > thr:
        cross.insert(0, 0)
    if len(cross) % 2:
        cross.append(len(x) - 1)
    c = np.asarray(cross, int)
    return c[0::2], c[1::2], clean


def run_tool(tool: str, rec: Recording) -> tuple[list[dict], float, float]:
    """Events (events-JSON dicts) of ``rec`` and the tool's processing time: wall and CPU seconds."""
    fs = float(rec.fs)
    if tool == "twitchwatch":
        from twitchwatch.pipeline import analyze

        t0, c0 = time.perf_counter(), time.process_time()
        eps = analyze(rec)
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        return [e.to_event() for e in eps], dt, cpu
    # imports happen here, outside the timed region
    if tool in ("neurokit2", "neurokit2-process"):
        import neurokit2 as nk

        fn: Callable = lambda x: run_neurokit(nk, x, fs, tool == "neurokit2-process")  # noqa: E731
    elif tool == "biosppy":
        from biosppy.signals import emg as bemg
        from biosppy.signals import tools as st

        fn = lambda x: run_biosppy(bemg, st, x, fs)  # noqa: E731
    else:
        raise ValueError(f"unknown tool {tool!r}")
    results, dt, cpu = [], 0.0, 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for ch in range(rec.n_channels):
            x = np.ascontiguousarray(rec.data[ch], dtype=float)
            t0, c0 = time.perf_counter(), time.process_time()
            r = fn(x)
            dt, cpu = dt + time.perf_counter() - t0, cpu + time.process_time() - c0
            results.append(r)
    events = []
    for ch, (on, off, clean) in enumerate(results):
        events += _intervals_to_events(on, off, fs, ch, rec.channels[ch], clean)
    events.sort(key=lambda e: (e["start_s"], e["channel"]))
    return events, dt, cpu


def twitch_hits_any_kind(truth: dict, events: list[dict], min_snr: float = 6.0) -> tuple[int, int]:
    """Truth twitches (those ``score`` does not set aside) that any found event, of any kind, overlaps
    or starts within 50 ms of: a kind-blind detection rate, to tell "not found" from "found, named spasm"."""
    noise = truth.get("noise_rms_uv")
    hit = n = 0
    for t in truth["events"]:
        if t["kind"] != "twitch" or (noise is not None and t.get("peak_uv", np.inf) < min_snr * noise[t["channel"]]):
            continue
        n += 1
        hit += any(f["channel"] == t["channel"] and (min(t["end_s"], f["end_s"]) >= max(t["start_s"], f["start_s"])
                                                      or abs(t["start_s"] - f["start_s"]) <= 0.05) for f in events)
    return hit, n


def evaluate_recording(tool: str, rec: Recording, truth: dict) -> dict:
    """One tool on one simulated recording: scores, timing and the raw score counts.

    Keys: tool, fs, band, error (None or message), twitch_f1, spasm_f1, artifact_as_twitch,
    seconds, channel_samples, channel_samples_per_s, n_events, score (Score.as_dict()).
    """
    row = {"tool": tool, "fs": float(rec.fs), "band": band_label(tool, rec.fs), "error": None,
           "channel_samples": rec.n_channels * rec.n_samples}
    try:
        events, dt, _ = run_tool(tool, rec)
    except Exception as exc:  # a tool failing at a rate is a result, not a crash
        row.update(error=f"{type(exc).__name__}: {exc}", twitch_f1=math.nan, spasm_f1=math.nan,
                   artifact_as_twitch=math.nan, seconds=math.nan, channel_samples_per_s=math.nan,
                   twitch_hits=0, twitches_scored=0, twitch_hit_any_kind=math.nan,
                   n_events=0, score=None)
        return row
    fields, s = score_events(truth, found_doc(rec, events))
    row.update(fields, seconds=dt, channel_samples_per_s=row["channel_samples"] / dt if dt > 0 else math.inf,
               _score=s)
    return row


def found_doc(rec: Recording, events: list[dict]) -> dict:
    """An events-JSON document of ``events`` found in ``rec``, as ``evaluate.score`` takes it."""
    return {"source": rec.source, "fs": rec.fs, "channels": list(rec.channels),
            "duration_s": rec.duration_s, "events": events}


def score_events(truth: dict, found: dict) -> tuple[dict, Score]:
    """One recording's found events (an events-JSON doc) against its truth: the row's score
    fields (twitch_f1, spasm_f1, artifact_as_twitch, twitch hits of any kind, n_events, score)
    and the ``Score`` itself, for pooling."""
    s = score(truth, found)
    hit, n_tw = twitch_hits_any_kind(truth, found["events"])
    return {"twitch_f1": s.kinds["twitch"].f1, "spasm_f1": s.kinds["spasm"].f1, "twitch_hits": hit,
            "twitches_scored": n_tw, "twitch_hit_any_kind": hit / n_tw if n_tw else math.nan,
            "artifact_as_twitch": s.artifact_as_twitch_rate, "n_events": len(found["events"]),
            "score": s.as_dict()}, s


def real_summary(tool: str, rec: Recording, role: str) -> dict:
    """One tool on one real recording: twitches per channel-minute and activity-time shares."""
    row = {"tool": tool, "file": Path(rec.source).name, "role": role, "fs": float(rec.fs),
           "channels": rec.n_channels, "duration_s": rec.duration_s, "band": band_label(tool, rec.fs),
           "error": None}
    try:
        events, dt, _ = run_tool(tool, rec)
    except Exception as exc:
        row.update(error=f"{type(exc).__name__}: {exc}")
        return row
    ch_min = rec.n_channels * rec.duration_s / 60.0
    n = {k: sum(1 for e in events if e["kind"] == k) for k in ("twitch", "spasm", "artifact")}
    t = {k: sum(e["end_s"] - e["start_s"] for e in events if e["kind"] == k) for k in n}
    total = sum(t.values())
    row.update(seconds=dt, n_twitch=n["twitch"], n_spasm=n["spasm"], n_artifact=n["artifact"],
               twitch_per_ch_min=n["twitch"] / ch_min,
               active_s=total,
               active_share_of_recording=total / (rec.n_channels * rec.duration_s),
               spasm_time_share=t["spasm"] / total if total else math.nan,
               twitch_time_share=t["twitch"] / total if total else math.nan,
               artifact_time_share=t["artifact"] / total if total else math.nan)
    return row


# ---------------------------------------------------------------- runs

def run_synthetic(tools, rates, seeds, minutes: float, n_channels: int = 4) -> tuple[list[dict], list[dict]]:
    per_rec, agg = [], []
    for fs in rates:
        acc = {t: {"score": Score(), "seconds": 0.0, "cs": 0, "errors": [], "n": 0, "hit": 0, "nt": 0}
               for t in tools}
        for seed in seeds:
            t0 = time.perf_counter()
            rec, truth = simulate(SynthConfig(minutes=minutes, fs=float(fs), n_channels=n_channels, seed=seed))
            log(f"[sim] fs={fs:g} seed={seed}: {rec.n_channels}x{rec.n_samples} in {time.perf_counter() - t0:.1f} s")
            for tool in tools:
                r = evaluate_recording(tool, rec, truth)
                r["seed"] = seed
                a = acc[tool]
                if r["error"]:
                    a["errors"].append(f"seed {seed}: {r['error']}")
                    log(f"  {tool:18s} FAILED: {r['error']}")
                else:
                    a["score"].add(r.pop("_score"))
                    a["seconds"] += r["seconds"]
                    a["cs"] += r["channel_samples"]
                    a["n"] += 1
                    a["hit"] += r["twitch_hits"]
                    a["nt"] += r["twitches_scored"]
                    log(f"  {tool:18s} twitch F1 {r['twitch_f1']:.3f} spasm F1 {r['spasm_f1']:.3f} "
                        f"art->twitch {r['artifact_as_twitch']:.3f} {r['seconds']:.2f} s")
                per_rec.append(r)
        tw = acc["twitchwatch"]
        tw_rate = tw["cs"] / tw["seconds"] if tw["seconds"] > 0 else math.nan
        for tool in tools:
            a = acc[tool]
            ok = a["n"] > 0
            s = a["score"]
            rate = a["cs"] / a["seconds"] if ok and a["seconds"] > 0 else math.nan
            agg.append({"tool": tool, "fs": float(fs), "band": band_label(tool, fs), "recordings": a["n"],
                        "errors": a["errors"],
                        "twitch_f1": s.kinds["twitch"].f1 if ok else math.nan,
                        "spasm_f1": s.kinds["spasm"].f1 if ok else math.nan,
                        "artifact_as_twitch": s.artifact_as_twitch_rate if ok else math.nan,
                        "twitch_hit_any_kind": a["hit"] / a["nt"] if ok and a["nt"] else math.nan,
                        "found_twitch": s.kinds["twitch"].tp + s.kinds["twitch"].fp,
                        "found_spasm": s.kinds["spasm"].tp + s.kinds["spasm"].fp,
                        "truth_twitch": s.kinds["twitch"].tp + s.kinds["twitch"].fn,
                        "truth_spasm": s.kinds["spasm"].tp + s.kinds["spasm"].fn,
                        "truth_artifacts": s.artifacts,
                        "channel_samples_per_s": rate,
                        "throughput_vs_twitchwatch": rate / tw_rate if ok else math.nan,
                        "score": s.as_dict() if ok else None})
    return per_rec, agg


def run_real(tools, folder: Path) -> list[dict]:
    from twitchwatch.formats import open_recording

    rows = []
    for name, fs, keep, role in REAL_FILES:
        p = folder / name
        if not p.exists():
            log(f"[real] {name}: missing, skipped")
            continue
        rec = open_recording(p, fs=fs)
        rec = Recording(np.ascontiguousarray(rec.data[keep]), rec.fs, tuple(rec.channels[i] for i in keep),
                        source=str(p), meta=rec.meta)
        log(f"[real] {name}: {rec.n_channels} ch x {rec.n_samples} at {rec.fs:g} Hz ({role})")
        for tool in tools:
            r = real_summary(tool, rec, role)
            rows.append(r)
            if r["error"]:
                log(f"  {tool:18s} FAILED: {r['error']}")
            else:
                log(f"  {tool:18s} twitches {r['n_twitch']} spasms {r['n_spasm']} artifacts {r['n_artifact']}")
    return rows


# ---------------------------------------------------------------- output

def _f(x, fmt="{:.3f}") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return fmt.format(x)


def markdown(agg: list[dict], real: list[dict], args) -> str:
    out = ["## Simulated recordings", "",
           f"{len(args.seeds)} seeds ({', '.join(map(str, args.seeds))}) x {args.minutes:g} min x 4 channels per rate; "
           "F1 pooled over the seeds (counts summed, then F1). \"twitches hit, any kind\" = truth twitches "
           "(above the scorer's SNR cut) that any detected event of any kind overlaps or starts within 50 ms of "
           "(kind-blind; not part of the scorer).", f"Kind rule: {KIND_RULE}.", "",
           "| tool | rate (Hz) | band | twitch F1 | spasm F1 | artifacts called twitch % | M ch-samples/s "
           "| throughput / twitchwatch | twitches hit, any kind % | found twitch / spasm | failed |",
           "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in agg:
        failed = "; ".join(r["errors"]) if r["errors"] else ""
        out.append(f"| {r['tool']} | {r['fs']:g} | {r['band']} | {_f(r['twitch_f1'])} | {_f(r['spasm_f1'])} | "
                   f"{_f(100 * r['artifact_as_twitch'] if math.isfinite(r['artifact_as_twitch']) else math.nan, '{:.1f}')} | "
                   f"{_f(r['channel_samples_per_s'] / 1e6, '{:.3f}')} | {_f(r['throughput_vs_twitchwatch'], '{:.3f}')} "
                   f"| {_f(100 * r['twitch_hit_any_kind'] if math.isfinite(r['twitch_hit_any_kind']) else math.nan, '{:.1f}')} "
                   f"| {r['found_twitch']} / {r['found_spasm']} | {failed[:120]} |")
    truth = {r["fs"]: r for r in agg if r["tool"] == "twitchwatch" and r["score"]}
    out += [""] + [f"Truth at {fs:g} Hz (pooled): {r['truth_twitch']} twitches (after the scorer's SNR cut), "
                   f"{r['truth_spasm']} spasms, {r['truth_artifacts']} artifacts." for fs, r in truth.items()]
    if real:
        out += ["", "## Real recordings", "",
                "Rest recordings have no twitches: twitches per channel-minute, fewer is better. "
                "Contraction recordings: share of detected activity time (sum of event durations) called "
                "spasm / twitch / artifact.", "",
                "| file | role | fs | ch | tool | band | twitches | twitches / ch-min | spasms | artifacts "
                "| active % of rec | spasm time % | twitch time % | artifact time % |",
                "|---|---|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in real:
            if r["error"]:
                out.append(f"| {r['file']} | {r['role']} | {r['fs']:g} | {r['channels']} | {r['tool']} | {r['band']} "
                           f"| FAILED: {r['error'][:80]} |||||||||")
                continue
            pct = lambda v: _f(100 * v if math.isfinite(v) else math.nan, "{:.1f}")  # noqa: E731
            out.append(f"| {r['file']} | {r['role']} | {r['fs']:g} | {r['channels']} | {r['tool']} | {r['band']} "
                       f"| {r['n_twitch']} | {r['twitch_per_ch_min']:.2f} | {r['n_spasm']} | {r['n_artifact']} "
                       f"| {pct(r['active_share_of_recording'])} | {pct(r['spasm_time_share'])} "
                       f"| {pct(r['twitch_time_share'])} | {pct(r['artifact_time_share'])} |")
    return "\n".join(out) + "\n"


def versions() -> dict:
    v = {"python": platform.python_version(), "numpy": np.__version__, "machine": platform.machine(),
         "processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
         "loadavg_at_end": os.getloadavg() if hasattr(os, "getloadavg") else None}
    from importlib import metadata

    for pkg in ("neurokit2", "biosppy", "scipy", "pandas"):
        try:
            v[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            v[pkg] = None
    return v


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="twitchwatch vs NeuroKit2 / BioSPPy EMG onset detection, "
                                            "on simulated and real recordings.")
    p.add_argument("--seeds", type=int, nargs="+", default=[1000, 1001, 1002, 1003, 1004])
    p.add_argument("--rates", type=float, nargs="+", default=[200.0, 250.0, 1000.0])
    p.add_argument("--minutes", type=float, default=3.0, help="length of each simulated recording (default 3)")
    p.add_argument("--tools", nargs="+", default=list(TOOLS), choices=TOOLS)
    p.add_argument("--real", type=Path, default=REPO.parent / "shared" / "recordings" / "real",
                   help="folder of the real recordings (default ../shared/recordings/real)")
    p.add_argument("--no-real", action="store_true", help="skip the real recordings")
    p.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    args = p.parse_args(argv)
    if "twitchwatch" not in args.tools:
        args.tools = ["twitchwatch"] + args.tools  # the throughput ratio needs it
    return args


def _clean_json(o):
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {k: _clean_json(v) for k, v in o.items() if not k.startswith("_")}
    if isinstance(o, (list, tuple)):
        return [_clean_json(v) for v in o]
    if isinstance(o, np.generic):
        return o.item()
    return o


def main(argv=None) -> int:
    args = parse_args(argv)
    t0 = time.perf_counter()
    per_rec, agg = run_synthetic(args.tools, args.rates, args.seeds, args.minutes)
    real = [] if args.no_real else run_real(args.tools, args.real)
    md = markdown(agg, real, args)
    sys.stdout.write(md)
    log(f"total {time.perf_counter() - t0:.1f} s")
    if args.json:
        doc = {"command": " ".join(sys.argv), "kind_rule": KIND_RULE, "versions": versions(),
               "minutes": args.minutes, "seeds": args.seeds, "rates": args.rates,
               "synthetic": agg, "synthetic_per_recording": per_rec, "real": real}
        args.json.write_text(json.dumps(_clean_json(doc), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
