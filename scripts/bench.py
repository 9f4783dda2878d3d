#!/usr/bin/env python
"""Benchmark: twitchwatch's throughput and peak memory on one core, side by side with
NeuroKit2 and BioSPPy in the same run; also the 24-hour memory run and stream-mode compute.

Every measured child is pinned to the same core with BLAS/OpenMP threads at 1, and its peak
RSS is its own (``ru_maxrss`` from ``os.wait4`` on its pid, not the max over all children).

Default run (one command, one table set):

1. End-to-end. A 1-hour, 8-channel, 1000 Hz BDF+ recording (simulated in 10-minute segments
   with consecutive seeds, appended with ``formats.EdfWriter`` so setup memory stays flat;
   cached in ``--out``, default ``<tmp>/twitchwatch-bench``) is analysed ``--repeats`` times by
   ``python -m twitchwatch.cli analyze FILE --json OUT --quiet --db BENCH.sqlite``: median wall
   time, channel-samples per second, the child's peak RSS. Beside it, measured in this process
   on the same core: interpreter start-up (a child that only imports what ``analyze`` imports),
   and an in-process end-to-end (``open_recording`` + the signal checks +
   ``pipeline.analyze`` + events JSON, model already loaded, no interpreter start-up) split
   into its parts.
2. Side by side (``--compare`` alone; skipped with ``--no-compare``). The same simulated
   recordings (``--compare-seeds`` seeds from 1000, ``--compare-minutes`` each, 8 channels, at
   1000 Hz and 250 Hz; BDF+ with a truth file, cached) go to each tool of
   ``scripts/compare_tools.py`` (twitchwatch, neurokit2, neurokit2-process, biosppy), each
   tool at each rate in its own pinned child. The child times reading (``open_recording``, the
   same reader for every tool; the others take whole arrays, so a lazily opened file is read
   whole inside the timed read, while twitchwatch reads it in blocks as it analyses) plus the
   tool's processing (``compare_tools.run_tool``), after one untimed warm-up on the first 2 s
   (imports, model, caches); it repeats the whole set up to ``--repeats`` times while under
   ``--budget`` seconds (NeuroKit2 gets one pass), and the median pass gives the throughput. Ratio = twitchwatch's throughput / the tool's, both from
   this run. Events are scored here with ``compare_tools.score_events``, F1 pooled over the
   seeds. NeuroKit2 and BioSPPy run with their default 100 Hz high-pass at both rates (at
   250 Hz it keeps 100-125 Hz; below 200 Hz compare_tools falls back to a band-pass).

Targets (issue 6): end-to-end >= 20 M channel-samples/s on one core, and >= 500 x
NeuroKit2's throughput (1000 Hz, same run) at a higher F1 (F1 not lower on twitch or spasm,
higher on one); 24 h x 16 ch x 250 Hz analysed in < 500 MiB peak (``--memory``); stream
compute per 40 ms chunk of 16 ch at 1000 Hz < 1 ms median (``--latency``). The NeuroKit2 bar
is judged, per NeuroKit2 variant, with the 1-hour end-to-end throughput over NeuroKit2's
(the issue's wording; interpreter start-up included); the like-for-like ratio on the
same recordings is shown beside it (and decides under ``--compare``).

    PYTHONPATH=src .venv/bin/python scripts/bench.py              # end-to-end + side by side
    PYTHONPATH=src .venv/bin/python scripts/bench.py --quick      # 5 min end-to-end, tiny comparison
    PYTHONPATH=src .venv/bin/python scripts/bench.py --compare    # the side-by-side table only
    PYTHONPATH=src .venv/bin/python scripts/bench.py --memory     # 24 h x 16 ch x 250 Hz, peak RSS
    PYTHONPATH=src .venv/bin/python scripts/bench.py --latency 30 # stream mode

The comparison needs the ``bench`` extra (``pip install -e '.[bench]'``). Exit status 0 when
the benchmark ran (targets met or not; see ``--strict``), 2 on a failed run or bad options.
"""
from __future__ import annotations

import os

# one core: set before numpy/scipy are imported (here and, through the env, in the children)
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
for _v in THREAD_VARS:
    os.environ[_v] = "1"

import argparse  # noqa: E402
import contextlib  # noqa: E402
import gc  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import shlex  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
SCRIPTS = REPO / "scripts"
for _p in (SRC, SCRIPTS):  # works without install; compare_tools sits beside this file
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import numpy as np  # noqa: E402
import scipy  # noqa: E402

TARGET_RATE = 20e6  # channel-samples per second, one core, end-to-end
TARGET_VS_NEUROKIT = 500.0  # x NeuroKit2's throughput at 1000 Hz, same run, at a higher F1
TARGET_MEM_MIB = 1024.0  # peak RSS of the 1-hour run below 1 GiB
TARGET_MEM_24H_MIB = 500.0  # peak RSS of the 24-hour, 16-channel, 250 Hz run
TARGET_CHUNK_MS = 1.0  # stream compute per 40 ms chunk of 16 channels at 1000 Hz, median
SEGMENT_MIN = 10.0  # minutes simulated per piece
CACHE_VERSION = 1  # bump when the way the files are made changes
COMPARE_SEED0 = 1000  # compare_tools' first seed
WARMUP_S = 2.0  # untimed warm-up run per child (imports, model, caches)
TABLE_TITLE = "twitchwatch analyze benchmark"
COMPARE_TITLE = "side by side, same recordings, same run, one core"


