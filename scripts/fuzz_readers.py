#!/usr/bin/env python
"""Fuzz every recording reader and the serial frame decoder with mutated real inputs.

Readers: ``edf``, ``bdf`` (EDF+/BDF+, plain EDF, an unclosed live file), ``brainflow-csv``
(``--board synthetic``), ``openbci-txt`` (old and GUI v6 files), ``text`` (BioSPPy header,
no options), ``text-fs`` (``--fs 200``) and ``serial`` (``FrameDecoder``). The seeds are
heads of the real recordings in ../shared/recordings/real plus files written with
``formats.write_recording``, ``pyedflib``, ``EdfWriter`` and BrainFlow's ``DataFilter``.

The contract checked for every input (``check_file`` / ``check_serial``, shared with
tests/faults/test_fuzz_readers.py): a file either opens as a sane Recording or fails with a
one-line RecordingError naming the file; the decoder never raises and its good frames and
skipped bytes add up to exactly the bytes fed (so it never reports more samples than the
bytes could carry).

Plain mode (no atheris needed)::

    PYTHONPATH=src .venv/bin/python scripts/fuzz_readers.py --runs 10000 [--reader NAME ...]

Each input is mutated from a seed by 1-3 of ``MUTATORS`` (byte flips, truncation, hostile
EDF header fields, CRLF/CR, UTF-16/latin-1, NaN/inf/empty fields, long lines, garbage)
and run in a worker child (restarted after any failure) that has an RLIMIT_AS of its
start-up size + 1 GiB; the parent waits at most ``--timeout`` (5 s) per input. Counted per
reader: clean errors, successes, tracebacks (an exception other than RecordingError, or a
broken contract), hangs, memory blow-ups (MemoryError, or peak RSS growing by > 1 GiB)
and crashes (the worker died); for ``serial``, "clean errors" are inputs without one good
frame and "successes" inputs with some. Failing inputs are saved under ``--out`` as
``<reader>-<index>.bin``; input i of a run is reproducible from ``--seed`` alone
(``--replay READER I`` rebuilds it and runs it in this process). Exit status 1 if any
input was not a clean error or a success.

atheris mode (``pip install atheris``; coverage-guided, libFuzzer flags pass through)::

    PYTHONPATH=src .venv/bin/python scripts/fuzz_readers.py --atheris text -- -runs=100000 -timeout=5 -rss_limit_mb=1024

uses the same check as target and the same mutators as custom mutator (70 %, libFuzzer's
own the rest). Crash inputs go to ``--out`` (libFuzzer's ``-artifact_prefix``), not the
working folder.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import random
import resource
import select
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "recordings" / "real"
GIB = 1 << 30
MAX_INPUT = 1 << 20


class ContractError(AssertionError):
    """A reader's answer broke the contract (not a clean error, not a sane Recording)."""


