"""The serial firmware-bridge source (protocol version 1, see firmware_bridge/PROTOCOL.md).

``FrameDecoder`` turns a byte stream into frames (sync scan, length and CRC check,
resynchronisation after garbage, torn or corrupted frames). ``SerialSource`` reads a
serial port with pyserial, waits for INFO, converts SAMPLES counts to microvolts, turns
sequence-number jumps into lost samples and gaps, and reconnects when the port vanishes.
"""
from __future__ import annotations

import binascii
import logging
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from ..errors import UserError
from ..types import Chunk

log = logging.getLogger(__name__)

SYNC = b"\xa5\x5a"
TYPE_INFO = 0x01
TYPE_SAMPLES = 0x02
PROTOCOL_VERSION = 1
MAX_PAYLOAD = 255
OVERHEAD = 6
SEQ_MOD = 1 << 16
STALE_WINDOW = 64          # a frame up to this many behind the newest is late, not new
RESTART_AFTER_STALE = 8    # this many stale frames in a row: the device restarted its counter


def crc16(data: bytes | bytearray) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, xorout 0)."""
    return binascii.crc_hqx(data, 0xFFFF)


class SerialSourceError(UserError):
    """The serial source cannot go on: port unusable, no INFO, or the device is gone."""


class FormatChangedError(SerialSourceError):
    """An INFO frame mid-stream announced a different channel count, rate or scale."""


class DeviceGoneError(SerialSourceError):
    """The port vanished and did not come back within ``give_up_s``."""


@dataclass
class Info:
    version: int
    channels: int
    rate_hz: int
    uv_per_count: float
    name: str


@dataclass
class Frame:
    """A frame whose length and CRC checked out.

    ``type`` is TYPE_INFO or TYPE_SAMPLES (other types are counted and dropped);
    ``info`` is set for INFO; ``seq``, ``n`` and ``counts`` (int16, raw flat sample-major
    values, reshape with the channel count from INFO) for SAMPLES.
    """

    type: int
    payload: bytes
    info: Info | None = None
    seq: int | None = None
    n: int | None = None
    counts: np.ndarray | None = None

    def counts_2d(self, channels: int) -> np.ndarray:
        """Counts as samples x channels; ValueError if they do not fit ``channels``."""
        if self.counts is None or self.n is None or self.counts.size != self.n * channels:
            raise ValueError(f"SAMPLES payload does not hold {self.n} x {channels} counts")
        return self.counts.reshape(self.n, channels)


def encode_frame(ftype: int, payload: bytes) -> bytes:
    """A frame of ``ftype`` around ``payload`` (for tests and emulators)."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError("payload longer than 255 bytes")
    body = bytes((ftype, len(payload))) + payload
    return SYNC + body + struct.pack("<H", crc16(body))


def encode_info(channels: int, rate_hz: int, uv_per_count: float, name: str = "") -> bytes:
    return encode_frame(TYPE_INFO, struct.pack("<BBHf", PROTOCOL_VERSION, channels, rate_hz,
                                               uv_per_count) + name.encode("ascii"))


def encode_samples(seq: int, counts: np.ndarray) -> bytes:
    """SAMPLES frame; ``counts`` is samples x channels int16."""
    counts = np.asarray(counts)
    n = counts.shape[0]
    return encode_frame(TYPE_SAMPLES, struct.pack("<HB", seq % SEQ_MOD, n)
                        + counts.astype("<i2").tobytes())


