"""The burst detector (through the preprocessor and the pipeline): false alarms in noise,
timing of a known pulse, flat channels, chunking invariance and lost samples."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import signal

from conftest import QUIET, episode_keys, run_pipeline
from twitchwatch.detect import Detector, DetectorParams, without_lines
from twitchwatch.dsp import Preprocessor, board_cutoff
from twitchwatch.classify import LONG_MOVEMENT_S
from twitchwatch.pipeline import (DOUBLET_S, LEAD_S, ONSET_S, RUN_GAP_S, RUN_LEAST, SPASM_MIN_S, Pipeline, SpasmJoiner,
                                  analyze, detect, finished, fold_onsets, leads_as_artifacts, runs_as_artifacts)
from twitchwatch.types import Burst, Chunk, Episode, Recording

RATES = (125.0, 200.0, 250.0, 1000.0)


def detect_bursts(rec: Recording, chunk: int | None = None, mains="auto",
                  params: DetectorParams | None = None) -> list[Burst]:
    """Preprocessor + Detector over a recording (no classifier)."""
    pre = Preprocessor(rec.fs, rec.n_channels, mains)
    det = Detector(rec.fs, rec.n_channels, params)
    out: list[Burst] = []
    for c in rec.chunks(chunk or rec.n_samples):
        for f in pre.process(c):
            out += det.process(f)
    for f in pre.flush():
        out += det.process(f)
    return out + det.flush()


def board_noise(fs: float, c: int, n: int, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """White noise through the board's low-pass, scaled to ``sigma`` uV rms."""
    w = rng.standard_normal((c, n))
    fc = board_cutoff(fs)
    if fc < 0.49 * fs:
        w = signal.sosfilt(signal.butter(4, fc, fs=fs, output="sos"), w, axis=1)
    return w / w.std(axis=1, keepdims=True) * sigma



def _muscle_band(fs: float) -> np.ndarray:
    """The band (second-order sections) the tests' swells and contractions are drawn in."""
    return signal.butter(2, [20.0, min(150.0, 0.4 * fs)], btype="bandpass", fs=fs, output="sos")


def _spike(fs: float) -> np.ndarray:
    """A twitch's shape: a biphasic spike of about 12 ms (a Gaussian's derivative), peak 1."""
    wave = signal.windows.gaussian(int(0.012 * fs) | 1, std=0.0025 * fs)
    return np.gradient(wave) / np.abs(np.gradient(wave)).max()

def _same_however_chunked(rec: Recording, bursts: list[Burst], feature: str) -> None:
    """``bursts`` (found in ``rec`` whole) and their ``feature`` are the same to the bit
    when the stream comes in chunks of 0.37 s."""
    again = detect(rec, chunk_s=0.37)
    assert sorted((bu.channel, bu.start, bu.features[feature]) for bu in again) == \
        sorted((bu.channel, bu.start, bu.features[feature]) for bu in bursts)


# -- false alarms in pure noise ------------------------------------------------------

NOISE_SEEDS = (71, 72, 73, 74, 75)
_noise_cache: dict = {}


def noise_bursts(synth, fs: float, seed: int) -> tuple[Recording, list[Burst]]:
    key = (fs, seed)
    if key not in _noise_cache:
        rec, truth = synth(minutes=3.0, fs=fs, seed=seed, **QUIET)
        assert truth["events"] == []
        _noise_cache[key] = (rec, detect_bursts(rec))
    return _noise_cache[key]


@pytest.mark.parametrize("fs", [125.0, 250.0, 1000.0])
@pytest.mark.parametrize("seed", NOISE_SEEDS[:2])
def test_pure_noise_gives_few_bursts(fs, seed, synth):
    rec, bursts = noise_bursts(synth, fs, seed)
    channel_minutes = rec.n_channels * rec.duration_s / 60
    # DetectorParams.false_seeds_per_hour sets the seed threshold for pure noise: 10 per
    # channel-hour at the time of writing, i.e. 0.17 per channel-minute. The bound of 2 per
    # channel-minute is over 10x that: loose enough for the floor's estimation error (the
    # seed threshold sits in the far tail, where a few percent of sigma moves the rate a
    # lot) and for hum/wander residue, tight enough to catch a floor or a chi-square
    # threshold that is off by a factor (that gives tens to hundreds per minute). The
    # pooled test below holds the rate to 10x the nominal one.
    assert DetectorParams().false_seeds_per_hour / 60 < 2.0 / 10
    assert len(bursts) / channel_minutes < 2.0, [(b.channel, b.start_s) for b in bursts]


@pytest.mark.parametrize("fs", [125.0, 250.0, 1000.0])
def test_pure_noise_false_alarm_rate_near_nominal(fs, synth):
    """Pooled over 5 recordings (1 channel-hour): within 10x the nominal
    DetectorParams.false_seeds_per_hour."""
    bursts = hours = 0.0
    for seed in NOISE_SEEDS:
        rec, found = noise_bursts(synth, fs, seed)
        bursts += len(found)
        hours += rec.n_channels * rec.duration_s / 3600
    nominal = DetectorParams().false_seeds_per_hour
    assert bursts / hours <= 10 * nominal, f"{bursts / hours:.1f} false bursts per channel-hour"


@pytest.mark.parametrize("fs", [500.0, 1000.0])
def test_coloured_noise_false_alarm_rate_near_nominal(fs):
    """Electrode noise is seldom white: here most of its power sits at 20-100 Hz, well
    inside our band, so a window holds fewer independent samples than the band alone
    allows and its sums have heavier tails. The detector measures that from the quiet
    blocks; 3 seeds x 4 channels x 10 min (2 channel-hours) stay within 10x the nominal
    false-seed rate (thresholds from the band alone give hundreds per channel-hour)."""
    bursts = hours = 0.0
    for seed in (11, 12, 13):
        rng = np.random.default_rng(seed)
        n = int(600 * fs)
        w = signal.sosfilt(signal.butter(2, [20.0, 100.0], btype="bandpass", fs=fs, output="sos"),
                           rng.standard_normal((4, n)), axis=1)
        w += 0.2 * signal.sosfilt(signal.butter(4, board_cutoff(fs), fs=fs, output="sos"),
                                  rng.standard_normal((4, n)), axis=1)  # a little white noise beside it
        sigma = rng.uniform(1.0, 10.0, size=(4, 1))
        rec = Recording((w / w.std(axis=1, keepdims=True) * sigma).astype(np.float32), fs,
                        tuple(f"EMG{k + 1}" for k in range(4)))
        bursts += len(detect_bursts(rec, chunk=int(7.3 * fs), mains=None))
        hours += rec.n_channels * rec.duration_s / 3600
    nominal = DetectorParams().false_seeds_per_hour
    assert bursts / hours <= 10 * nominal, f"{bursts / hours:.1f} false bursts per channel-hour"


@pytest.mark.parametrize("fs", [250.0, 1000.0])
@pytest.mark.parametrize("seed", [1, 2])
def test_a_spasm_at_the_end_of_a_swell_of_noise_is_a_burst_of_its_own(fs, seed):
    """Electrode noise that swells to about twice its level for 20 s seeds bursts every
    second or so, and sustained activity takes in each that follows: without more, a
    brief contraction in it and the spasm that ends it were one 20 s burst. Cut into its
    loud islands, the spasm is a burst of its own, at its own extent, and so is the brief
    contraction; chunking does not change that. (A swell loud enough to be one unbroken
    run of activity is not cut: the islands take whole runs.)"""
    rng = np.random.default_rng(seed)
    n = int(80 * fs)
    t = np.arange(n) / fs
    white = signal.sosfilt(signal.butter(4, board_cutoff(fs), fs=fs, output="sos"), rng.standard_normal(n))
    x = 2.0 * white / white.std()
    band = _muscle_band(fs)
    swell = signal.sosfilt(band, rng.standard_normal(n))
    level = np.clip(np.minimum(t - 38.0, 60.0 - t) / 4.0, 0.0, 1.0)  # 38-60 s, 4 s ramps
    x += 3.0 * level * swell / swell.std()
    bursts = {"contraction": (45.0, 45.4, 30.0), "spasm": (58.5, 60.5, 30.0)}
    for a, b, size in bursts.values():
        env = np.clip(np.minimum(t - a, b - t) / 0.1, 0.0, 1.0)
        pattern = signal.sosfilt(band, rng.standard_normal(n))
        x += size * env * pattern / pattern.std()
    rec = Recording(np.stack([x, 2.0 * white[::-1] / white.std()]).astype(np.float32), fs, ("EMG1", "EMG2"))
    found = detect_bursts(rec, mains=None)
    for name, (a, b, _) in bursts.items():
        over = [u for u in found if u.channel == 0 and u.start_s < b and u.end_s > a]
        assert over, f"no burst over the {name}"
        best = max(over, key=lambda u: min(u.end_s, b) - max(u.start_s, a))
        assert a - 0.5 < best.start_s and best.end_s < b + 0.5, (name, best.start_s, best.end_s)
    assert [(u.channel, u.start, u.stop) for u in detect_bursts(rec, chunk=int(2.7 * fs), mains=None)] == \
        [(u.channel, u.start, u.stop) for u in found]