# --- the contract -----------------------------------------------------------------------
def check_recording(rec: object, path: Path) -> None:
    """Raise ContractError unless ``rec`` is a sane Recording read from ``path``."""
    from twitchwatch.formats.checks import FS_MAX, FS_MIN
    from twitchwatch.types import Recording

    def need(ok: bool, what: str) -> None:
        if not ok:
            raise ContractError(f"{path.name}: insane Recording: {what}")

    need(isinstance(rec, Recording), f"got {type(rec).__name__}")
    shape = (rec.n_channels, rec.n_samples)  # before ``data``: a lazy recording knows them from the header
    step = max(1, shape[1] // 3 + 1)
    chunks = list(rec.chunks(step))  # (lazy: read block by block from the file)
    need(all(c.start == k * step for k, c in enumerate(chunks)), "chunk starts are not consecutive")
    data = rec.data
    need(isinstance(data, np.ndarray) and data.ndim == 2, f"data is not 2-D ({getattr(data, 'shape', None)})")
    need(data.dtype == np.float32 and data.flags.c_contiguous, f"data is {data.dtype}, not C float32")
    need(data.shape == shape, f"data is {data.shape} but the recording said {shape}")
    joined = np.concatenate([c.data for c in chunks], axis=1) if chunks else np.zeros((shape[0], 0))
    need(np.array_equal(joined, data, equal_nan=True), "its chunks differ from its data")
    need(data.shape[0] >= 1 and data.shape[1] >= 1, f"shape {data.shape}")
    need(len(rec.channels) == data.shape[0] and all(isinstance(c, str) for c in rec.channels),
         f"{len(rec.channels)} names for {data.shape[0]} channels")
    need(isinstance(rec.fs, float) and math.isfinite(rec.fs) and FS_MIN <= rec.fs <= FS_MAX,
         f"fs {rec.fs!r}")
    size = path.stat().st_size
    need(data.size <= size, f"{data.size} values from a {size}-byte file")
    need(isinstance(rec.meta.get("warnings"), list) and all(isinstance(w, str) for w in rec.meta["warnings"]),
         "meta['warnings'] is not a list of str")
    need(rec.meta.get("nonfinite") == int(data.size - np.count_nonzero(np.isfinite(data))),
         "meta['nonfinite'] is wrong")
    need(rec.start_time is None or isinstance(rec.start_time, dt.datetime), f"start_time {rec.start_time!r}")
    for a in rec.annotations:
        need(len(a) == 3 and all(isinstance(x, float) and math.isfinite(x) for x in a[:2])
             and isinstance(a[2], str), f"annotation {a!r}")


def check_file(path: Path, options: dict) -> str:
    """'error' (a clean RecordingError) or 'ok' (a sane Recording); else ContractError or
    whatever the reader raised."""
    from twitchwatch.errors import RecordingError
    from twitchwatch.formats import open_recording

    try:
        rec = open_recording(path, **options)
    except RecordingError as exc:
        msg = str(exc)
        if "\n" in msg or path.name not in msg:
            raise ContractError(f"unclear RecordingError (multi-line or no file name): {msg[:300]!r}") from None
        return "error"
    check_recording(rec, path)
    return "ok"


def check_serial(data: bytes, splits: list[int]) -> str:
    """Feed ``data`` to a FrameDecoder in pieces cut at ``splits``, then flush: it must not
    raise, every frame must be well formed, and frames + skipped bytes == bytes fed."""
    from twitchwatch.sources.serial import OVERHEAD, TYPE_INFO, TYPE_SAMPLES, FrameDecoder

    dec = FrameDecoder()
    frames = []
    cuts = [0, *sorted(min(max(s, 0), len(data)) for s in splits), len(data)]
    for a, b in zip(cuts[:-1], cuts[1:]):
        frames += dec.feed(data[a:b])
    frames += dec.flush()
    carried = 0
    for f in frames:
        carried += OVERHEAD + len(f.payload)
        if f.type == TYPE_SAMPLES:
            if not (f.n and f.counts is not None and f.counts.size % f.n == 0
                    and 3 + 2 * f.counts.size == len(f.payload)):
                raise ContractError(f"bad SAMPLES frame n={f.n} counts={getattr(f.counts, 'size', None)} "
                                    f"payload={len(f.payload)}")
            for c in (1, 2, 3, 16):
                try:
                    f.counts_2d(c)
                except ValueError:
                    pass
        elif f.type != TYPE_INFO or f.info is None:
            raise ContractError(f"frame of type {f.type} without its fields")
    if dec.frames_ok != len(frames) or carried + dec.bytes_skipped != len(data):
        raise ContractError(f"{len(frames)} frames of {carried} bytes + {dec.bytes_skipped} skipped "
                            f"!= {len(data)} bytes fed (frames_ok {dec.frames_ok})")
    return "ok" if frames else "error"


# --- readers and their seeds ------------------------------------------------------------
@dataclass
class Reader:
    """A reader under test: file suffix, open_recording options, and other options some
    inputs use instead (channel picks, an --fs override)."""

    name: str
    suffix: str
    options: dict = field(default_factory=dict)
    variants: tuple[dict, ...] = ()


_EDF_VARIANTS = ({"columns": "1,0"}, {"columns": "2"}, {"fs": 500})
READERS = {r.name: r for r in [
    Reader("edf", ".edf", variants=_EDF_VARIANTS), Reader("bdf", ".bdf", variants=_EDF_VARIANTS),
    Reader("brainflow-csv", ".csv", {"board": "synthetic"}, ({"board": "synthetic", "columns": "3,1"},)),
    Reader("openbci-txt", ".txt", variants=({"fs": 250}, {"columns": "1"})),
    Reader("text", ".txt", variants=({"columns": "0"},)),
    Reader("text-fs", ".txt", {"fs": 200}, ({"fs": 200, "columns": "1-2"},)),
    Reader("serial", ".bin"),
]}


def _head(name: str, n_bytes: int) -> bytes:
    """The first whole lines (about ``n_bytes``) of a real recording, if present."""
    p = REAL / name
    if not p.is_file():
        return b""
    raw = p.read_bytes()[:n_bytes]
    return raw[:raw.rfind(b"\n") + 1]


def _signal(n_ch: int, n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n_ch, n)) * 40.0


