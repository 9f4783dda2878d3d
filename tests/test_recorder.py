"""Recorder: BDF+ written a record at a time; a kill -9 loses at most the last second."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

from twitchwatch.formats import open_recording
from twitchwatch.recorder import Recorder

CHILD = textwrap.dedent("""
    import sys, time
    import numpy as np
    from twitchwatch.recorder import Recorder
    fs, step = 250, 10
    rec = Recorder(sys.argv[1], fs, ["EXG0", "EXG1", "EXG2", "EXG3"])
    n, t0 = 0, time.monotonic()
    while n < 5 * fs:
        block = (np.arange(n, n + step) % 1000)[None, :] * np.array([[1.0], [-1.0], [2.0], [0.5]])
        print(n + step, flush=True)   # samples passed to the recorder after this append
        rec.append(block)
        if n % fs == 0:
            rec.annotate(n / fs, 0.01, f"mark {n}")
        n += step
        time.sleep(max(0.0, t0 + n / fs - time.monotonic()))
    time.sleep(30)
""")


def _expected(n):
    return (np.arange(n) % 1000)[None, :] * np.array([[1.0], [-1.0], [2.0], [0.5]])


def test_kill9_loses_at_most_one_second(tmp_path):
    path = tmp_path / "live.bdf"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE,
                             text=True, env=env)
    time.sleep(2.2 + random.uniform(0.0, 2.5))
    child.send_signal(signal.SIGKILL)
    out, _ = child.communicate(timeout=10)
    given = max(int(x) for x in out.split())
    rec = open_recording(path)
    n = rec.n_samples
    assert given - 250 - 10 <= n <= given, (n, given)  # at most the record being filled (+ the block in flight)
    assert n % 250 == 0 and n >= 250
    np.testing.assert_allclose(rec.data, _expected(n), atol=0.05)
    assert any("not closed" in w for w in rec.meta["warnings"])
    # annotations live in a journal until close: those inside the kept records survive
    marks = [a for a in rec.annotations if a[2].startswith("mark")]
    assert [a[2] for a in marks] == [f"mark {k * 250}" for k in range(len(marks))]
    assert len(marks) == (n - 1) // 250 + 1 and marks[-1][0] < n / 250


def test_close_keeps_everything_and_annotations(tmp_path):
    path = tmp_path / "done.edf"
    with Recorder(path, 250, ["a", "b"]) as r:
        r.append(np.ones((2, 300)))
        r.annotate(0.5, 0.1, "twitch ch0")
        from twitchwatch.types import Chunk
        r.append(Chunk(np.full((2, 100), 2.0, np.float32), 250.0, ("a", "b"), start=320, lost=20))
    rec = open_recording(path)
    assert rec.n_samples == 420
    # EDF+ is 16-bit over the live range +-187500 uV: steps of ~5.7 uV
    np.testing.assert_allclose(rec.data[:, 300:320], 0.0, atol=6)
    np.testing.assert_allclose(rec.data[:, 320:], 2.0, atol=6)
    texts = [a[2] for a in rec.annotations]
    assert "twitch ch0" in texts and "gap 20 samples" in texts
    assert not (tmp_path / "done.edf.annotations.tsv").exists(), "a clean close leaves no journal"