@pytest.mark.parametrize("fs", [200.0, 250.0, 1000.0])
@pytest.mark.parametrize("seed", [1, 2])
def test_a_swell_of_noise_does_not_hold_a_movements_burst_open(fs, seed):
    """Electrode noise that swells to twice its level for 25 s: a brief movement ten
    seconds in is a brief burst, and the twitches in the swell are bursts of their own
    (the envelopes' floor follows the swell, ``local_s``). Judged against the minute's floor
    alone, the movement's burst ran on through the swell for seconds and took the
    twitches in. A contraction at three times the noise for 10 s is still one burst from
    end to end (the floor is raised by ``local_cap`` at most); chunking changes nothing."""
    rng = np.random.default_rng(seed)
    n = int(90 * fs)
    t = np.arange(n) / fs
    x = board_noise(fs, 2, n, rng, 2.0)
    band = _muscle_band(fs)
    swell = signal.sosfilt(band, rng.standard_normal(n))
    level = np.clip(np.minimum(t - 18.0, 45.0 - t) / 2.0, 0.0, 1.0)  # 18-45 s, 2 s ramps
    x[0] += 2.0 * np.sqrt(3.0) * level * swell / swell.std()  # (with the 2 uV of noise: 4 uV rms, twice it)
    move = (28.0, 28.3)
    env = np.clip(np.minimum(t - move[0], move[1] - t) / 0.05, 0.0, 1.0)
    pattern = signal.sosfilt(band, rng.standard_normal(n))
    x[0] += 40.0 * env * pattern / pattern.std()
    spike = _spike(fs)
    twitches = (32.0, 35.0, 38.0)
    for at in twitches:
        i = int(at * fs)
        x[0, i:i + spike.size] += 40.0 * spike
    weak = (60.0, 70.0)  # channel 1: a weak contraction
    env = np.clip(np.minimum(t - weak[0], weak[1] - t) / 0.5, 0.0, 1.0)
    x[1] += 2.0 * np.sqrt(8.0) * env * pattern / pattern.std()
    rec = Recording(x.astype(np.float32), fs, ("EMG1", "EMG2"))
    found = detect_bursts(rec, mains=None)
    over = [u for u in found if u.channel == 0 and u.start_s < move[1] and u.end_s > move[0] and not u.features["inner"]]
    assert len(over) == 1 and over[0].end_s < move[1] + 1.0, [(u.start_s, u.end_s) for u in over]
    for at in twitches:
        own = [u for u in found if u.channel == 0 and u.start_s - 0.02 < at < u.end_s and u.end_s - u.start_s < 0.2]
        assert own, (at, [(u.start_s, u.end_s) for u in found if u.channel == 0 and u.start_s < at < u.end_s])
    long = [u for u in found if u.channel == 1 and u.end_s - u.start_s > 1.0]
    assert len(long) == 1 and long[0].start_s < weak[0] + 1.0 and long[0].end_s > weak[1] - 1.0, \
        [(u.start_s, u.end_s) for u in long]
    assert sorted((u.channel, u.start, u.stop) for u in detect_bursts(rec, chunk=int(2.7 * fs), mains=None)) == \
        sorted((u.channel, u.start, u.stop) for u in found)


@pytest.mark.parametrize("fs", [200.0, 250.0, 1000.0])
@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_a_twitch_after_a_spasm_is_not_held_back_by_it(fs, seed):
    """Noise that rose by 40 % over 15 s (the minute's floor still lags it), a spasm of
    2 s in it, and twitches 1.5, 3 and 4.5 s after the spasm: streamed in 40 ms chunks,
    each twitch's burst comes out apart from the spasm's, within the 0.59 s a burst on
    a raised background may wait (``long_merge_s``, then the end of a 0.25 s block, and a
    chunk). When the spasm closed only where a block was back near the minute's floor,
    its group held a twitch 0.7 and 2.7 s in two of these 18 cases. (A group that a step
    up in the noise opens itself still waits for the floor: see ``Detector._closing``.)"""
    rng = np.random.default_rng(seed)
    n = int(45 * fs)
    t = np.arange(n) / fs
    x = board_noise(fs, 1, n, rng, 2.0) * np.interp(t, [10.0, 25.0], [1.0, 1.4])  # (electrode noise drifts)
    band = _muscle_band(fs)
    pattern = signal.sosfilt(band, rng.standard_normal(n))
    spasm = (30.0, 32.0)
    env = np.clip(np.minimum(t - spasm[0], spasm[1] - t) / 0.1, 0.0, 1.0)
    x[0] += 30.0 * env * pattern / pattern.std()
    spike = _spike(fs)
    twitches = (33.5, 35.0, 36.5)
    for at in twitches:
        x[0, int(at * fs):int(at * fs) + spike.size] += 40.0 * spike
    rec = Recording(x.astype(np.float32), fs, ("EMG1",))
    pre, det = Preprocessor(fs, 1, None), Detector(fs, 1)
    came: list[tuple[Burst, int]] = []
    for c in rec.chunks(int(round(0.04 * fs))):
        for f in pre.process(c):
            came += [(b, c.start + c.n_samples) for b in det.process(f)]
    p = DetectorParams()
    held = p.long_merge_s + p.block_s + 0.04  # a twitch on raised noise (background) waits for a quiet block
    for at in twitches:
        twitch = [(b, end) for b, end in came if b.start_s - 0.02 < at < b.end_s]
        assert len(twitch) == 1, (at, [(b.start_s, b.end_s) for b, _ in came])
        b, end = twitch[0]
        assert b.end_s - b.start_s < 0.2 and b.start_s > spasm[1], (b.start_s, b.end_s)
        assert (end - b.stop) / fs < held, (at, (end - b.stop) / fs)


@pytest.mark.parametrize("fs", [200.0, 250.0, 1000.0])
@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_two_twitches_as_a_swell_of_noise_ends_are_two_bursts(fs, seed):
    """Noise that swelled to 1.9 x for 13 s, with two twitches 0.4 s apart just before
    it ends: the first starts on a raised background, so its group takes in what
    follows until a block is quiet again; but that group, short and mostly quiet
    inside, is given back as its bursts. Each twitch is a short burst of its own, whole
    or streamed in 40 ms chunks (at 1000 Hz the swell is one long burst, and each twitch
    a spike inside it). (Kept whole, as it was, the pair was one burst in 7 of these 18
    cases.)"""
    rng = np.random.default_rng(seed)
    n = int(45 * fs)
    t = np.arange(n) / fs
    swell = 1.0 + 0.9 * np.interp(t, [20.0, 20.1, 32.8, 32.9], [0.0, 1.0, 1.0, 0.0])
    x = board_noise(fs, 1, n, rng, 2.0) * swell
    spike = _spike(fs)
    twitches = (32.0, 32.4)
    for at in twitches:
        x[0, int(at * fs):int(at * fs) + spike.size] += 40.0 * spike
    rec = Recording(x.astype(np.float32), fs, ("EMG1",))
    for chunk in (None, int(round(0.04 * fs))):
        bursts = [(b.start_s, b.end_s) for b in detect_bursts(rec, chunk, mains=None)]
        for at in twitches:
            own = [(a, z) for a, z in bursts if a - 0.02 < at < z and z - a < 0.2]
            assert len(own) == 1, (chunk, at, [(a, z) for a, z in bursts if 31.0 < z and a < 33.5])