def _edf_seeds(ext: str, tmp: Path) -> list[bytes]:
    import pyedflib

    from twitchwatch.formats import EdfWriter, write_recording
    from twitchwatch.types import Recording

    out = []
    rec = Recording(_signal(3, 617).astype(np.float32), 250.0, ("EMG1", "EMG2", "EMG3"),
                    start_time=dt.datetime(2024, 5, 6, 7, 8, 9),
                    annotations=[(0.5, 0.0, "caffeine"), (1.25, 0.5, "twitch")])
    write_recording(tmp / f"plus{ext}", rec)
    out.append((tmp / f"plus{ext}").read_bytes())
    w = EdfWriter(tmp / f"live{ext}", 200.0, ["a", "b"], bdf=ext == ".bdf")  # never closed
    w.append(_signal(2, 450, 1))
    out.append((tmp / f"live{ext}").read_bytes())  # before close: the header says -1 records
    w.close()
    plain = tmp / f"plain{ext}"
    ftype = pyedflib.FILETYPE_BDF if ext == ".bdf" else pyedflib.FILETYPE_EDF
    with pyedflib.EdfWriter(str(plain), 2, file_type=ftype) as pw:
        pw.setSignalHeaders([{"label": "fast", "dimension": "mV", "sample_frequency": 500,
                              "physical_min": -5.0, "physical_max": 5.0, "digital_min": -32768,
                              "digital_max": 32767, "transducer": "", "prefilter": ""},
                             {"label": "slow", "dimension": "uV", "sample_frequency": 100,
                              "physical_min": -500.0, "physical_max": 500.0, "digital_min": -32768,
                              "digital_max": 32767, "transducer": "", "prefilter": ""}])
        pw.writeSamples([np.sin(np.arange(1000) / 9.0), np.cos(np.arange(200) / 5.0) * 100])
    out.append(plain.read_bytes())
    return out


def _brainflow_seeds(tmp: Path) -> list[bytes]:
    from brainflow.board_shim import BoardIds, BoardShim
    from brainflow.data_filter import DataFilter

    descr = BoardShim.get_board_descr(BoardIds.SYNTHETIC_BOARD.value)
    out = []
    for n in (120, 7):
        data = _signal(descr["num_rows"], n, n)
        data[descr["package_num_channel"]] = np.arange(n) % 256
        data[descr["timestamp_channel"]] = 1_700_000_000.25 + np.arange(n) / descr["sampling_rate"]
        DataFilter.write_file(data, str(tmp / "bf.csv"), "w")
        out.append((tmp / "bf.csv").read_bytes())
    return out


def _serial_seeds() -> list[bytes]:
    from twitchwatch.sources.serial import encode_info, encode_samples

    counts = (_signal(30, 2 * 4, 3) * 100).astype(np.int16).reshape(30, 2, 4)  # frames x N x C
    stream = encode_info(4, 1000, 0.5, "tw-emg") + b"".join(encode_samples(seq, block)
                                                            for seq, block in enumerate(counts))
    wide = b"".join(encode_samples(7 + k, np.arange(15 * 8).reshape(15, 8) * (k + 1)) for k in range(4))
    return [stream, encode_info(8, 250, 0.1953125, "cyton-bridge") + wide, b"\x00" * 7 + stream[:200]]


def seeds(reader: str, tmp: Path) -> list[bytes]:
    """Seed inputs of ``reader`` (``tmp``: a scratch folder for written files)."""
    if reader in ("edf", "bdf"):
        return _edf_seeds("." + reader, tmp)
    if reader == "brainflow-csv":
        return _brainflow_seeds(tmp)
    if reader == "serial":
        return _serial_seeds()
    if reader == "openbci-txt":
        found = [_head("OpenBCI-RAW-S05_S1REST.txt", 6000), _head("OpenBCI_GUI-v6-blinks-jawClench-alpha.txt", 12000)]
        fallback = b"%OpenBCI Raw EEG Data\n%Number of channels = 4\n%Sample Rate = 200.0 Hz\n" + b"".join(
            b"%d, %.2f, %.2f, 0.00, 0.00, 0.0, 0.0, 0.0, 12:00:00.%03d\n" % (i, i * 1.5, -i * 0.5, i)
            for i in range(200))
        return [s for s in found if s] or [fallback]
    if reader == "text":
        found = [_head("emg_1.txt", 4000)]
        return [s for s in found if s] + [b"# Sampling Rate (Hz):= 500.0\n# Labels:= A\tB\n" + b"".join(
            b"%d\t%d\n" % (i, -i) for i in range(300))]
    if reader == "text-fs":
        found = [_head("myo-readings_12345-1_7.txt", 4000)]
        return [s for s in found if s] + [b"t;emg\n" + b"".join(b"%d;%d,%d\n" % (i, i % 7, i % 3) for i in range(300)),
                                          b"".join(b"%.3f %.3f\n" % (math.sin(i), math.cos(i)) for i in range(300))]
    raise KeyError(reader)


