"""OpenBCI boards, BrainFlow's synthetic board, BrainFlow playback, and twitchwatch's own
synthetic EMG played through BrainFlow, as a stream of Chunks.

Boards (``BrainFlowSource(board=...)``):

- ``synthetic`` (the default of ``twitchwatch stream``): twitchwatch's own synthetic sEMG
  (``synth.simulate``, with ground truth in ``.truth``) written to a temporary BrainFlow
  CSV in the CYTON_BOARD layout and played by BrainFlow's PLAYBACK_FILE_BOARD, so it comes
  through exactly the path a live Cyton does. Its channels are the first ``n_channels`` of
  the Cyton's EMG rows.
- ``cyton``, ``cyton-daisy``, ``ganglion``: OpenBCI boards on a serial port (``port``).
- ``brainflow-synthetic``: BrainFlow's own SYNTHETIC_BOARD (16 EMG rows).
- ``playback``: PLAYBACK_FILE_BOARD on ``playback_file`` (a BrainFlow CSV written by
  ``DataFilter.write_file``), laid out as ``master_board``.
- ``streaming``: BrainFlow's STREAMING_BOARD, listening at ``port`` ('ADDRESS:PORT', a
  multicast group) to another BrainFlow session that streams ``master_board`` there with
  ``start_stream(n, 'streaming_board://ADDRESS:PORT')``.

Facts about BrainFlow 5.23's playback board this module relies on (measured, and read in
``src/board_controller/playback_file_board.cpp``): it paces by the file's timestamp row
(it sleeps the difference of consecutive timestamps, with drift correction; a file whose
timestamps step 8 ms plays at 125 Hz even with a 250 Hz master board); the file's
timestamps must be positive; it replaces the timestamp row with the time of playing
("new_timestamps", the default); values come back as written (``write_file`` keeps 6
decimals); and it does NOT loop by default: at the end of the file it just stops pushing
samples (no end-of-stream signal). ``config_board('loopback_true')`` makes it loop.
This source therefore counts the file's lines and ends the stream when all have arrived
(or loops when ``loop=True``), rather than mistaking the end for a stall.

Sample accounting: the board's package-number row (``package_num_channel``) counts
dropped packets as lost samples (each Chunk starts after its gap: a chunk is split where
packets are missing); a stall (no samples for ``stall_s``) is reported through ``status``
and ``on_status``, the session is released and prepared again, and the silent time
becomes a gap of ``round(seconds x fs)`` samples (minus what arrived in the first poll
after it), never silently bridged.
"""
from __future__ import annotations

import os
import tempfile
import threading
import time
from typing import Callable, Iterator

import numpy as np

from ..errors import UserError
from ..types import Chunk

BOARDS = ("synthetic", "cyton", "cyton-daisy", "ganglion", "brainflow-synthetic", "playback", "streaming")
_SERIAL = {"cyton": "CYTON_BOARD", "cyton-daisy": "CYTON_DAISY_BOARD", "ganglion": "GANGLION_BOARD"}
# package-number rows that count +step per sample modulo 256 (Ganglion's does not: its
# packets carry compressed sample pairs, so it is not used to count losses)
_NO_PKG_COUNT = {"GANGLION_BOARD"}


def count_lost(prev: int | None, nums: np.ndarray, step: int, modulus: int = 256) -> np.ndarray:
    """Samples missing just before each sample, from a package-number row.

    ``prev`` is the package number of the sample before ``nums`` (None: unknown). A number
    that repeats (difference 0) counts as no loss. Losses of ``modulus`` samples or more
    alias and cannot be seen from the counter (a stall catches those).
    """
    nums = np.asarray(nums, dtype=np.int64) % modulus
    if not nums.size:
        return np.zeros(0, dtype=np.int64)
    before = np.concatenate(([nums[0] - step if prev is None else int(prev)], nums[:-1]))
    d = (nums - before) % modulus
    missing = ((d - step) % modulus) // step
    return np.where(d == 0, 0, missing).astype(np.int64)


