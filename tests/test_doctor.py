"""`twitchwatch doctor` against real parts: BrainFlow's playback board (the synthetic
board), a firmware-bridge emulator on a pseudo-terminal (good, then flat, railed, lossy
and humming), ports that do not exist or may not be opened, and a recording file."""
from __future__ import annotations

import fcntl
import json
import os
import struct
import termios
import threading
import time

import numpy as np
import pytest
from scipy import signal

from conftest import QUIET, run_cli as tw
from emulator import make_pty
from twitchwatch.cli import main
from twitchwatch.doctor import check_port, diagnose
from twitchwatch.sources.serial import encode_info, encode_samples

FS, SCALE, NOISE_UV = 1000, 0.25, 3.0


def band_noise(sigma: float, fs: float) -> float:
    """rms of white noise of ``sigma`` in the doctor's band (20 Hz to 0.45 fs)."""
    return sigma * np.sqrt((min(0.45 * fs, 450.0) - 20.0) / (fs / 2))


def by_name(doc: dict) -> dict:
    return {c["check"]: c for c in doc["checks"]}


class Emulator(threading.Thread):
    """A firmware-bridge board on a pty, paced in real time: INFO once a second, ``uv``
    (channels x samples) sent cycled in frames of 10 samples; with ``drop`` (k, m), the
    first k frames of every m are not sent (their sequence numbers still count); ``pace``
    is the real rate over the one INFO claims."""

    N = 10

    def __init__(self, uv: np.ndarray, drop: tuple[int, int] = (0, 1), pace: float = 1.0):
        super().__init__(daemon=True)
        counts = np.clip(np.rint(uv.T / SCALE), -32768, 32767).astype(np.int16)
        self.frames = counts[: len(counts) // self.N * self.N].reshape(-1, self.N, uv.shape[0])
        self.info = encode_info(uv.shape[0], FS, SCALE, "emu")
        self.drop, self.pace = drop, pace
        self.master, self.slave = make_pty()
        os.set_blocking(self.master, False)  # nobody reading (after the doctor): drop, never hang
        self.port = os.ttyname(self.slave)
        self.halt = threading.Event()

    def _send(self, data: bytes) -> None:
        try:
            os.write(self.master, data)
        except BlockingIOError:
            pass

    def run(self) -> None:
        while not self.halt.is_set():  # announce until the doctor has opened the port
            self._send(self.info)
            time.sleep(0.05)
            if struct.unpack("i", fcntl.ioctl(self.slave, termios.FIONREAD, b"\0\0\0\0"))[0] == 0:
                break
        t_next, k = time.monotonic(), 0
        while not self.halt.is_set():
            out = self.info if k % (FS // self.N) == 0 else b""
            if k % self.drop[1] >= self.drop[0]:
                out += encode_samples(k, self.frames[k % len(self.frames)])
            self._send(out)
            k += 1
            t_next += self.N / (FS * self.pace)
            time.sleep(max(0.0, t_next - time.monotonic()))

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.halt.set()
        self.join(5)
        os.close(self.master)
        os.close(self.slave)


def noise(rng, channels: int, mains_hz: float = 50.0, hum_uv: float = 3.0, seconds: float = 10.0) -> np.ndarray:
    """White noise of NOISE_UV rms, mains hum of amplitude ``hum_uv`` and a DC offset per channel."""
    n = int(seconds * FS)
    t = np.arange(n) / FS
    return (rng.normal(0.0, NOISE_UV, (channels, n)) + hum_uv * np.sin(2 * np.pi * mains_hz * t)
            + rng.uniform(-300, 300, (channels, 1)))


def test_good_serial_board_is_all_ok(rng, tmp_path):
    out = tmp_path / "doc.json"
    with Emulator(noise(rng, 4)) as dev:
        proc = tw("doctor", "--board", "serial", "--port", dev.port, "--seconds", "3", "--json", out, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(out.read_text())
    checks = by_name(doc)
    assert checks["serial port"]["status"] == "OK" and "emu" in checks["board"]["detail"]
    assert doc["fs"] == FS and checks["sampling rate"]["status"] != "FAIL"
    assert doc["fs_measured"] == pytest.approx(FS, rel=0.1)
    assert doc["lost_samples"] == 0 and checks["lost samples"]["status"] == "OK"
    assert doc["mains_hz"] == 50.0 and checks["mains"]["status"] == "OK"
    assert [c["verdict"] for c in doc["channels"]] == ["good contact"] * 4
    for c in doc["channels"]:
        assert c["noise_uv"] == pytest.approx(band_noise(NOISE_UV, FS), rel=0.15)
        assert c["mains_uv"] == pytest.approx(3.0 / np.sqrt(2), rel=0.2)
    assert "ready to stream" in proc.stdout or "usable" in proc.stdout


def test_flat_railed_lossy_humming_board_fails_with_fixes(rng, tmp_path):
    x = noise(rng, 4, mains_hz=60.0, hum_uv=1000.0)  # strong mains on every channel
    t = np.arange(x.shape[1]) / FS
    x[1] = 100.0  # flat: unconnected
    x[2] = 20000.0 * np.sin(2 * np.pi * 1.5 * t)  # swings far past the int16 rails
    out = tmp_path / "doc.json"
    with Emulator(x, drop=(3, 100)) as dev:
        proc = tw("doctor", "--board", "serial", "--port", dev.port, "--seconds", "3", "--json", out, timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    doc = json.loads(out.read_text())
    checks = by_name(doc)
    ch = doc["channels"]
    assert ch[1]["status"] == "FAIL" and ch[1]["verdict"].startswith("flat")
    assert ch[2]["status"] == "FAIL" and ch[2]["verdict"].startswith("railed") and ch[2]["railed_share"] > 0.5
    assert ch[0]["verdict"] == ch[3]["verdict"] == "good contact"  # the hum is left out of the floor
    assert ch[0]["noise_uv"] == pytest.approx(band_noise(NOISE_UV, FS), rel=0.15)
    assert doc["mains_hz"] == 60.0 and checks["mains"]["status"] == "FAIL" and doc["mains_db"] > 40
    assert "reference/bias" in checks["mains"]["fix"]
    lost = checks["lost samples"]
    assert doc["lost_samples"] > 0 and doc["lost_samples"] % Emulator.N == 0 and lost["status"] == "FAIL"
    assert doc["lost_samples"] / (doc["samples"] + doc["lost_samples"]) == pytest.approx(0.03, abs=0.01)
    assert doc["fs_measured"] == pytest.approx(FS, rel=0.1)  # lost samples count towards the rate
    assert all(c["fix"] for c in doc["checks"] if c["status"] != "OK")
    assert doc["status"] == "FAIL" and "fix the FAIL rows first" in proc.stdout


def test_board_slower_than_it_says_fails_the_rate(rng, capsys):
    with Emulator(noise(rng, 2), pace=0.8) as dev:
        argv = ["doctor", "--board", "serial", "--port", dev.port, "--seconds", "3", "--fs", "800", "--json"]
        assert main(argv) == 1
    doc = json.loads(capsys.readouterr().out)
    checks = by_name(doc)
    assert checks["sampling rate"]["status"] == "FAIL" and checks["lost samples"]["status"] == "OK"
    assert checks["expected rate"]["status"] == "WARN" and "--fs 800" in checks["expected rate"]["detail"]
    assert doc["fs"] == FS and doc["fs_measured"] == pytest.approx(0.8 * FS, rel=0.1)
    assert [c["status"] for c in doc["checks"] if c["status"] == "FAIL"] == ["FAIL"]


def test_synthetic_board_finds_its_mains_and_rate(tmp_path):
    from twitchwatch.sources.brainflow import BrainFlowSource

    truth = BrainFlowSource("synthetic", duration_s=1.0).truth  # the stream's seed: its mains
    out = tmp_path / "doc.json"
    proc = tw("doctor", "--board", "synthetic", "--seconds", "3", "--json", out, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(out.read_text())
    assert doc["fs"] == 250.0 and doc["fs_measured"] == pytest.approx(250.0, rel=0.1)
    assert doc["mains_hz"] == truth["mains_hz"] and doc["lost_samples"] == 0
    assert "serial port" not in by_name(doc) and len(doc["channels"]) == 4
    assert all(c["status"] != "FAIL" for c in doc["checks"])


def test_synthetic_source_noise_floor_matches_its_truth():
    """Through BrainFlow's playback board: the floor is the synthetic noise in the band
    (white noise low-passed at the board's cut-off), the mains the one it was given."""
    from twitchwatch.sources.brainflow import BrainFlowSource
    from twitchwatch.synth import SynthConfig

    cfg = SynthConfig(minutes=0.15, fs=250.0, n_channels=3, seed=4, noise_uv=3.0, mains_hz=50.0, **QUIET)
    src = BrainFlowSource("synthetic", synth_config=cfg)
    cutoff = src.truth["board_cutoff_hz"]
    report = diagnose(source=src, seconds=3.0)
    f, h = signal.sosfreqz(signal.butter(4, cutoff, fs=250.0, output="sos"), worN=4096, fs=250.0)
    p = np.abs(h) ** 2
    share = p[(f >= 20) & (f <= 112.5)].sum() / p.sum()
    assert report.mains_hz == 50.0 and report.status != "FAIL"
    for c in report.channels:
        assert c["verdict"] == "good contact"
        assert c["noise_uv"] == pytest.approx(3.0 * np.sqrt(share), rel=0.15)


def test_port_that_does_not_exist(tmp_path, capsys):
    port = tmp_path / "ttyNOPE"
    assert main(["doctor", "--board", "serial", "--port", str(port), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert [c["check"] for c in doc["checks"]] == ["serial port"]  # the board is not tried
    assert doc["checks"][0]["status"] == "FAIL" and str(port) in doc["checks"][0]["detail"]
    assert "no such device" in doc["checks"][0]["detail"] and "ls /dev/tty" in doc["checks"][0]["fix"]


def test_port_that_is_not_a_device(tmp_path):
    plain = tmp_path / "ttyFILE"
    plain.write_text("")
    for path in (plain, tmp_path):
        check = check_port(str(path))
        assert check.status == "FAIL" and "not a serial device" in check.detail
    master, slave = make_pty()
    try:
        assert check_port(os.ttyname(slave)).status == "OK"
    finally:
        os.close(master)
        os.close(slave)


def test_port_without_permission(capsys):
    master, slave = make_pty()
    port = os.ttyname(slave)
    os.chmod(port, 0)
    try:
        assert main(["doctor", "--board", "serial", "--port", port, "--seconds", "1", "--json"]) == 1
    finally:
        os.close(master)
        os.close(slave)
    doc = json.loads(capsys.readouterr().out)
    assert any(c["status"] == "FAIL" and port in c["detail"] for c in doc["checks"])
    if os.geteuid() == 0:
        pytest.skip("running as root: permissions are not enforced, so the port opens (the board then "
                    "fails for sending nothing); the permission verdict cannot be seen")
    check = by_name(doc)["serial port"]
    assert check["status"] == "FAIL" and "permission denied" in check["detail"]
    assert "chmod" in check["fix"] and "udev" in check["fix"]


def test_replay_of_a_recording(tmp_path, capsys):
    from twitchwatch.formats import write_recording
    from twitchwatch.types import Recording

    fs, n = 500, 500 * 20
    rng = np.random.default_rng(5)
    t = np.arange(n) / fs
    x = np.vstack([rng.normal(0, 3, n) + 20 * np.sin(2 * np.pi * 50 * t) + 100,
                   np.full(n, -250.0),
                   np.clip(rng.normal(0, 3, n) + 3000 * np.sin(2 * np.pi * 1.3 * t), -2000, 2000)])
    path = tmp_path / "rec.bdf"
    write_recording(path, Recording(x.astype(np.float32), float(fs), ("A", "B", "C")))
    clipped = float(np.mean(np.abs(x[2]) >= 2000))
    out = tmp_path / "doc.json"
    proc = tw("doctor", "--replay", path, "--json", out)
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(out.read_text())
    ch = doc["channels"]
    assert [c["status"] for c in ch] == ["OK", "FAIL", "FAIL"]
    assert ch[1]["verdict"].startswith("flat") and ch[2]["verdict"].startswith("railed")
    assert ch[2]["railed_share"] == pytest.approx(clipped, abs=0.002)
    assert ch[0]["noise_uv"] == pytest.approx(band_noise(3.0, fs), rel=0.1)
    assert ch[0]["mains_uv"] == pytest.approx(20 / np.sqrt(2), rel=0.05)
    assert doc["mains_hz"] == 50.0 and doc["seconds"] == pytest.approx(20.0)
    assert main(["doctor", "--replay", str(path), "--seconds", "5", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["seconds"] == pytest.approx(5.0)


@pytest.mark.parametrize("argv,names", [
    ([], "--board"),
    (["--board", "serial"], "--port"),
    (["--board", "cyton", "--port", "/dev/null", "--fs", "500"], "--fs"),
    (["--board", "synthetic", "--seconds", "0"], "--seconds"),
    (["--board", "synthetic", "--replay", "x.bdf"], "--replay"),
    (["--replay", "no-such-file.bdf"], "no-such-file.bdf"),
])
def test_bad_options_are_one_line_and_exit_2(argv, names, capsys):
    assert main(["doctor", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and names in err and "Traceback" not in err