# --- mutators: (rng, data, reader) -> bytes ----------------------------------------------
HUGE = [b"99999999", b"-99999999", b"2147483648", b"-1", b"0", b"-0", b"1e308", b"-1e308", b"1e999",
        b"nan", b"NaN", b"-nan", b"inf", b"-inf", b"Infinity", b"", b" ", b"+", b"-", b"1e", b"0x1f",
        b"1_000", b"9" * 40, b"\xff\xfe", b"1.5", b"4e-320"]
NUMBERISH = np.zeros(256, bool)
NUMBERISH[list(b"0123456789.-+eE")] = True


def flip_bits(rng: random.Random, data: bytes, reader: str) -> bytes:
    b = bytearray(data) or bytearray(b"\0")
    for _ in range(rng.randint(1, 8)):
        b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    return bytes(b)


def set_bytes(rng: random.Random, data: bytes, reader: str) -> bytes:
    b = bytearray(data) or bytearray(b"\0")
    for _ in range(rng.randint(1, 4)):
        b[rng.randrange(len(b))] = rng.choice([0, 0xFF, 0x7F, 0x80, 0x0A, 0x0D, 0x2C, 0x09, 0x25, 0x23,
                                               rng.randrange(256)])
    return bytes(b)


def truncate(rng: random.Random, data: bytes, reader: str) -> bytes:
    return data[:rng.randrange(len(data) + 1)]


def delete_range(rng: random.Random, data: bytes, reader: str) -> bytes:
    i = rng.randrange(len(data) + 1)
    return data[:i] + data[i + rng.randint(1, 600):]


def duplicate_range(rng: random.Random, data: bytes, reader: str) -> bytes:
    i = rng.randrange(len(data) + 1)
    j = min(len(data), i + rng.randint(1, 2000))
    return data[:j] + data[i:j] * rng.randint(1, 20) + data[j:]


def insert_garbage(rng: random.Random, data: bytes, reader: str) -> bytes:
    i = rng.randrange(len(data) + 1)
    junk = rng.choice([bytes(rng.randrange(256) for _ in range(rng.randint(1, 300))),
                       b"\0" * rng.randint(1, 50), b"\xa5\x5a" * rng.randint(1, 40),
                       b"\xa5\x5a\x02\xff" * rng.randint(1, 40), b"\xef\xbb\xbf", b"\xff\xfe"])
    return data[:i] + junk + data[i:]


def line_endings(rng: random.Random, data: bytes, reader: str) -> bytes:
    lf = data.replace(b"\r\n", b"\n")
    return rng.choice([lf.replace(b"\n", b"\r\n"), lf.replace(b"\n", b"\r"), lf,
                       lf.replace(b"\n", b"\n\r"), lf.replace(b"\n", b"\n\n"),
                       lf.replace(b"\n", b"\r\n", rng.randint(1, 50))])


def reencode(rng: random.Random, data: bytes, reader: str) -> bytes:
    text = data.decode("latin-1")
    choice = rng.randrange(5)
    if choice == 0:
        return text.encode("utf-16")  # with a BOM
    if choice == 1:
        return text.encode(rng.choice(["utf-16-le", "utf-16-be", "utf-32"]))
    if choice == 2:
        return b"\xef\xbb\xbf" + data
    if choice == 3:
        return text.replace("-", "\u2212").encode("utf-8")  # a Unicode minus sign
    return data.decode("utf-8", "replace").encode("latin-1", "replace")


def hostile_number(rng: random.Random, data: bytes, reader: str) -> bytes:
    """Replace a few numbers (runs of digits, signs, dots, exponents) with NaN, inf, empty,
    huge, negative or malformed ones."""
    a = np.frombuffer(data, np.uint8)
    if not a.size:
        return rng.choice(HUGE)
    num = NUMBERISH[a]
    edges = np.flatnonzero(np.diff(np.concatenate(([0], num.astype(np.int8), [0]))))
    runs = edges.reshape(-1, 2)
    if not len(runs):
        return data
    if rng.random() < 0.5:  # the header (first 1 KiB) is where a number does the most harm
        runs = runs[:max(1, int(np.searchsorted(runs[:, 0], 1024)))]
    out = bytearray(data)
    for start, stop in sorted({tuple(runs[rng.randrange(len(runs))]) for _ in range(rng.randint(1, 6))},
                              reverse=True):
        out[start:stop] = rng.choice(HUGE)
    return bytes(out)


