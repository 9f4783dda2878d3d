"""EDF / EDF+ / BDF / BDF+ reading and writing (pyedflib), incremental writer included."""
from __future__ import annotations

import datetime as _dt
import math
import os
import tempfile
import warnings as _warnings
import weakref
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np
import pyedflib

from ..errors import RecordingError
from ..types import Recording
from .checks import FileSamples, check_picks, fail, finish

try:
    from .. import _kernels  # the samples of a signal decoded and scaled in one pass
except ImportError:  # not built: numpy makes the same values
    _kernels = None

DEFAULT_START = _dt.datetime(2000, 1, 1)
START_UNKNOWN = "twitchwatch start-unknown"
END_TAG = "twitchwatch:samples="  # annotation that records the true sample count
COPY_BLOCK = 1 << 24  # bytes per read when repairing a copy of an unclosed file
LIVE_RANGE_UV = 187_500.0  # ADS1299 full scale at gain 24: a safe range for live raw EMG
_TO_UV = {"uv": 1.0, "µv": 1.0, "μv": 1.0, "microvolt": 1.0, "microvolts": 1.0,
          "mv": 1e3, "millivolt": 1e3, "millivolts": 1e3, "v": 1e6, "volt": 1e6, "volts": 1e6,
          "nv": 1e-3, "Âµv": 1.0}


def journal_path(path: str | Path) -> Path:
    """Where a live recording journals its annotations until it is closed (edflib writes
    annotations only at close): ``live.bdf`` -> ``live.bdf.annotations.tsv``."""
    path = Path(path)
    return path.with_name(path.name + ".annotations.tsv")


def read_journal(path: Path, duration_s: float) -> list[tuple[float, float, str]]:
    """The journalled annotations of an unclosed recording that fall inside what it holds
    (a torn last line, from a crash mid-write, is skipped)."""
    out = []
    try:
        lines = journal_path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return out
    for line in lines:
        parts = line.split("\t", 2)
        try:
            onset, duration = float(parts[0]), float(parts[1])
        except (ValueError, IndexError):
            continue
        if len(parts) == 3 and math.isfinite(onset) and 0 <= onset < duration_s:
            out.append((onset, duration, parts[2]))
    return out


def sniff(head: bytes) -> str | None:
    """'edf' or 'bdf' if ``head`` (the first bytes of a file) is an EDF/BDF header."""
    if head[:8] == b"\xffBIOSEMI":
        return "bdf"
    if head[:8] == b"0       " and len(head) >= 256:
        try:
            int(head[184:192].decode("ascii").strip())
        except (UnicodeDecodeError, ValueError):
            return None
        return "edf"
    return None


def unit_factor(dimension: str) -> float | None:
    """Factor that turns values in ``dimension`` into microvolts (None if unknown)."""
    d = dimension.strip().lower().replace(" ", "")
    return _TO_UV.get(d)


def _open_reader(path: Path) -> tuple[pyedflib.EdfReader, list[str], "_TempCopy | None"]:
    """A reader of the file (with its annotations), warnings, and the repaired temporary copy
    that stands in for an unclosed or cut-off file (None for a complete one)."""
    layout = _layout(path)
    if layout is None or layout[3] == layout[0] + layout[1] * layout[2]:
        try:
            return pyedflib.EdfReader(str(path)), [], None
        except Exception as exc:  # pyedflib raises assorted types on malformed files
            why = str(exc).replace(f"{path}: ", "")
            raise fail(path, f"is not a readable EDF/BDF file ({why}); check that it is "
                             "complete and really EDF/BDF") from None
    header_bytes, declared, record_bytes, size = layout
    n = (size - header_bytes) // record_bytes
    if declared >= 0:
        n = min(n, declared)
    if n < 1:
        raise fail(path, "holds an EDF/BDF header but not one complete data record; "
                         "the file is cut off or damaged")
    copy = _TempCopy(path.suffix)
    try:
        with copy.path.open("wb") as out, path.open("rb") as f:
            head = bytearray(f.read(header_bytes))
            head[236:244] = str(n).ljust(8).encode("ascii")
            out.write(head)
            left = n * record_bytes
            while left > 0:  # in blocks: the file may be larger than memory
                block = f.read(min(left, COPY_BLOCK))
                if not block:
                    break
                out.write(block)
                left -= len(block)
        reader = pyedflib.EdfReader(str(copy.path))
    except Exception as exc:
        copy.remove()
        raise fail(path, f"is not a readable EDF/BDF file ({exc}); check that it is complete "
                         "and really EDF/BDF") from None
    why = ("was not closed (recording interrupted?)" if declared < 0 else
           "does not match its header's size (cut off?)")
    return reader, [f"the file {why}; read its {n} complete data records"], copy


