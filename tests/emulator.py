"""A firmware-bridge device emulator for tests, written from firmware_bridge/PROTOCOL.md only:
SAMPLES and INFO frames on a real pseudo-terminal, behind a stable symlink (as udev gives a
board), with the faults a cable and a firmware can produce.

``Device(counts, fs, scale, link, faults={frame index: [action, ...]})`` plays ``counts``
(frames x samples per frame x channels, int16) as one SAMPLES frame per block, INFO every
``info_every`` frames, at ``speed`` x real time, ``garbage_per_s`` random bytes a second of
signal mixed in. It waits until a reader has opened the port (and again after a replug),
so that sample 0 of the device is sample 0 of the stream. Actions for frame k:

- ``"drop"``: not sent (a lost frame); ``"corrupt"``: one bit flipped past the sync bytes;
- ``"dup"``: sent twice; ``("late", d)``: held back and sent right after frame k + d;
- ``("pause", s)``: the device is silent for s real seconds before frame k, then goes on
  with the next sequence number (it buffered: nothing lost);
- ``("vanish", s)``: the port disappears (pty closed, link removed) for s seconds, then a
  new pty appears behind the same link; the board kept sampling in real time, so the
  frames it made until a reader is back are lost (their numbers are in ``skipped``);
- ``("format", channels, fs)``: from frame k on, INFO announces this format;
- ``"restart"``: the sequence counter starts again from 0 at frame k;
- ``("call", fn)``: ``fn(device)`` before frame k (e.g. to kill the reader there).
"""
from __future__ import annotations

import fcntl
import os
import random
import select
import struct
import termios
import threading
import time
import tty
from pathlib import Path

import numpy as np

from twitchwatch.sources.serial import encode_info, encode_samples


def make_pty() -> tuple[int, int]:
    """(master, slave) of a new raw pseudo-terminal."""
    master, slave = os.openpty()
    tty.setraw(slave)
    return master, slave


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def wait_status(src, statuses, timeout: float = 5.0) -> None:
    """Until ``src.status`` is one of ``statuses`` (TimeoutError after ``timeout`` s)."""
    t = time.monotonic() + timeout
    while src.status not in statuses:
        if time.monotonic() > t:
            raise TimeoutError(f"source status {src.status!r}")
        time.sleep(0.005)


