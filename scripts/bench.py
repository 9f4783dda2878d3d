#!/usr/bin/env python
"""Benchmark: end-to-end ``twitchwatch analyze`` throughput and peak memory, on one core.

Setup (not timed): a long synthetic recording (default 1 hour, 8 channels, 1000 Hz) is
simulated in 10-minute segments with consecutive seeds and appended to a BDF+ file with
``formats.EdfWriter``, so setup memory stays flat. The file is cached in ``--out`` (by
default ``<tmp>/twitchwatch-bench``) under a name that spells its parameters, and reused
when it is there. (Segments are independent simulations, so each boundary has a step in
DC offset and mains phase: a handful of artifact-like events per hour, harmless here.)

Measured, each repeat in its own child pinned to one core with BLAS/OpenMP threads at 1:

    python -m twitchwatch.cli analyze FILE --json OUT --quiet

- end-to-end: the median wall time of the child (interpreter start, imports, reading,
  signal checks, pipeline, JSON), channel-samples per second = channels x samples / median,
  and the child's own peak RSS (``ru_maxrss`` from ``os.wait4`` on its pid: that child only,
  not the max over all children so far);
- side by side in this process, pinned to the same core: reading the file
  (``formats.open_recording``) and the pipeline alone (``pipeline.analyze`` on the
  in-memory recording), medians over the repeats; also the CLI's signal checks and the
  events-JSON writing, and the child's start-up (a child that only imports what
  ``analyze`` imports: interpreter + numpy/scipy/rich/twitchwatch).

Targets (the issue): >= 5 M channel-samples/s on one core; peak memory < 1 GiB.

    PYTHONPATH=src .venv/bin/python scripts/bench.py             # 1 h, 8 ch, 1000 Hz, 3 repeats
    PYTHONPATH=src .venv/bin/python scripts/bench.py --quick     # 5 min: the smoke test's run

Exit status 0 when the benchmark ran (whether or not the targets are met; see
``--strict``), 2 on a failed run (the analyze child failed).
"""
from __future__ import annotations

import os

# one core: set before numpy/scipy are imported (here and, through the env, in the child)
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
for _v in THREAD_VARS:
    os.environ[_v] = "1"

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
if str(SRC) not in sys.path:  # works without install
    sys.path.insert(0, str(SRC))

import numpy as np  # noqa: E402
import scipy  # noqa: E402

TARGET_RATE = 5e6  # channel-samples per second, one core
TARGET_MEM_MIB = 1024.0  # peak RSS below 1 GiB
SEGMENT_MIN = 10.0  # minutes simulated per piece
CACHE_VERSION = 1  # bump when the way the file is made changes
TABLE_TITLE = "twitchwatch analyze benchmark"


# ---------------------------------------------------------------- options

def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="End-to-end `twitchwatch analyze` throughput and peak memory "
                                            "on one core.")
    p.add_argument("--minutes", type=float, default=None, help="recording length (default 60; 5 with --quick)")
    p.add_argument("--channels", type=int, default=8, help="EMG channels (default 8)")
    p.add_argument("--fs", type=float, default=1000.0, help="sampling rate in Hz (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first segment (default 0)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs; medians are reported (default 3)")
    p.add_argument("--out", default=None,
                   help="cache folder for the recording and outputs (default <tmp>/twitchwatch-bench)")
    p.add_argument("--quick", action="store_true", help="a 5-minute recording (smoke tests; < 1 min)")
    p.add_argument("--cpu", type=int, default=None,
                   help="core to pin to (default: the first core this process may use)")
    p.add_argument("--no-inprocess", action="store_true", help="skip the in-process read/pipeline split")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the results as JSON")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    p.add_argument("--latency", type=float, default=None, metavar="S",
                   help="instead: stream S seconds of synthetic EMG (1000 Hz, 8 ch, 40 ms chunks) through the live "
                        "path in real time and report episode latency, then compute per 40 ms chunk of 16 ch")
    args = p.parse_args(argv)
    if args.minutes is None:
        args.minutes = 5.0 if args.quick else 60.0
    if args.minutes <= 0 or args.channels < 1 or args.fs <= 0 or args.repeats < 1:
        p.error("--minutes, --channels, --fs and --repeats must be positive")
    return args


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