class _TempCopy:
    """A temporary file, removed when the last holder lets it go (or at exit)."""

    def __init__(self, suffix: str) -> None:
        fd, name = tempfile.mkstemp(prefix="twitchwatch-", suffix=suffix)
        os.close(fd)
        self.path = Path(name)
        self.remove = weakref.finalize(self, self.path.unlink, missing_ok=True)


class EdfSamples(FileSamples):
    """Some signals of an EDF/BDF file, read on demand (float32 microvolts).

    pyedflib reads the header (in ``read``); the samples are decoded here with numpy from
    whole data records (16-bit or 24-bit little-endian integers, scaled as edflib scales
    them), all signals of a block in one file read: pyedflib's ``readSignal`` reads the
    file once per channel. Every ``read`` and ``blocks`` opens the file and closes it when
    done, so that no handle outlives its use. ``copy`` is the repaired stand-in for an
    unclosed or cut-off file; holding it here keeps it until the recording goes.
    """

    def __init__(self, path: Path, fmt: str, signals: Sequence[int], factors: Sequence[float],
                 n_samples: int, copy: _TempCopy | None = None) -> None:
        self.path, self.fmt, self.copy = path, fmt, copy
        self.n_channels, self.n_samples = len(signals), int(n_samples)
        lay = _records(self.file)
        if lay is None:
            raise fail(path, "has an EDF/BDF header twitchwatch cannot lay out; check the file")
        self.header_bytes, self.bps, self.record_bytes = lay["header_bytes"], lay["bps"], lay["record_bytes"]
        raw = [lay["signals"][i] for i in signals]  # pyedflib's numbering leaves annotations out
        spr = {r["spr"] for r in raw}
        if len(spr) != 1:
            raise fail(path, "keeps channels with different samples per record; check the file")
        self.spr = spr.pop()
        self.offsets = [r["offset"] for r in raw]
        # edflib's scaling: value = bitvalue * (offset + digital); a range too wide for
        # float32 microvolts (1e30 uV is a thousand times anything any body makes) is refused
        gain, shift = [], []
        for r, factor, i in zip(raw, factors, signals):
            span = r["dmax"] - r["dmin"]
            bit = (r["pmax"] - r["pmin"]) / span if span else math.nan
            off = r["pmax"] / bit - r["dmax"] if bit else math.nan
            top = max(abs(r["pmin"]), abs(r["pmax"])) * factor
            if not (math.isfinite(bit) and math.isfinite(off) and bit != 0 and top < 1e30):
                raise fail(path, f"signal {i + 1} has an unusable range (physical {r['pmin']:g} to {r['pmax']:g}, "
                                 f"digital {r['dmin']:g} to {r['dmax']:g}); the header is damaged")
            gain.append(bit * factor)
            shift.append(off)
        self.gain, self.shift = np.array(gain)[:, None], np.array(shift)[:, None]

    @property
    def file(self) -> Path:
        return self.path if self.copy is None else self.copy.path

    def _open(self):
        try:
            return self.file.open("rb")
        except OSError as exc:
            raise fail(self.path, f"could not be read again ({exc.strerror}); was it removed while open?") from None

    def _fill(self, f, start: int, stop: int) -> np.ndarray:
        if not 0 <= start <= stop <= self.n_samples:
            raise ValueError(f"samples {start}:{stop} outside 0:{self.n_samples}")
        if stop == start:
            return np.empty((self.n_channels, 0), dtype=np.float32)
        r0, r1 = start // self.spr, -(-stop // self.spr)
        f.seek(self.header_bytes + r0 * self.record_bytes)
        size = (r1 - r0) * self.record_bytes
        raw = bytearray(size + 1)  # the records after one spare byte (see the 24-bit case)
        if f.readinto(memoryview(raw)[1:]) != size:
            raise fail(self.path, f"samples {start}-{stop} could not be read; the file is damaged or was "
                                  "changed while open")
        lo, n = start - r0 * self.spr, stop - start
        out = np.empty((self.n_channels, n), dtype=np.float32)
        if _kernels is not None:  # a signal in one pass (the numpy passes below)
            for row, offset in enumerate(self.offsets):
                _kernels.edf_samples(raw, offset + 1, self.record_bytes, self.bps, self.spr, lo, self.shift[row, 0],
                                     self.gain[row, 0], out[row])
            return out
        scaled = np.empty(n)  # edflib's arithmetic, in float64, then rounded into ``out``
        for row, offset in enumerate(self.offsets):  # a channel at a time: small temporaries
            if self.bps == 2:
                cells = np.ndarray((r1 - r0, self.spr), "<i2", raw, offset + 1, (self.record_bytes, 2))
            else:  # 24-bit: read each sample as the top three bytes of an int32 (the one that
                # starts a byte before it), then an arithmetic shift brings down its sign
                cells = np.ndarray((r1 - r0, self.spr), "<i4", raw, offset, (self.record_bytes, 3)) >> 8
            np.add(cells.reshape(-1)[lo: lo + n], self.shift[row, 0], out=scaled)
            np.multiply(scaled, self.gain[row, 0], out=out[row])
        return out


