"""`twitchwatch stream --record` killed with SIGKILL (a crash, an out-of-memory kill, a pulled
battery as far as the process can tell) at 10 moments drawn from a seeded generator.

What must hold each time: the file opens with ``open_recording``, holds whole seconds,
matches what the board sent sample for sample, and lacks at most the second being filled
(plus the chunk the stream was handling) of what the stream had read from the port."""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from emulator import Device, to_frames
from twitchwatch.formats import open_recording

ROOT = Path(__file__).resolve().parents[2]
FS, N, C, SCALE = 250, 5, 4, 0.25
FRAME_BYTES = 4 + 3 + N * C * 2 + 2
KILLS = 10


def test_kill9_at_ten_random_moments_loses_at_most_the_last_second(synth, tmp_path):
    """Ten streams run at once (one emulated board each, real time); each is killed right
    before the board sends frame K (K drawn from a seeded generator: 1.5 to 6 s in), when
    the test also reads how many bytes are still unread on the port, so it knows a lower
    bound of what the stream had received."""
    rec, _ = synth(minutes=0.15, fs=FS, n_channels=C, seed=31, twitch_rate=60.0, spasm_rate=0.0,
                   artifact_rate=0.0, ecg=False, noise_uv=2.0, electrode_noise=False, hum_swings=False)
    frames = to_frames(rec.data, N, SCALE)
    made = frames.reshape(-1, C).T * SCALE
    moments = np.random.default_rng(2026).integers(int(1.5 * FS / N), int(6 * FS / N), KILLS)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    runs = []
    for i, k in enumerate(moments):
        path = tmp_path / f"live{i}.bdf"
        seen: dict = {}

        def kill(dev, seen=seen, k=int(k)):
            seen["read_frames"] = k - math.ceil(dev.unread() / FRAME_BYTES)
            seen["child"].kill()
            dev.stop()

        dev = Device(frames, FS, SCALE, tmp_path / f"tty{i}", faults={int(k): [("call", kill)]}, speed=1.0)
        seen["child"] = subprocess.Popen(
            [sys.executable, "-m", "twitchwatch.cli", "stream", "--board", "serial", "--port", str(dev.link),
             "--record", str(path), "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env=env, stdin=subprocess.DEVNULL)
        dev.start()
        runs.append((dev, seen, path, int(k)))
    for dev, seen, path, k in runs:
        _, err = seen["child"].communicate(timeout=120)
        dev.join(timeout=10)
        dev.close()
        assert dev.error is None, dev.error
        assert seen["child"].returncode == -9, err
        live = open_recording(path)
        n = live.n_samples
        assert live.fs == FS and n % FS == 0 and n >= FS
        assert any("not closed" in w for w in live.meta["warnings"])
        assert n <= k * N, "never more than the board sent"
        read = seen["read_frames"] * N
        assert n >= read - FS - FS // 4, (n, read)  # the second being filled + a chunk in hand
        assert abs(live.data - made[:, :n]).max() < 1.0  # BDF+ quantises to well under 1 uV
        print(f"killed before frame {k}: {read} samples read, {n} in the file")