class _progress:
    """A rich progress bar on a terminal, plain lines otherwise (to stderr)."""

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
        self.t0 = time.perf_counter()
        return self.advance

    def advance(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.advance(self.task, n)
        else:
            say(f"setup: {self.done / self.total:6.1%} written ({time.perf_counter() - self.t0:.1f} s)")

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)


# ---------------------------------------------------------------- measuring

def pin_core(cpu: int | None) -> int:
    allowed = sorted(os.sched_getaffinity(0))
    core = allowed[0] if cpu is None else cpu
    if core not in allowed:
        raise SystemExit(f"bench: --cpu {cpu}: not one of the allowed cores {allowed}")
    return core


def child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    for v in THREAD_VARS:
        env[v] = "1"
    return env


def run_child(cmd: list[str], core: int, log: Path) -> tuple[float, float, int]:
    """Run ``cmd`` pinned to ``core``; (wall seconds, peak RSS MiB of that child, exit code)."""
    with open(log, "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=child_env(), cwd=REPO, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, preexec_fn=lambda: os.sched_setaffinity(0, {core}))
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage
        wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code  # reaped here; tell Popen
    return wall, usage.ru_maxrss / 1024.0, code  # ru_maxrss is KiB on Linux


STARTUP_IMPORTS = ("import twitchwatch.cli, twitchwatch.formats, twitchwatch.pipeline, twitchwatch.report_json, "
                   "rich.console, rich.markup, rich.progress, rich.table")


def in_process(path: Path, repeats: int, core: int, scratch: Path) -> dict:
    """Median seconds of open_recording, the CLI's signal checks, pipeline.analyze and the
    events-JSON writing, in this process on ``core``."""
    from twitchwatch import cli
    from twitchwatch.formats import open_recording
    from twitchwatch.pipeline import analyze
    from twitchwatch.report_json import events_doc, write_json

    checks = getattr(cli, "_signal_checks", None)  # private; skipped if it goes away
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core})
    runs: dict[str, list[float]] = {"read_s": [], "checks_s": [], "pipeline_s": [], "json_s": []}
    events = 0
    try:
        for _ in range(repeats):
            gc.collect()
            t0 = time.perf_counter()
            rec = open_recording(path)
            t1 = time.perf_counter()
            if checks is not None:
                checks(rec, str(path))
            t2 = time.perf_counter()
            episodes = analyze(rec, mains_hz="auto")
            t3 = time.perf_counter()
            write_json(scratch, events_doc(rec, episodes))
            t4 = time.perf_counter()
            for key, dt in zip(runs, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                runs[key].append(dt)
            events = len(episodes)
            del rec, episodes
    finally:
        os.sched_setaffinity(0, old)
    out: dict = {k: statistics.median(v) for k, v in runs.items()}
    if checks is None:
        out["checks_s"] = None
    out.update(runs=runs, events=events)
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
    return {"nproc": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)), "cpu": model,
            "python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
            "platform": platform.platform()}


# ---------------------------------------------------------------- report