# ---------------------------------------------------------------- options

def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="twitchwatch's throughput and peak memory on one core, side by side "
                                            "with NeuroKit2 and BioSPPy in the same run.")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--compare", action="store_true", help="only the side-by-side comparison")
    mode.add_argument("--no-compare", action="store_true", help="only the end-to-end run (no bench extra needed)")
    mode.add_argument("--memory", action="store_true",
                      help="instead: analyze a 24 h, 16-channel, 250 Hz recording; wall time and peak RSS")
    mode.add_argument("--latency", type=float, default=None, metavar="S",
                      help="instead: stream S seconds of synthetic EMG (1000 Hz, 8 ch, 40 ms chunks) through the live "
                           "path in real time and report episode latency, then compute per 40 ms chunk of 16 ch")
    p.add_argument("--minutes", type=float, default=None,
                   help="recording length (default 60; 5 with --quick; 1440 with --memory)")
    p.add_argument("--channels", type=int, default=None, help="EMG channels (default 8; 16 with --memory)")
    p.add_argument("--fs", type=float, default=None, help="sampling rate in Hz (default 1000; 250 with --memory)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first segment (default 0)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs; medians are reported (default 3)")
    p.add_argument("--compare-minutes", type=float, default=None,
                   help="length of each side-by-side recording (default 2; 0.25 with --quick)")
    p.add_argument("--compare-seeds", type=int, default=None,
                   help=f"side-by-side recordings per rate, seeds from {COMPARE_SEED0} (default 3; 1 with --quick)")
    p.add_argument("--compare-channels", type=int, default=8, help="channels of those recordings (default 8)")
    p.add_argument("--compare-rates", type=float, nargs="+", default=[1000.0, 250.0],
                   help="their sampling rates in Hz (default 1000 250)")
    p.add_argument("--compare-tools", nargs="+", default=None, metavar="TOOL",
                   help="tools of compare_tools.py (default: all; twitchwatch is always run)")
    p.add_argument("--budget", type=float, default=15.0,
                   help="side by side: no further repeat once a tool's passes took this many seconds (default 15)")
    p.add_argument("--out", default=None,
                   help="cache folder for the recordings and outputs (default <tmp>/twitchwatch-bench)")
    p.add_argument("--quick", action="store_true", help="a 5-minute recording and a tiny comparison (smoke runs)")
    p.add_argument("--cpu", type=int, default=None,
                   help="core to pin to (default: the first core this process may use)")
    p.add_argument("--no-inprocess", action="store_true", help="skip the in-process end-to-end and its split")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the results as JSON")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    # internal: one tool's timed child of the side-by-side run
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--child-result", default=None, help=argparse.SUPPRESS)
    p.add_argument("--child-files", nargs="+", default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.minutes is None:
        a.minutes = 1440.0 if a.memory else (5.0 if a.quick else 60.0)
    if a.channels is None:
        a.channels = 16 if a.memory else 8
    if a.fs is None:
        a.fs = 250.0 if a.memory else 1000.0
    if a.compare_minutes is None:
        a.compare_minutes = 0.25 if a.quick else 2.0
    if a.compare_seeds is None:
        a.compare_seeds = 1 if a.quick else 3
    if min(a.minutes, a.channels, a.fs, a.repeats, a.compare_minutes, a.compare_seeds, a.compare_channels,
           *a.compare_rates) <= 0 or a.budget < 0:
        p.error("--minutes, --channels, --fs, --repeats and the --compare-* numbers must be positive")
    if a.latency is not None and a.latency <= 0:
        p.error("--latency: give a positive number of seconds")
    if a.compare_tools:
        import compare_tools as ct

        unknown = sorted(set(a.compare_tools) - set(ct.TOOLS))
        if unknown:
            p.error(f"--compare-tools {' '.join(unknown)}: not a tool of compare_tools.py ({', '.join(ct.TOOLS)})")
    return a


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- setup (not timed)

def cache_path(folder: Path, a: argparse.Namespace) -> Path:
    return folder / f"bench-{a.minutes:g}min-{a.channels}ch-{a.fs:g}Hz-seed{a.seed}.bdf"


def make_recording(path: Path, a: argparse.Namespace) -> tuple[float, bool]:
    """Write (or reuse) the cached recording; returns (seconds taken, reused)."""
    from twitchwatch.formats import EdfWriter
    from twitchwatch.synth import SynthConfig, simulate

    params = {"minutes": a.minutes, "channels": a.channels, "fs": a.fs, "seed": a.seed,
              "segment_min": SEGMENT_MIN, "version": CACHE_VERSION}
    meta = path.with_suffix(".params.json")
    if path.is_file() and meta.is_file():
        try:
            if json.loads(meta.read_text()) == params:
                return 0.0, True
        except (OSError, ValueError):
            pass
    t0 = time.perf_counter()
    total = int(round(a.minutes * 60.0 * a.fs))
    n_seg = max(1, int(np.ceil(a.minutes / SEGMENT_MIN)))
    tmp = path.with_name(path.stem + ".partial.bdf")
    done = 0
    with _progress(total, f"simulating {a.minutes:g} min x {a.channels} ch @ {a.fs:g} Hz") as advance:
        with EdfWriter(tmp, a.fs, [f"EMG{i + 1}" for i in range(a.channels)], bdf=True) as w:
            for k in range(n_seg):
                minutes = min(SEGMENT_MIN, a.minutes - k * SEGMENT_MIN)
                rec, _ = simulate(SynthConfig(minutes=minutes, fs=a.fs, seed=a.seed + k, n_channels=a.channels))
                block = rec.data[:, :total - done]
                w.append(block)
                done += block.shape[1]
                advance(block.shape[1])
                del rec, block
    os.replace(tmp, path)
    meta.write_text(json.dumps(params))
    return time.perf_counter() - t0, False


def make_compare_set(folder: Path, fs: float, a: argparse.Namespace) -> list[tuple[Path, Path]]:
    """The side-by-side recordings at ``fs`` (BDF+ and truth JSON, cached): [(bdf, truth)]."""
    from twitchwatch.formats import write_recording
    from twitchwatch.report_json import write_json
    from twitchwatch.synth import SynthConfig, simulate

    out = []
    for seed in range(COMPARE_SEED0, COMPARE_SEED0 + a.compare_seeds):
        stem = f"compare-{a.compare_minutes:g}min-{a.compare_channels}ch-{fs:g}Hz-seed{seed}-v{CACHE_VERSION}"
        bdf, truth = folder / f"{stem}.bdf", folder / f"{stem}.truth.json"
        if not (bdf.is_file() and truth.is_file()):
            rec, tr = simulate(SynthConfig(minutes=a.compare_minutes, fs=fs, seed=seed, n_channels=a.compare_channels))
            tmp = folder / f"{stem}.partial.bdf"
            write_recording(tmp, rec, [])  # no annotations: nothing of the truth in the file
            os.replace(tmp, bdf)
            write_json(truth, tr)  # written last: its presence marks a complete pair
        out.append((bdf, truth))
    return out


class _progress:
    """A rich progress bar on a terminal, otherwise a plain line every 5 s (to stderr)."""

    def __init__(self, total: int, what: str):
        self.total, self.what, self.done, self.bar = total, what, 0, None

    def __enter__(self):
        from rich.console import Console
        con = Console(stderr=True)
        if con.is_terminal:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
            self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                                TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(), console=con)
            self.bar.__enter__()
            self.task = self.bar.add_task(self.what, total=self.total)
        else:
            say(f"setup: {self.what} ...")
        self.t0 = self.last = time.perf_counter()
        return self.advance

    def advance(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.advance(self.task, n)
            return
        now = time.perf_counter()
        if now - self.last >= 5.0 or self.done >= self.total:
            self.last = now
            say(f"setup: {self.done / self.total:6.1%} written ({now - self.t0:.0f} s)")

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)


