"""Fuzzed readers (issue 7): truncated, mutated and hostile files through every reader, and
arbitrary bytes through the serial frame decoder.

Every file must open as a sane Recording or fail with a one-line RecordingError naming
it; the decoder must never raise nor account for more bytes than it was fed. The checks
and the mutators are those of scripts/fuzz_readers.py (its ``--runs N`` mode runs 10,000
inputs per reader in a child; here hypothesis drives them in-process, reproducibly).
Each example runs under a 5 s alarm (faulthandler ends the run if C code hangs past it)
and an address-space limit of the process's size + 1 GiB, so a hang or a memory blow-up
fails the test instead of stalling or swapping CI.
"""
from __future__ import annotations

import contextlib
import faulthandler
import importlib.util
import math
import os
import random
import resource
import signal
import struct
import sys
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twitchwatch.sources.serial import encode_frame, encode_info, encode_samples

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "fuzz_readers.py"
_spec = importlib.util.spec_from_file_location("fuzz_readers", SCRIPT)
fz = importlib.util.module_from_spec(_spec)
sys.modules["fuzz_readers"] = fz
_spec.loader.exec_module(fz)

LIMIT_S = 5
GIB = 1 << 30


def fuzz_settings(n: int) -> settings:
    return settings(max_examples=n, deadline=None, derandomize=True, database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large, HealthCheck.large_base_example])


class Hang(Exception):
    """An example ran past LIMIT_S seconds."""


def _raise_hang(signum: int, frame: object) -> None:
    raise Hang("an input ran past its time limit")


_DUMP = [sys.stderr]  # where faulthandler writes: the terminal, past pytest's capture (below)


@pytest.fixture(scope="module", autouse=True)
def _uncaptured_stderr(pytestconfig) -> Iterator[None]:
    """A copy of the real stderr, so that a hang's traceback dump reaches the CI log."""
    capman = pytestconfig.pluginmanager.getplugin("capturemanager")
    with capman.global_and_fixture_disabled() if capman else contextlib.nullcontext():
        _DUMP[0] = os.fdopen(os.dup(2), "w")
    yield
    _DUMP[0].close()
    _DUMP[0] = sys.stderr


@contextlib.contextmanager
def guarded(limit_s: float = LIMIT_S) -> Iterator[None]:
    """An alarm (5 s) and an address-space limit of the current size + 1 GiB, for one example."""
    with open("/proc/self/statm") as f:
        vm_bytes = int(f.read().split()[0]) * resource.getpagesize()
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = vm_bytes + GIB if hard == resource.RLIM_INFINITY else min(hard, vm_bytes + GIB)
    old = signal.signal(signal.SIGALRM, _raise_hang)
    faulthandler.dump_traceback_later(limit_s + 2, exit=True, file=_DUMP[0])  # C code misses the alarm
    signal.setitimer(signal.ITIMER_REAL, limit_s)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        signal.setitimer(signal.ITIMER_REAL, 0)
        faulthandler.cancel_dump_traceback_later()
        signal.signal(signal.SIGALRM, old)