def _records(path: Path) -> dict | None:
    """The data record layout from the raw header: header size, bytes per sample, bytes
    per record, and per signal other than annotations its samples per record, byte offset
    in a record and ranges (None when the header does not parse)."""
    try:
        with path.open("rb") as f:
            head = f.read(256)
            ns = int(head[252:256])
            if ns < 1 or ns > 4096:
                return None
            rest = f.read(ns * 256)
        bps = 3 if head[:1] == b"\xff" else 2

        def field(start: int, width: int) -> list[str]:
            return [rest[start + k * width: start + (k + 1) * width].decode("latin-1").strip() for k in range(ns)]

        labels = field(0, 16)
        pmin, pmax = field(ns * 104, 8), field(ns * 112, 8)
        dmin, dmax = field(ns * 120, 8), field(ns * 128, 8)
        spr = [int(v) for v in field(ns * 216, 8)]
        signals, offset = [], 0
        for k in range(ns):
            if labels[k] not in ("EDF Annotations", "BDF Annotations"):
                signals.append({"spr": spr[k], "offset": offset, "pmin": float(pmin[k]), "pmax": float(pmax[k]),
                                "dmin": float(dmin[k]), "dmax": float(dmax[k])})
            offset += spr[k] * bps
    except (OSError, ValueError):
        return None
    return {"header_bytes": 256 * (ns + 1), "bps": bps, "record_bytes": offset, "signals": signals}


def _layout(path: Path) -> tuple[int, int, int, int] | None:
    """(header bytes, declared records, bytes per record, file size) from the header."""
    try:
        with path.open("rb") as f:
            head = f.read(256)
            header_bytes, declared = int(head[184:192]), int(head[236:244])
            ns = int(head[252:256])
            if ns < 1 or header_bytes != 256 * (ns + 1):
                return None
            f.seek(256 + ns * 216)
            spr = [int(f.read(8)) for _ in range(ns)]
        size = path.stat().st_size
    except (OSError, ValueError):
        return None
    record_bytes = sum(spr) * (3 if head[:1] == b"\xff" else 2)
    if record_bytes <= 0 or size < header_bytes or declared < -1:
        return None
    return header_bytes, declared, record_bytes, size