def rows_of(r: dict) -> list[tuple[str, str, str]]:
    """(measure, value, target/verdict) rows shared by the rich and the markdown tables."""
    ok = lambda b: "PASS" if b else "FAIL"  # noqa: E731
    rec = r["recording"]
    rows = [
        ("recording", f"{rec['minutes']:g} min, {rec['channels']} ch, {rec['fs']:g} Hz, "
                      f"BDF+ {rec['file_mib']:.1f} MiB", ""),
        ("channel-samples", f"{rec['channel_samples'] / 1e6:.1f} M", ""),
        ("end-to-end, median of "
         f"{r['repeats']}", f"{r['e2e_s']:.2f} s", ""),
        ("throughput", f"{r['rate'] / 1e6:.2f} M channel-samples/s",
         f">= {TARGET_RATE / 1e6:g} M/s on one core: {ok(r['rate'] >= TARGET_RATE)}"),
        ("peak RSS (child)", f"{r['peak_mib']:.0f} MiB",
         f"< 1 GiB: {ok(r['peak_mib'] < TARGET_MEM_MIB)}"),
    ]
    if r.get("inprocess"):
        ip = r["inprocess"]
        rows += [
            ("read (open_recording)", f"{ip['read_s']:.2f} s",
             f"{ip['read_s'] / r['e2e_s']:.0%} of end-to-end; in-process, median"),
            ("pipeline (analyze)", f"{ip['pipeline_s']:.2f} s",
             f"{ip['pipeline_s'] / r['e2e_s']:.0%} of end-to-end; "
             f"{rec['channel_samples'] / ip['pipeline_s'] / 1e6:.2f} M ch-samples/s alone"),
        ]
    share = lambda s: f"{s / r['e2e_s']:.0%} of end-to-end"  # noqa: E731
    rows += [("start-up (interpreter + imports)", f"{r['startup_s']:.2f} s", share(r["startup_s"]))]
    if r.get("inprocess"):
        ip = r["inprocess"]
        known = r["startup_s"] + ip["read_s"] + ip["pipeline_s"] + ip["json_s"]
        if ip["checks_s"] is not None:
            rows.append(("CLI signal checks", f"{ip['checks_s']:.2f} s", share(ip["checks_s"])))
            known += ip["checks_s"]
        rows += [("events JSON writing", f"{ip['json_s']:.2f} s", share(ip["json_s"])),
                 ("rest: loading the model, the episode log, exit", f"{r['e2e_s'] - known:.2f} s", "end-to-end minus the parts above")]
    rows += [("events found", str(r["events"]), "")]
    return rows


def markdown(rows: list[tuple[str, str, str]]) -> str:
    out = ["| measure | value | target / note |", "|---|---|---|"]
    out += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(out)


def latency(seconds: float) -> int:
    """Stream mode: time from a twitch's last sample arriving to its episode, and compute per chunk."""
    from twitchwatch.sources.replay import ReplaySource
    from twitchwatch.stream import latency_summary, run_stream
    from twitchwatch.synth import SynthConfig, simulate

    rec, _ = simulate(SynthConfig(minutes=seconds / 60.0, fs=1000.0, n_channels=8, seed=1, twitch_rate=60.0))
    say(f"latency: streaming {seconds:g} s of 8-channel 1000 Hz synthetic EMG in real time, 40 ms chunks ...")
    live = latency_summary(run_stream(ReplaySource(rec, speed=1.0, chunk_s=0.04)))
    rec16, _ = simulate(SynthConfig(minutes=1.0, fs=1000.0, n_channels=16, seed=2))
    fast = run_stream(ReplaySource(rec16, speed=None, chunk_s=0.04))
    comp = latency_summary(fast)
    rows = [("twitches timed", str(live["twitches_timed"]), f"in {seconds:g} s streamed in real time"),
            ("latency median", f"{live['latency_median_s'] * 1000:.0f} ms", "<= 100 ms"),
            ("latency 95th percentile", f"{live['latency_p95_s'] * 1000:.0f} ms", "<= 250 ms"),
            ("compute per 40 ms chunk, 8 ch (median / p95)",
             f"{live['compute_median_s'] * 1000:.2f} / {live['compute_p95_s'] * 1000:.2f} ms", ""),
            ("compute per 40 ms chunk, 16 ch (median / p95)",
             f"{comp['compute_median_s'] * 1000:.2f} / {comp['compute_p95_s'] * 1000:.2f} ms", "< 1 ms median (issue 6)")]
    print(markdown(rows))
    return 0