pytestmark = [pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux /proc"),
              pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")]  # 1e300 -> float32


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


_CORPUS: dict[str, list[bytes]] = {}


def corpus(reader: str, work: Path) -> list[bytes]:
    if reader not in _CORPUS:
        _CORPUS[reader] = fz.seeds(reader, work)
    return _CORPUS[reader]


def run(reader: str, data: bytes, work: Path, splits: list[int] | None = None, options: dict | None = None) -> str:
    with guarded():
        return fz.run_one(reader, data, splits or [], work, options)


def mutated(reader: str, work: Path, which: int, mutators: list, rnd: random.Random) -> bytes:
    seeds = corpus(reader, work)
    data = seeds[which % len(seeds)]
    for m in mutators:
        data = m(rnd, data, reader)[:fz.MAX_INPUT]
    return data


def mutations(reader: str) -> st.SearchStrategy:
    return st.tuples(st.integers(0, 7), st.lists(st.sampled_from(fz.MUTATORS[reader]), min_size=1, max_size=3),
                     st.randoms(use_true_random=False))


# --- known findings in files this suite may not fix yet (see /work/notes/fuzz_findings.md) ---
# F1: edf.py's lazy reader says meta['nonfinite'] == 0, but a huge physical range (e.g.
#     physical maximum 1e308) scales samples past float32 and they read as inf.
KNOWN_EDF: dict[str, str] = {}  # findings not fixed yet: name -> the contract error they raise


def run_edf(reader: str, data: bytes, work: Path, options: dict | None = None) -> str:
    """``run`` for EDF/BDF that tolerates the known findings (each has its own xfail test)."""
    try:
        return run(reader, data, work, options=options)
    except fz.ContractError as exc:
        if any(sig in str(exc) for sig in KNOWN_EDF.values()):
            return "known"
        raise


# --- every reader, the script's mutators ----------------------------------------------------
@pytest.mark.parametrize("reader", ["brainflow-csv", "openbci-txt", "text", "text-fs"])
@fuzz_settings(200)
@given(case=mutations("text"), variant=st.integers(0, 3))
def test_text_readers_mutated(work, reader, case, variant):
    which, muts, rnd = case
    r = fz.READERS[reader]
    options = [r.options, r.options, *r.variants][variant % (2 + len(r.variants))]
    assert run(reader, mutated(reader, work, which, muts, rnd), work, options=options) in ("ok", "error")


@pytest.mark.parametrize("reader", ["edf", "bdf"])
@fuzz_settings(250)
@given(case=mutations("edf"), options=st.sampled_from([{}, {}, {"columns": "1,0"}, {"columns": "2"}, {"fs": 500}]))
def test_edf_readers_mutated(work, reader, case, options):
    which, muts, rnd = case
    assert run_edf(reader, mutated(reader, work, which, muts, rnd), work, options) in ("ok", "error", "known")


@pytest.mark.parametrize("reader", sorted(fz.MUTATORS))
def test_mutators_take_any_input(reader):
    """Every mutator returns bytes for empty, one-byte and header-only inputs too (a
    mutator that raised would end an atheris run early)."""
    for mutator in set(fz.MUTATORS[reader]):
        for data in (b"", b"\n", b"0", b"0       " + b" " * 248):
            for k in range(20):
                assert isinstance(mutator(random.Random(k), data, reader), bytes)


def test_mutators_reach_both_outcomes(work):
    """The mutated inputs are not all rejected (nor all accepted): the fuzzing gets past
    the format sniffing into the readers."""
    for reader in ("edf", "openbci-txt", "text", "serial"):
        inputs = [fz.make_input(reader, corpus(reader, work), 1, i) for i in range(60)]
        if reader == "edf":
            seen = {run_edf(reader, data, work, options) for data, _, options in inputs}
        else:
            seen = {run(reader, data, work, splits, options) for data, splits, options in inputs}
        assert {"ok", "error"} <= seen, (reader, seen)


# --- EDF/BDF header fields: counts, sizes, ranges -------------------------------------------
def _field_value() -> st.SearchStrategy:
    return st.one_of(st.integers(-(10**8), 10**9).map(lambda v: b"%d" % v),
                     st.floats(allow_nan=True, allow_infinity=True).map(lambda v: repr(v).encode()),
                     st.binary(max_size=8))


@pytest.mark.parametrize("reader", ["edf", "bdf"])
@fuzz_settings(250)
@given(which=st.integers(0, 2), name=st.sampled_from(sorted(fz.EDF_VALUES) + ["n_records"] * 3 + ["samples"] * 3),
       value=st.one_of(st.sampled_from(fz.HUGE), _field_value()), signal_no=st.integers(0, 3),
       cut=st.none() | st.integers(0, 9000))
def test_edf_hostile_header_fields(work, reader, which, name, value, signal_no, cut):
    data = fz.set_edf_field(corpus(reader, work)[which], name, value, signal_no)
    assert run_edf(reader, data[:cut], work) in ("ok", "error", "known")


@pytest.mark.parametrize("reader", ["edf", "bdf"])
@fuzz_settings(100)
@given(which=st.integers(0, 2), signal_no=st.integers(0, 2),
       value=st.sampled_from([b"0", b"nan", b"-1", b"1e308", b"-1e308", b"inf"]), digital=st.booleans())
def test_edf_collapsed_ranges(work, reader, which, signal_no, value, digital):
    """Physical (or digital) minimum == maximum, NaN or absurd: no division by zero survives."""
    lo, hi = ("dig_min", "dig_max") if digital else ("phys_min", "phys_max")
    data = fz.set_edf_field(fz.set_edf_field(corpus(reader, work)[which], lo, value, signal_no), hi, value, signal_no)
    assert run_edf(reader, data, work) in ("ok", "error", "known")


@pytest.mark.parametrize("reader", ["edf", "bdf"])
@pytest.mark.parametrize("value", [b"1e308", b"1e999", b"-1e40"])
def test_finding_f1_huge_physical_range_is_refused(work, reader, value):
    """Finding F1: a physical range that scales samples to inf is a clean error now (it
    used to open with samples that were all inf or NaN)."""
    data = fz.set_edf_field(corpus(reader, work)[0], "phys_max" if value[0:1] != b"-" else "phys_min", value, 1)
    assert run(reader, data, work) == "error"


# --- delimited text built from hostile values -------------------------------------------------
_CELL = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64).map(repr),
                  st.integers(-(10**30), 10**30).map(str),
                  st.sampled_from(["", " ", "nan", "-nan", "inf", "-inf", "Infinity", "1e999", "-", "+", "1e",
                                   ".", "0x10", "1_0", "\u2212" + "3", "3,5", "\xb5V", "9" * 400, "NaN"]))