# -- a known pulse ---------------------------------------------------------------------

def _pulse(fs: float, peak: float) -> np.ndarray:
    """One biphasic cycle (a sine period) of 10 ms, or 4 samples where 10 ms is fewer."""
    m = int(round(max(0.010, 4 / fs) * fs))
    return peak * np.sin(2 * np.pi * np.arange(m) / m)


@pytest.mark.parametrize("fs", RATES)
@pytest.mark.parametrize("seed", [81, 82, 83])
@pytest.mark.parametrize("chunk_s", [0.04, 10.0])
def test_single_pulse_found_on_its_channel(fs, seed, chunk_s):
    rng = np.random.default_rng(seed)
    sigma = float(rng.uniform(1.0, 10.0))
    n = int(30 * fs)
    x = board_noise(fs, 4, n, rng, sigma) + rng.uniform(-500, 500, (4, 1))
    ch = int(rng.integers(4))
    i0 = int(rng.integers(int(3 * fs), int(27 * fs)))
    p = _pulse(fs, 30 * sigma)
    x[ch, i0:i0 + p.size] += p
    rec = Recording(x.astype(np.float32), fs, ("A", "B", "C", "D"))
    bursts = detect_bursts(rec, max(1, int(chunk_s * fs)))
    t0 = i0 / fs
    mine = [b for b in bursts if b.channel == ch and abs(b.start_s - t0) <= 0.010]
    assert len(mine) == 1, [(b.channel, b.start_s - t0) for b in bursts]
    assert mine[0].start_s <= t0 + p.size / fs and mine[0].end_s > t0  # it covers the pulse
    assert mine[0].end_s - mine[0].start_s < 0.1
    # nothing else near it, on any channel: no crosstalk, no echo from the filters' ringing
    near = [b for b in bursts if b is not mine[0] and abs(b.start_s - t0) < 0.3]
    assert near == []


@pytest.mark.parametrize("fs", [250.0, 1000.0])
def test_rhythm_marks_a_steady_beat_not_scattered_twitches(fs, rng):
    """``rhythm`` (1.0: a burst on a steady 0.33-1.5 s beat, a heartbeat) holds for pulses
    every 0.8 s, one beat missed, and hardly ever for twitches at random times (20 a
    minute) on another channel; chunked in 40 ms or whole, the same."""
    n = int(60 * fs)
    x = board_noise(fs, 2, n, rng, 2.0)
    beats = np.delete(np.arange(3.0, 57.0, 0.8), 20)  # a missed complex
    scattered = np.sort(rng.choice(np.arange(3.0, 57.0, 0.05), 20, replace=False))
    p = _pulse(fs, 60.0)
    for ch, times in ((0, beats), (1, scattered)):
        for t in times:
            x[ch, int(t * fs): int(t * fs) + p.size] += p
    rec = Recording(x.astype(np.float32), fs, ("A", "B"))
    found = {}
    for chunk in (int(0.04 * fs), n):
        bursts = detect_bursts(rec, chunk)
        found[chunk] = [(b.channel, b.start, b.features["rhythm"]) for b in bursts]
        on_beat = [b.features["rhythm"] for b in bursts if b.channel == 0 and b.start_s > 6.0]
        off_beat = [b.features["rhythm"] for b in bursts if b.channel == 1]
        assert len(on_beat) >= 0.9 * (beats > 6.0).sum() and len(off_beat) >= 0.9 * scattered.size
        assert np.mean(on_beat) > 0.9 and np.mean(off_beat) < 0.3, (np.mean(on_beat), np.mean(off_beat))
    assert sorted(found[int(0.04 * fs)]) == sorted(found[n])


@pytest.mark.parametrize("fs", RATES)
@pytest.mark.parametrize("where", ["probe", "end"])
def test_pulse_at_the_edges_of_a_stream(fs, where):
    """Inside the first second (held for mains detection) and in the last samples (flush)."""
    rng = np.random.default_rng(int(fs))
    n = int(10 * fs)
    x = board_noise(fs, 2, n, rng, 3.0)
    p = _pulse(fs, 90.0)
    i0 = int(0.5 * fs) if where == "probe" else n - p.size - 2
    x[1, i0:i0 + p.size] += p
    rec = Recording(x.astype(np.float32), fs, ("A", "B"))
    for chunk in (n, max(1, int(0.04 * fs))):
        bursts = detect_bursts(rec, chunk)
        assert any(b.channel == 1 and abs(b.start_s - i0 / fs) <= 0.010 for b in bursts), bursts


# -- flat channels ---------------------------------------------------------------------

