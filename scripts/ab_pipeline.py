#!/usr/bin/env python
"""A/B: the pipeline of another commit against the working tree's, side by side in one run.

    .venv/bin/python scripts/ab_pipeline.py REV FILE [--repeats 3]

REV (e.g. HEAD~5) is checked out into a temporary git worktree (removed afterwards), and
its optional C extensions are built there as the working tree's were (else one side would
time numpy's fallbacks: against the last commit that read 1.72 for two equal sides). Each
repeat runs one child per side, alternating, pinned to one core with one BLAS thread: it
opens FILE, reads it into memory, loads the default model of its own side, and times
``pipeline.analyze`` alone (CPU time). Prints the medians and their ratio. The shared
machine is noisy, so the ratio of alternating runs is the figure to quote, not the times.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHILD = """
import sys, time
from twitchwatch.classify import make_classifier
from twitchwatch.formats import open_recording
from twitchwatch.pipeline import analyze
rec = open_recording(sys.argv[1]); rec.data
classifier = make_classifier(None, rec.fs)
t = time.process_time(); episodes = analyze(rec, classifier=classifier)
print(time.process_time() - t, len(episodes))
"""


def run(src: Path, path: str, core: int) -> tuple[float, int]:
    env = dict(os.environ, PYTHONPATH=str(src), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", CHILD, path], env=env, capture_output=True, text=True,
                         preexec_fn=lambda: os.sched_setaffinity(0, {core}))
    if out.returncode:
        raise SystemExit(f"ab_pipeline: the child for {src} failed: {out.stderr.strip().splitlines()[-1]}")
    cpu, events = out.stdout.split()
    return float(cpu), int(events)


def _built(src: Path) -> list[str]:
    return sorted(f.name.split(".")[0] for f in (src / "twitchwatch").glob("*.so"))


def _build_extensions(tree: Path, rev: str) -> None:
    """The other side's C extensions: the working tree's built ones when the C sources are
    the same at ``rev``, else built from ``rev`` (a wheel, as pip builds the project, its
    .so files taken out of it); a warning when the two sides still differ in which they
    have (no compiler, or a commit from before one existed)."""
    sources = ["setup.py", "src/twitchwatch/*.c", "src/twitchwatch/*.h"]
    same = subprocess.run(["git", "-C", str(REPO), "diff", "--quiet", rev, "--", *sources]).returncode == 0
    if same:
        for so in (REPO / "src" / "twitchwatch").glob("*.so"):
            shutil.copy2(so, tree / "src" / "twitchwatch" / so.name)
    else:
        with tempfile.TemporaryDirectory(prefix="twitchwatch-ab-wheel-") as out:
            subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", out, str(tree)],
                           capture_output=True)
            for wheel in Path(out).glob("*.whl"):
                with zipfile.ZipFile(wheel) as z:
                    for name in z.namelist():
                        if name.startswith("twitchwatch/") and name.endswith(".so"):
                            (tree / "src" / name).write_bytes(z.read(name))
    ours, theirs = _built(REPO / "src"), _built(tree / "src")
    if ours != theirs:
        print(f"ab_pipeline: warning: C extensions differ (working tree {ours}, {rev} {theirs}); "
              "the ratio includes that", file=sys.stderr)
    else:
        print(f"C extensions on both sides: {', '.join(ours) or 'none'}")


def main() -> int:
    p = argparse.ArgumentParser(description="CPU time of pipeline.analyze: another commit against the working tree.")
    p.add_argument("rev", help="the other commit (anything git rev-parse takes)")
    p.add_argument("file", help="the recording to analyse")
    p.add_argument("--repeats", type=int, default=3, help="runs per side (default 3); medians are reported")
    a = p.parse_args()
    if not Path(a.file).is_file():
        p.error(f"{a.file}: no such file")
    core = min(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="twitchwatch-ab-") as tmp:
        tree = Path(tmp) / "tree"
        made = subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(tree), a.rev],
                              capture_output=True, text=True)
        if made.returncode:
            p.error(f"{a.rev}: not a commit git can check out ({made.stderr.strip()})")
        try:
            _build_extensions(tree, a.rev)
            times: dict[str, list[float]] = {a.rev: [], "working tree": []}
            events = {}
            for _ in range(a.repeats):
                for side, src in ((a.rev, tree / "src"), ("working tree", REPO / "src")):
                    cpu, events[side] = run(src, a.file, core)
                    times[side].append(cpu)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], capture_output=True)
    med = {side: statistics.median(v) for side, v in times.items()}
    for side, v in times.items():
        print(f"{side:>14}: median {med[side]:.3f} s CPU over {len(v)} runs {[round(x, 3) for x in v]}, "
              f"{events[side]} events")
    print(f"ratio {a.rev} / working tree: {med[a.rev] / med['working tree']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
