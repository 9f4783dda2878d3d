"""The serial firmware-bridge: C encoder vs Python decoder, the decoder under garbage,
and SerialSource against a device emulator on a pseudo-terminal (loss, gaps, unplug)."""
from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, HealthCheck
from hypothesis import strategies as st

from emulator import make_pty, wait_status, write_all
from twitchwatch.sources.serial import (SYNC, TYPE_INFO, TYPE_SAMPLES, DeviceGoneError,
                                        FormatChangedError, FrameDecoder, SerialSource,
                                        crc16, encode_info, encode_samples)

FW = Path(__file__).resolve().parents[1] / "firmware_bridge"
SCALE = 0.1953125  # exact in float32


# --- (a) C / Python byte compatibility ----------------------------------------------------
@pytest.fixture(scope="module")
def vectors(tmp_path_factory):
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed: cannot build firmware_bridge/host/make_vectors.c")
    d = tmp_path_factory.mktemp("vectors")
    exe = d / "make_vectors"
    subprocess.run([gcc, "-std=c99", "-O2", "-Wall", "-Wextra", "-Wpedantic", "-Werror",
                    "-o", str(exe), str(FW / "host" / "make_vectors.c"), str(FW / "tw_frame.c")],
                   check=True, capture_output=True)
    subprocess.run([str(exe), str(d / "v.bin"), str(d / "v.json")], check=True)
    return (d / "v.bin").read_bytes(), json.loads((d / "v.json").read_text())


def test_crc_check_value(vectors):
    assert crc16(b"123456789") == 0x29B1
    assert vectors[1]["crc_check"]["crc"] == 0x29B1


def test_c_vectors_decode(vectors):
    data, spec = vectors
    dec = FrameDecoder()
    frames = dec.feed(data)
    assert dec.crc_errors == 0 and dec.bytes_skipped == 0
    assert [f.type for f in frames] == [TYPE_INFO if s["type"] == "info" else TYPE_SAMPLES
                                        for s in spec["frames"]]
    seqs = [s["seq"] for s in spec["frames"] if s["type"] == "samples"]
    assert 65535 in seqs and 0 in seqs
    for f, s in zip(frames, spec["frames"]):
        assert len(f.payload) + 6 == s["length"]
        if s["type"] == "info":
            assert f.info.version == 1
            assert f.info.channels == spec["channels"]
            assert f.info.rate_hz == spec["rate_hz"]
            assert f.info.uv_per_count == spec["uv_per_count"]
            assert f.info.name == spec["name"]
        else:
            assert f.seq == s["seq"] and f.n == s["n"]
            np.testing.assert_array_equal(f.counts_2d(spec["channels"]), np.array(s["counts"]))


def test_python_encoder_matches_c_bytes(vectors):
    data, spec = vectors
    out = b""
    for s in spec["frames"]:
        if s["type"] == "info":
            out += encode_info(spec["channels"], spec["rate_hz"], spec["uv_per_count"], spec["name"])
        else:
            out += encode_samples(s["seq"], np.array(s["counts"], dtype=np.int16))
    assert out == data


def test_byte_by_byte_feed(vectors):
    data, spec = vectors
    dec = FrameDecoder()
    frames = [f for i in range(len(data)) for f in dec.feed(data[i:i + 1])]
    assert len(frames) == len(spec["frames"]) and dec.bytes_skipped == 0


def test_protocol_md_example():
    assert encode_info(2, 1000, 0.5, "tw").hex(" ").upper() == \
        "A5 5A 01 0A 01 02 E8 03 00 00 00 3F 74 77 8B B9"
    assert encode_samples(1, np.array([[1, -1], [256, -256]])).hex(" ").upper() == \
        "A5 5A 02 0B 01 00 02 01 00 FF FF 00 01 00 FF D0 C2"


# --- (b) decoder ----------------------------------------------------------------------------
def test_crc_failure_does_not_swallow_next_frame():
    good = encode_samples(7, np.arange(8, dtype=np.int16).reshape(4, 2))
    # A sync with a length that would span the good frame, then the good frame.
    torn = SYNC + bytes([TYPE_SAMPLES, 20, 1, 2, 3])
    dec = FrameDecoder()
    frames = dec.feed(torn + good)
    assert [f.seq for f in frames] == [7]
    assert dec.crc_errors == 1 and dec.frames_ok == 1
    assert dec.bytes_skipped == len(torn)


