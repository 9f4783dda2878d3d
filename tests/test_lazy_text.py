"""Text recordings (BrainFlow CSV, OpenBCI GUI txt, delimited text) are parsed in blocks: a
file larger than ``table.IN_MEMORY_BYTES`` keeps its float32 rows in a temporary file and
opens lazily, with the samples, names, rate, start time and warnings of the in-memory path,
and analysing a big BrainFlow CSV takes memory for a block, not for the file.

Most tests shrink the head, the block and the in-memory threshold to a few KiB, so that
small files written here cross many block boundaries."""
from __future__ import annotations

import contextlib
import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from twitchwatch.errors import RecordingError
from twitchwatch.formats import open_recording, table

REPO = Path(__file__).resolve().parents[1]
SMALL = {"HEAD_BYTES": 3000, "BLOCK_BYTES": 2000, "IN_MEMORY_BYTES": 4096}


def _values(n: int, cols: int, seed: int) -> np.ndarray:
    """Samples x columns of hundredths (exact in the text, so the expected floats are known)."""
    return np.random.default_rng(seed).integers(-900_000, 900_000, (n, cols)) / 100


def _lines(rows: np.ndarray, sep: str = ",", point: str = ".") -> list[str]:
    return [sep.join(f"{v:.2f}".replace(".", point) for v in r) for r in rows]


def _brainflow(path: Path, board: str, n: int = 3000) -> np.ndarray:
    from brainflow.data_filter import DataFilter

    from twitchwatch.formats.brainflow_csv import describe

    _, d = describe(board)
    data = _values(n, d["num_rows"], 1).T.copy()
    data[d["timestamp_channel"]] = 1_700_000_000.25 + np.arange(n) / d["sampling_rate"]
    data[d["emg_channels"][1], [5, 2500]] = np.nan
    DataFilter.write_file(data, str(path), "w")
    return data[d["emg_channels"]]


def _openbci_v6(path: Path, n: int = 2500) -> np.ndarray:
    x = _values(n, 11, 2)
    names = ["Sample Index", *(f"EXG Channel {k}" for k in range(8)), *(f"Accel Channel {k}" for k in range(3)),
             "Other", "Timestamp", "Timestamp (Formatted)"]
    rows = [f"{i}, {line},0, {1557936053329 + 4 * i},  12:00:{i % 60:02d}.329"
            for i, line in enumerate(_lines(x, ", "))]
    head = ("%OpenBCI Raw EXG Data\n%Number of channels = 8\n%Sample Rate = 250 Hz\n"
            "%Board = OpenBCI_GUI$BoardCytonSerial\n")
    path.write_text(head + ", ".join(names) + "\n" + "\n".join(rows) + "\n")
    return x[:, :8].T


def _openbci_old(path: Path, n: int = 2500) -> np.ndarray:
    x = _values(n, 7, 3)
    rows = [f"{i}, {line}, 11:04:{i % 60:02d}.853" for i, line in enumerate(_lines(x, ", "))]
    head = "%OpenBCI Raw EEG Data\n%\n%Sample Rate = 200.0 Hz\n%First Column = SampleIndex\n"
    path.write_bytes((head + "\r\n".join(rows) + "\r\n").encode())
    return x[:, :4].T


def _plain(path: Path, n: int = 3000) -> np.ndarray:
    x = _values(n, 5, 4)
    path.write_text("\n".join(_lines(x)) + "\n")
    return x.T


def _named(path: Path, n: int = 3000) -> np.ndarray:
    x = _values(n, 3, 5)
    rows = [f"{line},{'ab'[i % 2]}" for i, line in enumerate(_lines(x))]
    long_note = "# " + "a long note " * 400  # longer than the head (which grows to its end) and a block
    path.write_text(long_note + "\nEMG1,EMG2,EMG3,label\n" + "\n".join(rows[:1500]) + f"\n{long_note}\n\n"
                    + "\n".join(rows[1500:]) + "\n")
    return x.T


def _decimal_comma(path: Path, n: int = 3000) -> np.ndarray:
    x = _values(n, 4, 6)
    path.write_text("\n".join(_lines(x, ";", ",")) + "\n")
    return x.T


