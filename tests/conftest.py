"""Shared fixtures: paths to the shared contracts and recordings, chunk feeders, and
session-wide caches so that each synthetic recording is simulated and analysed once."""
from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pytest

from twitchwatch.pipeline import Pipeline, analyze
from twitchwatch.synth import SynthConfig, simulate
from twitchwatch.types import Chunk, Episode, Recording

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SCHEMA = SHARED / "contracts" / "events.schema.json"
REAL = SHARED / "recordings" / "real"

# A synthetic recording with nothing in it but the background (steady white noise, hum,
# wander, DC).
QUIET = dict(twitch_rate=1e-9, spasm_rate=0.0, artifact_rate=0.0, ecg=False, electrode_noise=False, hum_swings=False)


def run_cli(*args: str, timeout: float = 300):
    """``twitchwatch ARGS`` in a child process (the package from this checkout), output captured."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    return subprocess.run([sys.executable, "-m", "twitchwatch.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL)


def chunks_of(rec: Recording, sizes: Sequence[int] | Iterable[int]) -> Iterable[Chunk]:
    """``rec`` as consecutive chunks whose sizes cycle through ``sizes`` (all >= 1)."""
    sizes = [int(s) for s in sizes]
    assert sizes and min(sizes) >= 1
    i = k = 0
    while i < rec.n_samples:
        s = sizes[k % len(sizes)]
        k += 1
        yield Chunk(rec.data[:, i:i + s], rec.fs, rec.channels, start=i)
        i += s


def run_pipeline(rec: Recording, sizes: Sequence[int], **kw) -> list[Episode]:
    """All episodes of ``rec`` fed through a fresh Pipeline in chunks of ``sizes``."""
    return Pipeline(rec.fs, rec.channels, **kw).run(chunks_of(rec, sizes))


def episode_keys(episodes: Iterable[Episode]) -> list[tuple]:
    """What 'the same episodes' means: channel, onset, end, kind and peak, exactly."""
    return [(e.channel, e.start_s, e.end_s, e.kind, e.peak_uv) for e in episodes]


@pytest.fixture(scope="session", autouse=True)
def private_episode_log(tmp_path_factory):
    """Every command a test runs logs to a throwaway database, never the user's own."""
    import os

    os.environ["TWITCHWATCH_DB"] = str(tmp_path_factory.mktemp("log") / "episodes.sqlite")
    yield
    os.environ.pop("TWITCHWATCH_DB", None)


@pytest.fixture(scope="session")
def schema() -> dict:
    if not SCHEMA.is_file():
        pytest.skip(f"shared events schema not found at {SCHEMA}")
    return json.loads(SCHEMA.read_text())


@pytest.fixture(scope="session")
def synth() -> Callable[..., tuple[Recording, dict]]:
    """simulate(SynthConfig(**kw)), cached for the session (callers must not modify)."""
    cache: dict = {}

    def get(**kw) -> tuple[Recording, dict]:
        key = tuple(sorted(kw.items()))
        if key not in cache:
            cache[key] = simulate(SynthConfig(**kw))
        return cache[key]

    return get


@pytest.fixture(scope="session")
def analyzed(synth) -> Callable[..., tuple[Recording, dict, list[Episode]]]:
    """(recording, truth, analyze(recording)) for SynthConfig(**kw), cached for the session."""
    cache: dict = {}

    def get(**kw):
        key = tuple(sorted(kw.items()))
        if key not in cache:
            rec, truth = synth(**kw)
            cache[key] = (rec, truth, analyze(rec))
        return cache[key]

    return get


@pytest.fixture
def rng(request) -> np.random.Generator:
    """A generator seeded from the test's id, so every test is reproducible on its own."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))