def test_flush_releases_frames_behind_a_torn_header():
    good = encode_samples(9, np.zeros((2, 2), np.int16))
    dec = FrameDecoder()
    assert dec.feed(SYNC + bytes([TYPE_SAMPLES, 250]) + good) == []   # waits for 256 bytes
    assert [f.seq for f in dec.flush()] == [9]


def test_counters_and_trailing_sync_half():
    good = encode_samples(3, np.zeros((2, 2), np.int16))
    dec = FrameDecoder()
    assert dec.feed(b"xyz\xa5") == []
    assert dec.bytes_skipped == 3
    assert [f.seq for f in dec.feed(b"\x5a" + good[2:])] == [3]  # A5 | 5A split over feeds
    assert dec.bytes_skipped == 3


def test_garbage_whose_crc_checks_out_cannot_swallow_the_frame_inside_it():
    """Garbage that starts with a sync can check out by chance (1 in 65,536; our property
    test below found one): here its CRC is planted in the counts of the real frame that
    starts inside it. The real frame is decoded, the garbage is not."""
    real = bytearray(encode_samples(5, np.arange(40, dtype=np.int16).reshape(40, 1)))
    head = SYNC + bytes([TYPE_SAMPLES, 23]) + b"\x00\x00\x01"   # 23 bytes: seq 0, 10 samples of 1 channel
    k = 23 - 3                                                    # its CRC lands on the real frame's bytes k, k + 1
    real[k:k + 2] = crc16(head[2:] + bytes(real[:k])).to_bytes(2, "little")
    real[-2:] = crc16(bytes(real[2:-2])).to_bytes(2, "little")  # the real frame checks out too
    stream = head + bytes(real)
    for cut in (len(stream), len(head) + k + 4):                 # at once, and cut just after the garbage
        dec = FrameDecoder()
        frames = dec.feed(stream[:cut]) + dec.feed(stream[cut:]) + dec.flush()
        assert [(f.seq, f.n) for f in frames] == [(5, 40)], cut
        assert dec.bad_frames == 1 and dec.frames_ok == 1