@pytest.mark.parametrize("fs", [125.0, 250.0, 1000.0])
@pytest.mark.parametrize("level", [0.0, 1234.5])
def test_flat_channel_gives_no_bursts(fs, level):
    rng = np.random.default_rng(5)
    n = int(20 * fs)
    x = board_noise(fs, 3, n, rng, 4.0)
    x[1] = level
    p = _pulse(fs, 150.0)
    x[0, n // 2:n // 2 + p.size] += p  # something to find elsewhere
    rec = Recording(x.astype(np.float32), fs, ("A", "B", "C"))
    bursts = detect_bursts(rec, int(0.25 * fs))
    assert not [b for b in bursts if b.channel == 1]
    assert any(b.channel == 0 for b in bursts)
    episodes = analyze(rec)
    assert not [e for e in episodes if e.channel == 1]


@pytest.mark.parametrize("fs", [125.0, 1000.0])
@pytest.mark.parametrize("seconds", [0.3, 5.0])
def test_all_zero_recording(fs, seconds):
    rec = Recording(np.zeros((2, int(seconds * fs)), np.float32), fs, ("A", "B"))
    assert detect_bursts(rec) == []
    assert analyze(rec) == []
    assert run_pipeline(rec, [1, 7, 30]) == []


# -- chunking never changes the answer -----------------------------------------------

CHUNK_CASES = [(fs, seed) for fs in (250.0, 1000.0) for seed in (1, 2, 3)] + [(125.0, 1), (125.0, 2), (200.0, 1), (200.0, 2)]


def _random_sizes(fs: float, seed: int) -> list[int]:
    """Chunk sizes from 1 sample to 3 s: half log-uniform (many small), half uniform."""
    r = np.random.default_rng(seed + 17)
    hi = int(3 * fs)
    small = np.exp(r.uniform(0, np.log(hi), 400)).astype(int)
    big = r.integers(1, hi + 1, 400)
    sizes = np.empty(800, dtype=int)
    sizes[0::2], sizes[1::2] = small, big
    return np.clip(sizes, 1, hi).tolist()


_runs: dict = {}


def _same(got: list[tuple], ref: list[tuple]) -> None:
    """Fail with the episodes that differ (pytest's own diff of long lists is slow)."""
    if got != ref:
        pytest.fail(f"{len(got)} episodes against {len(ref)}; differing: {sorted(set(got) ^ set(ref))[:6]}")


def chunked(synth, fs: float, seed: int, how: str):
    """Episodes of the 2-minute recording (fs, seed) fed whole, in 40 ms chunks or in
    random chunk sizes; cached, as several tests compare the same runs."""
    if (fs, seed, how) not in _runs:
        rec, _ = synth(minutes=2.0, fs=fs, seed=seed)
        sizes = {"whole": [rec.n_samples], "40ms": [int(round(0.04 * fs))], "random": _random_sizes(fs, seed)}[how]
        _runs[(fs, seed, how)] = run_pipeline(rec, sizes)
    return _runs[(fs, seed, how)]


@pytest.mark.parametrize("fs,seed", CHUNK_CASES)
def test_whole_equals_batch_analyze(fs, seed, synth):
    rec, _ = synth(minutes=2.0, fs=fs, seed=seed)
    ref = episode_keys(chunked(synth, fs, seed, "whole"))
    assert len(ref) > 5
    _same(episode_keys(analyze(rec)), ref)


@pytest.mark.parametrize("how", ["40ms", "random"])
@pytest.mark.parametrize("fs,seed", CHUNK_CASES)
def test_chunking_gives_the_same_episodes(fs, seed, how, synth):
    got = episode_keys(chunked(synth, fs, seed, how))
    ref = episode_keys(chunked(synth, fs, seed, "whole"))
    _same(got, ref)


@pytest.mark.parametrize("fs,seed", CHUNK_CASES)
def test_chunking_gives_the_same_features_and_confidence(fs, seed, synth):
    """The whole Episode, features included: they feed the classifier (and the learned
    model to come), so they too must not depend on chunking."""
    ref, got = chunked(synth, fs, seed, "whole"), chunked(synth, fs, seed, "40ms")
    if episode_keys(got) != episode_keys(ref):
        pytest.fail("the episodes themselves differ (see test_chunking_gives_the_same_episodes)")
    diff = [(e.channel, e.start_s, k, e.features[k], g.features[k])
            for e, g in zip(ref, got) for k in e.features if e.features[k] != g.features[k]]
    if diff:  # (pytest.fail: pytest's own diff of long lists is slow)
        pytest.fail(f"{len(diff)} feature values differ, e.g. (channel, start, feature, whole, 40 ms) {diff[:4]}")
    if [e.confidence for e in got] != [e.confidence for e in ref]:
        pytest.fail("confidences differ")


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(case=st.sampled_from(CHUNK_CASES), data=st.data())
def test_hypothesis_chunkings_give_the_same_episodes(case, data, synth):
    fs, seed = case
    # any sizes from 1 sample to 3 s, cycled; lists whose mean is under 0.1 s are left out
    # only to bound the run time (1-sample chunks throughout take ~10 s a run)
    sizes = data.draw(st.lists(st.integers(1, int(3 * fs)), min_size=1, max_size=40)
                      .filter(lambda v: sum(v) >= 0.1 * fs * len(v)), label="sizes")
    rec, _ = synth(minutes=2.0, fs=fs, seed=seed)
    got = episode_keys(run_pipeline(rec, sizes))
    ref = episode_keys(chunked(synth, fs, seed, "whole"))
    _same(got, ref)


# -- lost samples ------------------------------------------------------------------------

def _quiet_points(episodes, duration: float, margin: float = 1.5) -> list[float]:
    """Midpoints of the stretches at least ``margin`` s from every episode (any channel)
    and from the ends of the recording."""
    busy = sorted((e.start_s - margin, e.end_s + margin) for e in episodes)
    points, t = [], margin
    for a, b in busy + [(duration - margin, duration)]:
        if a > t:
            points.append((t + a) / 2)
        t = max(t, b)
    return points


def _dropping(rec: Recording, size: int, holes: dict[int, int], first: int = 0):
    """Chunks of ``size`` with samples [p, p + n) lost for each hole p: n, as a source
    reports dropped frames: the samples are gone, the stream clock counts them."""
    cuts = sorted(set(range(0, rec.n_samples, size)) | set(holes) | {p + n for p, n in holes.items()})
    lost = 0
    for a, b in zip(cuts, cuts[1:] + [rec.n_samples]):
        if any(p <= a < p + n for p, n in holes.items()):
            lost += b - a
            continue
        yield Chunk(rec.data[:, a:b], rec.fs, rec.channels, start=first + a, lost=lost)
        lost = 0


_HOLES_125 = ("at 125 Hz losing up to half a second of samples moves the noise floor a little, and "
              "bursts near a border (the detector's threshold, the model's, the quiet block that ends "
              "a long burst) change; holes of whole 0.25 s blocks change as many, so it is not the "
              "blocks' alignment: ")


def _holes_125(seed: int, what: str):
    return pytest.param(125.0, seed, marks=pytest.mark.xfail(strict=False, reason=_HOLES_125 + what))


@pytest.mark.parametrize("fs,seed", [
    (250.0, 91), (1000.0, 92), (125.0, 95), (125.0, 98),
    _holes_125(96, "10 of 12 keep their place (10.8 needed): an artifact's edges move by 9-10 samples, and "
                   "a burst at snr 10 is 0.06 s called artifact (0.55) on the whole stream and 0.77 s called "
                   "spasm (0.59) with the holes (feature version 9's model; with version 8's the case passed)"),
    _holes_125(94, "all 13 episodes keep their kind, and 12 their start, but 9 keep their place (11.7 "
                   "needed): three ends move by 2-7 samples (16-56 ms) and an artifact's start by 6, where "
                   "the fast envelope falls below its share of the peak"),
    _holes_125(97, "a 40 ms burst at a hole's edge is reported as an artifact (the model trained with held "
                   "weak contractions, 29 Nov; with the one before, the case passed)"),
])
def test_lost_samples_keep_the_clock_and_leave_no_false_bursts(fs, seed, synth):
    """Holes of 1 sample to half a second in quiet stretches (one while the preprocessor
    still holds the first second, on a clock that starts at 1000): every episode keeps
    its place on the clock and its kind, and no hole is reported as activity."""
    rec, _ = synth(minutes=1.0, fs=fs, seed=seed, twitch_rate=30.0, spasm_rate=0.5, artifact_rate=1.0, ecg=False)
    ref = run_pipeline(rec, [rec.n_samples])
    assert len(ref) >= 4
    quiet = _quiet_points(ref, rec.duration_s, margin=0.7)
    assert len(quiet) >= 2, "the recording needs quiet stretches to put the holes in"
    rng = np.random.default_rng(seed)
    points = sorted(int(q * fs) for q in rng.choice(quiet, 2, replace=False))
    holes = {points[0]: int(rng.integers(1, int(0.5 * fs))), points[1]: int(rng.integers(1, 50)), int(0.4 * fs): 3}
    first = 1000
    got = Pipeline(fs, rec.channels).run(_dropping(rec, max(1, int(0.1 * fs)), holes, first))
    near = [(p - 0.05 * fs, p + n + 0.5 * fs) for p, n in holes.items()]
    # without the holes' samples the noise floor moves a little: edges may move by a few
    # ms and an episode at the threshold may come or go, but no more than that; a spasm
    # ends where a 0.25 s block of the floor is quiet again, and the holes shift the
    # blocks, so its end may move by up to 0.1 s
    tol = 0.01 * fs
    matched = [e for e in ref if any(g.channel == e.channel and g.kind == e.kind
                                     and abs(g.start_s * fs - first - e.start_s * fs) <= tol
                                     and abs(g.end_s * fs - first - e.end_s * fs) <= (tol if e.kind != "spasm"
                                                                                      else 0.1 * fs)
                                     for g in got)]
    # at the threshold (snr under 10) an episode may come or go; besides those, one may
    # come, go or change kind
    weak_gone = [e for e in ref if e.features["snr"] < 10 and not any(
        g.channel == e.channel and g.start_s * fs - first < e.end_s * fs + tol and e.start_s * fs < g.end_s * fs - first + tol
        for g in got)]
    assert len(matched) >= min(0.9 * len(ref), len(ref) - 1 - len(weak_gone))
    clear = [sum(e.features["snr"] >= 10 for e in eps) for eps in (ref, got)]  # well above the threshold
    assert abs(clear[1] - clear[0]) <= max(1, 0.05 * clear[0])
    # of those well above it, one in ten (at least one) may change kind or place
    strong = [e for e in ref if e.features["snr"] >= 10]
    assert len(strong) >= 4
    assert sum(e not in matched for e in strong) <= max(1, 0.1 * len(strong))
    # and no episode well above the threshold comes or goes (one in twenty, at least one,
    # may: a burst near the model's border between noise and artifact): one at snr 12 or
    # more on either side with nothing on its channel at that time on the other
    came = [g for g in got if g.features["snr"] >= 12 and not any(
        e.channel == g.channel and e.start_s * fs < g.end_s * fs - first + tol and g.start_s * fs - first < e.end_s * fs + tol
        for e in ref)]
    went = [e for e in ref if e.features["snr"] >= 12 and not any(
        g.channel == e.channel and g.start_s * fs - first < e.end_s * fs + tol and e.start_s * fs < g.end_s * fs - first + tol
        for g in got)]
    assert len(came) + len(went) <= max(1, 0.05 * len(ref)), (came, went)
    at_holes = [g for g in got if any(a < g.end_s * fs - first and g.start_s * fs - first < b for a, b in near)]
    assert not at_holes, "a hole was taken for activity"


# -- the joiner ----------------------------------------------------------------------------

def _ep(ch: int, a: float, b: float, kind: str, peak: float = 10.0, confidence: float = 0.6) -> Episode:
    return Episode(ch, f"EMG{ch + 1}", a, b, kind, peak, confidence, {"duration_s": b - a})


def test_a_brief_spasm_is_a_brief_contraction_unless_it_joins_others():
    """A 'spasm' shorter than SPASM_MIN_S, even after joining and however sure the model
    is, is reported as a brief contraction (artifact); short pieces that join into a
    longer spasm are kept as one spasm, and so is one just long enough."""
    j = SpasmJoiner(3)
    brief = SPASM_MIN_S / 3
    out = j.push([_ep(0, 1.0, 1.0 + brief, "spasm", confidence=0.99), _ep(1, 1.0, 1.0 + brief, "spasm"),
                  _ep(1, 1.5, 1.5 + brief, "spasm"), _ep(2, 1.0, 1.0 + SPASM_MIN_S, "spasm")], None)
    assert sorted((e.channel, e.start_s, e.end_s, e.kind) for e in out) == [
        (0, 1.0, 1.0 + brief, "artifact"), (1, 1.0, 1.5 + brief, "spasm"), (2, 1.0, 1.0 + SPASM_MIN_S, "spasm")]


def test_a_brief_spasm_followed_by_another_is_still_a_brief_contraction():
    """The same rule when the next spasm (too far to join) pushes it out, not the horizon."""
    j = SpasmJoiner(1)
    brief = SPASM_MIN_S / 3
    out = j.push([_ep(0, 1.0, 1.0 + brief, "spasm")], np.array([1.2]))
    out += j.push([_ep(0, 5.0, 7.0, "spasm")], np.array([5.5]))
    out += j.push([], None)
    assert [(e.start_s, e.kind) for e in out] == [(1.0, "artifact"), (5.0, "spasm")]


def test_twitches_just_before_or_inside_a_spasm_on_its_channel_are_folded_into_it():
    """A cramp's first single potentials, in the ONSET_S before it (or inside it), are not
    twitches; a twitch further before, after the spasm, or on another channel stays."""
    early, soon = 10.0 - 1.5 * ONSET_S, 10.0 - 0.9 * ONSET_S
    eps = [_ep(0, 10.0, 20.0, "spasm"), _ep(0, soon, soon + 0.05, "twitch"),  # just before: folded
           _ep(0, 12.0, 12.02, "twitch"),  # inside: folded
           _ep(0, early, early + 0.05, "twitch"),  # earlier: kept
           _ep(0, 20.5, 20.52, "twitch"),  # after it: kept
           _ep(1, soon, soon + 0.02, "twitch"), _ep(0, 9.9, 9.95, "artifact"),  # another channel / kind: kept
           _ep(2, 30.0, 31.0, "spasm"), _ep(2, 29.0, 29.05, "spasm"), _ep(2, 30.5, 30.52, "twitch")]
    kept = fold_onsets(eps)
    assert sorted((e.channel, e.start_s, e.kind) for e in kept) == [
        (0, early, "twitch"), (0, 9.9, "artifact"), (0, 10.0, "spasm"), (0, 20.5, "twitch"), (1, soon, "twitch"),
        (2, 29.0, "spasm"), (2, 30.0, "spasm")]
    assert fold_onsets([e for e in eps if e.kind != "spasm"]) == [e for e in eps if e.kind != "spasm"]


def test_a_run_of_twitches_on_a_channel_is_reported_as_a_contractions_potentials():
    """RUN_LEAST or more twitches on one channel, each within RUN_GAP_S of the one before,
    are artifacts (a driven unit, a contraction resolved into potentials); fewer, wider
    apart, on other channels, or broken by a longer gap, stay twitches."""
    g = RUN_GAP_S
    run = [_ep(0, 10.0 + k * 0.8 * g, 10.01 + k * 0.8 * g, "twitch") for k in range(RUN_LEAST)]
    short = [_ep(0, 20.0 + k * 0.8 * g, 20.01 + k * 0.8 * g, "twitch") for k in range(RUN_LEAST - 1)]
    wide = [_ep(0, 30.0 + k * 1.2 * g, 30.01 + k * 1.2 * g, "twitch") for k in range(RUN_LEAST + 1)]
    spread = [_ep(k % 2, 40.0 + k * 0.8 * g, 40.01 + k * 0.8 * g, "twitch") for k in range(RUN_LEAST + 1)]
    eps = run + short + wide + spread + [_ep(0, 10.0 + 0.4 * g, 10.5, "artifact")]
    out = runs_as_artifacts(eps)
    assert [e.kind for e in out] == ["artifact"] * RUN_LEAST + ["twitch"] * (len(eps) - RUN_LEAST - 1) + ["artifact"]
    assert [(e.channel, e.start_s, e.confidence) for e in out] == [(e.channel, e.start_s, e.confidence) for e in eps]
    assert [e.start_s for e in finished(list(reversed(eps)))] == sorted(e.start_s for e in eps)


@pytest.mark.parametrize("fs", (200.0, 250.0, 1000.0))
@pytest.mark.parametrize("seed", (3, 4))
def test_one_channel_with_its_electrode_off_costs_the_others_nothing(synth, fs, seed):
    """The twitches and spasms of the other channels are those found with that channel
    railed flat, when one channel's electrode is off (300 uV of noise) in 60 Hz hum. Its
    noise buried the hum in the spectrum summed over channels: no notch, and the hum then
    hid or mimicked twitches on every channel."""
    rec, _ = synth(minutes=1.0, fs=fs, seed=seed, mains_hz=60.0)
    off, flat = rec.data.copy(), rec.data.copy()
    off[3] = 300.0 * np.random.default_rng(seed).standard_normal(rec.n_samples)
    flat[3] = 187500.0
    found = [{(e.channel, e.kind, round(e.start_s, 2)) for e in analyze(Recording(x, fs, rec.channels))
              if e.channel < 3 and e.kind != "artifact"} for x in (off, flat)]
    assert found[1] and found[0] == found[1]


@pytest.mark.parametrize("fs", (200.0, 1000.0))
@pytest.mark.parametrize("seed", (0, 1))
def test_a_cramp_is_one_spasm_whole_up_to_nearly_two_minutes(fs, seed):
    """A cramp (muscle-band noise at 6 x the noise rms, ramped over 1 s) of 40 or 100 s is
    one spasm, start to end; one of 150 s is one spasm from its start for at least 110 s.
    The floor is the low tenth of the last minute's block sigmas, but at most 1.5 times
    that of the minute before: with the last minute's alone, a cramp that filled nine
    tenths of it became the floor, and every cramp ended at 55 s."""
    rng = np.random.default_rng(seed)
    for dur in (40.0, 100.0, 150.0):
        n, at = int(220 * fs), int(40 * fs)
        x = 3.0 * rng.standard_normal((2, n))
        m = int(dur * fs)
        cramp = signal.sosfilt(_muscle_band(fs), rng.standard_normal(m))
        x[0, at:at + m] += cramp / cramp.std() * 18.0 * signal.windows.tukey(m, 2.0 / dur)  # 1 s ramps
        spasms = [e for e in analyze(Recording(x.astype(np.float32), fs, ("a", "b"))) if e.kind == "spasm"]
        assert [e.channel for e in spasms] == [0], (dur, spasms)
        start, end = spasms[0].start_s, spasms[0].end_s
        assert abs(start - 40.0) < 1.0
        if dur <= 100:
            assert abs(end - (40.0 + dur)) < 3.0
        else:
            assert end - start >= 110.0


def test_a_twitch_that_leads_a_brief_artifact_or_pairs_up_is_reported_as_a_contractions():
    """A twitch starting less than LEAD_S before an artifact shorter than LONG_MOVEMENT_S
    starts on its channel is an artifact; earlier, after it, on another channel, before a
    long movement or before a spasm (``fold_onsets``' business), it stays a twitch. Two
    twitches starting DOUBLET_S to LEAD_S apart are both artifacts (the pairs that
    ``finished`` takes with ``runs_as_artifacts``); closer (a doublet) or further apart,
    twitches. Times and confidences are kept."""
    lead, soon, early = LEAD_S, 10.0 - 0.5 * LEAD_S, 10.0 - 2.0 * LEAD_S
    eps = [_ep(0, 10.0, 10.3, "artifact"), _ep(0, soon, soon + 0.02, "twitch"),  # leads it: artifact
           _ep(0, early, early + 0.02, "twitch"),  # earlier: twitch
           _ep(0, 10.31, 10.33, "twitch"),  # after it: twitch
           _ep(1, soon, soon + 0.02, "twitch"),  # another channel: twitch
           _ep(0, 30.4, 30.6, "artifact"), _ep(0, 30.1, 30.2, "artifact"),  # the nearest start counts
           _ep(0, 30.1 - 0.5 * lead, 30.12 - 0.5 * lead, "twitch"),
           _ep(0, 50.0, 50.0 + LONG_MOVEMENT_S, "artifact"), _ep(0, 50.0 - 0.5 * lead, 50.02 - 0.5 * lead, "twitch"),
           _ep(0, 60.0, 65.0, "spasm"), _ep(0, 60.0 - 0.5 * lead, 60.02 - 0.5 * lead, "twitch"),
           _ep(2, 70.0 + (DOUBLET_S + lead) / 2, 70.02 + (DOUBLET_S + lead) / 2, "twitch"),  # a pair (given
           _ep(2, 70.0, 70.02, "twitch"),  # out of order): artifacts
           _ep(2, 80.0, 80.01, "twitch"), _ep(2, 80.0 + 0.5 * DOUBLET_S, 80.01 + 0.5 * DOUBLET_S, "twitch"),
           _ep(2, 90.0, 90.02, "twitch"), _ep(2, 90.0 + 1.5 * lead, 90.02 + 1.5 * lead, "twitch")]
    out = leads_as_artifacts(runs_as_artifacts(eps, LEAD_S, 2, DOUBLET_S))
    assert [e.kind for e in out] == ["artifact", "artifact", "twitch", "twitch", "twitch", "artifact", "artifact",
                                     "artifact", "artifact", "twitch", "spasm", "twitch",
                                     "artifact", "artifact", "twitch", "twitch", "twitch", "twitch"]
    assert [(e.channel, e.start_s, e.end_s, e.confidence) for e in out] == \
        [(e.channel, e.start_s, e.end_s, e.confidence) for e in eps]
    alone = [e for e in eps if e.kind == "twitch" and e.channel != 2]
    assert leads_as_artifacts(alone) == alone
    assert runs_as_artifacts(alone, LEAD_S, 2, DOUBLET_S) == alone
    assert [e.kind for e in leads_as_artifacts(eps)][12:] == ["twitch"] * 6  # the pairs are not its business
    assert sum(e.kind == "twitch" for e in finished(eps)) == 8  # and the one before the spasm is folded into it


def _a_twitch_on_raised_noise(fs: float, seed: int, size: float) -> Recording:
    """A minute of unit noise on two channels; on the first, 20-35 s at 3 x that level and
    a twitch (``_spike`` times ``size``) at 27.3 s."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, int(60 * fs)))
    a, b = int(20 * fs), int(35 * fs)
    x[0, a:b] *= 3.0 * np.hanning(b - a) ** 0.1
    t0, spike = int(27.3 * fs), _spike(fs)
    x[0, t0:t0 + spike.size] += size * spike
    return Recording(x.astype(np.float32), fs, ("A", "B"))


@pytest.mark.parametrize("fs", [250.0, 1000.0])
def test_a_twitch_on_a_long_stretch_of_raised_noise_is_found_inside_it(fs):
    """A 15 s stretch of noise at 3 x its level is one long burst; a twitch 40 x the noise
    inside it is also given as a burst of its own (``inner``), where it is, however the
    stream is chunked."""
    rec = _a_twitch_on_raised_noise(fs, 7, 40.0)
    bursts = detect(rec)
    long = [bu for bu in bursts if bu.channel == 0 and bu.end_s - bu.start_s > 5]
    inner = [bu for bu in bursts if bu.features.get("inner") == 1.0]
    assert long and not any(bu.features["inner"] for bu in long)
    assert len(inner) == 1 and inner[0].channel == 0 and abs(inner[0].start_s - 27.3) < 0.02
    assert inner[0].end_s - inner[0].start_s < 0.1
    assert [(bu.channel, bu.start, bu.stop) for bu in detect(rec, chunk_s=0.37)] == \
        [(bu.channel, bu.start, bu.stop) for bu in bursts]


@pytest.mark.parametrize("seed", range(4))
def test_a_twitch_under_k_split_whose_energy_stands_out_is_found_inside_a_long_burst(seed):
    """At 1000 Hz, a twitch whose peak is about 5 x the raised noise around it (under
    ``k_split``) inside a 15 s stretch of such noise is found as a burst of its own: over
    the fast window its mean square passes what noise reaches as rarely (``Detector._loud``).
    Before, only a sample past ``k_split`` sigma counted, and it was found in 2 of 6
    seeds; the same however the stream is chunked."""
    rec = _a_twitch_on_raised_noise(1000.0, seed, 16.0)
    bursts = detect(rec)
    inner = [(round(bu.start_s, 3), round(bu.end_s, 3)) for bu in bursts if bu.features.get("inner") == 1.0]
    assert len(inner) == 1 and abs(inner[0][0] - 27.3) < 0.02 and inner[0][1] - inner[0][0] < 0.05, inner
    _same_however_chunked(rec, bursts, "snr")


@pytest.mark.parametrize("seed", range(3))
def test_loud_windows_are_judged_against_the_level_around_them(seed):
    """``Detector._loud`` flags a 12 ms twitch peaking at 5.5 x steady noise and nothing in
    noise whose level rises fourfold for half a second in the middle of the stretch (a
    swell of electrode noise), where the whole stretch's robust sigma alone would flag
    dozens of windows."""
    fs = 1000.0
    det = Detector(fs, 1)
    rng = np.random.default_rng(seed)
    steady = rng.standard_normal(4000)
    spike = _spike(fs)
    twitch = steady.copy()
    twitch[2000:2000 + spike.size] += 5.5 * spike
    flagged = np.flatnonzero(det._loud(twitch, np.abs(twitch), 1.0))
    assert flagged.size and flagged.min() >= 2000 - det.hf and flagged.max() < 2000 + spike.size + det.hf
    assert np.abs(twitch).max() < det.params.k_split  # (no single sample gets there)
    swell = rng.standard_normal(4000)
    swell[1620:2170] *= 4.0
    sigma = float(np.median(np.abs(swell)) / 0.6745)
    assert not det._loud(swell, np.abs(swell), sigma).any()
    window = np.convolve(swell * swell, np.ones(det.wf), "valid")
    assert np.count_nonzero(window > det.wf * det.t_split * sigma * sigma) > 20


@pytest.mark.parametrize("fs,seed", [(250.0, 3), (1000.0, 4), (200.0, 5)])
def test_lead_tells_noise_that_swelled_for_seconds_from_a_burst_out_of_steady_noise(fs, seed):
    """``lead`` (the level of the seconds before a burst over the floor) is near 1 for a
    contraction that rises out of steady noise, and well above 1 for noise that has been
    swelling for seconds before it crossed the threshold (the floor, a low quantile of
    the last minute, lags it); the same however the stream is chunked."""
    rng = np.random.default_rng(seed)
    n = int(120 * fs)
    x = rng.standard_normal((2, n))
    t = np.arange(n) / fs
    # channel 0: a 2 s contraction at 70 s out of steady noise, 8 x the noise rms
    a = int(70 * fs)
    x[0, a:a + int(2 * fs)] *= 8.0
    # channel 1: the noise swells from 1 to 4 x over 40 s from 60 s, then stays
    x[1] *= np.interp(t, [0, 60, 100, 120], [1, 1, 4, 4])
    rec = Recording(x.astype(np.float32), fs, ("A", "B"))
    bursts = detect(rec)
    spasm = [bu for bu in bursts if bu.channel == 0 and abs(bu.start_s - 70) < 0.1]
    assert len(spasm) == 1 and 0.75 < spasm[0].features["lead"] < 1.1, [bu.features["lead"] for bu in spasm]
    swell = [bu for bu in bursts if bu.channel == 1 and bu.end_s - bu.start_s > 1 and 62 < bu.start_s < 90]
    assert swell and swell[0].features["lead"] > 1.15, [(bu.start_s, bu.features["lead"]) for bu in swell]
    again = detect(rec, chunk_s=0.37)  # (in another order: channels' bursts settle at other times)
    assert sorted((bu.channel, bu.start, bu.features["lead"]) for bu in again) == \
        sorted((bu.channel, bu.start, bu.features["lead"]) for bu in bursts)


@pytest.mark.parametrize("fs", [200.0, 250.0, 1000.0])
@pytest.mark.parametrize("seed", [1, 2])
def test_sync_counts_the_channels_that_start_at_the_same_instant(fs, seed):
    """``sync``: a knock on the cable starts on every channel at once (all 3 others); a
    motor unit shows on its channel and a neighbour (1 other); a spike while the other
    channels are busy with a contraction counts none of them. The same however the
    stream is chunked."""
    rng = np.random.default_rng(seed)
    n = int(60 * fs)
    x = rng.standard_normal((4, n))

    def pulse(at_s: float, ch: int, amp: float) -> None:  # a biphasic 10 ms pulse
        m = max(3, int(0.01 * fs))
        a = int(at_s * fs)
        x[ch, a:a + m] += amp * np.sin(2 * np.pi * np.arange(m) / m)

    for ch in range(4):  # the knock, at 20 s
        pulse(20.0, ch, 40.0 * rng.uniform(0.5, 1.0))
    pulse(30.0, 1, 40.0)  # the motor unit, at 30 s, and its neighbour
    pulse(30.0, 2, 15.0)
    x[[0, 2, 3], int(39 * fs):int(42 * fs)] *= 10.0  # the contraction, 39-42 s
    pulse(40.5, 1, 40.0)  # ... and a spike on the quiet channel
    rec = Recording(x.astype(np.float32), fs, ("A", "B", "C", "D"))
    bursts = detect(rec)

    def sync_at(ch: int, t: float) -> list[float]:
        return [bu.features["sync"] for bu in bursts if bu.channel == ch and abs(bu.start_s - t) < 0.05]

    assert sync_at(0, 20.0) == [1.0] and sync_at(3, 20.0) == [1.0], (sync_at(0, 20.0), sync_at(3, 20.0))
    assert sync_at(1, 30.0) == [1 / 3], sync_at(1, 30.0)
    assert sync_at(1, 40.5) == [0.0], sync_at(1, 40.5)
    _same_however_chunked(rec, bursts, "sync")


@pytest.mark.parametrize("fs", [200.0, 250.0, 1000.0])
@pytest.mark.parametrize("seed", [1, 2])
def test_noise_centroid_is_the_colour_of_the_channels_own_noise(fs, seed):
    """``noise_centroid_hz`` is the spectral centroid of the channel's quiet noise: a swell
    of that same noise has about its centroid (``centroid_over_noise`` within 0.1 of the
    band's top of 0), while activity of another colour (here white, over noise falling
    like 1/f) stands well above it. The same however the stream is chunked."""
    from twitchwatch.classify import FEATURES, feature_matrix

    rng = np.random.default_rng(seed)
    n = int(120 * fs)
    x = signal.lfilter([1.0], [1.0, -0.95], rng.standard_normal((2, n)), axis=1)  # electrode noise, 1/f-like
    x /= x.std(axis=1, keepdims=True)
    a, b = int(70 * fs), int(76 * fs)
    x[0, a:b] *= 4.0  # channel 0: the noise itself swells for 6 s
    x[1, a:b] += 6.0 * rng.standard_normal(b - a)  # channel 1: activity of another colour
    rec = Recording(x.astype(np.float32), fs, ("A", "B"))
    bursts = detect(rec)
    col = FEATURES.index("centroid_over_noise")

    def shift(ch: int) -> list[float]:
        near = [bu for bu in bursts if bu.channel == ch and bu.end_s - bu.start_s > 1 and 69 < bu.start_s < 75]
        return [float(feature_matrix([bu.features], fs)[0, col]) for bu in near]

    quiet = [bu.features["noise_centroid_hz"] for bu in bursts if bu.start_s > 61]
    assert quiet and all(0 < c < fs / 2 for c in quiet), quiet
    assert shift(0) and all(abs(v) < 0.1 for v in shift(0)), shift(0)
    assert shift(1) and all(v > 0.1 + max(shift(0)) for v in shift(1)), (shift(0), shift(1))
    _same_however_chunked(rec, bursts, "noise_centroid_hz")


@pytest.mark.parametrize("fs", [200.0, 250.0, 1000.0])
@pytest.mark.parametrize("seed", [1, 2])
def test_body_is_the_level_a_few_large_spikes_leave_alone(fs, seed):
    """``body_uv`` is a burst's robust sigma. On channel 0 the noise swells to 3 x for
    15 s with four spikes 100 x the noise in it: that long burst's body is the swell's
    level (2-3.2 x the floor) and its rms is mostly the spikes' (``log_peakiness`` over
    0.4). On channel 1 activity of the same rms, steady like an interference pattern, has
    its body at its rms (``log_peakiness`` under 0.15). The same however the stream is
    chunked."""
    from twitchwatch.classify import FEATURES, feature_matrix

    rng = np.random.default_rng(seed)
    n = int(90 * fs)
    x = board_noise(fs, 2, n, rng, 1.0)
    a, b = int(62 * fs), int(77 * fs)
    x[0, a:b] *= 3.0 * np.hanning(b - a) ** 0.1
    spike = _spike(fs)
    for at in (66.0, 69.0, 72.0, 75.0):
        x[0, int(at * fs):int(at * fs) + spike.size] += 100.0 * spike
    pattern = signal.sosfilt(_muscle_band(fs), rng.standard_normal(b - a))
    x[1, a:b] += np.sqrt(np.mean(x[0, a:b] ** 2)) * pattern / pattern.std()
    rec = Recording(x.astype(np.float32), fs, ("A", "B"))
    bursts = detect(rec)
    level, peaky = FEATURES.index("log_body"), FEATURES.index("log_peakiness")

    def long_one(ch: int) -> np.ndarray:
        near = [bu for bu in bursts if bu.channel == ch and bu.end_s - bu.start_s > 8 and 61 < bu.start_s < 67]
        assert len(near) == 1, [(bu.start_s, bu.end_s) for bu in bursts if bu.channel == ch and bu.start_s > 61]
        return feature_matrix([near[0].features], fs)[0]

    swell, steady = long_one(0), long_one(1)
    assert np.log(2.0) < swell[level] < np.log(3.2) and swell[peaky] > 0.4, (np.exp(swell[level]), swell[peaky])
    assert steady[level] > swell[level] and steady[peaky] < 0.15, (np.exp(steady[level]), steady[peaky])
    _same_however_chunked(rec, bursts, "body_uv")


def _swinging_hum_and_a_muscle(fs: float, seed: int) -> Recording:
    """90 s of noise (1 uV rms) under hum. On channel 0 the hum, 100 x the noise, swings
    by +-40 % over 62-70 s (a notch lets its sidebands by); on channel 1 it holds still at
    half that while a muscle contracts at 6 x the noise over the same 8 s."""
    rng = np.random.default_rng(seed)
    n = int(90 * fs)
    t = np.arange(n) / fs
    x = board_noise(fs, 2, n, rng, 1.0)
    a, b = int(62 * fs), int(70 * fs)
    level = np.ones(n)
    level[a:b] += 0.4 * np.sin(np.pi * (t[a:b] - 62.0) / 2.0) * np.hanning(b - a) ** 0.2
    mains = np.sin(2 * np.pi * 50.0 * t + rng.uniform(0, 2 * np.pi))
    x[0] += 100.0 * level * mains
    x[1] += 50.0 * mains
    pattern = signal.sosfilt(_muscle_band(fs), rng.standard_normal(b - a))
    x[1, a:b] += 6.0 * pattern / pattern.std()
    return Recording(x.astype(np.float32), fs, ("A", "B"))


@pytest.mark.parametrize("fs", [200.0, 250.0, 1000.0])
@pytest.mark.parametrize("seed", [1, 2])
def test_flatness_tells_the_hum_a_notch_lets_by_from_a_muscle(fs, seed):
    """``flatness`` (geometric over arithmetic mean power in the band) of a burst: the
    swinging hum's sidebands are found as a burst whose power sits in a few lines
    (flatness under 0.05); the muscle's, as strong, is spread over the band (over 0.1,
    and over five times the hum's). The same however the stream is chunked."""
    rec = _swinging_hum_and_a_muscle(fs, seed)
    bursts = detect(rec)

    def long_one(ch: int) -> float:
        near = [bu for bu in bursts if bu.channel == ch and bu.end_s - bu.start_s > 4 and 61 < bu.start_s < 64]
        assert len(near) == 1, [(bu.start_s, bu.end_s) for bu in bursts if bu.channel == ch and bu.start_s > 61]
        return near[0].features["flatness"]

    hum, muscle = long_one(0), long_one(1)
    assert hum < 0.05 and muscle > max(0.1, 5 * hum), (hum, muscle)
    _same_however_chunked(rec, bursts, "flatness")