def main(argv=None) -> int:
    a = parse_args(argv)
    argv = sys.argv[1:] if argv is None else list(argv)
    if a.latency:
        return latency(a.latency)
    folder = Path(a.out) if a.out else Path(tempfile.gettempdir()) / "twitchwatch-bench"
    folder.mkdir(parents=True, exist_ok=True)
    core = pin_core(a.cpu)
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
        wall, _, code = run_child([sys.executable, "-c", STARTUP_IMPORTS], core, log)
        if code != 0:
            say(f"bench: the start-up child failed (exit {code}); see {log}:\n{log.read_text()[-2000:]}")
            return 2
        startups.append(wall)

    walls, peaks = [], []
    for i in range(a.repeats):
        out_json.unlink(missing_ok=True)
        wall, peak, code = run_child(cmd, core, log)
        if code != 0:
            say(f"bench: analyze failed (exit {code}); see {log}:\n{log.read_text()[-2000:]}")
            return 2
        say(f"run {i + 1}/{a.repeats}: end-to-end {wall:.2f} s, peak RSS {peak:.0f} MiB")
        walls.append(wall)
        peaks.append(peak)
    events = len(json.loads(out_json.read_text())["events"])

    ip = None
    if not a.no_inprocess:
        say("in-process split: open_recording and pipeline.analyze ...")
        ip = in_process(path, a.repeats, core, folder / (path.stem + ".inprocess.json"))
        if ip["events"] != events:
            say(f"warning: in-process analyze found {ip['events']} events, the command {events}")

    e2e = statistics.median(walls)
    result = {
        "recording": {"path": str(path), "minutes": a.minutes, "channels": a.channels, "fs": a.fs,
                      "seed": a.seed, "samples": n_samples, "channel_samples": n_samples * a.channels,
                      "file_mib": path.stat().st_size / 2**20},
        "setup_s": setup_s, "setup_reused": reused, "repeats": a.repeats, "core": core,
        "e2e_s": e2e, "e2e_runs_s": walls, "rate": n_samples * a.channels / e2e,
        "peak_mib": max(peaks), "peak_runs_mib": peaks, "startup_s": statistics.median(startups),
        "events": events, "inprocess": ip, "machine": machine(),
        "command": "PYTHONPATH=src python scripts/bench.py " + shlex.join(argv),
        "child_command": f"taskset -c {core} env PYTHONPATH=src " + " ".join(f"{v}=1" for v in THREAD_VARS)
                         + " " + shlex.join(["python", *cmd[1:]]),
    }
    result["targets"] = {"rate_ok": result["rate"] >= TARGET_RATE, "memory_ok": result["peak_mib"] < TARGET_MEM_MIB}

    rows = rows_of(result)
    from rich.console import Console
    from rich.table import Table
    con = Console(highlight=False, soft_wrap=True)
    table = Table(title=TABLE_TITLE)
    for col in ("measure", "value", "target / note"):
        table.add_column(col)
    for row in rows:
        style = "red" if "FAIL" in row[2] else ("green" if "PASS" in row[2] else None)
        table.add_row(*row, style=style)
    con.print(table)
    m = result["machine"]
    print()
    print(f"command: {result['command']}")
    print(f"child (each repeat): {result['child_command']}")
    print(f"machine: nproc {m['nproc']} ({m['affinity']} usable), CPU {m['cpu']}, pinned to core {core}; "
          f"Python {m['python']}, numpy {m['numpy']}, scipy {m['scipy']}")
    print(f"setup: {'reused the cached recording' if reused else f'{setup_s:.1f} s to simulate and write'} "
          f"({path})")
    print(f"runs: end-to-end {', '.join(f'{w:.2f}' for w in walls)} s; "
          f"peak RSS {', '.join(f'{p:.0f}' for p in peaks)} MiB")
    print()
    print("markdown:")
    print()
    print(markdown(rows))
    print()
    print(f"_{TABLE_TITLE}: `{result['command']}` on {m['cpu']} (nproc {m['nproc']}, one core pinned), "
          f"Python {m['python']}, numpy {m['numpy']}, scipy {m['scipy']}._")
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=2))
    if a.strict and not all(result["targets"].values()):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
