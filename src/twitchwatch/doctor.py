"""``twitchwatch doctor``: check a setup (port, board, rate, electrodes, mains) and say what to fix.

Each check is a row with OK, WARN or FAIL, what was measured, and for a non-OK row one
line saying what to do:

- **serial port** (hardware boards): it exists, is a character device, and this user may
  read and write it (the advice names the group that owns it, or a udev rule);
- **board**: it opens and sends samples for ``seconds``;
- **sampling rate**: measured as the Theil-Sen slope of cumulative samples (lost ones
  included) against arrival time, leaving out the first block: a backlog at the start
  and jitter in when blocks arrive do not bias it. Off by more than 2 % warns, by more
  than 10 % fails (a wrong rate setting, or a link that cannot keep up);
- **lost samples** (from sequence numbers): any warns, more than 1 % fails;
- **each channel**: the noise floor is the rms of the detector's band (20 Hz up to
  0.45 fs) with the mains lines left out, from a Welch spectrum averaged by median over
  half-second segments, so that twitches in a few segments do not raise it (a filter
  would ring for seconds on strong hum). Up to 8 uV is good contact, above 8 warns and
  above 25 fails (twitches of tens of uV vanish in it); below 0.1 uV is flat (no
  amplifier is that quiet: the input is off). Railed: samples at the ADC's limits (when
  the board's are known; otherwise a pile-up at the channel's extreme value): more than
  1 % fails, any warns (clipped peaks). Stuck: one value held for 0.1 s or more.
  Drift: the slope of quarter-second medians, 500 uV/s or more warns; a DC offset beyond
  half of the ADC's full scale warns;
- **mains**: 50, 60 or none (``dsp.detect_mains`` on the usable channels), and its rms
  against the noise floor on the worst channel: the notch takes 20-30 dB off a line that
  wanders a little, so hum 26 dB over the floor warns and 40 dB fails.

``--replay FILE`` runs the channel and mains checks on a recording (all of it, or the
first ``seconds``).
"""
from __future__ import annotations

import os
import stat
import threading
import time
from dataclasses import dataclass, field

import numpy as np
from scipy import signal, stats

from .dsp import detect_mains, emg_band
from .errors import UserError
from .types import Recording

OK, WARN, FAIL = "OK", "WARN", "FAIL"
_RANK = {OK: 0, WARN: 1, FAIL: 2}

RATE_WARN, RATE_FAIL = 0.02, 0.10  # relative error of the measured rate
LOST_FAIL = 0.01  # share of samples lost
FLAT_UV, NOISE_WARN_UV, NOISE_FAIL_UV = 0.1, 8.0, 25.0
RAILED_FAIL = 0.01  # share of samples at the rails
STUCK_S = 0.1
DRIFT_WARN_UV_S = 500.0
MAINS_WARN_DB, MAINS_FAIL_DB = 26.0, 40.0
MIN_SECONDS = 1.0
# full-scale of the ADC in uV, where twitchwatch knows it: the Cyton's ADS1299 at gain 24
# (+-4.5 V / 24); a serial board's int16 counts come from its INFO frame
BOARD_RAILS = {"cyton": (-187500.0, 187500.0), "cyton-daisy": (-187500.0, 187500.0)}


@dataclass
class Check:
    """One row: ``name``, OK/WARN/FAIL, what was measured, and the fix when not OK."""

    name: str
    status: str
    detail: str
    fix: str = ""

    def as_dict(self) -> dict:
        return {"check": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}


@dataclass
class Report:
    """Everything the doctor found; ``status`` is the worst check's."""

    source: str
    checks: list[Check] = field(default_factory=list)
    channels: list[dict] = field(default_factory=list)
    fs: float | None = None
    fs_measured: float | None = None
    seconds: float = 0.0
    samples: int = 0
    lost_samples: int = 0
    mains_hz: float | None = None
    mains_db: float | None = None

    @property
    def status(self) -> str:
        return max((c.status for c in self.checks), key=_RANK.__getitem__, default=OK)

    def as_dict(self) -> dict:
        def num(v, nd=3):
            return None if v is None or not np.isfinite(v) else round(float(v), nd)

        return {"source": self.source, "status": self.status, "fs": self.fs, "fs_measured": num(self.fs_measured),
                "seconds": num(self.seconds), "samples": self.samples, "lost_samples": self.lost_samples,
                "mains_hz": self.mains_hz, "mains_db": num(self.mains_db, 1),
                "checks": [c.as_dict() for c in self.checks], "channels": self.channels}