# name: writer (returns the channels written), options, channel names
FORMATS = {
    "brainflow-synthetic": (lambda p: _brainflow(p, "synthetic"), {"board": "synthetic"},
                            [f"EXG{k}" for k in range(16)]),
    "brainflow-cyton": (lambda p: _brainflow(p, "cyton"), {"board": "cyton", "fs": 500}, [f"EXG{k}" for k in range(8)]),
    "openbci-v6": (_openbci_v6, {}, [f"EXG{k}" for k in range(8)]),
    "openbci-old": (_openbci_old, {}, [f"EXG{k}" for k in range(4)]),
    "text": (_plain, {"fs": 250}, [f"ch{k}" for k in range(5)]),
    "text-header-row": (_named, {"fs": 1000}, ["EMG1", "EMG2", "EMG3"]),
    "text-decimal-comma": (_decimal_comma, {"fs": 300}, [f"ch{k}" for k in range(4)]),
}


def _both(monkeypatch, path: Path, **options):
    """The recording opened as usual (in memory) and with blocks of a few KiB (lazy)."""
    whole = open_recording(path, **options)
    with monkeypatch.context() as m:
        for name, value in SMALL.items():
            m.setattr(table, name, value)
        lazy = open_recording(path, **options)
    return whole, lazy


def _same(whole, lazy) -> None:
    assert not whole.lazy and lazy.lazy
    assert (lazy.channels, lazy.fs, lazy.start_time, lazy.n_samples, lazy.n_channels) == \
           (whole.channels, whole.fs, whole.start_time, whole.n_samples, whole.n_channels)
    assert lazy.meta == whole.meta  # warnings, nonfinite, format, units ...


def _error(path: Path, monkeypatch: pytest.MonkeyPatch | None = None, **options) -> str:
    """The one-line error opening ``path`` gives (in blocks of a few KiB with ``monkeypatch``)."""
    with monkeypatch.context() if monkeypatch else contextlib.nullcontext() as m:
        for name, value in SMALL.items() if m else ():
            m.setattr(table, name, value)
        with pytest.raises(RecordingError) as info:
            open_recording(path, **options)
    message = str(info.value)
    assert path.name in message and "\n" not in message
    return message


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_lazy_path_equals_the_in_memory_path(tmp_path, monkeypatch, fmt):
    write, options, names = FORMATS[fmt]
    path = tmp_path / "rec.txt"
    expected = write(path).astype(np.float32)
    whole, lazy = _both(monkeypatch, path, **options)
    _same(whole, lazy)
    assert whole.channels == tuple(names) and whole.meta["warnings"] == lazy.meta["warnings"]
    np.testing.assert_array_equal(whole.data, expected)  # the numbers written, as float32
    n = lazy.n_samples
    for size in (1, 7, 333, 1999, n + 5):
        chunks = list(lazy.chunks(size))
        assert [c.start for c in chunks] == list(range(0, n, size))
        np.testing.assert_array_equal(np.concatenate([c.data for c in chunks], axis=1), whole.data)
    rng = np.random.default_rng(0)
    for a, b in [(0, 1), (n - 3, n + 9), (-4, 3), (500, 500), *(sorted(rng.integers(0, n, 2)) for _ in range(10))]:
        got = lazy.read(a, b)
        assert got.dtype == np.float32 and got.flags.c_contiguous
        np.testing.assert_array_equal(got, whole.data[:, max(a, 0):max(b, 0)])
    assert lazy.lazy
    np.testing.assert_array_equal(lazy.data, whole.data)


def test_nonfinite_and_start_time_of_a_lazy_brainflow_csv(tmp_path, monkeypatch):
    import datetime as dt

    path = tmp_path / "bf.csv"
    _brainflow(path, "synthetic")
    whole, lazy = _both(monkeypatch, path, board="synthetic")
    assert lazy.meta["nonfinite"] == 2 == int(np.isnan(whole.data).sum())
    assert lazy.start_time == dt.datetime.fromtimestamp(1_700_000_000.25, tz=dt.timezone.utc)  # float64, to the ms