@st.composite
def frames_st(draw):
    if draw(st.integers(0, 5)) == 0:
        name = draw(st.text(alphabet="abcxyz-0123", max_size=20))
        return encode_info(draw(st.integers(1, 16)), draw(st.integers(1, 65535)), 0.5, name)
    c = draw(st.integers(1, 16))
    n = draw(st.integers(1, 126 // c))
    seq = draw(st.integers(0, 65535))
    counts = np.array(draw(st.lists(st.integers(-32768, 32767), min_size=n * c,
                                    max_size=n * c)), dtype=np.int16).reshape(n, c)
    return encode_samples(seq, counts)


garbage_st = st.one_of(st.binary(max_size=40), st.binary(max_size=30).map(lambda b: SYNC + b),
                       st.binary(max_size=10).map(lambda b: b + b"\xa5"))


@st.composite
def stream_st(draw):
    items = draw(st.lists(st.tuples(garbage_st, frames_st(), st.integers(0, 3),
                                    st.integers(0, 10 ** 6)), min_size=1, max_size=25))
    stream = b""
    intact = []
    for garbage, frame, fate, where in items:
        stream += garbage
        if fate == 1:                       # corrupt one bit after the sync
            i = 2 + where % (len(frame) - 2)
            frame = frame[:i] + bytes([frame[i] ^ (1 << (where % 8))]) + frame[i + 1:]
        elif fate == 2:                     # torn: cut short
            frame = frame[:where % len(frame)]
        else:
            intact.append(frame)
        stream += frame
    splits = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    return stream, intact, splits


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream_st())
def test_decoder_garbage_corruption_truncation(case):
    stream, intact, splits = case
    dec = FrameDecoder()
    got = []
    prev = 0
    for s in splits + [len(stream)]:
        got += dec.feed(stream[prev:s])
        prev = s
    got += dec.flush()
    decoded = [SYNC + bytes([f.type, len(f.payload)]) + f.payload for f in got]
    assert decoded == [fr[:-2] for fr in intact]
    assert dec.frames_ok == len(intact)


def test_decoder_speed():
    rng = np.random.default_rng(1)
    parts = []
    for k in range(5000):
        parts.append(rng.integers(0, 256, rng.integers(0, 8), dtype=np.uint8).tobytes())
        parts.append(encode_samples(k, rng.integers(-2000, 2000, (15, 8)).astype(np.int16)))
    data = b"".join(parts)
    dec = FrameDecoder()
    t = time.perf_counter()
    n = sum(len(dec.feed(data[i:i + 4096])) for i in range(0, len(data), 4096))
    dt = time.perf_counter() - t
    assert n >= 4990
    assert dt < 2.0, f"{len(data)} bytes took {dt:.2f} s"


# --- (c) device emulator on a pty ----------------------------------------------------------
def consume(src, until, timeout):
    """Chunks from src until until(chunks) or timeout (then stop())."""
    out = []
    t_end = time.monotonic() + timeout
    timer = threading.Timer(timeout, src.stop)
    timer.start()
    try:
        for ch in src.chunks():
            out.append(ch)
            if until(out) or time.monotonic() > t_end:
                src.stop()
    finally:
        timer.cancel()
    return out


def check_contiguous(chunks):
    for a, b in zip(chunks, chunks[1:]):
        assert b.start == a.stop + b.lost, (a.start, a.stop, b.start, b.lost)


def test_emulator_loss_garbage_corruption():
    C, N, FS, n_frames = 6, 10, 1000, 400
    rng = np.random.default_rng(7)
    counts = rng.integers(-32768, 32768, (n_frames, N, C)).astype(np.int16)
    seq0 = 65400                                        # wraps after frame 135
    dropped = {50, 51, 120, 300}
    corrupted = {80, 200}
    master, slave = make_pty()
    src = SerialSource(os.ttyname(slave), read_timeout=0.02)
    pyrng = random.Random(3)

    def device():
        wait_status(src, ("waiting-info",))
        for k in range(n_frames):
            out = b""
            if k % 100 == 0:
                out += encode_info(C, FS, SCALE, "emu")
            if pyrng.random() < 0.2:
                out += bytes(pyrng.randrange(256) for _ in range(pyrng.randrange(1, 30)))
            if pyrng.random() < 0.05:
                out += SYNC + bytes([TYPE_SAMPLES, pyrng.randrange(256)])
            fr = encode_samples(seq0 + k, counts[k])
            if k in corrupted:
                i = pyrng.randrange(4, len(fr))
                fr = fr[:i] + bytes([fr[i] ^ 0x10]) + fr[i + 1:]
            if k not in dropped:
                out += fr
            write_all(master, out)
            if k % 4 == 3:
                time.sleep(0.002)                       # ~ 4x real time

    th = threading.Thread(target=device, daemon=True)
    t0 = time.monotonic()
    th.start()
    try:
        chunks = consume(src, lambda cs: cs[-1].stop >= n_frames * N, timeout=8.0)
    finally:
        th.join(5)
        os.close(master)
        os.close(slave)
    elapsed = time.monotonic() - t0
    lost_frames = sorted(dropped | corrupted)
    got = sum(c.n_samples for c in chunks)
    assert got + src.lost_samples == n_frames * N
    assert src.lost_samples == len(lost_frames) * N
    assert src.gaps == [(500, 20), (800, 10), (1200, 10), (2000, 10), (3000, 10)]
    assert src.gap_methods == ["seq"] * 5
    assert sum(c.lost for c in chunks) == src.lost_samples
    check_contiguous(chunks)
    expected = counts.reshape(n_frames * N, C).T.astype(np.float32) * np.float32(SCALE)
    for c in chunks:
        assert c.channels == tuple(f"CH{i}" for i in range(C)) and c.fs == FS
        assert c.data.dtype == np.float32
        np.testing.assert_array_equal(c.data, expected[:, c.start:c.stop])
    assert max(c.n_samples for c in chunks) <= 60
    assert src.decoder.crc_errors >= len(corrupted)
    assert elapsed < 8


# --- (d) unplug and reconnect ---------------------------------------------------------------
class Device(threading.Thread):
    """Real-time emulator (N=10 at 1000 Hz: a frame per 10 ms) behind a stable symlink.

    Phase 1 on pty 1, then "unplugged" (pty closed, link removed, frames keep being
    produced and discarded), then phase 2 on a new pty behind the same link, with the
    sequence counter continuing (or restarting at 0 if restart=True)."""

    C, N, FS = 4, 10, 1000

    def __init__(self, link, src_holder, n1=80, n_away=70, n2=100, restart=False):
        super().__init__(daemon=True)
        self.link, self.src_holder = link, src_holder
        self.n1, self.n_away, self.n2, self.restart = n1, n_away, n2, restart
        self.frames = []                       # (seq, counts) for every frame produced
        self.written = []                      # phase of each frame: 1, 0 (away), 2
        self.rng = np.random.default_rng(11)
        self.master, self.slave = make_pty()
        os.symlink(os.ttyname(self.slave), link)

    def relink(self):
        self.master, self.slave = make_pty()
        tmp = str(self.link) + ".new"
        os.symlink(os.ttyname(self.slave), tmp)
        os.replace(tmp, self.link)

    def run(self):
        wait_status(self.src_holder[0], ("waiting-info",))
        t_next = time.monotonic()
        seq = 65500
        total = self.n1 + self.n_away + self.n2
        for k in range(total):
            if k == self.n1:                   # unplug
                os.close(self.master)
                os.close(self.slave)
                os.unlink(self.link)
            if k == self.n1 + self.n_away:     # plug back in
                self.relink()
                if self.restart:
                    seq = 0
            counts = self.rng.integers(-3000, 3000, (self.N, self.C)).astype(np.int16)
            self.frames.append((seq, counts))
            phase = 1 if k < self.n1 else (0 if k < self.n1 + self.n_away else 2)
            self.written.append(phase)
            if phase:
                out = b""
                if k % 25 == 0 or k == self.n1 + self.n_away:
                    out += encode_info(self.C, self.FS, SCALE, "emu")
                write_all(self.master, out + encode_samples(seq, counts))
            seq = (seq + 1) % 65536
            t_next += self.N / self.FS
            time.sleep(max(0.0, t_next - time.monotonic()))
        time.sleep(0.2)
        self.src_holder[0].stop()

    def close(self):
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


@pytest.mark.parametrize("restart", [False, True])
def test_unplug_and_reconnect(tmp_path, restart):
    link = tmp_path / "ttyTW"
    holder = []
    dev = Device(link, holder, restart=restart)
    statuses = []
    src = SerialSource(str(link), give_up_s=5.0, on_status=lambda s, m: statuses.append(s))
    holder.append(src)
    dev.start()
    total = dev.n1 + dev.n_away + dev.n2
    try:
        chunks = consume(src, lambda cs: False, timeout=8.0)
    finally:
        dev.join(5)
        dev.close()
    N = dev.N
    assert src.reconnects == 1
    assert "disconnected" in statuses
    assert statuses.index("disconnected") < len(statuses) - 1 - statuses[::-1].index("streaming")
    check_contiguous(chunks)
    assert len(src.gaps) == 1 and src.gaps[0][0] == dev.n1 * N
    got = sum(c.n_samples for c in chunks)
    all_counts = np.concatenate([c for _, c in dev.frames]).T.astype(np.float32) * np.float32(SCALE)
    if not restart:
        # Sequence numbers reveal the loss exactly: everything sent is accounted for.
        assert src.gap_methods == ["seq"]
        assert got + src.lost_samples == total * N
        assert src.lost_samples >= dev.n_away * N
        for c in chunks:
            np.testing.assert_array_equal(c.data, all_counts[:, c.start:c.stop])
    else:
        # Counter reset: the gap is the wall-clock time away x rate (roughly).
        assert src.gap_methods == ["wallclock"]
        assert 0.5 * dev.n_away * N <= src.lost_samples <= 3 * dev.n_away * N
        before = [c for c in chunks if c.start < src.gaps[0][0]]
        after = [c for c in chunks if c.start >= src.gaps[0][0]]
        assert sum(c.n_samples for c in before) == dev.n1 * N
        tail = np.concatenate([c.data for c in after], axis=1)
        np.testing.assert_array_equal(tail, all_counts[:, total * N - tail.shape[1]:])
        assert tail.shape[1] >= 0.3 * dev.n2 * N


def send_then_vanish(src, master, n_frames, vanish):
    """A 2-channel device: INFO, ``n_frames`` frames of 10 samples, then it goes away."""
    wait_status(src, ("waiting-info",))
    write_all(master, encode_info(2, 1000, SCALE, "emu"))
    for k in range(n_frames):
        write_all(master, encode_samples(k, np.ones((10, 2), np.int16)))
    time.sleep(0.2)
    vanish()


def test_give_up_when_port_does_not_come_back(tmp_path):
    link = tmp_path / "ttyTW"
    master, slave = make_pty()
    os.symlink(os.ttyname(slave), link)
    src = SerialSource(str(link), give_up_s=1.0, retry_s=0.2)
    it = src.chunks()

    def vanish():
        os.close(master)
        os.close(slave)
        os.unlink(link)

    threading.Thread(target=send_then_vanish, args=(src, master, 10, vanish), daemon=True).start()
    t0 = time.monotonic()
    got = 0
    with pytest.raises(DeviceGoneError, match="giving up"):
        for c in it:
            got += c.n_samples
    assert got == 100
    assert time.monotonic() - t0 < 4.0
    assert src.status == "disconnected"


def test_no_reconnect_raises_after_flushing(tmp_path):
    master, slave = make_pty()
    src = SerialSource(os.ttyname(slave), reconnect=False)

    threading.Thread(target=send_then_vanish, args=(src, master, 5, lambda: os.close(master)),
                     daemon=True).start()
    got = 0
    with pytest.raises(DeviceGoneError):
        for c in src.chunks():
            got += c.n_samples
    os.close(slave)
    assert got == 50


def test_format_change_mid_stream_is_an_error():
    master, slave = make_pty()
    src = SerialSource(os.ttyname(slave))

    def device():
        wait_status(src, ("waiting-info",))
        write_all(master, encode_info(2, 1000, SCALE, "emu"))
        for k in range(5):
            write_all(master, encode_samples(k, np.ones((10, 2), np.int16)))
        write_all(master, encode_info(3, 1000, SCALE, "emu"))
        write_all(master, encode_samples(5, np.ones((10, 3), np.int16)))

    threading.Thread(target=device, daemon=True).start()
    got = 0
    with pytest.raises(FormatChangedError, match="2 channels at 1000 Hz"):
        for c in src.chunks():
            got += c.n_samples
    os.close(master)
    os.close(slave)
    assert got == 50


@pytest.mark.parametrize("scale", [float("nan"), float("inf"), 0.0, -0.5])
def test_an_info_frame_with_an_unusable_scale_is_refused(scale):
    """A scale that would turn every sample into NaN, inf or zero is a format error, not
    a stream of nonsense."""
    master, slave = make_pty()
    src = SerialSource(os.ttyname(slave), info_timeout=5.0)
    from twitchwatch.sources.serial import SerialSourceError

    def device():
        wait_status(src, ("waiting-info",))
        write_all(master, encode_info(2, 1000, scale, "emu"))
        write_all(master, encode_samples(0, np.ones((10, 2), np.int16)))

    threading.Thread(target=device, daemon=True).start()
    with pytest.raises(SerialSourceError, match="uV/count, which is not a valid format"):
        next(src.chunks())
    os.close(master)
    os.close(slave)


def test_no_info_is_a_clear_error():
    master, slave = make_pty()
    src = SerialSource(os.ttyname(slave), info_timeout=0.5)
    from twitchwatch.sources.serial import SerialSourceError
    with pytest.raises(SerialSourceError, match="no INFO frame"):
        next(src.chunks())
    os.close(master)
    os.close(slave)


def test_missing_port_is_a_clear_error(tmp_path):
    from twitchwatch.sources.serial import SerialSourceError
    with pytest.raises(SerialSourceError, match="cannot open serial port"):
        next(SerialSource(str(tmp_path / "nope")).chunks())