# ---------------------------------------------------------------- measuring

def pin_core(cpu: int | None) -> int:
    allowed = sorted(os.sched_getaffinity(0))
    core = allowed[0] if cpu is None else cpu
    if core not in allowed:
        say(f"bench: --cpu {cpu}: not one of the allowed cores {allowed}")
        raise SystemExit(2)
    return core


@contextlib.contextmanager
def pinned(core: int):
    """This process on ``core`` only, for the block."""
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core})
    try:
        yield
    finally:
        os.sched_setaffinity(0, old)


def child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    for v in THREAD_VARS:
        env[v] = "1"
    return env


def run_child(cmd: list[str], core: int, log: Path) -> tuple[float, float, int, float]:
    """Run ``cmd`` pinned to ``core``; (wall seconds, peak RSS MiB, exit code, CPU seconds) of that child."""
    with open(log, "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=child_env(), cwd=REPO, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, preexec_fn=lambda: os.sched_setaffinity(0, {core}))
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage
        wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code  # reaped here; tell Popen
    return wall, usage.ru_maxrss / 1024.0, code, usage.ru_utime + usage.ru_stime  # ru_maxrss is KiB on Linux


def child_failed(what: str, code: int, log: Path) -> int:
    say(f"bench: {what} failed (exit {code}); see {log}:\n{log.read_text(errors='replace')[-2000:]}")
    return 2


def self_peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


STARTUP_IMPORTS = ("import twitchwatch.cli, twitchwatch.formats, twitchwatch.pipeline, twitchwatch.report_json, "
                   "rich.console, rich.markup, rich.progress, rich.table")


def _head(rec, seconds: float):
    """The first ``seconds`` of ``rec`` as a Recording of its own (for warm-up runs)."""
    from twitchwatch.types import Recording

    n = max(1, min(rec.n_samples, int(round(seconds * rec.fs))))
    return Recording(np.ascontiguousarray(rec.read(0, n)), rec.fs, tuple(rec.channels), source=rec.source)


def in_process(path: Path, repeats: int, core: int, scratch: Path) -> dict:
    """Median seconds of open_recording, pipeline.analyze with the signal checks gathered on
    the way (as the CLI runs it), the warnings, and the events-JSON writing, in this process
    on ``core``, after an untimed warm-up (model loaded)."""
    from twitchwatch.formats import open_recording
    from twitchwatch.pipeline import analyze
    from twitchwatch.quality import SignalStats, signal_warnings
    from twitchwatch.report_json import events_doc, write_json

    runs: dict[str, list[float]] = {"read_s": [], "checks_s": [], "pipeline_s": [], "json_s": []}
    events = 0
    with pinned(core):
        rec = open_recording(path)
        analyze(_head(rec, WARMUP_S), mains_hz="auto")  # loads the model: not part of the per-file cost
        del rec
        for _ in range(repeats):
            gc.collect()
            t0 = time.perf_counter()
            rec = open_recording(path)
            t1 = time.perf_counter()
            stats = SignalStats(rec.n_channels)
            episodes = analyze(rec, mains_hz="auto", tap=stats.add)
            t2 = time.perf_counter()
            signal_warnings(stats, rec.channels, str(path))
            t3 = time.perf_counter()
            write_json(scratch, events_doc(rec, episodes))
            t4 = time.perf_counter()
            for key, dt in zip(runs, (t1 - t0, t3 - t2, t2 - t1, t4 - t3)):
                runs[key].append(dt)
            events = len(episodes)
            del rec, episodes
    out: dict = {k: statistics.median(v) for k, v in runs.items()}
    out["total_s"] = statistics.median(map(sum, zip(*runs.values())))
    out.update(runs=runs, events=events)
    return out


def tool_child(a: argparse.Namespace) -> int:
    """The timed child of the side-by-side run: one tool over ``--child-files``; writes, per
    pass and file, (read s, process s, CPU s of both), and the events of the last pass as JSON."""
    from twitchwatch.formats import open_recording

    import compare_tools as ct  # this script's sibling (scripts/ is on sys.path)
    files = a.child_files
    ct.run_tool(a.child, _head(open_recording(files[0]), WARMUP_S))  # imports, model, caches: untimed
    passes: list[list[tuple[float, float, float]]] = []  # per pass, per file: read s, process s, CPU s
    found: dict[str, dict] = {}
    spent = 0.0
    while len(passes) < a.repeats and (not passes or spent < a.budget):
        t_pass = time.perf_counter()
        times = []
        for f in files:
            gc.collect()
            t0, c0 = time.perf_counter(), time.process_time()
            rec = open_recording(f)
            if a.child != "twitchwatch":
                rec.data  # noqa: B018  the others take whole arrays: a lazy file is read here, timed
            read_s, read_cpu = time.perf_counter() - t0, time.process_time() - c0
            events, proc_s, proc_cpu = ct.run_tool(a.child, rec)
            times.append((read_s, proc_s, read_cpu + proc_cpu))
            found[f] = ct.found_doc(rec, events)
            del rec
        passes.append(times)
        spent += time.perf_counter() - t_pass
    Path(a.child_result).write_text(json.dumps({"tool": a.child, "passes": passes, "found": found}))
    return 0


def compare(a: argparse.Namespace, folder: Path, core: int) -> dict | None:
    """The side-by-side table: each tool at each rate in its own pinned child; None if a child failed."""
    from twitchwatch.evaluate import Score

    import compare_tools as ct  # this script's sibling (scripts/ is on sys.path)
    tools = ["twitchwatch"] + [t for t in (a.compare_tools or ct.TOOLS) if t != "twitchwatch"]
    rows = []
    for fs in a.compare_rates:
        t0 = time.perf_counter()
        pairs = make_compare_set(folder, fs, a)
        say(f"side by side: {len(pairs)} recordings of {a.compare_minutes:g} min x {a.compare_channels} ch "
            f"at {fs:g} Hz ready ({time.perf_counter() - t0:.1f} s)")
        truths = {str(b): json.loads(t.read_text()) for b, t in pairs}
        for tool in tools:
            result = folder / f"compare-{tool}-{fs:g}Hz.result.json"
            log = folder / f"compare-{tool}-{fs:g}Hz.child.log"
            result.unlink(missing_ok=True)
            cmd = [sys.executable, str(Path(__file__).resolve()), "--child", tool, "--child-result", str(result),
                   "--repeats", str(a.repeats), "--budget", str(a.budget), "--child-files", *truths]
            wall, peak, code, _ = run_child(cmd, core, log)
            if code != 0:
                child_failed(f"the {tool} child at {fs:g} Hz", code, log)
                return None
            doc = json.loads(result.read_text())
            pooled = Score()
            for f, found in doc["found"].items():
                pooled.add(ct.score_events(truths[f], found)[1])
            cs = sum(round(d["duration_s"] * d["fs"]) * len(d["channels"]) for d in doc["found"].values())
            totals = [sum(r + p for r, p, _ in times) for times in doc["passes"]]
            median = statistics.median(totals)
            cpu = statistics.median(sum(c for _, _, c in times) for times in doc["passes"])
            rows.append({
                "tool": tool, "fs": fs, "band": ct.band_label(tool, fs), "recordings": len(pairs),
                "minutes": a.compare_minutes, "channels": a.compare_channels, "channel_samples": cs,
                "passes": len(totals), "seconds": median, "passes_s": totals,
                "read_s": statistics.median(sum(r for r, _, _ in t) for t in doc["passes"]),
                "rate": cs / median, "cpu_s": cpu, "cpu_rate": cs / cpu, "peak_mib": peak, "child_wall_s": wall,
                "twitch_f1": pooled.kinds["twitch"].f1, "spasm_f1": pooled.kinds["spasm"].f1,
                "artifact_as_twitch": pooled.artifact_as_twitch_rate,
                "n_events": sum(len(d["events"]) for d in doc["found"].values()), "score": pooled.as_dict()})
            r = rows[-1]
            say(f"  {tool:18s} {fs:6g} Hz: {r['rate'] / 1e6:8.3f} M ch-samples/s ({r['passes']} pass(es)), "
                f"peak {peak:.0f} MiB, twitch F1 {r['twitch_f1']:.3f}, spasm F1 {r['spasm_f1']:.3f}")
    for r in rows:
        tw = next(x for x in rows if x["tool"] == "twitchwatch" and x["fs"] == r["fs"])
        r["twitchwatch_over_tool"] = tw["rate"] / r["rate"]
        r["twitchwatch_over_tool_cpu"] = tw["cpu_rate"] / r["cpu_rate"]
    return {"rows": rows, "tools": tools, "rates": a.compare_rates, "seeds": a.compare_seeds,
            "kind_rule": ct.KIND_RULE,
            "timed": "open_recording + the tool's processing per recording, summed over the recordings; "
                     "median over passes; untimed warm-up first; the CPU-time figures (the child's "
                     "process_time over the same steps) are steadier on a busy machine"}


def neurokit_checks(result: dict) -> list[dict]:
    """The '>= 500 x NeuroKit2 at a higher F1' bar, per NeuroKit2 variant at 1000 Hz: on the same
    recordings (like for like) and with the 1-hour end-to-end rate (when measured)."""
    rows = result["compare"]["rows"]
    out = []
    for nk in (r for r in rows if r["tool"].startswith("neurokit2") and r["fs"] == 1000.0):
        tw = next(r for r in rows if r["tool"] == "twitchwatch" and r["fs"] == nk["fs"])
        pairs = [(tw[k], nk[k]) for k in ("twitch_f1", "spasm_f1")]
        better = all(t >= n for t, n in pairs) and any(t > n for t, n in pairs)  # not lower on either, higher on one
        check = {"tool": nk["tool"], "f1_higher": better, "same_recordings_ratio": tw["rate"] / nk["rate"],
                 "same_recordings_cpu_ratio": tw["cpu_rate"] / nk["cpu_rate"]}
        check["same_recordings_ok"] = better and check["same_recordings_ratio"] >= TARGET_VS_NEUROKIT
        if "rate" in result:
            check["e2e_ratio"] = result["rate"] / nk["rate"]
            check["e2e_ok"] = better and check["e2e_ratio"] >= TARGET_VS_NEUROKIT
        out.append(check)
    return out


def machine() -> dict:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from importlib import metadata

    out = {"nproc": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)), "cpu": model,
           "python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
           "platform": platform.platform()}
    for pkg in ("neurokit2", "biosppy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


# ---------------------------------------------------------------- report

def ok(b: bool) -> str:
    return "PASS" if b else "FAIL"


def rows_of(r: dict) -> list[tuple[str, str, str]]:
    """(measure, value, target/verdict) rows of the end-to-end table."""
    rec = r["recording"]
    share = lambda s: f"{s / r['e2e_s']:.0%} of end-to-end"  # noqa: E731
    rows = [
        ("recording", f"{rec['minutes']:g} min, {rec['channels']} ch, {rec['fs']:g} Hz, "
                      f"BDF+ {rec['file_mib']:.1f} MiB", ""),
        ("channel-samples", f"{rec['channel_samples'] / 1e6:.1f} M", ""),
        (f"end-to-end (the command), median of {r['repeats']}", f"{r['e2e_s']:.2f} s",
         f"interpreter start-up included; the child's CPU time {r['e2e_cpu_s']:.2f} s"),
        ("throughput", f"{r['rate'] / 1e6:.2f} M channel-samples/s",
         f">= {TARGET_RATE / 1e6:g} M/s on one core: {ok(r['rate'] >= TARGET_RATE)}"),
        ("peak RSS (child)", f"{r['peak_mib']:.0f} MiB", f"< 1 GiB: {ok(r['peak_mib'] < TARGET_MEM_MIB)}"),
        ("start-up (interpreter + imports)", f"{r['startup_s']:.2f} s", share(r["startup_s"])),
    ]
    ip = r.get("inprocess")
    if ip:
        cs = rec["channel_samples"]
        rows += [
            ("in-process end-to-end (no interpreter start-up)", f"{ip['total_s']:.2f} s, "
             f"{cs / ip['total_s'] / 1e6:.2f} M channel-samples/s",
             "open_recording + signal checks + analyze + events JSON, model loaded beforehand; median"),
            ("read (open_recording)", f"{ip['read_s']:.2f} s",
             f"{share(ip['read_s'])}; a lazily opened file is read block by block inside analyze"),
            ("pipeline (analyze)", f"{ip['pipeline_s']:.2f} s",
             f"{share(ip['pipeline_s'])}; {cs / ip['pipeline_s'] / 1e6:.2f} M ch-samples/s alone; reads the "
             "samples and gathers the signal checks' figures on the way"),
        ]
        known = r["startup_s"] + ip["read_s"] + ip["pipeline_s"] + ip["json_s"]
        rows.append(("signal-check warnings from those figures", f"{ip['checks_s']:.2f} s", share(ip["checks_s"])))
        known += ip["checks_s"]
        rows += [("events JSON writing", f"{ip['json_s']:.2f} s", share(ip["json_s"])),
                 ("rest: loading the model, the episode log, exit", f"{r['e2e_s'] - known:.2f} s",
                  "end-to-end minus the parts above")]
    return rows + [("events found", str(r["events"]), "")] + vs_rows(r)


def vs_rows(r: dict) -> list[tuple[str, str, str]]:
    """The '>= 500 x NeuroKit2 at a higher F1' rows (measure, value, verdict)."""
    rows = []
    for c in r.get("vs_neurokit", []):
        f1 = "at a higher F1" if c["f1_higher"] else "F1 NOT higher"
        if "e2e_ratio" in c:
            rows.append((f"end-to-end throughput / {c['tool']}'s (1000 Hz)", f"{c['e2e_ratio']:.0f} x",
                         f">= {TARGET_VS_NEUROKIT:g} x, {f1}: {ok(c['e2e_ok'])}"))
        rows.append((f"twitchwatch / {c['tool']}, same recordings (1000 Hz)",
                     f"{c['same_recordings_ratio']:.0f} x (on CPU time {c['same_recordings_cpu_ratio']:.0f} x)",
                     f">= {TARGET_VS_NEUROKIT:g} x, {f1}: {ok(c['same_recordings_ok'])}"))
    return rows


COMPARE_HEADER = ("tool", "rate", "band", "M ch-samples/s", "twitchwatch / tool", "read + process",
                  "passes", "peak RSS (child)", "twitch F1", "spasm F1", "M ch-samples/CPU-s", "ratio on CPU time")


def compare_rows(c: dict) -> list[tuple[str, ...]]:
    return [(r["tool"], f"{r['fs']:g} Hz", r["band"], f"{r['rate'] / 1e6:.3f}", f"{r['twitchwatch_over_tool']:.1f}",
             f"{r['seconds']:.2f} s", str(r["passes"]), f"{r['peak_mib']:.0f} MiB", f"{r['twitch_f1']:.3f}",
             f"{r['spasm_f1']:.3f}", f"{r['cpu_rate'] / 1e6:.3f}", f"{r['twitchwatch_over_tool_cpu']:.1f}")
            for r in c["rows"]]


def markdown(header, rows) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(out)


def show(title: str, header, rows) -> None:
    """A rich table (rows with PASS green, FAIL red)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for col in header:
        table.add_column(col)
    for row in rows:
        style = "red" if "FAIL" in row[-1] else ("green" if "PASS" in row[-1] else None)
        table.add_row(*row, style=style)
    Console(highlight=False, soft_wrap=True).print(table)


def report(result: dict, a: argparse.Namespace) -> None:
    m = result["machine"]
    tables = []
    if "e2e_s" in result:
        tables.append((TABLE_TITLE, ("measure", "value", "target / note"), rows_of(result)))
    elif result.get("vs_neurokit"):
        tables.append(("against NeuroKit2", ("measure", "value", "target / note"), vs_rows(result)))
    if result.get("compare"):
        c = result["compare"]
        tables.append((COMPARE_TITLE, COMPARE_HEADER, compare_rows(c)))
    for title, header, rows in tables:
        show(title, header, rows)
    print()
    print(f"command: {result['command']}")
    if "child_command" in result:
        print(f"child (each repeat): {result['child_command']}")
    print(f"machine: nproc {m['nproc']} ({m['affinity']} usable), CPU {m['cpu']}, pinned to core {result['core']}; "
          f"Python {m['python']}, numpy {m['numpy']}, scipy {m['scipy']}, neurokit2 {m['neurokit2']}, "
          f"biosppy {m['biosppy']}")
    if "e2e_s" in result:
        setup = ("reused the cached recording" if result["setup_reused"]
                 else f"{result['setup_s']:.1f} s to simulate and write")
        print(f"setup: {setup} ({result['recording']['path']})")
        print(f"runs: end-to-end {', '.join(f'{w:.2f}' for w in result['e2e_runs_s'])} s; "
              f"peak RSS {', '.join(f'{p:.0f}' for p in result['peak_runs_mib'])} MiB")
    if result.get("compare"):
        c = result["compare"]
        print(f"side by side: {c['seeds']} seed(s) from {COMPARE_SEED0} x {a.compare_minutes:g} min x "
              f"{a.compare_channels} ch per rate, BDF+; timed: {c['timed']}; {c['kind_rule']}")
    print()
    print("markdown:")
    for title, header, rows in tables:
        print()
        print(markdown(header, rows))
    print()
    print(f"_`{result['command']}` on {m['cpu']} (nproc {m['nproc']}, one core pinned), side by side in one run; "
          f"Python {m['python']}, numpy {m['numpy']}, scipy {m['scipy']}, NeuroKit2 {m['neurokit2']}, "
          f"BioSPPy {m['biosppy']}._")


# ---------------------------------------------------------------- modes

def end_to_end(a: argparse.Namespace, folder: Path, core: int) -> dict | None:
    """The 1-hour end-to-end run (the command, start-up, in-process split); None if it failed."""
    path = cache_path(folder, a)
    setup_s, reused = make_recording(path, a)
    say(f"setup: {'reused' if reused else 'wrote'} {path}" + ("" if reused else f" in {setup_s:.1f} s"))

    n_samples = int(round(a.minutes * 60.0 * a.fs))
    out_json = folder / (path.stem + ".events.json")
    # the episode log is written as a user's would be, but to a database of the benchmark's own
    cmd = [sys.executable, "-m", "twitchwatch.cli", "analyze", str(path), "--json", str(out_json), "--quiet",
           "--db", str(folder / "bench-episodes.sqlite")]
    log = folder / (path.stem + ".child.log")

    # start-up: a child that only imports what `analyze` imports (also warms the caches)
    startups = []
    for _ in range(max(1, min(a.repeats, 3))):
        wall, _, code, _ = run_child([sys.executable, "-c", STARTUP_IMPORTS], core, log)
        if code != 0:
            child_failed("the start-up child", code, log)
            return None
        startups.append(wall)

    walls, peaks, cpus = [], [], []
    for i in range(a.repeats):
        out_json.unlink(missing_ok=True)
        wall, peak, code, cpu = run_child(cmd, core, log)
        if code != 0:
            child_failed("analyze", code, log)
            return None
        say(f"run {i + 1}/{a.repeats}: end-to-end {wall:.2f} s (CPU {cpu:.2f} s), peak RSS {peak:.0f} MiB")
        walls.append(wall)
        peaks.append(peak)
        cpus.append(cpu)
    events = len(json.loads(out_json.read_text())["events"])

    ip = None
    if not a.no_inprocess:
        say("in-process: open_recording, checks, pipeline.analyze, events JSON ...")
        ip = in_process(path, a.repeats, core, folder / (path.stem + ".inprocess.json"))
        if ip["events"] != events:
            say(f"warning: in-process analyze found {ip['events']} events, the command {events}")

    e2e = statistics.median(walls)
    return {
        "recording": {"path": str(path), "minutes": a.minutes, "channels": a.channels, "fs": a.fs,
                      "seed": a.seed, "samples": n_samples, "channel_samples": n_samples * a.channels,
                      "file_mib": path.stat().st_size / 2**20},
        "setup_s": setup_s, "setup_reused": reused, "repeats": a.repeats,
        "e2e_s": e2e, "e2e_runs_s": walls, "rate": n_samples * a.channels / e2e,
        "e2e_cpu_s": statistics.median(cpus), "e2e_cpu_runs_s": cpus,
        "peak_mib": max(peaks), "peak_runs_mib": peaks, "startup_s": statistics.median(startups),
        "events": events, "inprocess": ip,
        "child_command": f"taskset -c {core} env PYTHONPATH=src " + " ".join(f"{v}=1" for v in THREAD_VARS)
                         + " " + shlex.join(["python", *cmd[1:]]),
    }


def memory(a: argparse.Namespace, folder: Path, core: int, argv: list[str]) -> int:
    """``--memory``: analyze a long recording (default 24 h x 16 ch x 250 Hz) in a pinned child."""
    path = cache_path(folder, a)
    setup_s, reused = make_recording(path, a)
    say(f"setup: {'reused' if reused else 'wrote'} {path}" + ("" if reused else f" in {setup_s:.1f} s")
        + f"; this process's peak RSS {self_peak_mib():.0f} MiB")
    out_json = folder / (path.stem + ".events.json")
    out_json.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "twitchwatch.cli", "analyze", str(path), "--json", str(out_json), "--quiet",
           "--no-log"]
    log = folder / (path.stem + ".child.log")
    say(f"memory: analyzing {path.name} ...")
    wall, peak, code, cpu = run_child(cmd, core, log)
    if code != 0:
        return child_failed("analyze", code, log)
    cs = int(round(a.minutes * 60.0 * a.fs)) * a.channels
    events = len(json.loads(out_json.read_text())["events"])
    result = {"recording": {"path": str(path), "minutes": a.minutes, "channels": a.channels, "fs": a.fs,
                            "channel_samples": cs, "file_mib": path.stat().st_size / 2**20},
              "wall_s": wall, "cpu_s": cpu, "rate": cs / wall, "peak_mib": peak, "events": events, "core": core,
              "setup_s": setup_s, "setup_reused": reused, "setup_peak_mib": self_peak_mib(),
              "machine": machine(), "command": "PYTHONPATH=src python scripts/bench.py " + shlex.join(argv),
              "child_command": f"taskset -c {core} " + shlex.join(["python", *cmd[1:]])}
    result["targets"] = {"memory_ok": peak < TARGET_MEM_24H_MIB}
    rows = [("recording", f"{a.minutes / 60:g} h, {a.channels} ch, {a.fs:g} Hz, BDF+ "
                          f"{result['recording']['file_mib']:.0f} MiB ({cs / 1e6:.0f} M channel-samples)", ""),
            ("end-to-end (the command)", f"{wall:.1f} s, {result['rate'] / 1e6:.2f} M channel-samples/s",
             f"CPU time {cpu:.1f} s"),
            ("peak RSS (child)", f"{peak:.0f} MiB", f"< {TARGET_MEM_24H_MIB:g} MiB: {ok(result['targets']['memory_ok'])}"),
            ("events found", str(events), ""),
            ("setup: this process's peak RSS", f"{result['setup_peak_mib']:.0f} MiB",
             "reused the cached file" if reused else f"simulated and written in {setup_s:.0f} s")]
    header = ("measure", "value", "target / note")
    show("twitchwatch analyze: peak memory", header, rows)
    print()
    print(f"command: {result['command']}\nchild: {result['child_command']}")
    print()
    print(markdown(header, rows))
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=2))
    return 1 if a.strict and not result["targets"]["memory_ok"] else 0


def stream_waits(fs: float, seeds: range, seconds: float) -> np.ndarray:
    """How long after its last sample each twitch is emitted, in stream time (from the end
    of the twitch to the end of the 40 ms chunk that brings its episode), over 8-channel
    recordings of ``seeds``, run as fast as they go: the wait the algorithm itself makes,
    on more recordings than the real-time run can afford."""
    from twitchwatch.pipeline import Pipeline
    from twitchwatch.synth import SynthConfig, simulate

    waits: list[float] = []
    for seed in seeds:
        rec, _ = simulate(SynthConfig(minutes=seconds / 60.0, fs=fs, n_channels=8, seed=seed, twitch_rate=60.0))
        pipe = Pipeline(rec.fs, rec.channels)
        for chunk in rec.chunks(max(1, int(round(0.04 * fs)))):
            waits += [chunk.stop / fs - e.end_s for e in pipe.process(chunk) if e.kind == "twitch"]
    return np.array(waits)


def latency(a: argparse.Namespace, core: int) -> int:
    """Stream mode: time from a twitch's last sample arriving to its episode, and compute per
    40 ms chunk of 16 channels at 1000 Hz (pinned to ``core``); then the algorithm's own
    wait over more recordings (``stream_waits``)."""
    from twitchwatch.sources.replay import ReplaySource
    from twitchwatch.stream import latency_summary, run_stream
    from twitchwatch.synth import SynthConfig, simulate

    seconds = a.latency
    with pinned(core):
        rec, _ = simulate(SynthConfig(minutes=seconds / 60.0, fs=1000.0, n_channels=8, seed=1, twitch_rate=60.0))
        say(f"latency: streaming {seconds:g} s of 8-channel 1000 Hz synthetic EMG in real time, 40 ms chunks ...")
        live = latency_summary(run_stream(ReplaySource(rec, speed=1.0, chunk_s=0.04)))
        rec16, _ = simulate(SynthConfig(minutes=1.0, fs=1000.0, n_channels=16, seed=2))
        say("latency: 1 min of 16-channel 1000 Hz synthetic EMG as fast as it runs, 40 ms chunks ...")
        comp = latency_summary(run_stream(ReplaySource(rec16, speed=None, chunk_s=0.04)))
        say(f"latency: the stream-time wait over seeds 1-8 x {seconds:g} s x 8 channels at 250 and 1000 Hz ...")
        waits = {fs: stream_waits(fs, range(1, 9), seconds) for fs in (250.0, 1000.0)}
    chunk_ok = comp["compute_median_s"] * 1000 < TARGET_CHUNK_MS
    rows = [("twitches timed", str(live["twitches_timed"]), f"in {seconds:g} s streamed in real time"),
            ("latency median", f"{live['latency_median_s'] * 1000:.0f} ms", "<= 100 ms"),
            ("latency 95th percentile", f"{live['latency_p95_s'] * 1000:.0f} ms", "<= 250 ms"),
            ("compute per 40 ms chunk, 8 ch (median / p95)",
             f"{live['compute_median_s'] * 1000:.2f} / {live['compute_p95_s'] * 1000:.2f} ms", ""),
            ("compute per 40 ms chunk, 16 ch at 1000 Hz (median / p95)",
             f"{comp['compute_median_s'] * 1000:.2f} / {comp['compute_p95_s'] * 1000:.2f} ms",
             f"< {TARGET_CHUNK_MS:g} ms median: {ok(chunk_ok)}")]
    rows += [(f"stream-time wait, seeds 1-8, {fs:g} Hz (median / p95 / max)",
              f"{np.median(w) * 1000:.0f} / {np.percentile(w, 95) * 1000:.0f} / {w.max() * 1000:.0f} ms",
              f"{w.size} twitches; from a twitch's end to the end of the chunk that brings it, "
              "no machine in it") for fs, w in waits.items()]
    header = ("measure", "value", "target / note")
    show("twitchwatch stream mode", header, rows)
    print()
    print(markdown(header, rows))
    if a.json:
        Path(a.json).write_text(json.dumps({"live_8ch": live, "compute_16ch": comp, "core": core,
                                            "stream_waits_s": {f"{fs:g}": w.tolist() for fs, w in waits.items()},
                                            "targets": {"chunk_ok": chunk_ok}, "machine": machine()}, indent=2))
    return 1 if a.strict and not chunk_ok else 0


def main(argv=None) -> int:
    a = parse_args(argv)
    argv = sys.argv[1:] if argv is None else list(argv)
    if a.child:
        return tool_child(a)
    core = pin_core(a.cpu)
    if a.latency:
        return latency(a, core)
    folder = Path(a.out) if a.out else Path(tempfile.gettempdir()) / "twitchwatch-bench"
    folder.mkdir(parents=True, exist_ok=True)
    if a.memory:
        return memory(a, folder, core, argv)
    if not a.no_compare:
        missing = [m for m in ("neurokit2", "biosppy") if importlib.util.find_spec(m) is None]
        if missing:
            say(f"bench: the side-by-side run needs {' and '.join(missing)}: pip install -e '.[bench]' "
                "(or pass --no-compare)")
            return 2

    result: dict = {"core": core, "machine": machine(),
                    "command": "PYTHONPATH=src python scripts/bench.py " + shlex.join(argv)}
    if not a.compare:
        e2e = end_to_end(a, folder, core)
        if e2e is None:
            return 2
        result.update(e2e)
    if not a.no_compare:
        result["compare"] = compare(a, folder, core)
        if result["compare"] is None:
            return 2
        result["vs_neurokit"] = neurokit_checks(result)

    targets = {}
    if "rate" in result:
        targets.update(rate_ok=result["rate"] >= TARGET_RATE, memory_ok=result["peak_mib"] < TARGET_MEM_MIB)
    for c in result.get("vs_neurokit", []):
        targets[f"vs_{c['tool']}_ok"] = c.get("e2e_ok", c["same_recordings_ok"])
    result["targets"] = targets

    report(result, a)
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=2))
    return 1 if a.strict and not all(targets.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