_HUM_250_2 = ("the residue (flatness 0.005) is a coin toss between noise and spasm: 0.46 / 0.46 before "
              "the held weak contractions in training (29 Nov, fourth change), spasm 0.78 / 0.75 after "
              "them (training seeds 0 and 1); our held-out set has one false spasm more at 250 Hz")


@pytest.mark.parametrize("fs,seed", [
    (200.0, 1), (200.0, 2), (250.0, 1), (1000.0, 1), (1000.0, 2),
    pytest.param(250.0, 2, marks=pytest.mark.xfail(strict=False, reason=_HUM_250_2)),
])
def test_the_hum_a_notch_lets_by_is_not_a_spasm(fs, seed):
    """Through the shipped model: the muscle's 8 s are one spasm, and nothing the hum's
    swing leaves on channel 0 is reported as a spasm (the model of feature version 8
    called it one at every rate)."""
    episodes = analyze(_swinging_hum_and_a_muscle(fs, seed))
    spasms = [(e.channel, round(e.start_s, 2), round(e.end_s, 2)) for e in episodes if e.kind == "spasm"]
    assert [s for s in spasms if s[0] == 0] == [], spasms
    assert [s for s in spasms if s[0] == 1 and s[1] < 63 and s[2] > 69], spasms


@pytest.mark.parametrize("seed", range(3))
def test_extents_of_many_runs_at_once_are_each_ones(seed):
    """Detector._extents (all of a stretch's runs at once) against _extent, run by run."""
    from twitchwatch.synth import SynthConfig, simulate

    rec, _ = simulate(SynthConfig(minutes=0.5, fs=1000.0, n_channels=3, seed=seed, twitch_rate=60.0))
    pre, det = Preprocessor(rec.fs, rec.n_channels), Detector(rec.fs, rec.n_channels)
    for chunk in pre.process(Chunk(rec.data, rec.fs, rec.channels)) + pre.flush():
        det._step(chunk.data, chunk.low, final=False)  # (no flush: the buffers are kept)
    rng = np.random.default_rng(seed)
    ch, at = np.nonzero(det._strong)
    pick = rng.choice(ch.size, 200)
    ch, at = ch[pick], at[pick] + det._b0  # runs around strong samples, some overlapping
    start = np.maximum(at - rng.integers(0, 300, at.size), det._b0)
    stop = np.minimum(at + rng.integers(1, 300, at.size), det._b0 + det._strong.shape[1])
    a, z = det._extents(ch, start, stop)
    assert [(int(u), int(v)) for u, v in zip(a, z)] == [det._extent(*r) for r in zip(ch.tolist(), start.tolist(),
                                                                                     stop.tolist())]