def empty_fields(rng: random.Random, data: bytes, reader: str) -> bytes:
    sep = rng.choice([b",", b"\t", b";", b" "])
    return data.replace(sep, rng.choice([sep * 2, b"", sep + b" " + sep, b"\t,"]), rng.randint(1, 40))


def long_line(rng: random.Random, data: bytes, reader: str) -> bytes:
    """Lengthen a line (often a header line) by up to 200 KB of one repeated unit."""
    i = data.find(b"\n", rng.randrange(min(len(data), 200) + 1 if rng.random() < 0.4 else len(data) + 1))
    i = len(data) if i < 0 else i
    unit = rng.choice([b"1", b"1,", b"1\t", b"-9e99,", b" ", b"\t ", b"#", b"%", b"x ", b"nan,", b"\0"])
    return data[:i] + unit * (rng.randint(1_000, 200_000) // len(unit)) + data[i:]


HEADER_LINES = [b"# Sampling Rate (Hz):= ", b"# Labels:= ", b"# Resolution:= ", b"# note ", b"%Sample Rate = ",
                b"%Number of channels = ", b"%Board = ", b"% note ", b"Sample Index, "]


def header_line(rng: random.Random, data: bytes, reader: str) -> bytes:
    """Insert a header line (BioSPPy '#', OpenBCI '%', a column-name row) near the top with
    a hostile value: NaN, huge or malformed numbers, 5000 digits, long runs of blanks."""
    value = rng.choice(HUGE + [b"9" * 5000, b" " * rng.randint(1_000, 100_000) + b"x", b"\t" * 50_000,
                               b"EXG Channel 0, EXG Channel 0", b"EXG Channel " + b"0" * 5000 + b"1", b"foo, bar"])
    line = rng.choice(HEADER_LINES) + value + rng.choice([b"", b" Hz", b"\r"]) + b"\n"
    i = 0
    for _ in range(rng.randrange(10)):
        i = data.find(b"\n", i) + 1 or len(data)
    return data[:i] + line + data[i:]


def splice(rng: random.Random, data: bytes, reader: str) -> bytes:
    """Swap the halves around a random point, or repeat the file (a concatenated copy)."""
    i = rng.randrange(len(data) + 1)
    return rng.choice([data[i:] + data[:i], data + data, data[:i] + data])


# EDF header: (offset, width) of the fixed fields, then per-signal field widths in order.
EDF_FIXED = {"version": (0, 8), "startdate": (168, 8), "starttime": (176, 8), "header_bytes": (184, 8),
             "reserved": (192, 44), "n_records": (236, 8), "duration": (244, 8), "n_signals": (252, 4)}
EDF_SIGNAL = [("label", 16), ("transducer", 80), ("dimension", 8), ("phys_min", 8), ("phys_max", 8),
              ("dig_min", 8), ("dig_max", 8), ("prefilter", 80), ("samples", 8), ("sig_reserved", 32)]


def edf_field(data: bytes, name: str, signal: int = 0) -> tuple[int, int] | None:
    """(offset, width) of a header field of an EDF/BDF file's bytes, None if out of reach."""
    if name in EDF_FIXED:
        return EDF_FIXED[name]
    try:
        ns = int(data[252:256])
    except ValueError:
        return None
    if not 0 < ns < 10_000:
        return None
    off = 256
    for fname, width in EDF_SIGNAL:
        if fname == name:
            pos = off + (signal % ns) * width
            return (pos, width) if pos + width <= len(data) else None
        off += ns * width
    raise KeyError(name)


def set_edf_field(data: bytes, name: str, value: bytes, signal: int = 0) -> bytes:
    where = edf_field(data, name, signal)
    if where is None:
        return data
    off, width = where
    return data[:off] + value[:width].ljust(width) + data[off + width:]


EDF_VALUES = {
    "n_records": HUGE + [b"-2", b"-1", b"1", b"2"],
    "samples": HUGE + [b"1", b"99999", b"-250", b"65536"],
    "header_bytes": HUGE + [b"256", b"512", b"768", b"1024", b"-768"],
    "n_signals": HUGE + [b"1", b"2", b"9999", b"-3", b"1000"],
    "duration": HUGE + [b"0.001", b"1e-9", b"1000000", b"0.5"],
    "phys_min": HUGE, "phys_max": HUGE, "dig_min": HUGE + [b"8388607"], "dig_max": HUGE + [b"-8388608"],
    "startdate": [b"99.99.99", b"00.00.00", b"31.02.85", b"xx.yy.zz", b"", b"1.1.1"],
    "starttime": [b"99.99.99", b"24.00.00", b"12:00:00", b"", b"-1.-1.-1"],
    "version": [b"1", b"", b"\xffBIOSEMI", b"0"],
    "reserved": [b"EDF+C", b"EDF+D", b"BDF+C", b"BDF+D", b"24BIT", b"\xff" * 44],
    "label": [b"EDF Annotations", b"BDF Annotations", b"", b"\0" * 16],
    "dimension": [b"", b"mV", b"V", b"\xb5V", b"\0" * 8],
}


def edf_header(rng: random.Random, data: bytes, reader: str) -> bytes:
    """Put a hostile value in an EDF/BDF header field (counts, sizes, ranges, dates)."""
    if rng.random() < 0.2:  # physical range collapses: min == max (or NaN both)
        sig = rng.randrange(8)
        where = edf_field(data, "phys_min", sig)
        if where is None:
            return data
        same = rng.choice([data[where[0]:where[0] + where[1]], b"nan", b"0"])
        return set_edf_field(set_edf_field(data, "phys_min", same, sig), "phys_max", same, sig)
    name = rng.choice(sorted(EDF_VALUES))
    return set_edf_field(data, name, rng.choice(EDF_VALUES[name]), rng.randrange(8))


def edf_resize(rng: random.Random, data: bytes, reader: str) -> bytes:
    """Change the layout consistently, so that edflib reads on: the number of signals with
    the header size to match, or a signal's samples per record with the record count."""
    try:
        ns, n_rec = int(data[252:256]), int(data[236:244])
        spr = int(data[edf_field(data, "samples", 0)[0]:][:8])
    except (ValueError, TypeError):
        return data
    if rng.random() < 0.5:
        new = max(1, rng.choice([1, ns - 1, ns + 1, 2 * ns]))
        return set_edf_field(set_edf_field(data, "n_signals", b"%d" % new), "header_bytes", b"%d" % (256 * (new + 1)))
    k = rng.choice([2, 3, 4])
    sig = rng.randrange(ns)
    out = set_edf_field(data, "samples", b"%d" % (spr * k), sig)
    return set_edf_field(out, "n_records", b"%d" % rng.choice([max(1, n_rec // k), n_rec, -1]))


def serial_frames(rng: random.Random, data: bytes, reader: str) -> bytes:
    """Insert CRC-valid frames with hostile fields (unknown type, N = 0, odd lengths,
    an INFO with NaN scale or 0 channels), so the payload parser is reached."""
    from twitchwatch.sources.serial import encode_frame

    kind = rng.randrange(4)
    if kind == 0:
        payload = struct.pack("<HB", rng.randrange(65536), rng.choice([0, 1, 2, 126, 255])) + bytes(
            rng.randrange(256) for _ in range(rng.randrange(253)))
        frame = encode_frame(2, payload)
    elif kind == 1:
        frame = encode_frame(1, struct.pack("<BBHf", rng.choice([0, 1, 2, 255]), rng.choice([0, 1, 16, 17, 255]),
                                            rng.choice([0, 1, 65535]), rng.choice([math.nan, math.inf, -0.0, 1e38]))
                             + bytes(rng.randrange(256) for _ in range(rng.randrange(248))))
    elif kind == 2:
        frame = encode_frame(rng.randrange(256), bytes(rng.randrange(256) for _ in range(rng.randrange(256))))
    else:
        frame = encode_frame(rng.choice([1, 2]), bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 2, 3, 4, 7, 8]))))
    i = rng.randrange(len(data) + 1)
    return data[:i] + frame + data[i:]


COMMON = [flip_bits, set_bytes, truncate, delete_range, duplicate_range, insert_garbage, splice]
TEXT = [line_endings, reencode, hostile_number, empty_fields, long_line, header_line]
MUTATORS: dict[str, list[Callable[[random.Random, bytes, str], bytes]]] = {
    "edf": COMMON + [edf_header] * 4 + [edf_resize] * 2 + [hostile_number],
    "bdf": COMMON + [edf_header] * 4 + [edf_resize] * 2 + [hostile_number],
    "serial": COMMON + [serial_frames] * 3,
    **{name: COMMON + TEXT for name in ("brainflow-csv", "openbci-txt", "text", "text-fs")},
}


def mutate(rng: random.Random, data: bytes, reader: str) -> bytes:
    """1-3 stacked mutations of ``data`` (at most MAX_INPUT bytes)."""
    for _ in range(rng.choice([1, 1, 2, 3])):
        data = rng.choice(MUTATORS[reader])(rng, data, reader)[:MAX_INPUT]
    return data


def make_input(reader: str, corpus: list[bytes], seed: int, index: int) -> tuple[bytes, list[int], dict]:
    """Input ``index`` of a run: mutated bytes, (serial) the feed split points, and
    (files) the open_recording options, the reader's own 3 times in 4."""
    rng = random.Random(f"{seed}/{reader}/{index}")
    data = mutate(rng, rng.choice(corpus), reader)
    splits = [rng.randrange(len(data) + 1) for _ in range(rng.randrange(4))]
    r = READERS[reader]
    options = rng.choice(r.variants) if r.variants and rng.random() < 0.25 else r.options
    return data, splits, options


def run_one(reader: str, data: bytes, splits: list[int], workdir: Path, options: dict | None = None) -> str:
    """Check one input in this process: 'error' or 'ok', else it raises. ``options``
    (open_recording's) default to the reader's."""
    if reader == "serial":
        return check_serial(data, splits)
    path = workdir / f"fuzz{READERS[reader].suffix}"
    path.write_bytes(data)
    return check_file(path, READERS[reader].options if options is None else options)


# --- plain mode: a worker child per reader ------------------------------------------------
def _vm_kib(field_name: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    return 0


def worker(reader: str) -> None:
    """Child: read length-prefixed inputs on stdin, answer one JSON line each."""
    import warnings

    warnings.simplefilter("ignore")
    import twitchwatch.formats  # noqa: F401 - imports before measuring the start-up size
    import twitchwatch.sources.serial  # noqa: F401
    if reader == "brainflow-csv":
        from twitchwatch.formats import brainflow_csv
        brainflow_csv.describe("synthetic")
    base_rss = _vm_kib("VmRSS")
    limit = _vm_kib("VmSize") * 1024 + GIB
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    workdir = Path(tempfile.mkdtemp(prefix="twfuzz-"))
    inp, out = sys.stdin.buffer, sys.stdout
    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    while True:
        head = inp.read(8)
        if len(head) < 8:
            break
        n, n_extra = struct.unpack("<II", head)
        extra = json.loads(inp.read(n_extra))
        data = inp.read(n)
        try:
            outcome, detail = run_one(reader, data, extra["splits"], workdir, extra["options"]), ""
        except MemoryError:
            outcome, detail = "memory", "MemoryError"
        except Exception as exc:  # noqa: BLE001 - every other exception is a finding
            outcome, detail = "traceback", "".join(traceback.format_exception_only(type(exc), exc))[-400:] + \
                "".join(traceback.format_tb(exc.__traceback__)[-2:])
        peak = _vm_kib("VmHWM")
        if outcome in ("ok", "error") and (peak - base_rss) * 1024 > GIB:
            outcome, detail = "memory", f"peak RSS {peak // 1024} MiB"
        try:
            Path("/proc/self/clear_refs").write_text("5")  # reset the peak for the next input
        except OSError:
            pass
        out.write(json.dumps({"outcome": outcome, "detail": detail, "peak_mib": peak // 1024}) + "\n")
        out.flush()


class Worker:
    """A worker child the parent feeds inputs to, with a per-input timeout."""

    def __init__(self, reader: str) -> None:
        env = dict(os.environ, PYTHONPATH=str(REPO / "src"), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker", reader],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        if self._line(120.0) != {"ready": True}:
            self.close()
            raise RuntimeError(f"the {reader} worker did not start (see its traceback above)")

    def _line(self, timeout: float) -> dict | None:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return None
        line = self.proc.stdout.readline()
        return json.loads(line) if line else {"outcome": "crash", "detail": f"exit {self.proc.wait()}"}

    def run(self, data: bytes, splits: list[int], options: dict, timeout: float) -> dict:
        extra = json.dumps({"splits": splits, "options": options}).encode()
        try:
            self.proc.stdin.write(struct.pack("<II", len(data), len(extra)) + extra + data)
            self.proc.stdin.flush()
        except BrokenPipeError:
            return {"outcome": "crash", "detail": f"exit {self.proc.wait()}"}
        answer = self._line(timeout)
        return answer if answer is not None else {"outcome": "hang", "detail": f"no answer in {timeout:g} s"}

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


OUTCOMES = ("error", "ok", "traceback", "hang", "memory", "crash")


def fuzz(reader: str, runs: int, seed: int, timeout: float, out_dir: Path) -> dict:
    """Run ``runs`` inputs of ``reader``; counts per outcome, peak RSS and findings."""
    with tempfile.TemporaryDirectory() as tmp:
        corpus = seeds(reader, Path(tmp))
    counts = dict.fromkeys(OUTCOMES, 0)
    findings: list[dict] = []
    peak = 0
    w = Worker(reader)
    t0 = time.monotonic()
    try:
        for i in range(runs):
            data, splits, options = make_input(reader, corpus, seed, i)
            r = w.run(data, splits, options, timeout)
            counts[r["outcome"]] += 1
            peak = max(peak, r.get("peak_mib", 0))
            if r["outcome"] not in ("error", "ok"):
                out_dir.mkdir(parents=True, exist_ok=True)
                (out_dir / f"{reader}-{i}.bin").write_bytes(data)
                findings.append({"index": i, "outcome": r["outcome"], "options": options, "detail": r["detail"]})
                w.close()
                w = Worker(reader)
    finally:
        w.close()
    return {"reader": reader, "runs": runs, "seed": seed, "seconds": round(time.monotonic() - t0, 1),
            "counts": counts, "worker_peak_rss_mib": peak, "findings": findings}


def replay(reader: str, index: int, seed: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data, splits, options = make_input(reader, seeds(reader, Path(tmp)), seed, index)
        print(f"{len(data)} bytes, splits {splits}, options {options}: {data[:200]!r}")
        print(run_one(reader, data, splits, Path(tmp), options))


# --- atheris mode ---------------------------------------------------------------------------
def atheris_main(reader: str, argv: list[str], out_dir: Path) -> None:
    import atheris  # optional: pip install atheris (the `fuzz` extra)

    with atheris.instrument_imports():
        import twitchwatch.formats  # noqa: F401
        import twitchwatch.sources.serial  # noqa: F401
    tmp = Path(tempfile.mkdtemp(prefix="twfuzz-atheris-"))
    corpus_dir = tmp / "corpus"
    corpus_dir.mkdir()
    for k, s in enumerate(seeds(reader, tmp)):
        (corpus_dir / f"seed{k}").write_bytes(s)

    def target(data: bytes) -> None:
        split = [len(data) // 3] if reader == "serial" else []
        run_one(reader, data, split, tmp)  # anything but 'error'/'ok' propagates: a crash

    def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        if rng.random() < 0.3:
            return atheris.Mutate(data, max_size)
        return mutate(rng, data, reader)[:max_size]

    out_dir.mkdir(parents=True, exist_ok=True)
    flags = [f"-artifact_prefix={out_dir}/{reader}-", *argv]
    atheris.Setup([sys.argv[0], *flags, str(corpus_dir)], target, custom_mutator=custom_mutator)
    atheris.Fuzz()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=1000, help="inputs per reader (plain mode)")
    ap.add_argument("--reader", action="append", choices=sorted(READERS), help="default: every reader")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=5.0, help="seconds per input before it counts as a hang")
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "twitchwatch-fuzz",
                    help="folder for failing inputs")
    ap.add_argument("--json", type=Path, help="also write the counts here")
    ap.add_argument("--replay", nargs=2, metavar=("READER", "INDEX"), help="rebuild and run one input here")
    ap.add_argument("--atheris", metavar="READER", choices=sorted(READERS), help="coverage-guided mode")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("libfuzzer", nargs="*", help="after --: libFuzzer flags for --atheris")
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker)
        return 0
    if args.atheris:
        atheris_main(args.atheris, args.libfuzzer, args.out)
        return 0
    if args.replay:
        replay(args.replay[0], int(args.replay[1]), args.seed)
        return 0
    results = []
    for reader in args.reader or list(READERS):
        r = fuzz(reader, args.runs, args.seed, args.timeout, args.out)
        results.append(r)
        c = r["counts"]
        ok, err = ("frames", "no frame") if reader == "serial" else ("successes", "clean errors")
        print(f"{reader:14s} {r['runs']} inputs in {r['seconds']:7.1f} s: {c['error']} {err}, "
              f"{c['ok']} {ok}, {c['traceback']} tracebacks, {c['hang']} hangs, {c['memory']} memory "
              f"blow-ups, {c['crash']} crashes; worker peak RSS {r['worker_peak_rss_mib']} MiB", flush=True)
        for f in r["findings"][:5]:
            print(f"    #{f['index']} {f['outcome']}: {f['detail'].strip().splitlines()[0][:160]}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return int(any(r["findings"] for r in results))


if __name__ == "__main__":
    sys.exit(main())