# ---------------------------------------------------------------- the serial port

def check_port(port: str) -> Check:
    """The port exists, is a character device, and this user may read and write it."""
    name = "serial port"
    try:
        st = os.stat(port)
    except FileNotFoundError:
        return Check(name, FAIL, f"{port}: no such device",
                     "plug the board in and find its name: ls /dev/ttyUSB* /dev/ttyACM* (macOS: ls /dev/cu.*); "
                     "it can change when the board is plugged in again")
    except OSError as exc:
        return Check(name, FAIL, f"{port}: cannot be looked at ({exc.strerror})", "check the path to the port")
    if not stat.S_ISCHR(st.st_mode):
        return Check(name, FAIL, f"{port}: is not a serial device (not a character device)",
                     "give the board's device, e.g. --port /dev/ttyUSB0")
    if os.access(port, os.R_OK | os.W_OK):
        return Check(name, OK, f"{port}: a character device you can read and write")
    return Check(name, FAIL, f"{port}: permission denied ({_owner(st)})", _permission_fix(port, st))


def _owner(st: os.stat_result) -> str:
    import grp
    import pwd

    try:
        user = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        user = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return f"owner {user}, group {group}, mode {stat.S_IMODE(st.st_mode):03o}"


def _permission_fix(port: str, st: os.stat_result) -> str:
    """What lets this user open the port: the owning group, a new login, or a udev rule."""
    import grp
    import pwd

    try:
        me = pwd.getpwuid(os.geteuid())
        user, primary = me.pw_name, me.pw_gid
    except KeyError:
        user, primary = "$USER", -1
    try:
        g = grp.getgrgid(st.st_gid)
        group, members = g.gr_name, g.gr_mem
    except KeyError:
        group, members = str(st.st_gid), []
    udev = 'or a udev rule for the board with MODE="0660", GROUP="dialout"'
    if not stat.S_IMODE(st.st_mode) & 0o060:
        return (f"its mode ({stat.S_IMODE(st.st_mode):03o}) gives its group no access: sudo chmod 660 {port} "
                f"for now, {udev} to keep it")
    if (user in members or primary == st.st_gid) and st.st_gid not in os.getgroups():
        return f"you are in the {group} group but this login is not yet: log out and in again (or run newgrp {group})"
    return f"add yourself to the {group} group: sudo usermod -aG {group} {user}, then log out and in ({udev})"


# ---------------------------------------------------------------- the board

@dataclass
class Capture:
    """Samples received in a check (channels x samples, gaps closed up) and when blocks came."""

    data: np.ndarray
    received: int
    lost: int
    arrivals: np.ndarray  # monotonic seconds of each block's arrival
    totals: np.ndarray  # samples (lost included) up to and including each block
    seconds: float
    breaks: list[int]  # indices in ``data`` where lost samples were closed up


def capture(source, seconds: float, grace_s: float = 5.0) -> Capture:
    """Blocks from ``source.chunks()`` for ``seconds`` from the first one (``source.stop()``
    after ``seconds + grace_s`` in any case, so that a silent board cannot hang the check)."""
    blocks, arrivals, totals, breaks = [], [], [], []
    total = lost = received = 0
    timer = threading.Timer(seconds + grace_s, source.stop)
    timer.daemon = True
    timer.start()
    t_first = None
    chunks = source.chunks()
    try:
        for chunk in chunks:
            now = time.monotonic()
            t_first = now if t_first is None else t_first
            if chunk.lost and received:
                breaks.append(received)
            blocks.append(np.asarray(chunk.data, dtype=np.float64))
            received += chunk.n_samples
            total += chunk.n_samples + chunk.lost
            lost += chunk.lost
            arrivals.append(now)
            totals.append(total)
            if now - t_first >= seconds:
                break
    finally:
        timer.cancel()
        chunks.close()  # the source's own clean-up: port closed, session released
        source.stop()
    n_ch = len(source.channels or ())
    data = np.concatenate(blocks, axis=1) if blocks else np.zeros((n_ch, 0))
    return Capture(data, received, lost, np.array(arrivals), np.array(totals),
                   arrivals[-1] - t_first if arrivals else 0.0, breaks)