@pytest.mark.parametrize("fs", [200.0, 250.0, 1000.0])
@pytest.mark.parametrize("seed", [1, 2])
def test_a_twitch_in_what_a_swinging_hum_leaves_is_found_inside_it(fs, seed):
    """The sidebands a notch lets by of a hum whose level swings are one burst of seconds,
    far above the noise; a twitch 20 x the noise inside it stays under that burst's own
    sigma times ``k_split``, and stands out once its spectral lines are out (``without_lines``):
    it is also given as a burst of its own (``inner``), where it is, however the stream
    is chunked; with the lines left in it is not."""
    rec = _swinging_hum_and_a_muscle(fs, seed)
    spike = _spike(fs)
    t0 = int(66.0 * fs)
    rec.data[0, t0:t0 + spike.size] += 20.0 * spike
    bursts = detect(rec)
    host = [bu for bu in bursts if bu.channel == 0 and bu.end_s - bu.start_s > 2 and bu.start_s < 66 < bu.end_s]
    assert len(host) == 1, [(bu.start_s, bu.end_s) for bu in host]
    inner = [bu for bu in bursts if bu.features.get("inner") == 1.0 and bu.channel == 0]
    assert [abs(bu.start_s - 66.0) < 0.02 and bu.end_s - bu.start_s < 0.1 for bu in inner] == [True], \
        [(bu.start_s, bu.end_s) for bu in inner]
    _same_however_chunked(rec, bursts, "snr")
    with_lines = detect_bursts(rec, params=DetectorParams(line_k=np.inf))
    assert not [bu for bu in with_lines if bu.features.get("inner") == 1.0 and bu.channel == 0]