def _fixed_width(path: Path, n: int, tail: bytes = b"") -> None:
    """``n`` rows of exactly 20 bytes: with SMALL, the head holds lines 1-150 and each
    further block 100 lines (block ends after lines 250, 350, ...)."""
    rows = [b"%6d,%6d,%5d\n" % (i, -i, i % 97) for i in range(n)]
    assert {len(r) for r in rows} == {20}
    path.write_bytes(b"".join(rows) + tail)


@pytest.mark.parametrize("line", [2, 149, 150, 151, 250, 251, 1234, 2999])
def test_a_bad_line_deep_in_the_file_names_its_line(tmp_path, monkeypatch, line):
    path = tmp_path / "deep.csv"
    _fixed_width(path, 3000)
    raw = bytearray(path.read_bytes())
    at = (line - 1) * 20
    for bad, needle in ((b"   1x2,", f"line {line} is not all numbers"), (b"    12 ", f"line {line} has 2 fields")):
        damaged = raw.copy()
        damaged[at:at + 7] = bad  # (the second drops a comma: two fields)
        path.write_bytes(bytes(damaged))
        whole = _error(path, fs=100)
        assert needle in whole
        assert _error(path, monkeypatch, fs=100) == whole  # the same one-line message, lazily


def test_a_cut_off_last_line_is_dropped_with_a_warning(tmp_path, monkeypatch):
    path = tmp_path / "cut.csv"
    for n, tail, warning in [(2950, b"   123,  45", "line 2951 (2 fields, expected 3)"),  # alone in its block
                             (3000, b"   123,  45,   -", "line 3001; the file"),  # unparseable, unterminated
                             (2950, b"   123,  45\n\n# a comment\n\n", "line 2951 (2 fields")]:
        _fixed_width(path, n, tail)
        whole, lazy = _both(monkeypatch, path, fs=100)
        _same(whole, lazy)
        assert lazy.n_samples == n and len(lazy.meta["warnings"]) == 1 and warning in lazy.meta["warnings"][0]
        np.testing.assert_array_equal(lazy.data, whole.data)
    _fixed_width(path, 3000, b"   123,  45,   -\n")  # unparseable but complete: an error
    assert "line 3001 is not all numbers" in _error(path, monkeypatch, fs=100)


def test_column_picks_work_lazily(tmp_path, monkeypatch):
    path = tmp_path / "bf.csv"
    emg = _brainflow(path, "synthetic").astype(np.float32)
    whole, lazy = _both(monkeypatch, path, board="synthetic", columns="5,0,15")
    _same(whole, lazy)
    assert lazy.channels == ("EXG5", "EXG0", "EXG15")
    np.testing.assert_array_equal(np.concatenate([c.data for c in lazy.chunks(777)], axis=1), emg[[5, 0, 15]])
    assert "--columns names channel 16" in _error(path, monkeypatch, board="synthetic", columns="0,16")
    path = tmp_path / "plain.csv"
    x = _plain(path).astype(np.float32)
    whole, lazy = _both(monkeypatch, path, fs=250, columns="4,1")
    _same(whole, lazy)
    np.testing.assert_array_equal(lazy.read(10, 2900), x[[4, 1], 10:2900])
    assert "column 5 does not exist" in _error(path, monkeypatch, fs=250, columns="0,5")


def test_the_temporary_copy_goes_with_the_recording_and_holds_no_handle(tmp_path, monkeypatch):
    path = tmp_path / "v6.txt"
    _openbci_v6(path)
    for name, value in SMALL.items():
        monkeypatch.setattr(table, name, value)
    fds = len(os.listdir("/proc/self/fd"))
    recs = [open_recording(path) for _ in range(70)]
    assert len(os.listdir("/proc/self/fd")) == fds
    copies = [r.samples.copy.path for r in recs]
    assert len(set(copies)) == 70 and all(c.is_file() for c in copies)
    assert copies[0].stat().st_size == recs[0].n_samples * 9 * 4  # float32 rows: 8 channels and the timestamp
    gen = recs[0].chunks(100)
    next(gen)
    assert len(os.listdir("/proc/self/fd")) == fds + 1  # a chunk iteration holds its reader ...
    gen.close()
    assert len(os.listdir("/proc/self/fd")) == fds  # ... until it ends
    recs[1].data  # read whole: the copy is no longer needed
    del recs, gen
    gc.collect()
    assert not any(c.exists() for c in copies)