def read(path: Path, fmt: str, picks: list[int] | None = None) -> Recording:
    """Open an EDF(+)/BDF(+) file as a lazy Recording (microvolts, one sampling rate): the
    header and annotations now, the samples in blocks when they are used. ``picks``
    keeps those channels (numbered among the kept ones), in that order."""
    reader, warns, copy = _open_reader(path)
    try:
        rec = _read(path, fmt, reader, warns, copy, picks)
        if warns and journal_path(path).is_file():  # not closed: its annotations are in the journal
            found = read_journal(path, rec.duration_s)
            rec.annotations.extend(found)
            warns.append(f"{len(found)} annotations read from {journal_path(path).name}")
        return rec
    except RecordingError:
        raise
    except Exception as exc:
        raise fail(path, f"could not be read as {fmt.upper()} ({exc}); check the file") from None
    finally:
        reader.close()


def _read(path: Path, fmt: str, reader: pyedflib.EdfReader, warns: list[str], copy: _TempCopy | None,
          picks: list[int] | None) -> Recording:
    n = reader.signals_in_file
    labels = [reader.getLabel(i).strip() for i in range(n)]
    rates = [float(reader.getSampleFrequency(i)) for i in range(n)]
    dims = [reader.getPhysicalDimension(i).strip() for i in range(n)]
    scale = [unit_factor(d) for d in dims]  # to uV (None: not a voltage)
    signal = [i for i in range(n) if "annotation" not in labels[i].lower()]
    if not signal:
        raise fail(path, "holds no signal channels (only annotations); nothing to analyse")
    volts = [i for i in signal if scale[i] is not None]
    if volts and len(volts) < len(signal):  # a BioSemi Status, an accelerometer: not EMG
        others = [f"{labels[i]} ({dims[i]!r})" for i in signal if scale[i] is None]
        warns.append(f"dropped signals not in volts (not EMG): {', '.join(others)}")
        signal = volts
    fs = Counter(rates[i] for i in signal).most_common(1)[0][0]
    keep = [i for i in signal if rates[i] == fs]
    dropped = [f"{labels[i]} ({rates[i]:g} Hz)" for i in signal if rates[i] != fs]
    if dropped:
        warns.append(f"kept the {len(keep)} channels at {fs:g} Hz; dropped channels at other "
                     f"rates: {', '.join(dropped)}")
    annotations, end = _annotations(reader)
    length = min(int(reader.getNSamples()[i]) for i in keep)
    if end is not None:
        length = min(length, end)
    unknown = [f"{labels[i]} ({dims[i]!r})" for i in keep if scale[i] is None]
    factors = [1.0 if scale[i] is None else scale[i] for i in keep]
    if unknown:
        warns.append(f"unknown physical unit, assumed microvolts: {', '.join(unknown)}")
    if picks is not None:
        check_picks(path, len(keep), picks)
        keep, factors = [keep[k] for k in picks], [factors[k] for k in picks]
    start = None if START_UNKNOWN in reader.getRecordingAdditional() else reader.getStartdatetime()
    meta = {"warnings": warns, "units": "uV" if not unknown else "uV (assumed for some)",
            "nonfinite": 0,  # EDF/BDF samples are integers scaled: always finite
            "file_type": fmt.upper() + ("+" if reader.filetype in (pyedflib.FILETYPE_EDFPLUS,
                                                                   pyedflib.FILETYPE_BDFPLUS) else "")}
    samples = EdfSamples(path, fmt, keep, factors, length, copy)
    return finish(path, samples, fs, [labels[i] for i in keep], fmt, fs_where="its header",
                  start_time=start, annotations=annotations, meta=meta)