def measured_rate(cap: Capture, points: int = 400) -> float | None:
    """Samples per second of wall clock (Theil-Sen over at most ``points`` blocks, evenly
    spread, as it compares every pair; the first block, a backlog, left out)."""
    t, n = cap.arrivals[1:], cap.totals[1:]
    if t.size < 3 or t[-1] - t[0] < 0.5:
        return None
    pick = np.unique(np.linspace(0, t.size - 1, min(t.size, points)).astype(np.int64))
    return float(stats.theilslopes(n[pick], t[pick] - t[0]).slope)


def rate_checks(cap: Capture, fs: float, expected_fs: float | None, what: str) -> list[Check]:
    """'board', 'sampling rate' and 'lost samples' from a capture that holds samples."""
    out = [Check("board", OK, f"{what}: {cap.received} samples in {cap.seconds:.1f} s")]
    rate = measured_rate(cap)
    if rate is None:
        out.append(Check("sampling rate", WARN, f"nominal {fs:g} Hz; too few blocks to measure it",
                         "run the doctor longer (--seconds 10)"))
    else:
        err = rate / fs - 1.0
        status = FAIL if abs(err) > RATE_FAIL else WARN if abs(err) > RATE_WARN else OK
        out.append(Check("sampling rate", status, f"{rate:.1f} Hz measured, {fs:g} Hz nominal ({err:+.1%})",
                         "" if status == OK else
                         "the board sends at another rate than it says: check its rate setting (firmware); "
                         "if it is slower, a hub, a long cable or a busy computer may not keep up"))
    if expected_fs is not None and expected_fs != fs:
        out.append(Check("expected rate", WARN, f"the board says {fs:g} Hz, not the --fs {expected_fs:g} you expected",
                         "set the board's rate in its firmware, or drop --fs"))
    share = cap.lost / max(cap.received + cap.lost, 1)
    status = OK if cap.lost == 0 else FAIL if share > LOST_FAIL else WARN
    out.append(Check("lost samples", status, f"{cap.lost} ({share:.2%})",
                     "" if status == OK else "frames are being lost: plug the board in directly (no hub), use a "
                                             "shorter cable, move the dongle closer, close busy programs"))
    return out


def label(board: str, port: str | None) -> str:
    """How the report names a board."""
    return f"serial:{port}" if board == "serial" else board + (f" on {port}" if port else "")


def make_source(board: str, port: str | None, seconds: float):
    """The source for ``board``, not started."""
    if board == "serial":
        from .sources.serial import SerialSource

        return SerialSource(port, reconnect=False)
    from .sources.brainflow import BrainFlowSource

    return BrainFlowSource(board, port=port, duration_s=seconds + 5.0)


def adc_rails(source) -> tuple[float, float] | None:
    """The ADC's limits in uV where known: a serial board's int16 counts (scale from its
    INFO frame), the Cyton's ADS1299; None otherwise."""
    info = getattr(source, "info", None)
    if info is not None:
        return -32768.0 * info.uv_per_count, 32767.0 * info.uv_per_count
    return BOARD_RAILS.get(getattr(source, "board", ""))


def _unreachable(message: str) -> str:
    """The fix for a board that could not be read, from what went wrong."""
    if "no INFO frame" in message:
        return "flash the board with firmware_bridge (921600 baud) and check that it is powered"
    if "cannot open serial port" in message:
        return "close other programs that use the port (serial monitor, OpenBCI GUI) and check the cable"
    if "vanished" in message:
        return "the board went away during the check: check the cable and its power"
    return "check the port, that the board is switched on, and the cable or dongle"


# ---------------------------------------------------------------- the signal

def _longest_run(mask: np.ndarray) -> np.ndarray:
    """Per row, the longest run of True."""
    rows, m = mask.shape
    out = np.zeros(rows, dtype=np.int64)
    if m == 0:
        return out
    edges = np.diff(np.pad(mask.astype(np.int8), ((0, 0), (1, 1))), axis=1)
    r, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)  # row-major order: pairs with the starts
    np.maximum.at(out, r, ends - starts)
    return out


def _rail_share(x: np.ndarray, rails: tuple[float, float] | None) -> np.ndarray:
    """Per channel, the share of samples at the ADC's rails; with unknown rails, at a value
    that piles up at the channel's extreme (more samples there than at the next value in)."""
    n = x.shape[1]
    if rails is not None:
        lo, hi = rails
        tol = 1e-3 * (hi - lo)
        return ((x <= lo + tol) | (x >= hi - tol)).mean(axis=1)
    s = np.sort(x, axis=1)
    rows = np.arange(len(s))
    share = np.zeros(len(s))
    for edge, inner_at in ((s[:, 0], lambda k: k), (s[:, -1], lambda k: n - 1 - k)):
        at = (s == edge[:, None]).sum(axis=1)
        inner = s[rows, np.clip(inner_at(at), 0, n - 1)]
        pile = (at > (s == inner[:, None]).sum(axis=1)) & (at >= max(3, 0.001 * n)) & (at < n)
        share += np.where(pile, at / n, 0.0)
    return share