_HEADERS = [b"", b"# Simple Text Format\n# Sampling Rate (Hz):= 1000.00\n# Resolution:= 12\n# Labels:= EMG\n",
            b"%OpenBCI Raw EEG Data\n%Number of channels = 4\n%Sample Rate = 200.0 Hz\n%Board = x\n",
            b"%OpenBCI Raw EXG Data\n%Number of channels = 2\n%Sample Rate = 250 Hz\n"
            b"Sample Index, EXG Channel 0, EXG Channel 1, Timestamp\n"]


@fuzz_settings(300)
@given(header=st.sampled_from(_HEADERS) | st.binary(max_size=200),
       rows=st.lists(st.lists(_CELL, min_size=1, max_size=9), min_size=0, max_size=40),
       delimiter=st.sampled_from([",", "\t", ";", " ", ", "]), eol=st.sampled_from(["\n", "\r\n", "\r", "\n\r"]),
       encoding=st.sampled_from(["ascii", "latin-1", "utf-8", "utf-8-sig", "utf-16"]),
       reader=st.sampled_from(["text", "text-fs", "openbci-txt", "brainflow-csv"]), final_eol=st.booleans())
def test_hostile_tables(work, header, rows, delimiter, eol, encoding, reader, final_eol):
    body = eol.join(delimiter.join(r) for r in rows) + (eol if final_eol else "")
    data = header.replace(b"\n", eol.encode()) + body.encode(encoding, "replace")
    assert run(reader, data, work) in ("ok", "error")


@fuzz_settings(150)
@given(data=st.binary(min_size=1, max_size=3000), reader=st.sampled_from(sorted(set(fz.READERS) - {"serial"})))
def test_binary_garbage(work, data, reader):
    assert run(reader, data, work) in ("ok", "error")


