"""Record a live stream to BDF+ (24-bit; EDF+ for a '.edf' name), crash-safe to one second.

What reaches the disk, measured with formats.edf.EdfWriter (pyedflib / edflib): the file is
created empty; the header and the first data record appear together when the first 1-second
record is complete, and every further complete record is in the file (in the kernel's page
cache) as soon as ``append`` returns: edflib does not keep records in a user-space buffer.
So a crash or ``kill -9`` loses only the samples of the record still being filled (< 1 s).
edflib does not report a failed write (disk full, file size limit): after each new record
the file's size is checked against the records handed over, and a shortfall raises
RecordingError (``records_kept`` says how many whole seconds are in the file).
The header's record count stays -1 until ``close``; ``open_recording`` reads such a file's
complete records and warns that it was not closed. ``fsync=True`` (the default) also forces
each new record to the device, once per record, against power loss.

Annotations (episodes, gaps) are held by edflib and written into the records' annotation
signal only at ``close``, so until then each is also appended to a journal beside the file
(``live.bdf.annotations.tsv``, flushed at once and synced with each record); after a crash
``open_recording`` takes the annotations from it. A clean ``close`` removes the journal.
``annotation_slots`` bounds how many annotations each 1-second record can hold.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import RecordingError
from .formats.edf import EdfWriter, journal_path
from .types import Chunk


def _layout(path: Path, bdf: bool) -> tuple[int, int]:
    """(header bytes, bytes per data record) from the header of an EDF/BDF file on disk."""
    with path.open("rb") as f:
        head = f.read(256)
        try:
            header, ns = int(head[184:192]), int(head[252:256])
            f.seek(256 + ns * 216)
            spr = f.read(ns * 8)
            samples = sum(int(spr[i * 8:(i + 1) * 8]) for i in range(ns))
        except ValueError:
            raise RecordingError(f"{path}: writing failed: its header did not reach the file") from None
    return header, samples * (3 if bdf else 2)


class Recorder:
    """``append(chunk or array)``, ``annotate(onset_s, duration_s, text)``, ``close()``."""

    def __init__(self, path: str | Path, fs: float, channels: Sequence[str], bdf: bool | None = True,
                 *, fsync: bool = True, annotation_slots: int = 8, **options: object) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() == ".edf":
            bdf = False
        elif self.path.suffix.lower() == ".bdf":
            bdf = True
        self.fs = float(fs)
        self.channels = tuple(channels)
        self._w = EdfWriter(self.path, self.fs, self.channels, bool(bdf),
                            annotation_slots=annotation_slots, **options)  # type: ignore[arg-type]
        self.fsync = fsync
        self.bdf = bool(bdf)
        self._records_on_disk = 0
        self.records_kept = 0  # complete 1-second records found in the file
        self._layout: tuple[int, int] | None = None
        self._fd: int | None = None
        self._journal = journal_path(self.path).open("w", encoding="utf-8")
        self.gaps: list[tuple[int, int]] = []
        self.n_samples = 0  # samples written, gaps included (the file's sample clock)

    @property
    def records(self) -> int:
        """Complete 1-second data records handed to edflib (all in the file)."""
        return self._w.records

    def append(self, block: Chunk | np.ndarray) -> None:
        """Add a Chunk (its ``lost`` samples are written as a gap: NaN -> 0 in the file and
        an annotation 'gap N samples') or a channels x samples array."""
        if isinstance(block, Chunk):
            if block.lost:
                self.add_gap(block.lost)
            data = block.data
        else:
            data = block
        self._w.append(data)
        self.n_samples += np.asarray(data).shape[1]
        self._sync()

    def add_gap(self, n: int) -> None:
        """Mark ``n`` missing samples at the current position: zeros in the file (so that the
        file's clock stays the stream's) and an annotation."""
        n = int(n)
        if n <= 0:
            return
        self.annotate(self.n_samples / self.fs, n / self.fs, f"gap {n} samples")
        self.gaps.append((self.n_samples, n))
        self._w.append(np.zeros((len(self.channels), n)))
        self.n_samples += n

    def annotate(self, onset_s: float, duration_s: float, text: str) -> None:
        self._w.annotate(onset_s, duration_s, text)
        clean = " ".join(str(text).split())[:40]
        self._journal.write(f"{onset_s:.6f}\t{duration_s:.6f}\t{clean}\n")
        self._journal.flush()

    def _sync(self) -> None:
        recs = self.records
        if recs == self._records_on_disk:
            return
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        if self._layout is None:
            self._layout = _layout(self.path, self.bdf)
        header, per_record = self._layout
        size = os.fstat(self._fd).st_size
        self.records_kept = max(0, min(recs, (size - header) // per_record))
        if self.records_kept < recs:  # edflib does not report failed writes: the size does
            raise RecordingError(f"{self.path}: writing failed; it keeps the first {self.records_kept} s "
                                 f"({size} of {header + recs * per_record} bytes reached the file)")
        self._records_on_disk = recs
        if self.fsync:
            try:
                os.fsync(self._fd)
                os.fsync(self._journal.fileno())
            except OSError:
                pass

    def close(self) -> None:
        """Write the last (padded) record, the annotations and the final header."""
        try:
            self._w.close()
            self._journal.close()
            journal_path(self.path).unlink(missing_ok=True)  # the annotations are in the file now
        finally:
            if self._fd is not None:
                try:
                    os.fsync(self._fd)
                except OSError:
                    pass
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