def _spectra(x: np.ndarray, fs: float, breaks) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Welch spectra of half-second segments (so that 50 and 60 Hz fall on bins), leaving out
    segments across ``breaks`` (where samples were lost: a jump in the hum's phase would
    splatter over the band) unless none is whole: (freqs, median-averaged, mean-averaged)."""
    nper = int(fs // 2)
    freqs, t, sxx = signal.spectrogram(x, fs=fs, window="hann", nperseg=nper, noverlap=nper // 2,
                                       detrend="constant", scaling="density", mode="psd", axis=-1)
    start = np.rint(t * fs).astype(np.int64) - nper // 2
    b = np.asarray(list(breaks), dtype=np.int64)
    whole = ~((b[None, :] > start[:, None]) & (b[None, :] < start[:, None] + nper)).any(axis=1)
    if whole.any():
        sxx = sxx[..., whole]
    k = sxx.shape[-1]
    even = 2 * np.arange(1, (k - 1) // 2 + 1)
    bias = 1.0 + np.sum(1.0 / (even + 1) - 1.0 / even)  # of the median of k chi-square(2) values
    return freqs, np.median(sxx, axis=-1) / bias, sxx.mean(axis=-1)


def channel_stats(x: np.ndarray, fs: float, rails: tuple[float, float] | None,
                  breaks=()) -> tuple[dict, float | None]:
    """Per-channel figures (arrays) and the mains frequency found on the usable channels;
    ``breaks`` are the sample indices where lost samples were closed up."""
    x = np.asarray(x, dtype=np.float64)
    n_ch, n = x.shape
    dc = np.median(x, axis=1)
    railed = _rail_share(x, rails)
    stuck = _longest_run(np.diff(x, axis=1) == 0) / fs
    usable = (np.ptp(x, axis=1) > 0) & (railed <= RAILED_FAIL)
    mains = detect_mains(x[usable] - dc[usable, None], fs) if usable.any() else None
    # the band's rms without the mains lines from the median-averaged spectrum (robust to
    # bursts); the lines' power from the mean-averaged one (the median's bias correction is
    # for noise and would inflate a steady line by 1/ln 2)
    freqs, psd, mean_psd = _spectra(x - dc[:, None], fs, breaks)
    df = freqs[1] - freqs[0]
    lo, hi = emg_band(fs)
    band = (freqs >= lo) & (freqs <= hi)
    lines = np.zeros_like(band)
    if mains:
        for k in range(1, int(hi // mains) + 1):
            lines |= np.abs(freqs - k * mains) <= 2.5 * df
    keep = band & ~lines
    density = psd[:, keep].mean(axis=1)
    noise = np.sqrt(density * (hi - lo))
    hum = np.sqrt(np.clip((mean_psd[:, band & lines] - density[:, None]).sum(axis=1) * df, 0, None))
    # drift: slope of quarter-second medians
    b = max(1, int(0.25 * fs))
    nb = n // b
    if nb >= 2:
        med = np.median(x[:, :nb * b].reshape(n_ch, nb, b), axis=2)
        drift = np.polyfit((np.arange(nb) + 0.5) * b / fs, med.T, 1)[0]
    else:
        drift = np.zeros(n_ch)
    return dict(noise_uv=noise, mains_uv=hum, dc_uv=dc, drift_uv_per_s=np.atleast_1d(drift),
                railed_share=railed, stuck_s=stuck, flat=np.ptp(x, axis=1) == 0), mains


def channel_verdicts(st: dict, names, rails: tuple[float, float] | None) -> tuple[list[dict], list[Check]]:
    """One row per channel: the worst of its issues, and all of them in the JSON."""
    rows, checks = [], []
    where = "at the ADC's rails" if rails is not None else "piled at its extreme value"
    for c, name in enumerate(names):
        noise, share = float(st["noise_uv"][c]), float(st["railed_share"][c])
        dc, drift, stuck = float(st["dc_uv"][c]), float(st["drift_uv_per_s"][c]), float(st["stuck_s"][c])
        issues: list[tuple[str, str, str]] = []  # (status, verdict, fix)
        if st["flat"][c] or noise < FLAT_UV:
            issues.append((FAIL, "flat: unconnected",
                           "no signal: plug the electrode lead in (a dead or switched-off channel reads flat)"))
        elif share > RAILED_FAIL:
            issues.append((FAIL, f"railed: {share:.1%} of samples {where}",
                           "the electrode is off or dry, or its lead is loose: re-gel it and press it on; "
                           "check the reference/bias electrode too"))
        else:
            if share > 0:
                issues.append((WARN, f"clipped: {share:.2%} of samples {where}",
                               "peaks hit the ADC's limit: re-seat the electrode, keep still; "
                               "lower the gain if it stays"))
            if stuck >= STUCK_S:
                issues.append((WARN, f"stuck at one value for {stuck:.2f} s",
                               "the board or its link dropped out: check the cable and the connection"))
            if noise > NOISE_WARN_UV:
                issues.append((FAIL if noise > NOISE_FAIL_UV else WARN, "high noise",
                               "re-seat or re-gel the electrode (clean the skin first); relax the muscle "
                               "while the doctor runs"))
            if abs(drift) >= DRIFT_WARN_UV_S:
                issues.append((WARN, "DC offset drifting",
                               "an electrode is still settling, drying or loose: wait a minute, then press it down"))
            if rails is not None and abs(dc - sum(rails) / 2) > 0.25 * (rails[1] - rails[0]):
                issues.append((WARN, "DC offset near the rails",
                               "poor contact or mismatched electrodes: re-gel, use the same electrode type "
                               "on each site"))
        status = max((s for s, _, _ in issues), key=_RANK.__getitem__, default=OK)
        verdict = "; ".join(v for _, v, _ in issues) or "good contact"
        fix = next((f for s, _, f in issues if s == status), "")
        detail = (f"{verdict}; noise {noise:.2f} uV rms, DC {round(dc):d} uV, drift {round(drift):+d} uV/s, "
                  f"{share:.1%} railed")
        checks.append(Check(f"channel {c} {name}", status, detail, fix))
        rows.append({"channel": c, "name": name, "status": status, "verdict": verdict,
                     "noise_uv": round(noise, 3), "mains_uv": round(float(st["mains_uv"][c]), 3),
                     "dc_uv": round(dc, 1), "drift_uv_per_s": round(drift, 2), "railed_share": round(share, 5),
                     "stuck_s": round(stuck, 3),
                     "issues": [{"status": s, "verdict": v, "fix": f} for s, v, f in issues]})
    return rows, checks


def mains_check(st: dict, rows: list[dict], mains: float | None, fs: float) -> tuple[Check, float | None]:
    """The mains frequency and its strength over the noise floor on the worst usable channel."""
    if fs < 110:
        return Check("mains", OK, f"not checked: {fs:g} Hz is too slow to see 50/60 Hz"), None
    good = np.flatnonzero(~st["flat"] & (st["noise_uv"] >= FLAT_UV) & (st["railed_share"] <= RAILED_FAIL))
    if not good.size:
        return Check("mains", WARN, "not checked: no channel with a usable signal", "fix the channels first"), None
    if mains is None:
        return Check("mains", OK, "no 50/60 Hz hum found"), None
    ratio = st["mains_uv"][good] / np.maximum(st["noise_uv"][good], 1e-9)
    worst = int(np.argmax(ratio))
    db = float(20 * np.log10(max(ratio[worst], 1e-9)))
    c = int(good[worst])
    status = FAIL if db >= MAINS_FAIL_DB else WARN if db >= MAINS_WARN_DB else OK
    detail = (f"{mains:g} Hz; strongest on channel {c} ({rows[c]['name']}): {st['mains_uv'][c]:.1f} uV rms, "
              f"{db:.0f} dB over the noise floor")
    fix = ("" if status == OK else "strong mains hum: check the reference/bias electrode (re-gel it), keep the leads "
                                   "short and together, move away from chargers and mains-powered devices")
    return Check("mains", status, detail, fix), db


def signal_checks(report: Report, data: np.ndarray, fs: float, names, rails, breaks=()) -> None:
    """Channel and mains checks of ``data`` (channels x samples, uV; lost samples closed up
    at ``breaks``), added to ``report``."""
    if data.shape[1] < MIN_SECONDS * fs:
        report.checks.append(Check("signal", FAIL, f"only {data.shape[1]} samples: less than {MIN_SECONDS:g} s",
                                   "run the doctor longer, or check the board keeps streaming"))
        return
    bad = ~np.isfinite(data)
    if bad.any():
        report.checks.append(Check("signal", WARN, f"{int(bad.sum())} NaN/inf samples (held at the channel's median)",
                                   "the board or file sends broken samples: check its firmware or the export"))
        fill = np.ma.median(np.ma.masked_invalid(data), axis=1).filled(0.0)
        data = np.where(bad, fill[:, None], data)
    st, mains = channel_stats(data, fs, rails, breaks)
    rows, checks = channel_verdicts(st, names, rails)
    check, db = mains_check(st, rows, mains, fs)
    report.checks += checks + [check]
    report.channels = rows
    report.mains_hz, report.mains_db = mains, db


# ---------------------------------------------------------------- the whole check

def diagnose(board: str | None = None, port: str | None = None, *, replay: Recording | None = None,
             seconds: float | None = None, expected_fs: float | None = None, source=None) -> Report:
    """Check a board (or ``replay``, a recording; or ``source``, a source not yet started)."""
    if replay is not None:
        return _diagnose_recording(replay, seconds)
    seconds = 5.0 if seconds is None else float(seconds)
    report = Report(source=label(board, port) if board else type(source).__name__, seconds=seconds)
    if source is None:
        if board != "synthetic" and port:
            report.checks.append(check_port(port))
            if report.status == FAIL:
                return report
        source = make_source(board, port, seconds)
    try:
        cap = capture(source, seconds)
    except UserError as exc:  # the board could not be opened or started, or went away
        report.checks.append(Check("board", FAIL, str(exc), _unreachable(str(exc))))
        return report
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()
    name = getattr(source, "device_name", None)
    what = f"{report.source} ({name})" if name else report.source
    if not cap.received:
        report.checks.append(Check("board", FAIL, f"{what}: opened, but no samples came in {seconds:g} s",
                                   "switch the board on and check that it is streaming (battery, cable, dongle)"))
        return report
    fs = float(source.fs)
    report.fs, report.fs_measured = fs, measured_rate(cap)
    report.seconds, report.samples, report.lost_samples = cap.seconds, cap.received, cap.lost
    report.checks += rate_checks(cap, fs, expected_fs, what)
    signal_checks(report, cap.data, fs, tuple(source.channels), adc_rails(source), cap.breaks)
    return report


def _diagnose_recording(rec: Recording, seconds: float | None) -> Report:
    n = rec.n_samples if seconds is None else min(rec.n_samples, int(round(seconds * rec.fs)))
    report = Report(source=str(rec.source), fs=float(rec.fs), seconds=n / rec.fs, samples=n)
    report.checks.append(Check("recording", OK, f"{rec.meta.get('format', '?')}, {rec.n_channels} channels at "
                                                f"{rec.fs:g} Hz, {n / rec.fs:.1f} s checked"))
    report.checks += [Check("recording", WARN, w, "see the warning") for w in rec.meta.get("warnings", [])]
    signal_checks(report, rec.data[:, :n], float(rec.fs), rec.channels, None)
    return report


def print_report(report: Report, console) -> None:
    """The checks as a rich table, then one line with the outcome."""
    from rich.markup import escape
    from rich.table import Table

    style = {OK: "green", WARN: "yellow", FAIL: "bold red"}
    table = Table(title=f"twitchwatch doctor: {escape(report.source)}", show_lines=False)
    for col in ("check", "status", "measured", "what to fix"):
        table.add_column(col)
    for c in report.checks:
        table.add_row(escape(c.name), f"[{style[c.status]}]{c.status}[/]", escape(c.detail), escape(c.fix))
    console.print(table)
    n_fail = sum(c.status == FAIL for c in report.checks)
    n_warn = sum(c.status == WARN for c in report.checks)
    if n_fail:
        line = (f"[bold red]{n_fail} check{'s' * (n_fail != 1)} failed[/]"
                + (f", {n_warn} warning{'s' * (n_warn != 1)}" if n_warn else "")
                + ": fix the FAIL rows first, then run the doctor again")
    elif n_warn:
        line = f"[yellow]usable, with {n_warn} warning{'s' * (n_warn != 1)}[/]: the fixes above should help"
    else:
        line = f"[green]all {len(report.checks)} checks OK[/]: ready to stream"
    console.print(line)