@pytest.mark.parametrize("n", [500, 2000, 3000])
@pytest.mark.parametrize("seed", [0, 1])
def test_without_lines_takes_out_lines_and_leaves_a_spike(n, seed):
    """Tones 3-10 x the noise rms, two of them between FFT bins: what is left of them is
    under a fifth (a line's power leaks into the bins beside it); a spike 30 x the noise
    is left within a few units; of noise alone, next to nothing is taken."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 1000.0
    noise = rng.standard_normal(n)
    spike = np.zeros(n)
    at = n // 2 + int(rng.integers(-100, 100))
    spike[at:at + 3] = [20.0, -30.0, 10.0]
    tones = 10.0 * np.sin(2 * np.pi * 50.0 * t) + 5.0 * np.sin(2 * np.pi * 150.3 * t + 1.0) \
        + 3.0 * np.sin(2 * np.pi * 99.1 * t)
    out = without_lines(noise + spike + tones, 8.0)
    assert (out - noise - spike).std() < 0.2 * tones.std()
    assert np.abs(out[at:at + 3] - spike[at:at + 3]).max() < 3.0
    alone = without_lines(noise, 8.0)  # noise alone: the few bins over 8 x their median (0.4 %), a few % of its power
    assert 0.9 < alone.std() / noise.std() <= 1.0