class FrameDecoder:
    """Incremental decoder: ``feed(bytes)`` returns the complete, CRC-checked frames.

    Sync candidates are found with ``bytes.find``; the work per frame is a slice, a C CRC
    (binascii) and a numpy view, so there is no Python loop over the bytes. After a CRC
    failure the scan resumes at the byte after the failed sync, so a corrupted or torn
    frame cannot swallow the next good frame. Nor can garbage whose CRC checks out by
    chance (1 in 65,536): a good frame that is not followed by a sync, where a sync inside
    it starts a complete good frame, is taken for garbage (``_overlapped``).

    Counters: ``frames_ok``, ``crc_errors``, ``bytes_skipped`` (bytes that were not part
    of a good frame), ``bad_frames`` (good CRC but unusable: unknown type, a malformed
    payload, or garbage overlapping a good frame).
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.frames_ok = 0
        self.crc_errors = 0
        self.bytes_skipped = 0
        self.bad_frames = 0

    def reset(self) -> None:
        """Drops buffered bytes (e.g. after a reconnect); counters stay."""
        self.bytes_skipped += len(self._buf)
        self._buf.clear()

    def flush(self) -> list[Frame]:
        """End of stream: frames still hidden behind an incomplete candidate (a torn
        frame's header announcing more bytes than will ever come), then an empty buffer."""
        out = self._scan(final=True)
        while self._buf:
            del self._buf[:1]               # give up on the candidate at the front
            self.bytes_skipped += 1
            out += self._scan(final=True)
        return out

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        return self._scan(final=False)

    def _scan(self, final: bool) -> list[Frame]:
        buf = self._buf
        out: list[Frame] = []
        pos = 0
        n = len(buf)
        while True:
            i = buf.find(SYNC, pos)
            if i < 0:
                # Keep a trailing 0xA5: it may be the first half of a sync.
                keep = 1 if n > pos and buf[n - 1] == 0xA5 else 0
                self.bytes_skipped += n - keep - pos
                pos = n - keep
                break
            self.bytes_skipped += i - pos
            pos = i
            end = self._end(buf, i)
            if end is None:
                break                       # header or frame incomplete: wait for more bytes
            if not self._good(buf, i, end):
                self.crc_errors += 1
                self.bytes_skipped += 1     # the 0xA5 of the failed sync
                pos = i + 1
                continue
            overlapped = self._overlapped(buf, i, end, final)
            if overlapped is None:
                break                       # a frame inside it is not complete yet: wait
            if overlapped:
                self.bad_frames += 1
                self.bytes_skipped += 1
                pos = i + 1
                continue
            frame = self._parse(buf[i + 2], bytes(buf[i + 4:end - 2]))
            if frame is None:
                self.bad_frames += 1
                self.bytes_skipped += end - i
            else:
                self.frames_ok += 1
                out.append(frame)
            pos = end
        if pos:
            del buf[:pos]
        return out

    @staticmethod
    def _end(buf: bytearray, i: int) -> int | None:
        """Where the frame that starts at sync ``i`` ends (None: not all of it has come)."""
        if i + 4 > len(buf):
            return None
        end = i + OVERHEAD + buf[i + 3]
        return end if end <= len(buf) else None

    @staticmethod
    def _good(buf: bytearray, i: int, end: int) -> bool:
        """Whether the CRC of the frame at ``i`` .. ``end`` checks out."""
        return crc16(buf[i + 2:end - 2]) == (buf[end - 2] | (buf[end - 1] << 8))

    @classmethod
    def _overlapped(cls, buf: bytearray, i: int, end: int, final: bool) -> bool | None:
        """A good frame at ``i`` is garbage when what follows it is no sync but a sync
        inside it starts a good frame (None: that frame is not complete yet, and more
        bytes will come). Frames follow each other, so a real frame is followed by a
        sync or by the end of what has come so far (it is not held back: the live path's
        latency); a chance CRC in garbage rarely has a good frame inside it as well. The
        usual frame costs a compare; only one followed by no sync, a look inside."""
        if end + 2 > len(buf) or buf[end:end + 2] == SYNC:
            return False
        q = buf.find(SYNC, i + 1, end)
        while q >= 0:
            inner = cls._end(buf, q)
            if inner is None and not final:
                return None
            if inner is not None and cls._good(buf, q, inner):
                return True
            q = buf.find(SYNC, q + 1, end)
        return False

    @staticmethod
    def _parse(ftype: int, payload: bytes) -> Frame | None:
        if ftype == TYPE_INFO:
            if len(payload) < 8:
                return None
            version, channels, rate, scale = struct.unpack_from("<BBHf", payload)
            name = payload[8:].decode("ascii", errors="replace")
            return Frame(ftype, payload, info=Info(version, channels, rate, float(scale), name))
        if ftype == TYPE_SAMPLES:
            if len(payload) < 3 or (len(payload) - 3) % 2:
                return None
            seq, n = struct.unpack_from("<HB", payload)
            counts = np.frombuffer(payload, dtype="<i2", offset=3)
            if n == 0 or counts.size % n:
                return None
            return Frame(ftype, payload, seq=seq, n=n, counts=counts)
        return None


StatusCallback = Callable[[str, str], None]


class SerialSource:
    """Chunks from a board speaking the firmware-bridge protocol on a serial port.

    ``chunks()`` opens the port (``open()`` may be called first to learn ``fs`` and
    ``channels``), waits for INFO, and yields Chunks of about ``chunk_ms`` (never held
    longer than that plus one read timeout). ``status`` is one of 'closed',
    'connecting', 'waiting-info', 'streaming', 'stalled' (no frame for ``stall_s``),
    'disconnected', 'stopped'; every change is logged and passed to ``on_status(status,
    message)``.

    Losses: a sequence jump of j frames adds (j - 1) x N to ``lost_samples``, to the next
    Chunk's ``lost`` and to ``gaps`` as (start_sample, n_lost). After a reconnect the
    sequence numbers are trusted only if they agree with the wall-clock time the device
    was away (x rate); otherwise (device restarted, counter reset) the gap is estimated
    from wall-clock time and ``gap_methods`` says 'wallclock' for it ('seq' otherwise).
    The same check applies without a reconnect when a jump skips more samples than the
    time since the last frame allows (the device restarted its counter). A repeated frame
    (``duplicate_frames``) or one from up to STALE_WINDOW frames behind the newest
    (``late_frames``: reordered in transit) is dropped, never spliced in: its samples were
    counted lost when the newer frame came, and they stay so.
    """

    def __init__(self, port: str, baudrate: int = 921600, stall_s: float = 1.0,
                 reconnect: bool = True, give_up_s: float | None = 30.0,
                 chunk_ms: float = 25.0, read_timeout: float = 0.02,
                 info_timeout: float = 3.0, retry_s: float = 0.5,
                 on_status: StatusCallback | None = None,
                 channel_names: tuple[str, ...] | None = None) -> None:
        self.port = port
        self.baudrate = baudrate
        self.stall_s = stall_s
        self.reconnect = reconnect
        self.give_up_s = give_up_s
        self.chunk_ms = chunk_ms
        self.read_timeout = read_timeout
        self.info_timeout = info_timeout
        self.retry_s = retry_s
        self.on_status = on_status
        self._names = tuple(channel_names) if channel_names else None

        self.decoder = FrameDecoder()
        self.info: Info | None = None
        self.status = "closed"
        self.lost_samples = 0
        self.gaps: list[tuple[int, int]] = []
        self.gap_methods: list[str] = []
        self.reconnects = 0
        self.duplicate_frames = 0           # repeats of the newest frame, dropped
        self.late_frames = 0                # frames from behind the newest, dropped (their samples stay lost)
        self.samples_received = 0

        self._stop = threading.Event()
        self._ser = None
        self._held: list[tuple[Frame, float]] = []  # SAMPLES waiting for (a new) INFO
        self._info_ok = False               # INFO seen on the current connection
        self._last_seq: int | None = None
        self._stale = 0                     # duplicate or late frames in a row
        self._pump_t = time.monotonic()      # last read of the port
        self._absences: deque[tuple[float, float]] = deque(maxlen=32)  # (when, reader away s)
        self._clock = 0                     # next sample index on the stream clock
        self._pending: list[np.ndarray] = []  # channels x n float32 blocks
        self._pending_n = 0
        self._pending_start = 0
        self._pending_lost = 0
        self._pending_since = 0.0
        self._lost_next = 0                 # lost samples to attach to the next chunk
        self._last_frame_t = 0.0            # monotonic time of the last SAMPLES frame
        self._away_since: float | None = None  # last frame time before a disconnect
        self._error: Exception | None = None
        self._ready: list[Chunk] = []       # chunks closed by a gap, not yet yielded

    # -- public ---------------------------------------------------------------------------
    @property
    def fs(self) -> float | None:
        return float(self.info.rate_hz) if self.info else None

    @property
    def channels(self) -> tuple[str, ...] | None:
        if self.info is None:
            return None
        if self._names and len(self._names) == self.info.channels:
            return self._names
        return tuple(f"CH{i}" for i in range(self.info.channels))

    @property
    def device_name(self) -> str | None:
        return self.info.name if self.info else None

    def stop(self) -> None:
        """Ends ``chunks()`` within one read timeout (safe from any thread)."""
        self._stop.set()

    def open(self) -> None:
        """Opens the port and blocks until the first INFO frame (SerialSourceError if
        none comes within ``info_timeout``)."""
        if self._ser is None:
            self._open_port(first=True)
        deadline = time.monotonic() + self.info_timeout
        while self.info is None and not self._stop.is_set():
            if time.monotonic() > deadline:
                self._close_port()
                raise SerialSourceError(
                    f"no INFO frame from {self.port} in {self.info_timeout:g} s: is it a "
                    f"twitchwatch firmware bridge at {self.baudrate} baud?")
            self._pump()
            if self._error is not None and self.info is None:
                raise self._error           # otherwise chunks() yields what came first
            if self._ser is None:           # vanished before INFO
                self._reconnect_loop()

    def chunks(self) -> Iterator[Chunk]:
        try:
            self.open()
            while not self._stop.is_set():
                if self._error is not None:
                    yield from self._flush()
                    raise self._error
                if self._ser is None:
                    yield from self._flush()
                    self._reconnect_loop()
                    continue
                self._pump()
                now = time.monotonic()
                if self._ready or (self._pending_n and now - self._pending_since >= self.chunk_ms / 1000.0):
                    yield from self._flush()
                if (self.status == "streaming" and self.stall_s
                        and now - self._last_frame_t > self.stall_s):
                    self._set_status("stalled", f"no samples from {self.port} for "
                                                f"{now - self._last_frame_t:.1f} s")
            yield from self._flush()
        finally:
            self._close_port()
            if self._stop.is_set():
                self._set_status("stopped", "stopped")

    # -- port handling --------------------------------------------------------------------
    def _set_status(self, status: str, message: str) -> None:
        if status == self.status:
            return
        self.status = status
        level = logging.WARNING if status in ("stalled", "disconnected") else logging.INFO
        log.log(level, "serial %s: %s", self.port, message)
        if self.on_status is not None:
            self.on_status(status, message)

    def _open_port(self, first: bool) -> None:
        import serial                       # pyserial
        if first:
            self._set_status("connecting", f"opening {self.port}")
        try:
            self._ser = serial.Serial(self.port, self.baudrate, timeout=self.read_timeout)
        except (serial.SerialException, OSError, ValueError) as e:
            self._ser = None
            if first:
                raise SerialSourceError(f"cannot open serial port {self.port}: {e}") from e
            raise
        self.decoder.reset()
        self._info_ok = False
        self._set_status("waiting-info", f"{self.port} open, waiting for INFO")

    def _close_port(self) -> None:
        if self._ser is not None:
            try:
                self._ser.close()
            except Exception:               # noqa: BLE001 - closing a dead port
                pass
            self._ser = None

    def _reconnect_loop(self) -> None:
        import serial
        t0 = time.monotonic()
        while not self._stop.wait(self.retry_s):
            try:
                self._open_port(first=False)
            except (serial.SerialException, OSError, ValueError):
                if self.give_up_s is not None and time.monotonic() - t0 > self.give_up_s:
                    raise DeviceGoneError(
                        f"serial port {self.port} gone for {self.give_up_s:g} s; giving up")
                continue
            self.reconnects += 1
            return

    def _lost_port(self, err: Exception) -> None:
        self._close_port()
        for frame in self.decoder.flush():
            self._on_frame(frame)
        if self._away_since is None:
            self._away_since = self._last_frame_t or time.monotonic()
        msg = f"{self.port} vanished ({err})"
        self._set_status("disconnected", msg + ("; retrying every "
                                                f"{self.retry_s:g} s" if self.reconnect else ""))
        if not self.reconnect:
            self._error = DeviceGoneError(f"serial port {self.port} vanished: {err}")

    def _pump(self) -> None:
        """One read (at most one read timeout), decoded and turned into pending samples."""
        import serial
        t = time.monotonic()
        if t - self._pump_t > 0.1:          # the reader was held away (pipeline, sinks, OS)
            self._absences.append((t, t - self._pump_t))
        self._pump_t = t
        try:
            waiting = self._ser.in_waiting
            data = self._ser.read(max(1, waiting))
        except (serial.SerialException, OSError) as e:
            self._lost_port(e)
            return
        if data:
            for frame in self.decoder.feed(data):
                self._on_frame(frame)

    # -- frames -> samples ----------------------------------------------------------------
    def _on_frame(self, frame: Frame) -> None:
        if self._error is not None:
            return
        if frame.type == TYPE_INFO:
            info = frame.info
            if info.version != PROTOCOL_VERSION:
                self._error = SerialSourceError(
                    f"{self.port} speaks firmware-bridge protocol version {info.version}; "
                    f"this twitchwatch reads version {PROTOCOL_VERSION}")
                return
            if not 1 <= info.channels <= 16 or info.rate_hz == 0 or not 0 < info.uv_per_count < 1e9:
                self._error = SerialSourceError(
                    f"{self.port} sent an INFO frame with {info.channels} channels at "
                    f"{info.rate_hz} Hz and {info.uv_per_count:g} uV/count, which is not a valid format")
                return
            if self.info is None:
                self.info = info
                log.info("serial %s: %s, %d channels at %d Hz, %g uV/count", self.port,
                         info.name, info.channels, info.rate_hz, info.uv_per_count)
            elif (info.channels, info.rate_hz, info.uv_per_count) != (
                    self.info.channels, self.info.rate_hz, self.info.uv_per_count):
                self._error = FormatChangedError(
                    f"{self.port} changed format mid-stream: {self.info.channels} channels "
                    f"at {self.info.rate_hz} Hz ({self.info.uv_per_count:g} uV/count) became "
                    f"{info.channels} channels at {info.rate_hz} Hz "
                    f"({info.uv_per_count:g} uV/count); start a new stream")
                return
            if not self._info_ok:
                self._info_ok = True
                held, self._held = self._held, []
                for f, t in held:
                    self._on_samples(f, t)
            return
        if frame.type == TYPE_SAMPLES:
            if not self._info_ok:
                self._held.append((frame, time.monotonic()))
                if len(self._held) > 2000:
                    del self._held[0]       # the seq jump will count it as lost
                return
            self._on_samples(frame, time.monotonic())

    def _on_samples(self, frame: Frame, now: float) -> None:
        info = self.info
        try:
            counts = frame.counts_2d(info.channels)
        except ValueError:
            self.decoder.bad_frames += 1
            return
        n = frame.n
        lost = 0
        if self._last_seq is not None:
            jump = (frame.seq - self._last_seq) % SEQ_MOD
            if self._away_since is None and (jump == 0 or jump > SEQ_MOD - STALE_WINDOW):
                # a repeat, or a frame from behind the newest: its place on the clock has
                # passed (it was counted lost when the newer frame came), so it is dropped;
                # many in a row mean the device's counter restarted (handled as below)
                self._stale += 1
                if self._stale <= RESTART_AFTER_STALE:
                    if jump == 0:
                        self.duplicate_frames += 1
                    else:
                        self.late_frames += 1
                    return
                self._away_since = self._last_frame_t
            seq_lost = ((jump - 1) % SEQ_MOD) * n
            if self._away_since is None and seq_lost > self._plausible_loss(now):
                # more samples skipped than time passed: the counter restarted, not a loss
                self._away_since = self._last_frame_t
            self._stale = 0
            method = "seq"
            if self._away_since is not None:
                seq_lost, method = self._reconcile(seq_lost, jump, n, now)
            lost = seq_lost
            if lost:
                self._record_gap(lost, method)
        self._away_since = None
        self._last_seq = frame.seq
        self._last_frame_t = now
        if self.status != "streaming":
            self._set_status("streaming", f"{self.port}: receiving samples")
        if lost and self._pending_n:
            self._close_pending_block()
        data = (counts.T.astype(np.float32) * np.float32(info.uv_per_count))
        if not self._pending_n:
            self._pending_start = self._clock
            self._pending_lost = self._lost_next
            self._lost_next = 0
            self._pending_since = now
        self._pending.append(data)
        self._pending_n += n
        self._clock += n
        self.samples_received += n
        if self._pending_n >= self._target_n():  # a burst read: chunks stay ~chunk_ms long
            self._close_pending_block()

    def _plausible_loss(self, now: float) -> float:
        """The most samples a sequence jump can honestly skip: the time since the last frame,
        plus the longest time this reader was held away in the last 10 s (frames then wait
        in the port's buffer and come in a burst, while the board's own clock ran on), with
        50% and 1 s to spare."""
        held = max((d for t, d in self._absences if now - t < 10.0), default=0.0)
        return (1.5 * (now - self._last_frame_t + held) + 1.0) * self.info.rate_hz

    def _reconcile(self, seq_lost: int, jump: int, n: int, now: float) -> tuple[int, str]:
        """After a reconnect: trust the sequence numbers if they agree with the time away."""
        fs = self.info.rate_hz
        est = max(0, int(round((now - self._away_since) * fs)) - n)
        tol = max(0.5 * est, 0.5 * fs)
        wrap = SEQ_MOD * n
        k = max(0, int(round((est - seq_lost) / wrap)))
        cand = seq_lost + k * wrap
        if abs(cand - est) <= tol and not (jump == 0 and k == 0):
            if k:
                log.warning("serial %s: sequence wrapped %d time(s) while away", self.port, k)
            return cand, "seq"
        log.warning("serial %s: sequence numbers after reconnect imply %d lost samples but "
                    "%.2f s passed; the device probably restarted: counting the gap from "
                    "wall-clock time (%d samples)", self.port, seq_lost,
                    now - self._away_since, est)
        return est, "wallclock"

    def _record_gap(self, lost: int, method: str) -> None:
        # The gap starts at the current clock position; chunks after it start later.
        self.gaps.append((self._clock, lost))
        self.gap_methods.append(method)
        self.lost_samples += lost
        self._clock += lost
        self._lost_next += lost

    def _close_pending_block(self) -> None:
        """Moves pending samples out as a ready chunk (before a gap, or once it is full)."""
        self._ready.append(self._make_chunk())

    def _make_chunk(self) -> Chunk:
        data = self._pending[0] if len(self._pending) == 1 else np.concatenate(
            self._pending, axis=1)
        chunk = Chunk(np.ascontiguousarray(data, dtype=np.float32), self.fs, self.channels,
                      start=self._pending_start, lost=self._pending_lost)
        self._pending = []
        self._pending_n = 0
        return chunk

    def _flush(self) -> Iterator[Chunk]:
        ready, self._ready = self._ready, []
        yield from ready
        if self._pending_n:
            yield self._make_chunk()

    def _target_n(self) -> int:
        return max(1, int(round(self.fs * self.chunk_ms / 1000.0)))