def stall_gap(silent_s: float, fs: float, received: int) -> int:
    """Samples lost over ``silent_s`` seconds without data, given that ``received`` samples
    arrived in the first poll after the silence (they were measured within it)."""
    return max(0, int(round(silent_s * fs)) - int(received))


def infer_step(nums: np.ndarray, modulus: int = 256) -> int | None:
    """The per-sample step of a package counter (most common positive difference)."""
    nums = np.asarray(nums, dtype=np.int64)
    if nums.size < 8:
        return None
    d = np.diff(nums) % modulus
    d = d[d > 0]
    if not d.size:
        return None
    vals, counts = np.unique(d, return_counts=True)
    return int(vals[np.argmax(counts)])


def _board_ids():
    from brainflow.board_shim import BoardIds
    return BoardIds


DEMO_TWITCH_RATE = 30.0  # per minute, in the synthetic default stream
DEMO_NOISE_UV = 2.0  # amplifier noise, uV rms, in the synthetic default stream


class BrainFlowSource:
    """A BrainFlow board as a stream of Chunks (see the module docstring).

    Attributes: ``fs``, ``channels`` ('EXG0'...), ``lost_samples``, ``gaps``
    [(start_sample, n)], ``status``, ``truth`` (board 'synthetic' only), ``timestamps``
    (the timestamp row of the last chunk, BrainFlow's unix seconds).
    """

    def __init__(self, board: str, port: str | None = None, chunk_s: float = 0.04,
                 stall_s: float = 2.0, playback_file: str | None = None,
                 master_board: str | None = None, *,
                 on_status: Callable[[str], None] | None = None,
                 duration_s: float | None = None, seed: int = 0, n_channels: int = 4,
                 loop: bool = False, synth_config=None) -> None:
        from brainflow.board_shim import BoardShim, BrainFlowInputParams

        BoardShim.disable_board_logger()
        board = str(board).lower()
        if board not in BOARDS:
            raise UserError(f"--board {board}: unknown board; use one of {', '.join(BOARDS)}")
        Ids = _board_ids()
        self.board = board
        self.chunk_s = float(chunk_s)
        self.stall_s = float(stall_s)
        self.on_status = on_status
        self.loop = bool(loop)
        self.truth: dict | None = None
        self.lost_samples = 0
        self.gaps: list[tuple[int, int]] = []
        self.status = "idle"
        self.timestamps = np.zeros(0)
        self._tmpdir: tempfile.TemporaryDirectory | None = None
        self._total: int | None = None  # samples in the played file (None: endless)
        params = BrainFlowInputParams()
        if board in _SERIAL:
            if not port:
                raise UserError(f"--board {board}: give the serial port with --port "
                                "(e.g. /dev/ttyUSB0 or COM3)")
            params.serial_port = str(port)
            self.board_id = int(Ids[_SERIAL[board]].value)
            master = self.board_id
        elif board == "brainflow-synthetic":
            self.board_id = master = int(Ids.SYNTHETIC_BOARD.value)
        elif board == "streaming":
            from ..formats.brainflow_csv import board_id
            address, _, number = str(port or "").rpartition(":")
            if not address or not number.isdigit() or master_board is None:
                raise UserError(f"--board streaming: give the multicast group as --port ADDRESS:PORT "
                                f"(got {port!r}) and the board streamed there")
            params.ip_address, params.ip_port = address, int(number)
            params.master_board = master = board_id(master_board)
            self.board_id = int(Ids.STREAMING_BOARD.value)
        elif board == "playback":
            from ..formats.brainflow_csv import board_id
            if not playback_file or not os.path.isfile(playback_file):
                raise UserError(f"playback file {playback_file!r}: not found; give a BrainFlow CSV")
            if master_board is None:
                raise UserError(f"{playback_file}: name the board that recorded it (master_board)")
            master = board_id(master_board)
            self.board_id = int(Ids.PLAYBACK_FILE_BOARD.value)
            params.file = str(playback_file)
            params.master_board = master
            self._total = _count_lines(playback_file)
        else:  # synthetic
            master = int(Ids.CYTON_BOARD.value)
            self.board_id = int(Ids.PLAYBACK_FILE_BOARD.value)
            path = self._write_synthetic(master, duration_s, seed, n_channels, synth_config)
            params.file = path
            params.master_board = master
        self.master_id = master
        self._params = params
        descr = BoardShim.get_board_descr(master)
        rows = BoardShim.get_emg_channels(master)
        if board == "synthetic":
            rows = rows[:self._n_synth]
        self.rows = list(rows)
        self.fs = float(BoardShim.get_sampling_rate(master))
        self.ts_row = descr.get("timestamp_channel")
        name = Ids(master).name
        self.pkg_row = None if name in _NO_PKG_COUNT else descr.get("package_num_channel")
        self.channels = tuple(f"EXG{k}" for k in range(len(self.rows)))
        self._shim = None
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._pos = 0  # next sample's index on the stream clock (lost samples included)
        self._delivered = 0  # samples received from the board
        self._prev_pkg: int | None = None
        self._step: int | None = None

    # ---- the synthetic default -------------------------------------------------------
    def _write_synthetic(self, master: int, duration_s, seed, n_channels, cfg) -> str:
        from brainflow.board_shim import BoardShim
        from brainflow.data_filter import DataFilter

        from ..synth import SynthConfig, simulate

        descr = BoardShim.get_board_descr(master)
        fs = float(BoardShim.get_sampling_rate(master))
        rows = BoardShim.get_emg_channels(master)
        if cfg is None:
            # the demo: --duration long (ten minutes without it), a typical electrode's
            # noise, and twitches often enough to see some
            minutes = (float(duration_s) if duration_s else 600.0) / 60.0
            cfg = SynthConfig(minutes=minutes, fs=fs, n_channels=min(int(n_channels), len(rows)),
                              seed=int(seed), twitch_rate=DEMO_TWITCH_RATE, noise_uv=DEMO_NOISE_UV)
        if float(cfg.fs) != fs or cfg.n_channels > len(rows):
            raise ValueError(f"the synthetic stream plays as a Cyton: fs must be {fs:g} and at most "
                             f"{len(rows)} channels")
        rec, truth = simulate(cfg)
        n = rec.n_samples
        table = np.zeros((int(descr["num_rows"]), n))
        table[rows[:rec.n_channels]] = rec.data
        table[int(descr["package_num_channel"])] = np.arange(n) % 256
        table[int(descr["timestamp_channel"])] = time.time() + np.arange(n) / fs
        self._tmpdir = tempfile.TemporaryDirectory(prefix="twitchwatch-synth-")
        path = os.path.join(self._tmpdir.name, "synthetic_cyton.csv")
        DataFilter.write_file(table, path, "w")
        self.recording, self.truth = rec, truth
        self._n_synth = rec.n_channels
        self._total = n
        return path

    # ---- session -----------------------------------------------------------------------
    def _set_status(self, msg: str) -> None:
        self.status = msg
        if self.on_status is not None:
            try:
                self.on_status(msg)
            except Exception:  # a broken callback must not end the stream
                pass

    def _open(self) -> None:
        from brainflow.board_shim import BoardShim

        shim = BoardShim(self.board_id, self._params)
        try:
            shim.prepare_session()
            if self.board_id == int(_board_ids().PLAYBACK_FILE_BOARD.value):
                shim.config_board("loopback_true" if self.loop else "loopback_false")
            shim.start_stream(45000)
        except Exception:
            try:
                shim.release_session()
            except Exception:
                pass
            raise
        self._shim = shim
        self._prev_pkg = None

    def open(self) -> None:
        """Prepare and start the session (``chunks()`` does it if not done yet), so that a
        board that cannot start fails before any output is created: a one-line UserError."""
        if self._shim is not None:
            return
        self._set_status("preparing")
        try:
            self._open()
        except Exception as exc:
            self._set_status("failed")
            where = f" on {self._params.serial_port}" if self._params.serial_port else ""
            raise UserError(f"--board {self.board}{where}: BrainFlow could not start the stream "
                            f"({exc}); check the port, power and dongle") from None

    def _release(self) -> None:
        with self._lock:
            shim, self._shim = self._shim, None
            if shim is not None:
                try:
                    shim.release_session()  # stops the stream too
                except Exception:
                    pass

    def stop(self) -> None:
        """End the stream and release the session (safe from any thread)."""
        self._stop.set()
        self._release()

    def close(self) -> None:
        self.stop()
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None

    # ---- the stream --------------------------------------------------------------------
    def chunks(self) -> Iterator[Chunk]:
        """Prepare, start and poll the board every ``chunk_s``; yield Chunks until the
        file ends (playback without loop), ``stop()`` is called or the generator closes."""
        self.open()
        self._set_status("streaming")
        last_data = last_try = time.monotonic()
        reconnected = False
        tick = time.monotonic()
        try:
            while not self._stop.is_set():
                tick += self.chunk_s
                wait = tick - time.monotonic()
                if wait > 0:
                    self._stop.wait(wait)
                else:
                    tick = time.monotonic()
                with self._lock:
                    if self._stop.is_set():
                        break
                    data = None
                    if self._shim is not None:
                        try:
                            data = self._shim.get_board_data()
                        except Exception:
                            data = None
                now = time.monotonic()
                if data is None or data.shape[1] == 0:
                    if self._total is not None and not self.loop and self._delivered >= self._total:
                        self._set_status("ended")
                        break
                    if now - max(last_data, last_try) >= self.stall_s:
                        self._set_status(f"stalled: no samples for {now - last_data:.1f} s; reconnecting")
                        self._release()
                        last_try = now
                        try:
                            self._open()
                            reconnected = True
                            self._set_status("reconnected; waiting for samples")
                        except Exception as exc:
                            self._set_status(f"reconnect failed ({exc}); retrying")
                    continue
                if reconnected:
                    gap = stall_gap(now - last_data, self.fs, data.shape[1])
                    reconnected = False
                    self._set_status("streaming")
                else:
                    gap = 0
                last_data = now
                yield from self._emit(data, gap)
        finally:
            self._release()
            if self.status not in ("ended", "failed"):
                self.status = "stopped"

    def _emit(self, data: np.ndarray, gap: int) -> Iterator[Chunk]:
        if self._total is not None and not self.loop:
            data = data[:, :max(0, self._total - self._delivered)]
        n = data.shape[1]
        self._delivered += n
        if n == 0:
            return
        missing = np.zeros(n, dtype=np.int64)
        if self.pkg_row is not None:
            nums = np.rint(data[self.pkg_row]).astype(np.int64)
            if self._step is None:
                self._step = infer_step(nums)
            if self._step is not None:
                missing = count_lost(self._prev_pkg, nums, self._step)
            self._prev_pkg = int(nums[-1])
        missing[0] += gap
        x = data[self.rows].astype(np.float32)
        ts = data[self.ts_row] if self.ts_row is not None else np.zeros(n)
        cuts = np.flatnonzero(missing)
        bounds = list(cuts[cuts > 0]) + [n]
        a = 0
        for b in bounds:
            lost = int(missing[a])
            if lost:
                self.gaps.append((self._pos, lost))
                self.lost_samples += lost
                self._pos += lost
            self.timestamps = ts[a:b]
            yield Chunk(np.ascontiguousarray(x[:, a:b]), self.fs, self.channels, start=self._pos, lost=lost)
            self._pos += b - a
            a = b

    def __del__(self) -> None:  # best effort: never leave a session or a temp file behind
        try:
            self.close()
        except Exception:
            pass


def _count_lines(path: str) -> int:
    with open(path, "rb") as f:
        return sum(1 for line in f if line.strip())