_FULL_DISK = """
import resource, signal, sys
from twitchwatch.errors import RecordingError
from twitchwatch.formats import open_recording, table
table.IN_MEMORY_BYTES = 4096
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))  # writes past 20 kB fail as on a full disk
try:
    open_recording(sys.argv[1], board="synthetic")
except RecordingError as exc:
    print(exc)
"""


def test_a_full_disk_for_the_temporary_copy_is_a_one_line_error(tmp_path):
    path = tmp_path / "bf.csv"
    _brainflow(path, "synthetic")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), TMPDIR=str(tmp))
    proc = subprocess.run([sys.executable, "-c", _FULL_DISK, str(path)], capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    message = proc.stdout.strip()
    assert "\n" not in message and str(path) in message and "set TMPDIR to a disk with room" in message
    assert str(tmp) in message and list(tmp.iterdir()) == []  # the partial copy is removed


_PEAK = """
import json, sys
import numpy as np
from twitchwatch.formats import open_recording, table
from twitchwatch.pipeline import analyze
from twitchwatch.types import Recording
table.IN_MEMORY_BYTES = int(sys.argv[2])
from twitchwatch.formats.brainflow_csv import describe
analyze(Recording(np.zeros((16, 2500), np.float32), 250.0, tuple(map(str, range(16)))))  # warm up: the model,
describe("synthetic")  # and BrainFlow's library
def peak_rss():  # VmHWM, not ru_maxrss: that one keeps the parent's size across fork and exec
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
before = peak_rss()
rec = open_recording(sys.argv[1], board="synthetic")
lazy = rec.lazy
events = analyze(rec)
peak = peak_rss()
print(json.dumps({"before": before, "peak": peak, "lazy": lazy, "n": rec.n_samples, "events": len(events)}))
"""


def _peak(path: Path, threshold: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    proc = subprocess.run([sys.executable, "-c", _PEAK, str(path), str(threshold)], capture_output=True,
                          text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_analysing_a_big_brainflow_csv_takes_memory_for_a_block_not_the_file(tmp_path):
    """A 150 MB BrainFlow CSV (16 channels at 250 Hz, 32 columns, as DataFilter.write_file
    writes them; 30 minutes), opened and analysed in a child: lazily (the default for a file
    this size) the peak grows by less than a third of the text and less than the samples'
    float32 copies that the in-memory path holds."""
    from twitchwatch.formats.brainflow_csv import describe

    _, d = describe("synthetic")
    path, n, block = tmp_path / "big.csv", 450_000, 5000
    rng = np.random.default_rng(7)
    with path.open("w") as f:  # a few blocks of random rows, each formatted once, written over and over
        texts = []
        for k in range(3):
            x = rng.standard_normal((block, d["num_rows"])) * 30
            x[:, d["timestamp_channel"]] = 1_700_000_000.25 + np.arange(block) / 250
            texts.append("\n".join("\t".join(r) for r in np.char.mod("%.6f", x)) + "\n")
        for k in range(n // block):
            f.write(texts[k % 3])
    size = path.stat().st_size
    assert size > 2 * table.IN_MEMORY_BYTES
    lazy, whole = _peak(path, table.IN_MEMORY_BYTES), _peak(path, 10 * size)
    assert lazy["lazy"] and not whole["lazy"] and lazy["n"] == whole["n"] == n
    assert lazy["events"] == whole["events"]
    grew, grew_whole = lazy["peak"] - lazy["before"], whole["peak"] - whole["before"]
    samples = n * 16 * 4  # one float32 copy of the channels
    assert grew < size / 3, (grew, size)
    assert grew_whole - grew > samples, (grew_whole, grew, samples)