def to_frames(data_uv: np.ndarray, n: int, scale: float) -> np.ndarray:
    """channels x samples microvolts as frames x n x channels int16 counts (whole frames)."""
    counts = np.clip(np.rint(data_uv.T / scale), -32768, 32767).astype(np.int16)
    return counts[: counts.shape[0] // n * n].reshape(-1, n, data_uv.shape[0])


class Device(threading.Thread):
    """The emulated board (see the module docstring). ``stop()`` ends it early; ``close()``
    releases its pty; ``error`` holds what ended its thread, if anything but the end."""

    def __init__(self, counts: np.ndarray, fs: int, scale: float, link: Path, *,
                 faults: dict[int, list] | None = None, speed: float = 2.0, seq0: int = 0,
                 garbage_per_s: float = 0.0, info_every: int = 100, seed: int = 0,
                 name: str = "emulator") -> None:
        super().__init__(daemon=True)
        self.counts, self.fs, self.scale, self.link = counts, int(fs), float(scale), Path(link)
        self.faults = faults or {}
        self.speed, self.seq0, self.info_every, self.name = speed, seq0, info_every, name
        self.garbage_per_frame = garbage_per_s * counts.shape[1] / fs
        self.rng = random.Random(seed)
        self.format = (counts.shape[2], int(fs))
        self.skipped: list[int] = []            # frames made while the port was gone
        self.error: BaseException | None = None
        self._halt = threading.Event()
        self.master = self.slave = -1
        self._plug()

    # -- the port --------------------------------------------------------------------------
    def _plug(self) -> None:
        self.master, self.slave = make_pty()
        os.set_blocking(self.master, False)
        tmp = self.link.with_name(self.link.name + ".new")
        os.symlink(os.ttyname(self.slave), tmp)
        os.replace(tmp, self.link)

    def _unplug(self) -> None:
        os.unlink(self.link)
        self.close()

    def close(self) -> None:
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass
        self.master = self.slave = -1

    def stop(self) -> None:
        self._halt.set()

    def _write(self, data: bytes) -> None:
        """All of ``data`` (waiting while the reader is behind), unless stopped."""
        view = memoryview(data)
        while view and not self._halt.is_set():
            if select.select([], [self.master], [], 0.1)[1]:
                view = view[os.write(self.master, view):]

    def unread(self) -> int:
        """Bytes written that the reader has not taken yet."""
        return struct.unpack("i", fcntl.ioctl(self.slave, termios.FIONREAD, b"\0\0\0\0"))[0]

    def drained(self, timeout_s: float = 10.0, settle_s: float = 0.2) -> bool:
        """Wait until no byte has waited for the reader for ``settle_s`` in a row. One
        reading of 0 is not enough: the kernel moves bytes written to the master into the
        slave's queue a little later (seen once in CI: 2 frames still on their way when
        the port was closed, so they never came)."""
        deadline, since = time.monotonic() + timeout_s, None
        while time.monotonic() < deadline:
            if self.unread():
                since = None
            elif since is None:
                since = time.monotonic()
            elif time.monotonic() - since >= settle_s:
                return True
            time.sleep(0.01)
        return False

    def _info(self) -> bytes:
        return encode_info(self.format[0], self.format[1], self.scale, self.name)

    def _wait_for_reader(self) -> None:
        """INFO until someone reads the port (bytes stop waiting on its slave side)."""
        while not self._halt.is_set():
            self._write(self._info())
            time.sleep(0.05)
            if self.unread() == 0:
                time.sleep(0.2)     # the reader is past its open (pyserial flushes input there)
                return

    # -- the stream ------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # noqa: BLE001 - reported to the test through .error
            self.error = exc

    def _run(self) -> None:
        self._wait_for_reader()
        period = self.counts.shape[1] / self.fs / self.speed
        t_next = time.monotonic()
        seq = self.seq0
        held: dict[int, list[bytes]] = {}     # frame index -> late frames to send after it
        k = 0
        while k < len(self.counts) and not self._halt.is_set():
            actions = self.faults.get(k, [])
            for a in actions:
                if isinstance(a, tuple) and a[0] == "pause":
                    time.sleep(a[1])
                    t_next = time.monotonic()
                elif isinstance(a, tuple) and a[0] == "vanish":
                    t0 = time.monotonic()
                    self._unplug()
                    time.sleep(a[1])
                    self._plug()
                    self._wait_for_reader()
                    t_next = time.monotonic()
                    made = int((t_next - t0) * self.fs / self.counts.shape[1])
                    self.skipped += range(k, min(k + made, len(self.counts)))
                    k += made
                    seq = (seq + made) % 65536
                elif isinstance(a, tuple) and a[0] == "format":
                    self.format = (a[1], a[2])
                elif isinstance(a, tuple) and a[0] == "call":
                    a[1](self)
                elif a == "restart":
                    seq = 0
            if k >= len(self.counts):
                return
            block = self.counts[k]
            out = self._info() if k % self.info_every == 0 or any(
                isinstance(a, tuple) and a[0] == "format" for a in actions) else b""
            n_garbage = self.rng.randrange(0, int(round(2 * self.garbage_per_frame)) + 1) if self.garbage_per_frame else 0
            out += bytes(self.rng.randrange(256) for _ in range(n_garbage))
            frame = encode_samples(seq, block[:, : self.format[0]] if block.shape[1] >= self.format[0]
                                   else np.zeros((block.shape[0], self.format[0]), np.int16))
            seq = (seq + 1) % 65536
            if "corrupt" in actions:
                i = self.rng.randrange(4, len(frame))
                frame = frame[:i] + bytes([frame[i] ^ 0x40]) + frame[i + 1:]
            late = [a for a in actions if isinstance(a, tuple) and a[0] == "late"]
            if late:
                held.setdefault(k + late[0][1], []).append(frame)
            elif "drop" not in actions:
                out += frame * (2 if "dup" in actions else 1)
            for f in held.pop(k, []):
                out += f
            self._write(out)
            k += 1
            t_next += period
            time.sleep(max(0.0, t_next - time.monotonic()))