def _annotations(reader: pyedflib.EdfReader) -> tuple[list[tuple[float, float, str]], int | None]:
    onsets, durations, texts = reader.readAnnotations()
    out, end = [], None
    for onset, dur, text in zip(onsets, durations, texts):
        text = str(text)
        if text.startswith(END_TAG):
            try:
                end = int(text[len(END_TAG):])
            except ValueError:
                pass
            continue
        out.append((float(onset), max(float(dur), 0.0), text))
    return out, end


def _phys_range(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel integer physical limits around the data (margin, never a zero range)."""
    finite = np.where(np.isfinite(data), data, np.nan)
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore", RuntimeWarning)
        lo = np.nan_to_num(np.nanmin(finite, axis=1), nan=0.0) if data.shape[1] else np.zeros(len(data))
        hi = np.nan_to_num(np.nanmax(finite, axis=1), nan=0.0) if data.shape[1] else np.zeros(len(data))
    span = hi - lo
    lo = np.clip(np.floor(lo - 0.01 * span) - 1, -9_999_999, 99_999_998)
    hi = np.clip(np.ceil(hi + 0.01 * span) + 1, lo + 1, 99_999_999)
    return lo, hi


class EdfWriter:
    """Write EDF+ (16-bit) or BDF+ (24-bit) in 1-second data records, block by block.

    ``append`` takes channels x samples in microvolts, as they come; complete records are
    written at once, the rest waits. ``close`` pads the last partial record with its last
    value and notes the true sample count in an annotation that ``read`` honours.
    Values outside the physical range are clipped (counted in ``clipped``); NaN/inf are
    written as 0 (counted in ``nonfinite``). Annotation texts are cut to 40 characters
    (an edflib limit); each 1-second record holds ``annotation_slots`` annotations.
    """

    def __init__(self, path: str | Path, fs: float, channels: Sequence[str], bdf: bool = True, *,
                 start_time: _dt.datetime | None = None,
                 phys_min: float | Sequence[float] | None = None,
                 phys_max: float | Sequence[float] | None = None,
                 annotation_slots: int = 4) -> None:
        self.path = Path(path)
        self.fs = float(fs)
        self.channels = [str(c) for c in channels]
        n = len(self.channels)
        if n == 0:
            raise RecordingError(f"{path}: cannot write a recording without channels")
        lo = np.broadcast_to(np.asarray(-LIVE_RANGE_UV if phys_min is None else phys_min, float), (n,))
        hi = np.broadcast_to(np.asarray(LIVE_RANGE_UV if phys_max is None else phys_max, float), (n,))
        if np.any(hi <= lo):
            raise ValueError("physical maximum must exceed physical minimum")
        self._lo, self._hi = lo.copy(), hi.copy()
        dmax = 8_388_607 if bdf else 32_767
        ftype = pyedflib.FILETYPE_BDFPLUS if bdf else pyedflib.FILETYPE_EDFPLUS
        try:
            self._w = pyedflib.EdfWriter(str(self.path), n, file_type=ftype)
        except OSError as exc:
            raise RecordingError(f"{path}: cannot be written ({exc}); check the folder and permissions") from None
        headers = [{"label": name[:16], "dimension": "uV", "sample_frequency": self.fs,
                    "physical_min": float(a), "physical_max": float(b),
                    "digital_min": -dmax - 1, "digital_max": dmax, "transducer": "", "prefilter": ""}
                   for name, a, b in zip(self.channels, lo, hi)]
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore")
            self._w.setSignalHeaders(headers)
            self._w.set_number_of_annotation_signals(annotation_slots)
            if start_time is None:
                self._w.setRecordingAdditional(START_UNKNOWN)
                start_time = DEFAULT_START
            elif start_time.tzinfo is not None:
                start_time = start_time.astimezone().replace(tzinfo=None)
            self._w.setStartdatetime(start_time)
        self.record = int(self._w.get_smp_per_record(0))
        if abs(self.record / self._w.record_duration - self.fs) > 1e-6 * self.fs:
            self._w.close()
            raise RecordingError(f"{path}: sampling rate {fs:g} Hz cannot be stored exactly in EDF/BDF")
        self._pending = np.zeros((n, 0))
        self.n_samples = 0
        self.clipped = 0
        self.nonfinite = 0
        self._closed = False

    @classmethod
    def open(cls, path: str | Path, fs: float, channels: Sequence[str], bdf: bool = True,
             **options: object) -> "EdfWriter":
        """Same as the constructor: ``EdfWriter.open(path, fs, channels, bdf=True)``."""
        return cls(path, fs, channels, bdf, **options)  # type: ignore[arg-type]

    def __enter__(self) -> "EdfWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def append(self, block: np.ndarray) -> None:
        """Add channels x samples (microvolts); writes every complete data record."""
        block = np.asarray(block, dtype=np.float64)
        if block.ndim != 2 or block.shape[0] != len(self.channels):
            raise ValueError(f"expected {len(self.channels)} x N samples, got {block.shape}")
        bad = ~np.isfinite(block)
        if bad.any():
            self.nonfinite += int(bad.sum())
            block = np.where(bad, 0.0, block)
        self.clipped += int(np.count_nonzero((block < self._lo[:, None]) | (block > self._hi[:, None])))
        self.n_samples += block.shape[1]
        self._pending = np.concatenate((self._pending, block), axis=1)
        self._flush()

    def _flush(self) -> None:
        n_rec = self._pending.shape[1] // self.record
        if not n_rec:
            return
        c, r = len(self.channels), self.record
        recs = self._pending[:, :n_rec * r].reshape(c, n_rec, r).transpose(1, 0, 2)
        for rec in np.ascontiguousarray(recs):  # one call per 1-second record
            if self._w.blockWritePhysicalSamples(rec.ravel()) < 0:
                raise RecordingError(f"{self.path}: writing failed; check the disk")
        self._pending = self._pending[:, n_rec * r:]

    @property
    def records(self) -> int:
        """Complete data records handed to edflib (which writes each one at once)."""
        return (self.n_samples - self._pending.shape[1]) // self.record

    def annotate(self, onset: float, duration: float, text: str) -> None:
        """Add an EDF+ annotation (seconds from the first sample)."""
        self._w.writeAnnotation(float(onset), float(duration) if duration > 0 else -1, str(text)[:40])

    def close(self) -> None:
        """Write the last (padded) record and the annotations, and close the file."""
        if self._closed:
            return
        self._closed = True
        try:
            left = self._pending.shape[1]
            if left or self.n_samples == 0:
                last = self._pending[:, -1:] if left else np.zeros((len(self.channels), 1))
                pad = np.repeat(last, self.record - left, axis=1)
                self._pending = np.concatenate((self._pending, pad), axis=1)
                self._w.writeAnnotation(self.n_samples / self.fs, -1, f"{END_TAG}{self.n_samples}")
                self._flush()
        finally:
            self._w.close()


def write(path: str | Path, rec: Recording, annotations: list[tuple[float, float, str]] | None,
          bdf: bool) -> None:
    """Write a whole Recording as BDF+ (``bdf``) or EDF+, with physical ranges from its data."""
    data = np.asarray(rec.data, dtype=np.float64)
    anns = list(rec.annotations if annotations is None else annotations)
    lo, hi = _phys_range(data)
    n_records = max(1, math.ceil(rec.n_samples / max(rec.fs, 1e-9)))
    slots = int(min(64, max(1, math.ceil((len(anns) + 1) / n_records))))
    with EdfWriter(path, rec.fs, rec.channels, bdf, start_time=rec.start_time,
                   phys_min=lo, phys_max=hi, annotation_slots=slots) as w:
        for onset, duration, text in anns:
            w.annotate(onset, duration, text)
        w.append(data)