@pytest.mark.parametrize("reader", ["text", "openbci-txt"])
def test_found_regressions(work, reader):
    """Inputs the fuzzer found (each a hang or a traceback before its fix)."""
    cases = [b"# Simple Text Format" + b" " * 100_000 + b"x\n# Sampling Rate (Hz):= 1000\n1\n2\n",  # regex backtracking
             b"%Sample Rate = + Hz\n0, 1.0, 2.0, 0, 0, 0\n1, 1.0, 2.0, 0, 0, 0\n",  # float('+')
             b"%Sample Rate = 250 Hz\n%Number of channels = 999999999\nSample Index, foo, bar\n1,2,3\n",  # huge list
             b"%Sample Rate = 250 Hz\n%Number of channels = " + b"9" * 5000 + b"\n0,1,2,3,4,5\n",  # int() limit
             b"%Sample Rate = 250 Hz\nSample Index, EXG Channel " + b"0" * 5000 + b"1\n0,1\n"]
    for data in cases:
        assert run(reader, data, work) in ("ok", "error")


# --- the serial frame decoder ------------------------------------------------------------------
_FRAME = st.one_of(
    st.builds(lambda c, r, s, name: encode_info(c, r, s, name), st.integers(0, 255), st.integers(0, 65535),
              st.floats(allow_nan=True, allow_infinity=True, width=32), st.text("ab-", max_size=20)),
    st.builds(lambda seq, n, c, v: encode_samples(seq, np.full((n, c), v, np.int16)), st.integers(0, 65535),
              st.integers(1, 8), st.integers(1, 8), st.integers(-32768, 32767)),
    st.builds(encode_frame, st.integers(0, 255), st.binary(max_size=255)),
    st.builds(lambda seq, n, rest: encode_frame(2, struct.pack("<HB", seq, n) + rest), st.integers(0, 65535),
              st.integers(0, 255), st.binary(max_size=252)),
    st.binary(max_size=300), st.sampled_from([b"\xa5", b"\xa5\x5a", b"\xa5\x5a\x02\xff", b"\x5a"]))


@fuzz_settings(300)
@given(pieces=st.lists(_FRAME, max_size=30), splits=st.lists(st.integers(0, 10_000), max_size=6),
       flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 7)), max_size=4),
       cut=st.none() | st.integers(0, 10_000))
def test_serial_decoder_stream(work, pieces, splits, flips, cut):
    data = bytearray(b"".join(pieces)[:cut])
    for pos, bit in flips:
        if data:
            data[pos % len(data)] ^= 1 << bit
    assert run("serial", bytes(data), work, splits) in ("ok", "error")


@fuzz_settings(200)
@given(case=mutations("serial"), splits=st.lists(st.integers(0, 3000), max_size=5))
def test_serial_decoder_mutated(work, case, splits):
    which, muts, rnd = case
    assert run("serial", mutated("serial", work, which, muts, rnd), work, splits) in ("ok", "error")


def test_serial_check_counts_every_byte(work):
    """The decoder check is not vacuous: a clean stream decodes into frames that carry all
    of its bytes, and garbage in between is counted as skipped."""
    from twitchwatch.sources.serial import FrameDecoder

    stream = corpus("serial", work)[0]
    assert run("serial", stream, work, [5, 77]) == "ok"
    dec = FrameDecoder()
    frames = dec.feed(b"junk" + stream) + dec.flush()
    assert dec.bytes_skipped == 4 and sum(6 + len(f.payload) for f in frames) == len(stream)
    samples = sum(f.n for f in frames if f.n)
    assert 0 < samples * 4 * 2 < len(stream)  # 4 channels of int16 per sample
    assert math.isfinite(frames[0].info.uv_per_count)


def test_guard_stops_a_hang_and_a_blowup():
    """The per-example guard works: a Python loop past the limit and a 2 GiB allocation fail."""
    import time

    with pytest.raises(Hang):
        with guarded(limit_s=0.5):
            t0 = time.monotonic()
            while time.monotonic() - t0 < 30:
                pass
    with pytest.raises(MemoryError):
        with guarded():
            np.ones(2 * GIB // 8)
